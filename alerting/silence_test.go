package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/internal/chtest"
	"github.com/driftwatch/driftwatch/storage"
)

func TestParseMatcher(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want alerting.Matcher
		err  string
	}{
		{in: "model_id=fraud-*", want: alerting.Matcher{Name: "model_id", Equal: true, Pattern: "fraud-*"}},
		{in: " severity != warning ", want: alerting.Matcher{Name: "severity", Pattern: "warning"}},
		{in: `team="ml platform"`, want: alerting.Matcher{Name: "team", Equal: true, Pattern: "ml platform"}},
		{in: `subject=\*`, want: alerting.Matcher{Name: "subject", Equal: true, Pattern: `\*`}},
		{in: "feature=", want: alerting.Matcher{Name: "feature", Equal: true}},
		{in: "model_id", err: `matcher "model_id": want name=pattern or name!=pattern`},
		{in: "model_id!fraud", err: `matcher "model_id!fraud": want name=pattern or name!=pattern`},
		{in: "model_id=~fraud.*", err: "regular expressions (=~, !~) are not supported"},
		{in: "model_id!~fraud.*", err: "regular expressions (=~, !~) are not supported"},
		{in: "model-id=fraud", err: `"model-id" is not a label name (one of model_id, model_version`},
		{in: "=fraud", err: `"" is not a label name`},
		{in: "model_id=[fraud", err: `pattern "[fraud" is not a valid glob`},
		{in: `model_id="fraud`, err: `pattern "fraud is not a valid quoted string`},
	} {
		got, err := alerting.ParseMatcher(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMatcher(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("ParseMatcher(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		default:
			if back, err := alerting.ParseMatcher(got.String()); err != nil || back != got {
				t.Errorf("ParseMatcher(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
			}
		}
	}
	m, _ := alerting.ParseMatcher("model_id=fraud-*")
	if !m.Matches("fraud-eu") || m.Matches("churn") {
		t.Error("model_id=fraud-* matching")
	}
	m, _ = alerting.ParseMatcher("severity!=warning")
	if m.Matches("warning") || !m.Matches("critical") || !m.Matches("") {
		t.Error("severity!=warning matching")
	}

	if _, err := alerting.ParseMatchers(nil); err == nil || !strings.Contains(err.Error(), "no matcher") {
		t.Errorf("ParseMatchers(nil) = %v", err)
	}
	for _, all := range [][]string{{"model_id=*"}, {"team!=ml", "feature=*"}} {
		if _, err := alerting.ParseMatchers(all); err == nil || !strings.Contains(err.Error(), "would silence every alert") {
			t.Errorf("ParseMatchers(%q) = %v, want a refusal", all, err)
		}
	}
	if ms, err := alerting.ParseMatchers([]string{"model_id=?*", "team!=ml"}); err != nil || len(ms) != 2 {
		t.Errorf("ParseMatchers(model_id=?*, team!=ml) = %v, %v", ms, err)
	}
}

func TestSilenceRefreshConfig(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, ""}, {time.Second, ""}, {time.Hour, ""}, {500 * time.Millisecond, "silence_refresh: must be at least 1s"}, {-time.Second, "silence_refresh: must be at least 1s"}} {
		c := alerting.DefaultConfig()
		c.SilenceRefresh = tt.d
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
			t.Errorf("silence_refresh %s: Validate = %v, want %q", tt.d, err, tt.want)
		}
	}
}

// storeSilences is the storage-backed silence source, as the monitor builds it.
func storeSilences(s *storage.Store) alerting.Silencer {
	return alerting.SilencerFunc(func(ctx context.Context) ([]alerting.Silence, error) {
		rows, err := s.Silences(ctx, time.Now(), false)
		out := make([]alerting.Silence, len(rows))
		for i, r := range rows {
			out[i] = alerting.Silence{ID: r.ID, Matchers: r.Matchers, StartsAt: r.StartsAt, EndsAt: r.EndsAt, CreatedBy: r.CreatedBy, Comment: r.Comment}
		}
		return out, err
	})
}

// TestSilences runs a Manager with real Slack and webhook notifiers posting
// to local servers, recording into and reading its silences from the test
// ClickHouse server: a silenced model's alerts fire and resolve in the
// alerts table without a message, another model notifies, and expiring the
// silence while an alert fires sends its firing notification.
func TestSilences(t *testing.T) {
	store, _, _ := chtest.Open(t, "dw_silence", true)
	ctx := context.Background()
	slackSrv := alerttest.NewServer(t, checkSlackMessage, alerttest.Reply{Status: 200, Body: "ok"})
	hookSrv := alerttest.NewServer(t, nil, alerttest.Reply{Status: 200})
	t.Setenv("DRIFTWATCH_TEST_SILENCE_SLACK_URL", slackSrv.URL+"/services/T/B/X")
	cfg := alerttest.FastConfig()
	sc := slack.DefaultConfig()
	sc.URLEnv, sc.RatePerSecond = "DRIFTWATCH_TEST_SILENCE_SLACK_URL", -1
	wc := webhook.DefaultConfig()
	wc.URL = hookSrv.URL + "/hook"
	cfg.Slack, cfg.Webhook = []slack.Config{sc}, []webhook.Config{wc}
	rec := alerting.RecorderFunc(func(ctx context.Context, recs []alerting.Record) error {
		rows := make([]storage.AlertRow, len(recs))
		for i, r := range recs { // as the monitor maps them
			rows[i] = storage.AlertRow{EventTime: r.Time, AlertKey: r.Key, ModelID: r.ModelID, ModelVersion: r.ModelVersion,
				Feature: r.Feature, Signal: r.Signal, Subject: r.Subject, Record: r.Kind, State: r.State, Severity: string(r.Severity),
				Statistic: r.Statistic, Threshold: r.Threshold, Summary: r.Summary, Receiver: r.Receiver,
				Attempt: uint32(r.Attempt), Outcome: r.Outcome, HTTPStatus: int32(r.HTTPStatus), Error: r.Error}
		}
		return store.RecordAlerts(ctx, rows)
	})
	reg := prometheus.NewRegistry()
	m, err := alerting.New(cfg, rec, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.UseSilences(storeSilences(store))
	eu, err := store.AddSilence(ctx, storage.SilenceRow{Matchers: []string{"model_id=fraud-eu"}, EndsAt: time.Now().Add(time.Hour),
		CreatedBy: "ana", Comment: "retrain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddSilence(ctx, storage.SilenceRow{Matchers: []string{"model_id=fraud-us*", "severity!=warning"},
		EndsAt: time.Now().Add(time.Hour), CreatedBy: "bo", Comment: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { _ = m.Run(runCtx); close(runDone) }()
	alerting.RefreshSilences(m)
	if got := metricValue(t, reg, "driftwatch_alerts_silences_active", ""); got != 2 {
		t.Fatalf("driftwatch_alerts_silences_active = %v, want 2", got)
	}

	psi := func(i int, model string, sev alerting.Severity) alerting.Observation {
		return alerttest.Window(i, model, "1", "amount", sev, alerttest.PSI(0.4, sev))
	}
	// Window 0: all three models drift; fraud-eu and fraud-us are silenced.
	m.Observe(ctx, []alerting.Observation{psi(0, "fraud-eu", alerting.SeverityCritical), psi(0, "fraud-us", alerting.SeverityCritical),
		psi(0, "churn", alerting.SeverityCritical)})
	var slackN, hookN int
	for _, r := range append(expect(t, slackSrv, &slackN, 1), expect(t, hookSrv, &hookN, 1)...) {
		if !strings.Contains(string(r.Body), "churn") || strings.Contains(string(r.Body), "fraud") {
			t.Fatalf("window 0 notified:\n%s", r.Body)
		}
	}
	// Window 1: churn and fraud-us resolve (fraud-us never notified: no resolve either); fraud-eu still fires.
	m.Observe(ctx, []alerting.Observation{psi(1, "fraud-eu", alerting.SeverityCritical), psi(1, "fraud-us", alerting.SeverityOK),
		psi(1, "churn", alerting.SeverityOK)})
	for _, r := range append(expect(t, slackSrv, &slackN, 1), expect(t, hookSrv, &hookN, 1)...) {
		if !strings.Contains(string(r.Body), "churn") || !strings.Contains(strings.ToLower(string(r.Body)), "resolved") {
			t.Fatalf("window 1 notified:\n%s", r.Body)
		}
	}
	if got := metricValue(t, reg, "driftwatch_alerts_silenced", ""); got != 1 {
		t.Errorf("driftwatch_alerts_silenced = %v, want 1 (fraud-eu)", got)
	}

	// Expiring fraud-eu's silence while its alert fires sends the firing notification.
	if _, err := store.ExpireSilence(ctx, eu.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	alerting.RefreshSilences(m)
	for _, r := range append(expect(t, slackSrv, &slackN, 1), expect(t, hookSrv, &hookN, 1)...) {
		if !strings.Contains(string(r.Body), "fraud-eu") || strings.Contains(strings.ToLower(string(r.Body)), "resolved") {
			t.Fatalf("expiry notified:\n%s", r.Body)
		}
	}
	var hook map[string]any
	if err := json.Unmarshal(hookSrv.Requests()[2].Body, &hook); err != nil || hook["status"] != "firing" {
		t.Fatalf("webhook after expiry: %v %v", hook, err)
	}
	// Later, fraud-eu resolves: its receivers were sent the firing, so they get the resolve.
	m.Observe(ctx, []alerting.Observation{psi(2, "fraud-eu", alerting.SeverityOK)})
	expect(t, slackSrv, &slackN, 1)
	expect(t, hookSrv, &hookN, 1)

	cancel()
	<-runDone
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := m.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "driftwatch_alerts_silenced_notifications_total", "slack"); got != 2 {
		t.Errorf("silenced notifications to slack = %v, want 2 (fraud-eu and fraud-us firing)", got)
	}

	// The alerts table has every transition, silenced ones marked, and the notifications silences kept back.
	rows, err := store.Query(ctx, `SELECT model_id, record, state, outcome, count() FROM alerts
		GROUP BY model_id, record, state, outcome ORDER BY model_id, record, state, outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var model, record, state, outcome string
		var n uint64
		if err := rows.Scan(&model, &record, &state, &outcome, &n); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s %d", model, record, state, outcome, n))
	}
	want := []string{
		"churn delivery firing success 2", "churn delivery resolved success 2",
		"churn state firing  1", "churn state pending  1", "churn state resolved  1",
		"fraud-eu delivery firing silenced 2", "fraud-eu delivery firing success 2", "fraud-eu delivery resolved success 2",
		"fraud-eu state firing silenced 1", "fraud-eu state pending silenced 1", "fraud-eu state resolved  1",
		"fraud-us delivery firing silenced 2",
		"fraud-us state firing silenced 1", "fraud-us state pending silenced 1", "fraud-us state resolved silenced 1",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts table:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// metricValue returns the value of the one series of metric name gathered
// from reg whose first label has value label (any series when label is "").
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if label != "" && (len(mt.GetLabel()) == 0 || mt.GetLabel()[0].GetValue() != label) {
				continue
			}
			return mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{%s} not gathered", name, label)
	return 0
}

// TestSilenceByRuleLabelAndEnd silences by a policy rule's label and lets
// the silence end on the manager's clock: a severity change under the
// silence is held back, and the latest firing notification is sent when it
// ends; another model's alerts are not held back.
func TestSilenceByRuleLabelAndEnd(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, `
rules:
  - name: fraud-psi
    match: {models: ["fraud-*"], signals: [psi]}
    thresholds:
      warning: {enter: 0.1, exit: 0.08}
      critical: {enter: 0.25, exit: 0.2}
    for: 0
    labels: {team: fraud-risk}
`)
	f := &fake{}
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": f}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	alerting.SetNow(m, clk.now)
	t0 := clk.t
	m.UseSilences(alerting.SilencerFunc(func(context.Context) ([]alerting.Silence, error) {
		return []alerting.Silence{
			{ID: "s1", Matchers: []string{"team=fraud-risk"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)},
			{ID: "bad", Matchers: []string{"model_id=~x"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}, // ignored
		}, nil
	}))
	alerting.RefreshSilences(m)
	ctx := context.Background()
	m.Observe(ctx, []alerting.Observation{psiAt(0, "fraud-eu", 0.15, warn, 2000), psiAt(0, "churn", 0.3, crit, 2000)})
	m.Observe(ctx, []alerting.Observation{psiAt(1, "fraud-eu", 0.3, crit, 2000), psiAt(1, "churn", 0.3, crit, 2000)})
	if len(m.Active()) != 2 {
		t.Fatalf("active alerts %v, want fraud-eu and churn firing", m.Active())
	}
	clk.add(30 * time.Minute)
	alerting.RefreshSilences(m) // still silenced: nothing more
	clk.add(30 * time.Minute)   // the silence ends
	alerting.RefreshSilences(m)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range f.got {
		got = append(got, n.ModelID+" "+n.Status+"/"+string(n.Severity))
	}
	if want := []string{"churn firing/critical", "fraud-eu firing/critical"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("notified %v, want %v", got, want)
	}
}
