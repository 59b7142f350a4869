package pagerduty

import (
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// maxGroupDetails bounds the encoded custom_details of a group's event,
// leaving room within maxEvent for the rest of it.
const maxGroupDetails = maxEvent - 16_000

// newGroupEvent builds the event of a grouped notification: one incident
// per group, its dedup_key DedupKey of the group key, triggered (again)
// while any alert of the group fires and resolved when none does. The
// summary is the group's (counts, labels, worst alert), at most 1024
// characters; custom_details list the group labels, the firing alerts
// worst first and the alerts resolved since the previous event, each with
// its key, series, severity, summary and worst test; the alerts that would
// take the event past 512 KB are left out, from the end of the lists, and
// counted in "omitted".
func (p *Notifier) newGroupEvent(n *alert.Notification) Event {
	ev := Event{RoutingKey: p.key, DedupKey: DedupKey(n.Key)}
	if n.Status == alert.StatusResolved {
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	g := n.Group
	sev := "warning"
	if n.Severity == alert.SeverityCritical {
		sev = "critical"
	}
	group := p.cfg.Group
	if group == "" {
		group = n.ModelID
	}
	labels := make(map[string]string, len(g.Labels))
	for _, l := range g.Labels {
		labels[l.Name] = l.Value
	}
	firing, resolved := alertDetails(g.Firing), alertDetails(g.Resolved)
	details := map[string]any{
		"group_key": n.Key, "group_labels": labels, "firing_count": len(g.Firing), "resolved_count": len(g.Resolved),
		"starts_at": n.StartsAt.UTC().Format(time.RFC3339), "window_end": n.WindowEnd.UTC().Format(time.RFC3339),
	}
	// Keep alerts in order (firing worst first, then resolved) while the details fit.
	base, _ := json.Marshal(details)
	size, omitted := len(base)+len(`,"firing":[],"resolved":[],"omitted":000000000`), 0
	keep := func(list []map[string]any) []map[string]any {
		for i, d := range list {
			b, err := json.Marshal(d)
			if err != nil || size+len(b)+1 > maxGroupDetails {
				omitted += len(list) - i
				return list[:i]
			}
			size += len(b) + 1
		}
		return list
	}
	details["firing"] = keep(firing)
	details["resolved"] = keep(resolved)
	if omitted > 0 {
		details["omitted"] = omitted
	}
	ev.Payload = &Payload{
		Summary:       alert.Truncate(alert.Visible(n.Summary), maxSummary),
		Source:        p.cfg.Source,
		Severity:      sev,
		Timestamp:     n.WindowEnd.UTC().Format(time.RFC3339),
		Component:     n.ModelID,
		Group:         group,
		Class:         p.cfg.Class,
		CustomDetails: details,
	}
	ev.Client = "driftwatch"
	if n.DashboardURL != "" {
		ev.ClientURL = n.DashboardURL
		ev.Links = []Link{{Href: n.DashboardURL, Text: "Dashboard"}}
	}
	if len(g.Firing) > 0 {
		if u := g.Firing[0].Annotations[alert.AnnotationRunbookURL]; u != "" {
			ev.Links = append(ev.Links, Link{Href: u, Text: "Runbook"})
		}
	}
	return ev
}

// alertDetails lists the alerts of a group for custom_details.
func alertDetails(ns []*alert.Notification) []map[string]any {
	out := make([]map[string]any, 0, len(ns))
	for _, a := range ns {
		d := map[string]any{
			"key": a.Key, "model_id": a.ModelID, "model_version": a.ModelVersion,
			"severity": a.Severity, "status": a.Status, "summary": a.Headline(),
		}
		if a.Signal == "" {
			d["feature"] = a.Feature
		} else {
			d["signal"], d["subject"] = a.Signal, a.Subject
		}
		if a.Test != "" {
			d["test"] = a.Test
		}
		if a.Rule != "" {
			d["rule"] = a.Rule
		}
		if i := alert.Worst(a.Tests); i >= 0 {
			t := a.Tests[i]
			d["worst_test"] = map[string]any{"test": t.Test, "statistic": alert.Finite(t.Statistic),
				"threshold": alert.Finite(t.Threshold), "p_value": alert.Finite(t.PValue), "severity": t.Severity}
		}
		out = append(out, d)
	}
	return out
}
