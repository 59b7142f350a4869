package alerting_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// writePolicy writes a policy file into a temporary directory and returns its path.
func writePolicy(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// psiAt returns window i of fraud-eu v7's feature amount with a PSI of
// value (the analysis's verdict sev) measured on samples events.
func psiAt(i int, model string, value float64, sev alerting.Severity, samples int) alerting.Observation {
	psi := alerttest.PSI(value, sev)
	psi.Samples = samples
	return alerttest.Window(i, model, "7", "amount", sev, psi)
}

// policyManager runs a Manager with the policy file at path, delivering to
// fakes named slack-ml and pagerduty-fraud; stop closes it and returns its
// records.
func policyManager(t *testing.T, cfg alerting.Config) (m *alerting.Manager, slackFake, pdFake *fake, reg *prometheus.Registry, stop func() []alerting.Record) {
	t.Helper()
	slackFake, pdFake = &fake{}, &fake{}
	var (
		mu   sync.Mutex
		recs []alerting.Record
	)
	done := make(chan struct{})
	rec := alerting.RecorderFunc(func(_ context.Context, rs []alerting.Record) error {
		mu.Lock()
		recs = append(recs, rs...)
		mu.Unlock()
		return nil
	})
	reg = prometheus.NewRegistry()
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": slackFake, "pagerduty-fraud": pdFake}, rec, reg, nil)
	if err != nil {
		t.Fatalf("NewWithNotifiers: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = m.Run(ctx); close(done) }()
	stopped := false
	stop = func() []alerting.Record {
		if !stopped {
			stopped = true
			cancel()
			<-done
			if err := m.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(recs)
	}
	t.Cleanup(func() { stop() })
	return m, slackFake, pdFake, reg, stop
}

// TestPolicyRoutesBySeverity: with two rules, a PSI warning goes to Slack
// only and a critical PSI or error rate to Slack and PagerDuty, through the
// real receivers over HTTP; the rule's rendered annotations and labels are
// in the Slack message and the PagerDuty event (summary, custom_details,
// runbook and dashboard links), within their published limits.
func TestPolicyRoutesBySeverity(t *testing.T) {
	slackSrv := alerttest.NewServer(t, checkSlackMessage, alerttest.Reply{Status: 200, Body: "ok"})
	pdSrv := alerttest.NewServer(t, checkPagerDutyEvent, alerttest.Reply{Status: 202, Body: `{"status":"success"}`})
	t.Setenv("DRIFTWATCH_TEST_POLICY_SLACK_URL", slackSrv.URL+"/services/T/B/X")
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = "testdata/policy/routing.yml"
	sc := slack.DefaultConfig()
	sc.Name, sc.URLEnv, sc.RatePerSecond = "slack-ml", "DRIFTWATCH_TEST_POLICY_SLACK_URL", -1
	pc := pagerduty.DefaultConfig()
	pc.Name, pc.URL, pc.RoutingKeyFile, pc.RatePerSecond = "pagerduty-fraud", pdSrv.URL+"/v2/enqueue", "testdata/routing_key", -1
	cfg.Slack, cfg.PagerDuty = []slack.Config{sc}, []pagerduty.Config{pc}
	m, err := alerting.New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Observe(ctx, []alerting.Observation{
		psiAt(0, "fraud-eu", 0.15, warn, 2000), // warning: Slack
		psiAt(0, "fraud-us", 0.3, crit, 2000),  // critical: Slack and PagerDuty
		alerttest.SignalWindow(0, "pricing", "2", "error_rate", "*", crit, alerttest.Rate("error_rate", 0.2, 1e-6, crit)), // both
	})
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if okN, failed := m.Delivered(); okN != 5 || failed != 0 {
		t.Fatalf("Delivered() = %d, %d; want 5, 0", okN, failed)
	}

	var slackMsgs []slack.Message
	for _, r := range slackSrv.Requests() {
		var msg slack.Message
		if err := json.Unmarshal(r.Body, &msg); err != nil {
			t.Fatal(err)
		}
		slackMsgs = append(slackMsgs, msg)
	}
	var events []pagerduty.Event
	for _, r := range pdSrv.Requests() {
		var ev pagerduty.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	if len(slackMsgs) != 3 || len(events) != 2 {
		t.Fatalf("Slack got %d messages (want 3), PagerDuty %d events (want 2)", len(slackMsgs), len(events))
	}
	var dedup []string
	for _, ev := range events {
		dedup = append(dedup, ev.DedupKey)
	}
	slices.Sort(dedup)
	// The rule decides the psi test alone: the key names the test.
	if want := []string{"driftwatch/fraud-us/7/psi/amount", "driftwatch/pricing/2/error_rate/%2A"}; !slices.Equal(dedup, want) {
		t.Errorf("PagerDuty dedup keys %q, want %q (no event for the warning)", dedup, want)
	}

	var warnMsg *slack.Message
	for i := range slackMsgs {
		if strings.Contains(slackMsgs[i].Text, "fraud-eu") {
			warnMsg = &slackMsgs[i]
		}
	}
	if warnMsg == nil {
		t.Fatal("no Slack message for fraud-eu's warning")
	}
	texts := slackTexts(warnMsg)
	for _, want := range []string{
		"[FIRING warning] PSI 0.15 on amount of fraud-eu v7 (warning at 0.1)", // the rule's summary is the fallback text
		"*PSI 0.15 on amount of fraud-eu v7 (warning at 0.1)*\nTeam fraud-risk: check the feature pipeline.",
		"<https://runbooks.example/driftwatch/psi|Runbook>",
		"<https://grafana.example/d/driftwatch-model?var-model=fraud-eu&amp;var-version=7|Dashboard>",
		"rule `fraud-psi` · team `fraud-risk`",
		"*Test*\n`psi`",
	} {
		if !strings.Contains(texts, want) {
			t.Errorf("Slack message lacks %q:\n%s", want, texts)
		}
	}

	var psiEv *pagerduty.Event
	for i := range events {
		if strings.Contains(events[i].DedupKey, "psi") {
			psiEv = &events[i]
		}
	}
	p := psiEv.Payload
	if p.Summary != "PSI 0.3 on amount of fraud-us v7 (critical at 0.25)" || p.Severity != "critical" {
		t.Errorf("PagerDuty summary %q severity %q, want the rule's summary, critical", p.Summary, p.Severity)
	}
	d := p.CustomDetails
	labels, _ := d["labels"].(map[string]any)
	ann, _ := d["annotations"].(map[string]any)
	if d["rule"] != "fraud-psi" || d["test"] != "psi" || labels["team"] != "fraud-risk" ||
		ann["runbook_url"] != "https://runbooks.example/driftwatch/psi" || ann["description"] != "Team fraud-risk: check the feature pipeline." {
		t.Errorf("custom_details %+v", d)
	}
	dash := "https://grafana.example/d/driftwatch-model?var-model=fraud-us&var-version=7"
	wantLinks := []pagerduty.Link{{Href: dash, Text: "Dashboard"}, {Href: "https://runbooks.example/driftwatch/psi", Text: "Runbook"}}
	if !slices.Equal(psiEv.Links, wantLinks) || psiEv.ClientURL != dash {
		t.Errorf("links %+v client_url %q, want %+v", psiEv.Links, psiEv.ClientURL, wantLinks)
	}
}

// TestPolicyPayloadsOfEveryReceiver: a rule's labels and annotations reach
// the webhook's JSON and Alertmanager's labels and annotations too, and a
// rule without receivers delivers to every receiver.
func TestPolicyPayloadsOfEveryReceiver(t *testing.T) {
	path := writePolicy(t, `
rules:
  - name: amount-ks
    match: {signals: [ks], subjects: [amount]}
    for: 0
    labels: {team: fraud-risk, feature: not-this-one}
    annotations:
      summary: "KS {{humanize .Value}} on {{.Subject}}"
      runbook_url: "https://runbooks.example/ks/{{pathEscape .Model}}"
`)
	srv := alerttest.NewServer(t, nil, alerttest.Reply{Status: 200})
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = path
	wc := webhook.DefaultConfig()
	wc.URL = srv.URL + "/hook"
	ac := alertmanager.DefaultConfig()
	ac.URL = srv.URL
	cfg.Webhook, cfg.Alertmanager = []webhook.Config{wc}, []alertmanager.Config{ac}
	m, err := alerting.New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(0, "m", "1", "amount", crit,
		alerttest.PSI(0.41, crit), alerttest.KS(0.3, 1e-5, crit))})
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	var hooks []map[string]any
	var ams [][]alertmanager.Alert
	for _, r := range reqs {
		switch r.Path {
		case "/hook":
			var h map[string]any
			if err := json.Unmarshal(r.Body, &h); err != nil {
				t.Fatal(err)
			}
			hooks = append(hooks, h)
		case "/api/v2/alerts":
			var as []alertmanager.Alert
			if err := json.Unmarshal(r.Body, &as); err != nil {
				t.Fatal(err)
			}
			ams = append(ams, as)
		}
	}
	// Two alerts: the feature's (psi, default rule) and the ks test's (the rule).
	if len(hooks) != 2 || len(ams) != 2 {
		t.Fatalf("webhook got %d, Alertmanager %d posts; want 2 each", len(hooks), len(ams))
	}
	for _, h := range hooks {
		if h["key"] == "driftwatch/m/1/amount" {
			if _, ok := h["rule"]; ok {
				t.Errorf("the default rule's alert carries a rule: %v", h)
			}
			continue
		}
		ann, _ := h["annotations"].(map[string]any)
		labels, _ := h["labels"].(map[string]any)
		if h["key"] != "driftwatch/m/1/ks/amount" || h["test"] != "ks" || h["rule"] != "amount-ks" || labels["team"] != "fraud-risk" ||
			ann["summary"] != "KS 0.3 on amount" || ann["runbook_url"] != "https://runbooks.example/ks/m" {
			t.Errorf("webhook payload %v", h)
		}
	}
	for _, as := range ams {
		a := as[0]
		if a.Labels["feature"] != "amount" {
			t.Errorf("a rule label replaced driftwatch's: %v", a.Labels)
		}
		if a.Labels["test"] == "" {
			continue
		}
		if a.Labels["rule"] != "amount-ks" || a.Labels["team"] != "fraud-risk" || a.Labels["test"] != "ks" ||
			a.Annotations["summary"] != "KS 0.3 on amount" || a.Annotations["runbook_url"] != "https://runbooks.example/ks/m" {
			t.Errorf("Alertmanager alert %+v", a)
		}
	}
}

// TestPolicyHysteresis: a firing warning stays firing while the value is
// between the exit and enter levels, and resolves below exit.
func TestPolicyHysteresis(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, `
rules:
  - name: psi
    match: {signals: [psi]}
    thresholds: {warning: {enter: 0.1, exit: 0.08}}
    for: 0
    keep_firing_for: 0
    receivers: [slack-ml]
`)
	m, slackFake, pdFake, _, stop := policyManager(t, cfg)
	ctx := context.Background()
	// The analysis's own severity does not matter under thresholds.
	steps := []struct {
		value float64
		want  string // state after the window
	}{{0.05, ""}, {0.12, "firing"}, {0.09, "firing"}, {0.08, "firing"}, {0.099, "firing"}, {0.079, ""}, {0.09, ""}}
	for i, s := range steps {
		m.Observe(ctx, []alerting.Observation{psiAt(i, "fraud-eu", s.value, ok, 1000)})
		got := ""
		if a := m.Active(); len(a) == 1 {
			got = a[0].State
			if a[0].Key != "driftwatch/fraud-eu/7/psi/amount" || a[0].Test != "psi" || a[0].Rule != "psi" || a[0].Threshold != 0.1 {
				t.Errorf("window %d: alert %+v", i, a[0])
			}
		}
		if got != s.want {
			t.Fatalf("window %d (value %g): state %q, want %q", i, s.value, got, s.want)
		}
	}
	stop()
	if got := strings.Join(slackFake.notes(), " "); got != "firing/warning resolved/warning" {
		t.Errorf("Slack got %s, want one firing and one resolve", got)
	}
	if len(pdFake.notes()) != 0 {
		t.Errorf("PagerDuty got %v, routed nothing", pdFake.notes())
	}
}

// TestPolicyKeepFiringFor: keep_firing_for 2 keeps an alert firing through
// two clean windows and resolves it on the third; a breach in between
// starts the count again.
func TestPolicyKeepFiringFor(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, `
rules:
  - name: errors
    match: {signals: [error_rate]}
    for: 0
    keep_firing_for: 2
`)
	m, slackFake, _, _, stop := policyManager(t, cfg)
	sevs := []alerting.Severity{crit, ok, ok, crit, ok, ok, ok}
	for i, sev := range sevs {
		m.Observe(context.Background(), []alerting.Observation{
			alerttest.SignalWindow(i, "pricing", "2", "error_rate", "*", sev, alerttest.Rate("error_rate", 0.1, 0.01, sev))})
		active := len(m.Active()) == 1
		if want := i < 6; active != want {
			t.Fatalf("window %d: firing %v, want %v", i, active, want)
		}
	}
	stop()
	if got := strings.Join(slackFake.notes(), " "); got != "firing/critical resolved/critical" {
		t.Errorf("Slack got %s", got)
	}
	slackFake.mu.Lock()
	defer slackFake.mu.Unlock()
	if r := slackFake.got[1]; !r.EndsAt.Equal(alerttest.T0.Add(7 * time.Minute)) {
		t.Errorf("resolved at %s, want the end of window 6", r.EndsAt)
	}
}

// TestPolicyMinSamples: a window with fewer samples than min_samples is
// skipped: it neither opens an alert nor breaks a pending run.
func TestPolicyMinSamples(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, `
rules:
  - name: psi
    match: {signals: [psi]}
    for: 1
    min_samples: 500
`)
	m, slackFake, _, _, stop := policyManager(t, cfg)
	ctx := context.Background()
	m.Observe(ctx, []alerting.Observation{psiAt(0, "fraud-eu", 0.4, crit, 100)})
	if a := m.Active(); len(a) != 0 {
		t.Fatalf("a window of 100 samples opened %+v", a)
	}
	m.Observe(ctx, []alerting.Observation{psiAt(1, "fraud-eu", 0.4, crit, 800)})
	m.Observe(ctx, []alerting.Observation{psiAt(2, "fraud-eu", 0.4, crit, 100)}) // skipped, the run goes on
	if a := m.Active(); len(a) != 1 || a[0].State != alerting.StatePending {
		t.Fatalf("after a small window: %+v, want one pending alert", a)
	}
	m.Observe(ctx, []alerting.Observation{psiAt(3, "fraud-eu", 0.4, crit, 800)})
	if a := m.Active(); len(a) != 1 || a[0].State != alerting.StateFiring {
		t.Fatalf("after the second counted window: %+v, want firing", a)
	}
	stop()
	if got := strings.Join(slackFake.notes(), " "); got != "firing/critical" {
		t.Errorf("Slack got %s", got)
	}
}

// TestReloadPolicy: a broken file leaves the policy and the firing alert as
// they were and returns an error naming the file and line; a good one
// keeps the alert's state (no new pending run, no repeat) and changes its
// routing from the next window.
func TestReloadPolicy(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, `
rules:
  - name: psi
    match: {signals: [psi]}
    for: 0
    receivers: [slack-ml]
`)
	m, slackFake, pdFake, reg, stop := policyManager(t, cfg)
	ctx := context.Background()
	m.Observe(ctx, []alerting.Observation{psiAt(0, "fraud-eu", 0.4, crit, 1000)})
	before := m.Active()
	if len(before) != 1 || before[0].State != alerting.StateFiring {
		t.Fatalf("active %+v, want one firing alert", before)
	}
	waitDelivered(t, m, 1)

	good, _ := os.ReadFile(cfg.PolicyFile)
	broken := strings.Replace(string(good), "receivers: [slack-ml]", "receivers: [slack-ml, nowhere]\n    treshold: 2", 1)
	if err := os.WriteFile(cfg.PolicyFile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	err := m.ReloadPolicy()
	if err == nil || !strings.Contains(err.Error(), cfg.PolicyFile+":7: rules[0].treshold: unknown key") {
		t.Fatalf("ReloadPolicy = %v, want the file, line and key", err)
	}
	if after := m.Active(); !slices.Equal(after, before) {
		t.Fatalf("after a failed reload %+v, want %+v", after, before)
	}
	m.Observe(ctx, []alerting.Observation{psiAt(1, "fraud-eu", 0.4, crit, 1000)})

	routed := strings.Replace(string(good), "receivers: [slack-ml]", "receivers:\n      warning: [slack-ml]\n      critical: [slack-ml, pagerduty-fraud]", 1)
	if err := os.WriteFile(cfg.PolicyFile, []byte(routed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.ReloadPolicy(); err != nil {
		t.Fatalf("ReloadPolicy: %v", err)
	}
	after := m.Active()
	if len(after) != 1 || after[0].State != alerting.StateFiring || !after[0].FiredAt.Equal(before[0].FiredAt) {
		t.Fatalf("after the reload %+v, want the alert still firing since %s", after, before[0].FiredAt)
	}
	m.Observe(ctx, []alerting.Observation{psiAt(2, "fraud-eu", 0.4, crit, 1000)}) // routes to PagerDuty now
	m.Observe(ctx, []alerting.Observation{psiAt(3, "fraud-eu", 0.01, ok, 1000)})  // keep_firing_for 1
	m.Observe(ctx, []alerting.Observation{psiAt(4, "fraud-eu", 0.01, ok, 1000)})  // resolves, to both
	recs := stop()
	if got := strings.Join(slackFake.notes(), " "); got != "firing/critical resolved/critical" {
		t.Errorf("Slack got %s, want one firing (no repeat after the reloads) and the resolve", got)
	}
	if got := strings.Join(pdFake.notes(), " "); got != "firing/critical resolved/critical" {
		t.Errorf("PagerDuty got %s, want the firing alert once routed, then the resolve", got)
	}
	var states []string
	for _, r := range recs {
		if r.Kind == alerting.KindState {
			states = append(states, r.State)
		}
	}
	if got := strings.Join(states, " "); got != "pending firing resolved" {
		t.Errorf("state records %s", got)
	}
	if got := counter(t, reg, "driftwatch_alerts_policy_reloads_total", map[string]string{"outcome": "failure"}); got != 1 {
		t.Errorf("reloads{failure} = %v", got)
	}
	if got := counter(t, reg, "driftwatch_alerts_policy_reloads_total", map[string]string{"outcome": "success"}); got != 1 {
		t.Errorf("reloads{success} = %v", got)
	}
}

// TestDeEscalationResolvesWhereNoLongerRouted: a critical alert paged
// through PagerDuty that falls back to a warning, which the rule routes to
// Slack only, is resolved in PagerDuty, and paged again if it escalates.
func TestDeEscalationResolvesWhereNoLongerRouted(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = "testdata/policy/routing.yml"
	m, slackFake, pdFake, _, stop := policyManager(t, cfg)
	// Critical, two warning windows (the severity comes down after more
	// than keep_firing_for, 1), critical again, then clean.
	for i, v := range []float64{0.3, 0.15, 0.15, 0.3, 0.01, 0.01} {
		m.Observe(context.Background(), []alerting.Observation{psiAt(i, "fraud-eu", v, ok, 1000)})
	}
	stop()
	if got := strings.Join(pdFake.notes(), " "); got != "firing/critical resolved/warning firing/critical resolved/critical" {
		t.Errorf("PagerDuty got %s", got)
	}
	if got := strings.Join(slackFake.notes(), " "); got != "firing/critical firing/warning firing/critical resolved/critical" {
		t.Errorf("Slack got %s", got)
	}
}

// TestPolicyErrors: the policy file is checked with the config, with
// errors naming the file, line and key; receivers must be configured ones;
// budgets need the window length.
func TestPolicyErrors(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_POLICY_SLACK_URL", "https://hooks.slack.com/services/T/B/X")
	base := alerting.DefaultConfig()
	sc := slack.DefaultConfig()
	sc.Name, sc.URLEnv = "slack-ml", "DRIFTWATCH_TEST_POLICY_SLACK_URL"
	base.Slack = []slack.Config{sc}
	tests := []struct {
		file   string
		window time.Duration
		want   string
	}{
		{"testdata/policy/syntax.bad.yml", 0, "policy_file: testdata/policy/syntax.bad.yml:3: rules[0].treshold: unknown key"},
		{"testdata/policy/unknown-receiver.bad.yml", 0, `policy_file: testdata/policy/unknown-receiver.bad.yml:5: rules[0].receivers.critical[1]: unknown receiver "pagerduty-frod"`},
		{"testdata/policy/missing.yml", 0, "policy_file: reading alert policy: open testdata/policy/missing.yml"},
		{"testdata/policy/budget.good.yml", 0, `unknown receiver "pagerduty-fraud"`},
		{"testdata/policy/routing.yml", 0, `unknown receiver "pagerduty-fraud"`},
	}
	for _, tc := range tests {
		cfg := base
		cfg.PolicyFile, cfg.WindowSize = tc.file, tc.window
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.file, err, tc.want)
		}
		if _, err := alerting.New(cfg, nil, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want %q", tc.file, err, tc.want)
		}
	}
	pc := pagerduty.DefaultConfig()
	pc.Name, pc.URL, pc.RoutingKeyFile = "pagerduty-fraud", "https://events.pagerduty.com/v2/enqueue", "testdata/routing_key"
	base.PagerDuty = []pagerduty.Config{pc}
	budgets := base
	budgets.PolicyFile = "testdata/policy/budget.good.yml"
	if err := budgets.Validate(); err == nil || !strings.Contains(err.Error(), "risk budgets, but the analysis window length") {
		t.Errorf("budgets without a window size: Validate = %v", err)
	}
	budgets.WindowSize = time.Minute
	if err := budgets.Validate(); err != nil {
		t.Errorf("budgets with a window size: Validate = %v", err)
	}
	budgets.WindowSize = 24 * time.Hour // 2% of 30 daily windows is less than one window
	if err := budgets.Validate(); err == nil || !strings.Contains(err.Error(), "one breached window would spend more than the whole budget") {
		t.Errorf("budget at a daily window: Validate = %v", err)
	}
	base.PolicyFile = "testdata/policy/routing.yml"
	if err := base.Validate(); err != nil {
		t.Errorf("routing.yml with both receivers: Validate = %v", err)
	}
}

// TestNoRuleMatchesIsTheDefault: a policy whose rules match none of the
// observations gives the notifications and records of no policy at all.
func TestNoRuleMatchesIsTheDefault(t *testing.T) {
	run := func(policyFile string) ([]string, []string) {
		cfg := alerttest.FastConfig()
		cfg.PendingWindows, cfg.PolicyFile = 2, policyFile
		f := &fake{}
		var batches [][]alerting.Observation
		for i, sev := range []alerting.Severity{warn, crit, crit, ok, warn, ok, ok} {
			batches = append(batches, []alerting.Observation{
				alerttest.Window(i, "fraud", "3", "amount", sev, alerttest.PSI(0.3, sev), alerttest.KS(0.2, 0.01, sev)),
				alerttest.SignalWindow(i, "fraud", "3", "error_rate", "*", sev, alerttest.Rate("error_rate", 0.1, 0.01, sev)),
			})
		}
		res := alerttest.Drive(t, cfg, f, 4, batches...)
		var recs []string
		for _, r := range res.Records {
			if r.Kind == alerting.KindState {
				recs = append(recs, fmt.Sprintf("%s %s %s %g", r.Key, r.State, r.Severity, r.Statistic))
			}
		}
		var notes []string
		f.mu.Lock()
		for _, n := range f.got {
			notes = append(notes, fmt.Sprintf("%s %s %s %s %v", n.Key, n.Status, n.Severity, n.Summary, n.Labels))
		}
		f.mu.Unlock()
		return recs, notes
	}
	wantRecs, wantNotes := run("")
	gotRecs, gotNotes := run(writePolicy(t, `
rules:
  - name: other-models
    match: {models: ["pricing-*"]}
    receivers: []
`))
	if !slices.Equal(gotRecs, wantRecs) || !slices.Equal(gotNotes, wantNotes) {
		t.Errorf("with a policy matching nothing:\n%q\n%q\nwithout a policy:\n%q\n%q", gotRecs, gotNotes, wantRecs, wantNotes)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// slackTexts returns every text of a Slack message, one a line.
func slackTexts(msg *slack.Message) string {
	texts := []string{msg.Text}
	for _, b := range msg.Blocks {
		if b.Text != nil {
			texts = append(texts, b.Text.Text)
		}
		for _, f := range b.Fields {
			texts = append(texts, f.Text)
		}
		for _, e := range b.Elements {
			texts = append(texts, e.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// checkSlackMessage validates an incoming-webhook payload against Slack's
// published limits (as slack's own tests do): decoded strictly, top-level
// text, at most 50 blocks, header plain_text <= 150, section text <= 3000,
// at most 10 fields of <= 2000, context elements <= 10, and in mrkdwn no
// raw '<' but for links, no '&' but for the three entities.
func checkSlackMessage(r *http.Request, body []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var msg slack.Message
	if err := dec.Decode(&msg); err != nil {
		return err
	}
	if strings.TrimSpace(msg.Text) == "" || len(msg.Blocks) == 0 || len(msg.Blocks) > 50 {
		return fmt.Errorf("text %q, %d blocks", msg.Text, len(msg.Blocks))
	}
	texts := []string{msg.Text}
	for i, b := range msg.Blocks {
		switch b.Type {
		case "header":
			if n := utf8.RuneCountInString(b.Text.Text); b.Text.Type != "plain_text" || n == 0 || n > 150 {
				return fmt.Errorf("block %d: header %+v", i, b.Text)
			}
			continue
		case "section":
			if b.Text != nil {
				if n := utf8.RuneCountInString(b.Text.Text); n == 0 || n > 3000 {
					return fmt.Errorf("block %d: section text of %d characters", i, n)
				}
				texts = append(texts, b.Text.Text)
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if utf8.RuneCountInString(f.Text) > 2000 {
					return fmt.Errorf("block %d: field of %d characters", i, utf8.RuneCountInString(f.Text))
				}
				texts = append(texts, f.Text)
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("block %d: %d context elements", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				if utf8.RuneCountInString(e.Text) > 3000 {
					return fmt.Errorf("block %d: context text of %d characters", i, utf8.RuneCountInString(e.Text))
				}
				texts = append(texts, e.Text)
			}
		default:
			return fmt.Errorf("block %d: type %q", i, b.Type)
		}
	}
	for _, s := range texts {
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '&':
				if rest := s[i:]; !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
					return fmt.Errorf("unescaped & in %q", s)
				}
			case '<':
				end := strings.IndexByte(s[i:], '>')
				if end < 0 || !strings.HasPrefix(s[i+1:], "http") || strings.Count(s[i:i+end], "|") != 1 {
					return fmt.Errorf("unescaped < in %q", s)
				}
				i += end
			case '>':
				return fmt.Errorf("unescaped > in %q", s)
			}
		}
	}
	return nil
}

// checkPagerDutyEvent validates an Events API v2 request against its
// published limits: decoded strictly, at most 512 KB, a dedup_key of
// 1..255 characters, a trigger's summary of 1..1024 and absolute links.
func checkPagerDutyEvent(r *http.Request, body []byte) error {
	if len(body) > 512_000 {
		return fmt.Errorf("event of %d bytes", len(body))
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var ev pagerduty.Event
	if err := dec.Decode(&ev); err != nil {
		return err
	}
	if ev.DedupKey == "" || len(ev.DedupKey) > 255 {
		return fmt.Errorf("dedup_key of %d characters", len(ev.DedupKey))
	}
	if ev.EventAction != "trigger" {
		return nil
	}
	if ev.Payload == nil || ev.Payload.Summary == "" || utf8.RuneCountInString(ev.Payload.Summary) > 1024 {
		return errors.New("trigger without a summary of 1..1024 characters")
	}
	for _, l := range ev.Links {
		if !strings.HasPrefix(l.Href, "https://") && !strings.HasPrefix(l.Href, "http://") {
			return fmt.Errorf("link %+v", l)
		}
	}
	return nil
}
