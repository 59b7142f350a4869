// Package slack delivers driftwatch alerts to a Slack incoming webhook as a Block
// Kit message (header, section, context) with the plain top-level text Slack uses
// for notifications. Text from telemetry (model ids, versions, feature names,
// signal subjects, and the alert key built from them) is untrusted, and signal
// names are treated alike: in mrkdwn it is always shown as inline code, with
// backticks and invisible characters replaced and the three characters Slack
// treats as control characters (&, <, >) escaped, so that it can form no
// link, mention or formatting; the summary is rendered again from the
// notification's fields for that. A grouped notification is one message listing
// its alerts, worst first. It keeps within Slack's block limits and paces
// messages per webhook. It does not decide when to notify, nor retry: the
// alerting manager does both.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Slack's documented limits, in characters.
const (
	maxBlocks     = 50
	maxHeader     = 150
	maxSectionTxt = 3000
	maxFields     = 10
	maxFieldTxt   = 2000
	maxTestLines  = 20
	// maxValue bounds one telemetry value in mrkdwn, escaped: a summary's
	// three at most (signal, subject, model; or feature, model) and the rest
	// of it stay within a section's 3000 characters, a field's within 2000.
	maxValue = 800
	// maxWhat bounds the start of a summary (test name and statistic), escaped.
	maxWhat = 200
	// maxRuleSummary and maxRuleDescription bound a policy rule's rendered
	// summary and description, escaped: together within a section's 3000.
	maxRuleSummary     = 1000
	maxRuleDescription = 1900
	// maxLabels bounds the rule labels shown; maxLabelName and maxLabelValue
	// bound each (escaped), so that they stay within a context text's 2000.
	maxLabels     = 10
	maxLabelName  = 60
	maxLabelValue = 100
)

// Notifier posts alerts to one Slack incoming webhook.
type Notifier struct {
	url     string
	client  *http.Client
	limiter *rate.Limiter
	// gone is the status (404 or 410) with which the webhook said it no
	// longer exists; 0 while it takes messages.
	gone atomic.Int32
}

// New validates cfg, reads the webhook URL and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := cfg.webhookURL()
	if err != nil {
		return nil, err
	}
	return &Notifier{
		url:     u,
		client:  alert.NewClient(cfg.Timeout),
		limiter: alert.NewLimiter(cfg.RatePerSecond, cfg.Burst),
	}, nil
}

// Notify posts n. Network errors, 429 (with Retry-After) and 5xx are retryable;
// other statuses (403, 404 channel_not_found, 410 channel_is_archived, 400
// invalid_payload, a redirect, which is not followed) and a 200 whose body is
// not "ok" are permanent.
func (s *Notifier) Notify(ctx context.Context, n *alert.Notification) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the text is already escaped for Slack; keep it readable
	if err := enc.Encode(NewMessage(n)); err != nil {
		return fmt.Errorf("encoding slack message: %w", err)
	}
	if code := s.gone.Load(); code != 0 {
		return fmt.Errorf("slack webhook disabled: it answered %d (fix its URL and restart): %w", code, alert.ErrDisabled)
	}
	if err := alert.Wait(ctx, s.limiter); err != nil {
		return fmt.Errorf("waiting for slack rate limit: %w", err)
	}
	err := alert.Post(ctx, s.client, alert.Request{URL: s.url, Body: buf.Bytes(), Accept: acceptOK})
	var se *alert.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
		// The webhook was removed (Slack answers 404 no_service, 410
		// channel_is_archived or similar): nothing will get through.
		s.gone.Store(int32(se.Code))
		return fmt.Errorf("posting to slack webhook: %w (%w)", err, alert.ErrDisabled)
	}
	if err != nil {
		return fmt.Errorf("posting to slack webhook: %w", err)
	}
	return nil
}

func acceptOK(code int, body []byte) error {
	if code == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
		return nil
	}
	return &alert.StatusError{Code: code, Body: alert.Reason(string(body))}
}

// Message is an incoming-webhook payload.
type Message struct {
	// Text is the fallback shown in notifications and to screen readers.
	Text string `json:"text"`
	// Blocks is the Block Kit layout.
	Blocks []Block `json:"blocks"`
}

// Block is one Block Kit layout block (header, section or context).
type Block struct {
	// Type is "header", "section" or "context".
	Type string `json:"type"`
	// Text is the header's plain_text or the section's mrkdwn text.
	Text *Text `json:"text,omitempty"`
	// Fields are a section's two-column fields (at most 10).
	Fields []*Text `json:"fields,omitempty"`
	// Elements are a context block's texts.
	Elements []*Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object, "plain_text" or "mrkdwn".
type Text struct {
	// Type is "plain_text" or "mrkdwn".
	Type string `json:"type"`
	// Text is the content; in mrkdwn, &, < and > from telemetry are escaped.
	Text string `json:"text"`
	// Emoji lets Slack render :emoji: codes in plain_text.
	Emoji bool `json:"emoji,omitempty"`
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape replaces &, < and > by their entities, as Slack requires for any text
// not written by driftwatch itself. Nothing else is touched.
func Escape(s string) string { return escaper.Replace(s) }

// escTrunc escapes s and cuts the result to n characters without splitting an entity.
func escTrunc(s string, n int) string {
	e := Escape(s)
	t := alert.Truncate(e, n)
	if t == e {
		return t
	}
	body := strings.TrimSuffix(t, "…")
	if i := strings.LastIndexByte(body, '&'); i >= 0 && !strings.Contains(body[i:], ";") {
		body = body[:i]
	}
	return body + "…"
}

func mrkdwn(s string, n int) *Text { return &Text{Type: "mrkdwn", Text: escTrunc(s, n)} }

// code renders telemetry text as mrkdwn inline code, which Slack shows as it
// is: invisible characters become U+FFFD and backticks U+02CB (either could
// end the span), &, < and > are escaped, and the escaped text is cut to n
// characters without splitting an entity. An empty value is shown as _empty_.
func code(s string, n int) string {
	if s == "" {
		return "_empty_"
	}
	return "`" + escTrunc(strings.ReplaceAll(alert.Visible(s), "`", "\u02cb"), n) + "`"
}

func value(s string) string { return code(s, maxValue) }

// field is a section field "*label*\nvalue"; label is trusted, value is mrkdwn.
func field(label, value string) *Text {
	return &Text{Type: "mrkdwn", Text: "*" + label + "*\n" + value}
}

// NewMessage renders n as a Block Kit message within Slack's limits.
// A grouped notification (n.Group set) lists its alerts, see newGroupMessage.
func NewMessage(n *alert.Notification) Message {
	if n.Group != nil {
		return newGroupMessage(n)
	}
	kind := "Drift"
	if n.Signal != "" {
		kind = "Signal"
	}
	icon, state := ":large_orange_circle:", kind+" warning"
	switch {
	case n.Status == alert.StatusResolved:
		icon, state = ":white_check_mark:", kind+" resolved"
	case n.Severity == alert.SeverityCritical:
		icon, state = ":red_circle:", kind+" critical"
	}
	// plain_text is shown literally: no links, mentions or formatting.
	title := alert.Visible(alert.Title(n))
	header := &Text{Type: "plain_text", Text: alert.Truncate(state+": "+title, maxHeader), Emoji: true}
	fields := []*Text{
		field("Model", value(n.ModelID)),
		field("Version", value(n.ModelVersion)),
	}
	if n.Signal == "" {
		fields = append(fields, field("Feature", value(n.Feature)))
		if n.Test != "" {
			fields = append(fields, field("Test", value(n.Test)))
		}
	} else {
		fields = append(fields, field("Signal", value(n.Signal)), field("Subject", value(n.Subject)))
	}
	fields = append(fields,
		field("Severity", Escape(string(n.Severity))),
		field("Status", Escape(n.Status)),
		field("Window end", n.WindowEnd.UTC().Format("2006-01-02 15:04:05Z")),
	)
	if !n.StartsAt.IsZero() {
		fields = append(fields, field("Since", n.StartsAt.UTC().Format("2006-01-02 15:04:05Z")))
	}
	// At most maxWhat + 3×(maxValue+2) + 100 characters: within maxSectionTxt.
	summary := alert.Summary(escTrunc(alert.WhatOf(n), maxWhat), alert.SeriesOf(n), n.WindowStart, n.WindowEnd, value)
	blocks := []Block{
		{Type: "header", Text: header},
		{Type: "section", Text: &Text{Type: "mrkdwn", Text: icon + " " + summary}, Fields: fields[:min(len(fields), maxFields)]},
	}
	if rs := ruleSection(n); rs != "" {
		blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: rs}})
	}
	if len(n.Tests) > 0 {
		var b strings.Builder
		for i, t := range n.Tests {
			if i == maxTestLines {
				fmt.Fprintf(&b, "… and %d more", len(n.Tests)-i)
				break
			}
			fmt.Fprintf(&b, "%s %s (threshold %s", t.Test, alert.FormatFloat(t.Statistic), alert.FormatFloat(t.Threshold))
			if t.PValue == t.PValue {
				fmt.Fprintf(&b, ", p=%s", alert.FormatFloat(t.PValue))
			}
			fmt.Fprintf(&b, "): %s\n", t.Severity)
		}
		blocks = append(blocks, Block{Type: "section", Text: mrkdwn(strings.TrimSuffix(b.String(), "\n"), maxSectionTxt)})
	}
	ctxText := "driftwatch · " + value(n.Key)
	if n.DashboardURL != "" {
		ctxText += " · <" + Escape(n.DashboardURL) + "|Dashboard>"
	}
	elems := []*Text{{Type: "mrkdwn", Text: alert.Truncate(ctxText, maxFieldTxt)}}
	if u := n.Annotations[alert.AnnotationRunbookURL]; u != "" {
		if link := "<" + Escape(u) + "|Runbook>"; len(link) <= maxFieldTxt {
			elems = append(elems, &Text{Type: "mrkdwn", Text: link})
		}
	}
	blocks = append(blocks, Block{Type: "context", Elements: elems})
	if lt := labelsText(n); lt != "" {
		blocks = append(blocks, Block{Type: "context", Elements: []*Text{{Type: "mrkdwn", Text: lt}}})
	}
	headline := summary
	if s := n.Annotations[alert.AnnotationSummary]; s != "" {
		headline = escTrunc(alert.Visible(s), maxRuleSummary)
	}
	return Message{
		Text:   fmt.Sprintf("[%s %s] %s", strings.ToUpper(Escape(n.Status)), Escape(string(n.Severity)), headline),
		Blocks: blocks[:min(len(blocks), maxBlocks)],
	}
}

// ruleSection is the mrkdwn text of a policy rule's summary and
// description annotations, escaped (invisible characters replaced, line
// breaks of the description kept), or "" when the rule sets neither.
func ruleSection(n *alert.Notification) string {
	var parts []string
	if s := n.Annotations[alert.AnnotationSummary]; s != "" {
		parts = append(parts, "*"+escTrunc(alert.Visible(s), maxRuleSummary)+"*")
	}
	if d := n.Annotations[alert.AnnotationDescription]; d != "" {
		lines := strings.Split(d, "\n")
		for i, l := range lines {
			lines[i] = alert.Visible(l)
		}
		parts = append(parts, escTrunc(strings.Join(lines, "\n"), maxRuleDescription))
	}
	return strings.Join(parts, "\n")
}

// labelsText is the mrkdwn text of the rule and its labels (sorted, at most
// maxLabels), e.g. "rule `fraud-psi` · team `fraud-risk`", or "" when the
// notification has neither.
func labelsText(n *alert.Notification) string {
	var parts []string
	if n.Rule != "" {
		parts = append(parts, "rule "+code(n.Rule, maxLabelValue))
	}
	names := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, k := range names {
		if i == maxLabels {
			parts = append(parts, fmt.Sprintf("… and %d more labels", len(names)-i))
			break
		}
		parts = append(parts, escTrunc(alert.Visible(k), maxLabelName)+" "+code(n.Labels[k], maxLabelValue))
	}
	return strings.Join(parts, " · ")
}
