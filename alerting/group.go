package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Grouping (Config.GroupBy), as Alertmanager's dispatcher does it: the
// notifications the lifecycle decides for a receiver are collected per
// group instead of queued; a new group is sent GroupWait after its first
// alert, a changed one at most every GroupInterval, an unchanged firing one
// every RepeatInterval. The group message goes through the receiver's
// queue like any notification (same retries, back-off and metrics).

// groupKeyPrefix starts every GroupKey; no Key, SignalKey or BurnKey starts with it.
const groupKeyPrefix = "driftwatch-group/"

// GroupKey returns the key of the notification group with the given
// group_by labels: driftwatch-group/<name>=<value>/..., in group_by order,
// each value escaped as Key escapes its parts (so '=' and '/' in a value
// are %3D and %2F), e.g. "driftwatch-group/model_id=fraud-scorer". It is
// stable across restarts while group_by stays the same, and PagerDuty's
// dedup_key of the group's incident. A key that would be longer than
// MaxKeyLen becomes driftwatch-group/sha256:<hex>, the SHA-256 of the
// full key.
func GroupKey(labels []Label) string {
	var b strings.Builder
	b.WriteString(groupKeyPrefix)
	for i, l := range labels {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(escapeKeyPart(l.Value))
	}
	if b.Len() <= MaxKeyLen {
		return b.String()
	}
	sum := sha256.Sum256([]byte(b.String()))
	return groupKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// groupValue is the value of the group_by label name for notification n.
func groupValue(n *Notification, name string) string {
	switch name {
	case "model_id":
		return n.ModelID
	case "model_version":
		return n.ModelVersion
	case "feature":
		return n.Feature
	case "test":
		return n.Test
	case "signal":
		return n.Signal
	case "subject":
		return n.Subject
	case "rule":
		return n.Rule
	}
	return n.Labels[name]
}

// groupID names one group of one receiver.
type groupID struct {
	lane int
	key  string
}

// group is the alerts of one group for one receiver.
type group struct {
	labels  []alert.Label
	members map[string]*member // by alert key
	next    time.Time          // the earliest time of the next message
	sentAt  time.Time          // when the last message was queued; zero before the first
	dirty   bool               // changed since the last message
}

// member is the latest notification of one alert of a group.
type member struct {
	n     *Notification
	shown bool // listed as firing in a message already
}

// grouped reports whether notifications to l are grouped.
func (m *Manager) grouped(l *lane) bool {
	return len(m.cfg.GroupBy) > 0 && !l.perAlert
}

// collect adds n, the newest notification of one alert for receiver l, to
// its group; m.mu is held. A resolve of an alert no message showed firing
// just leaves the group.
func (m *Manager) collect(l *lane, n *Notification, now time.Time) {
	labels := make([]alert.Label, len(m.cfg.GroupBy))
	for i, name := range m.cfg.GroupBy {
		labels[i] = alert.Label{Name: name, Value: groupValue(n, name)}
	}
	id := groupID{lane: l.idx, key: GroupKey(labels)}
	g := m.groups[id]
	if g == nil {
		if n.Status != StatusFiring {
			return
		}
		wait, _, _ := m.cfg.groupTimes()
		g = &group{labels: labels, members: map[string]*member{}, next: now.Add(wait)}
		m.groups[id] = g
	}
	mb := g.members[n.Key]
	switch {
	case mb == nil && n.Status != StatusFiring:
		return
	case mb == nil:
		mb = &member{}
		g.members[n.Key] = mb
	case n.Status != StatusFiring && !mb.shown:
		delete(g.members, n.Key)
		g.dirty = true
		return
	}
	mb.n = n
	g.dirty = true
}

// forgetGrouped drops the alert key from every group without a message
// (Manager.HandOver); m.mu is held.
func (m *Manager) forgetGrouped(key string) {
	for _, g := range m.groups {
		if _, ok := g.members[key]; ok {
			delete(g.members, key)
			g.dirty = true
		}
	}
}

// flushGroupsNow queues the messages of the groups that are due.
func (m *Manager) flushGroupsNow() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.flushGroups(now, false)
}

// flushGroups queues the message of every group that is due: changed and
// past its next time, or firing, unchanged and last sent RepeatInterval
// ago. With all (at Close) every changed group is sent at once. A group
// left without alerts is dropped; m.mu is held.
func (m *Manager) flushGroups(now time.Time, all bool) {
	_, interval, repeat := m.cfg.groupTimes()
	for id, g := range m.groups {
		if !all && now.Before(g.next) {
			continue
		}
		if !g.dirty && (all || g.sentAt.IsZero() || now.Sub(g.sentAt) < repeat) {
			continue
		}
		n := m.groupNotice(id.key, g)
		if n == nil {
			delete(m.groups, id)
			continue
		}
		l := m.lanes[id.lane]
		if !m.enqueue(l, n) {
			g.next = now.Add(interval) // still dirty: tried again at the next interval
			continue
		}
		g.sentAt, g.next, g.dirty = now, now.Add(interval), false
		for k, mb := range g.members {
			if mb.n.Status != StatusFiring {
				delete(g.members, k)
				continue
			}
			mb.shown = true
		}
		if len(g.members) == 0 {
			delete(m.groups, id)
		}
	}
}

// groupNotice builds the message of group g, or nil when it has nothing to say.
func (m *Manager) groupNotice(key string, g *group) *Notification {
	grp := &alert.Group{Labels: g.labels}
	for _, mb := range g.members {
		if mb.n.Status == StatusFiring {
			grp.Firing = append(grp.Firing, mb.n)
		} else {
			grp.Resolved = append(grp.Resolved, mb.n)
		}
	}
	if len(grp.Firing) == 0 && len(grp.Resolved) == 0 {
		return nil
	}
	byKey := func(a, b *Notification) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(grp.Firing, func(a, b *Notification) int {
		if c := alert.Rank(a, b); c != 0 {
			return c
		}
		return byKey(a, b)
	})
	slices.SortFunc(grp.Resolved, byKey)
	n := &Notification{Key: key, Status: StatusFiring, Group: grp, DashboardURL: m.cfg.DashboardURL}
	list := grp.Firing
	if len(list) == 0 {
		n.Status = StatusResolved
		list = slices.Clone(grp.Resolved)
		slices.SortStableFunc(list, alert.Rank)
	}
	worst := list[0]
	n.Severity, n.Rule, n.Labels = worst.Severity, worst.Rule, worst.Labels
	if worst.DashboardURL != "" {
		n.DashboardURL = worst.DashboardURL
	}
	for _, l := range g.labels {
		switch l.Name {
		case "model_id":
			n.ModelID = l.Value
		case "model_version":
			n.ModelVersion = l.Value
		}
	}
	for _, a := range append(slices.Clone(grp.Firing), grp.Resolved...) {
		if n.StartsAt.IsZero() || a.StartsAt.Before(n.StartsAt) {
			n.StartsAt = a.StartsAt
		}
		if a.WindowEnd.After(n.WindowEnd) {
			n.WindowStart, n.WindowEnd = a.WindowStart, a.WindowEnd
		}
		if a.EndsAt.After(n.EndsAt) {
			n.EndsAt = a.EndsAt
		}
	}
	if n.Status == StatusFiring {
		n.EndsAt = time.Time{}
	}
	n.Summary = GroupSummary(n)
	return n
}

// GroupSummary is the one-line text of a grouped notification, e.g.
// "11 alerts firing (3 critical), 1 resolved for model_id fraud-scorer:
// psi 0.41 on feature amount of fraud-scorer v3 (window 14:00–14:01)",
// ending with the worst firing alert's summary. Label values are as
// telemetry sent them: receivers escape them.
func GroupSummary(n *Notification) string {
	g := n.Group
	var b strings.Builder
	crit := 0
	for _, a := range g.Firing {
		if a.Severity == SeverityCritical {
			crit++
		}
	}
	switch {
	case len(g.Firing) > 0:
		fmt.Fprintf(&b, "%d %s firing", len(g.Firing), plural(len(g.Firing), "alert"))
		if crit > 0 {
			fmt.Fprintf(&b, " (%d critical)", crit)
		}
		if len(g.Resolved) > 0 {
			fmt.Fprintf(&b, ", %d resolved", len(g.Resolved))
		}
	default:
		fmt.Fprintf(&b, "%d %s resolved", len(g.Resolved), plural(len(g.Resolved), "alert"))
	}
	for i, l := range g.Labels {
		if i == 0 {
			b.WriteString(" for ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(l.Name + " " + l.Value)
	}
	if len(g.Firing) > 0 {
		b.WriteString(": " + g.Firing[0].Headline())
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
