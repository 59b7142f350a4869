package pagerduty_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
)

// TestGroupEvent: a group is one incident keyed by its group key; a group
// too large for 512 KB lists its worst alerts and counts the others; a
// group without firing alerts resolves the incident.
func TestGroupEvent(t *testing.T) {
	srv := alerttest.NewServer(t, checkEvent, accepted())
	p := newNotifier(t, srv.URL)
	long := strings.Repeat("é<&>", 2000)
	g := &alert.Group{Labels: []alert.Label{{Name: "model_id", Value: "fraud"}}}
	const n = 1000
	for i := range n {
		o := alerttest.Window(0, "fraud", "1", fmt.Sprintf("%04d%s", i, long), alerting.SeverityWarning,
			alerttest.PSI(0.3, alerting.SeverityWarning))
		g.Firing = append(g.Firing, &alert.Notification{Key: alerting.Key("fraud", "1", o.Feature), Status: alert.StatusFiring,
			Severity: o.Severity, ModelID: "fraud", ModelVersion: "1", Feature: o.Feature, Tests: o.Tests,
			Summary: "psi 0.3 on feature " + o.Feature, WindowStart: o.WindowStart, WindowEnd: o.WindowEnd})
	}
	key := alerting.GroupKey(g.Labels)
	fire := &alert.Notification{Key: key, Status: alert.StatusFiring, Severity: alerting.SeverityWarning,
		ModelID: "fraud", Group: g, Summary: "1000 alerts firing for model_id fraud: " + g.Firing[0].Summary}
	if err := p.Notify(context.Background(), fire); err != nil {
		t.Fatal(err)
	}
	resolve := &alert.Notification{Key: key, Status: alert.StatusResolved, Severity: alerting.SeverityWarning,
		ModelID: "fraud", Group: &alert.Group{Labels: g.Labels, Resolved: g.Firing}}
	if err := p.Notify(context.Background(), resolve); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	ev, err := decode(reqs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Payload.CustomDetails
	firing, _ := d["firing"].([]any)
	omitted, _ := d["omitted"].(float64)
	if ev.DedupKey != key || len(firing) == 0 || len(firing)+int(omitted) != n || d["firing_count"] != float64(n) {
		t.Errorf("dedup_key %q, %d listed, %v omitted, firing_count %v; want %q and %d in all",
			ev.DedupKey, len(firing), omitted, d["firing_count"], key, n)
	}
	if first, _ := firing[0].(map[string]any); !strings.HasPrefix(first["feature"].(string), "0000") {
		t.Errorf("the first alert listed is not the group's first")
	}
	if len(reqs[0].Body) > 512_000 || utf8.RuneCountInString(ev.Payload.Summary) > 1024 {
		t.Errorf("event of %d bytes, summary of %d characters", len(reqs[0].Body), utf8.RuneCountInString(ev.Payload.Summary))
	}
	if ev, err := decode(reqs[1].Body); err != nil || ev.EventAction != "resolve" || ev.DedupKey != key {
		t.Errorf("second event %+v (%v), want the group's resolve", ev, err)
	}
}
