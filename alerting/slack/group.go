package slack

import (
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Limits of a grouped message.
const (
	// maxText bounds the top-level text (Slack truncates beyond 40,000).
	maxText = 40_000
	// maxLineValue bounds one telemetry value in a group's alert line,
	// escaped, so that a line stays well within a section.
	maxLineValue = 200
	// groupFixedBlocks are the blocks of a group message besides its alert
	// sections: header, summary section, "and N more" section, context.
	groupFixedBlocks = 4
)

// newGroupMessage renders a grouped notification: a header, a section
// naming the group and its counts, sections listing the firing alerts
// worst first and then the resolved ones (one line each, packed into
// sections of at most 3000 characters), and a context with the group key
// and dashboard. Alerts that do not fit in 50 blocks are counted in a last
// "… and N more" section.
func newGroupMessage(n *alert.Notification) Message {
	g := n.Group
	icon, state := ":large_orange_circle:", "warning"
	switch {
	case n.Status == alert.StatusResolved:
		icon, state = ":white_check_mark:", "resolved"
	case n.Severity == alert.SeverityCritical:
		icon, state = ":red_circle:", "critical"
	}
	var what string
	if len(g.Firing) > 0 {
		what = fmt.Sprintf("%d firing", len(g.Firing))
		if len(g.Resolved) > 0 {
			what += fmt.Sprintf(", %d resolved", len(g.Resolved))
		}
	} else {
		what = fmt.Sprintf("%d resolved", len(g.Resolved))
	}
	var names []string
	var plain []string
	for _, l := range g.Labels {
		names = append(names, Escape(l.Name)+" "+code(l.Value, maxLineValue))
		plain = append(plain, l.Name+" "+l.Value)
	}
	title := alert.Visible(strings.Join(plain, ", "))
	header := &Text{Type: "plain_text", Text: alert.Truncate("Drift "+state+" ("+what+"): "+title, maxHeader), Emoji: true}
	intro := icon + " *" + what + "* for " + strings.Join(names, ", ")
	blocks := []Block{
		{Type: "header", Text: header},
		{Type: "section", Text: &Text{Type: "mrkdwn", Text: alert.Truncate(intro, maxSectionTxt)}},
	}
	lines := make([]string, 0, len(g.Firing)+len(g.Resolved))
	for _, a := range g.Firing {
		lines = append(lines, alertLine(a))
	}
	for _, a := range g.Resolved {
		lines = append(lines, alertLine(a))
	}
	var secs []string
	var sec strings.Builder
	shown := 0
	for _, line := range lines {
		if sec.Len() > 0 && sec.Len()+1+len(line) > maxSectionTxt {
			secs = append(secs, sec.String())
			sec.Reset()
			if len(secs) == maxBlocks-groupFixedBlocks {
				break
			}
		}
		if sec.Len() > 0 {
			sec.WriteByte('\n')
		}
		sec.WriteString(line)
		shown++
	}
	if sec.Len() > 0 {
		secs = append(secs, sec.String())
	}
	for _, t := range secs {
		blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: t}})
	}
	if left := len(lines) - shown; left > 0 {
		blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: fmt.Sprintf("… and %d more", left)}})
	}
	ctxText := "driftwatch · " + value(n.Key)
	if n.DashboardURL != "" {
		ctxText += " · <" + Escape(n.DashboardURL) + "|Dashboard>"
	}
	blocks = append(blocks, Block{Type: "context", Elements: []*Text{{Type: "mrkdwn", Text: alert.Truncate(ctxText, maxFieldTxt)}}})
	text := fmt.Sprintf("[%s %s] %s for %s", strings.ToUpper(Escape(n.Status)), Escape(string(n.Severity)), what,
		escTrunc(title, maxValue))
	if len(g.Firing) > 0 {
		text += ": " + groupLine(g.Firing[0])
	}
	return Message{Text: alert.Truncate(text, maxText), Blocks: blocks}
}

// alertLine is one alert of a group: an icon and its summary, the
// telemetry values in it shown as inline code of at most maxLineValue.
func alertLine(a *alert.Notification) string {
	icon := ":large_orange_circle:"
	switch {
	case a.Status == alert.StatusResolved:
		icon = ":white_check_mark:"
	case a.Severity == alert.SeverityCritical:
		icon = ":red_circle:"
	}
	return icon + " " + groupLine(a)
}

func groupLine(a *alert.Notification) string {
	quote := func(s string) string { return code(s, maxLineValue) }
	return alert.Summary(escTrunc(alert.WhatOf(a), maxWhat), alert.SeriesOf(a), a.WindowStart, a.WindowEnd, quote)
}
