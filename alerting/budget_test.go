package alerting_test

import (
	"context"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
)

// TestBudgetBurnAlert: a sustained breach of a 2% budget over 30 days of
// one-minute windows fires the fast burn alert on the 18th window (18 of
// the last 60 windows and 2 of the last 5), paged to the budget's page
// receiver only, and its gauges hold the budget and burn rates.
func TestBudgetBurnAlert(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize = "testdata/policy/budget.good.yml", time.Minute
	m, slackFake, pdFake, reg, stop := policyManager(t, cfg)
	ctx := context.Background()
	burns := func(f *fake) []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []string
		for _, n := range f.got {
			if strings.HasPrefix(n.Key, "driftwatch-budget/") {
				out = append(out, n.Key+" "+n.Status+"/"+string(n.Severity))
			}
		}
		return out
	}
	for i := range 18 {
		if i == 17 {
			waitDelivered(t, m, 4) // the drift alerts' firing, to both receivers
			if got := burns(pdFake); len(got) != 0 {
				t.Fatalf("burn alerts before the 18th window: %v", got)
			}
		}
		// Another model's windows, without budget, count for nothing.
		m.Observe(ctx, []alerting.Observation{psiAt(i, "fraud-eu", 0.4, crit, 1000), psiAt(i, "pricing", 0.4, crit, 1000)})
	}
	waitDelivered(t, m, 5)
	if got := burns(pdFake); !slices.Equal(got, []string{"driftwatch-budget/fraud-eu/fraud/fast firing/critical"}) {
		t.Errorf("PagerDuty got burn alerts %v, want the fast page", got)
	}
	if got := burns(slackFake); len(got) != 0 {
		t.Errorf("Slack got burn alerts %v, want none (tickets only)", got)
	}
	pdFake.mu.Lock()
	var page *alerting.Notification
	for _, n := range pdFake.got {
		if strings.HasPrefix(n.Key, "driftwatch-budget/") {
			page = n
		}
	}
	pdFake.mu.Unlock()
	if want := "risk budget fraud of fraud-eu: fast burn 15× over 1h and 50× over 5m (page at 14.4×), 2.08% of 30d spent"; page.Summary != want ||
		page.Annotations["summary"] != want || page.Signal != alerting.BurnSignal || page.Subject != "fraud/fast" || page.Labels["budget"] != "fraud" {
		t.Errorf("burn notification %+v, want summary %q", page, want)
	}
	if len(page.Tests) != 2 || page.Tests[0].Test != "burn_rate_1h" || page.Tests[0].Statistic != 15 || page.Tests[1].Test != "burn_rate_5m" {
		t.Errorf("burn tests %+v", page.Tests)
	}

	remaining := 1 - 18/(0.02*30*24*60)
	if got := counter(t, reg, "driftwatch_alerts_budget_remaining_ratio", map[string]string{"budget": "fraud", "model": "fraud-eu"}); math.Abs(got-remaining) > 1e-9 {
		t.Errorf("remaining = %v, want %v", got, remaining)
	}
	for window, want := range map[string]float64{"1h": 18.0 / 60 / 0.02, "5m": 1 / 0.02, "6h": 18.0 / 360 / 0.02, "30m": 18.0 / 30 / 0.02, "3d": 18.0 / 4320 / 0.02} {
		got := counter(t, reg, "driftwatch_alerts_budget_burn_rate", map[string]string{"budget": "fraud", "model": "fraud-eu", "window": window})
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("burn_rate{window=%s} = %v, want %v", window, got, want)
		}
	}
	if got := counter(t, reg, "driftwatch_alerts_budget_burn_alerts_total", map[string]string{"budget": "fraud", "alert": "fast"}); got != 1 {
		t.Errorf("burn_alerts_total{fast} = %v, want 1", got)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == "pricing" {
					t.Errorf("%s exported for pricing, which has no budget", mf.GetName())
				}
			}
		}
	}
	promtoolCheck(t, reg)

	// The breach ends: the short window confirms it within five windows.
	for i := 18; i < 24; i++ {
		m.Observe(ctx, []alerting.Observation{psiAt(i, "fraud-eu", 0.01, ok, 1000)})
	}
	recs := stop()
	if got := burns(pdFake); !slices.Equal(got, []string{"driftwatch-budget/fraud-eu/fraud/fast firing/critical", "driftwatch-budget/fraud-eu/fraud/fast resolved/critical"}) {
		t.Errorf("PagerDuty got burn alerts %v, want the page and its resolve", got)
	}
	var states []string
	for _, r := range recs {
		if r.Kind == alerting.KindState && r.Signal == alerting.BurnSignal {
			states = append(states, r.State+" "+r.Key)
		}
	}
	if want := []string{"firing driftwatch-budget/fraud-eu/fraud/fast", "resolved driftwatch-budget/fraud-eu/fraud/fast"}; !slices.Equal(states, want) {
		t.Errorf("burn state records %v, want %v", states, want)
	}
}

// TestBudgetModelsBound: beyond max_budget_models, a model's budget is not
// tracked: its windows are counted and the first logged, once.
func TestBudgetModelsBound(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize, cfg.MaxBudgetModels = "testdata/policy/budget.good.yml", time.Minute, 1
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": &fake{}, "pagerduty-fraud": &fake{}}, nil, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m.Observe(context.Background(), []alerting.Observation{
			psiAt(i, "fraud-eu", 0.01, ok, 1000), psiAt(i, "fraud-us", 0.01, ok, 1000), psiAt(i, "fraud-uk", 0.01, ok, 1000)})
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, reg, "driftwatch_alerts_budget_untracked_windows_total", nil); got != 6 {
		t.Errorf("untracked windows = %v, want 6 (two models, three windows)", got)
	}
	if n := strings.Count(logs.String(), "risk budget not tracked"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if got := counter(t, reg, "driftwatch_alerts_budget_remaining_ratio", map[string]string{"budget": "fraud", "model": "fraud-eu"}); got != 1 {
		t.Errorf("remaining of the tracked model = %v, want 1", got)
	}
}

// TestBudgetReloadAndHandOver: a reload that drops a budget resolves its
// firing burn alerts and its gauges; a hand-over drops a model's burn
// alerts and gauges without a notification.
func TestBudgetReloadAndHandOver(t *testing.T) {
	const withBudget = `
budgets:
  - name: b
    models: ["m*"]
    budget: 10%
    period: 1h
    burn_alerts: [{name: all, long: 10m, short: 1m, burn_rate: 1, severity: page}]
    receivers: {page: [pagerduty-fraud], ticket: []}
`
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize = writePolicy(t, withBudget), time.Minute
	m, _, pdFake, reg, stop := policyManager(t, cfg)
	ctx := context.Background()
	gauges := func() int {
		mfs, _ := reg.Gather()
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "driftwatch_alerts_budget_") && mf.GetType().String() == "GAUGE" {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	m.Observe(ctx, []alerting.Observation{psiAt(0, "m1", 0.4, crit, 1000), psiAt(0, "m2", 0.4, crit, 1000)})
	if n := gauges(); n != 2*3 {
		t.Fatalf("%d budget gauges, want 6 (remaining, 10m and 1m rates of two models)", n)
	}
	if err := os.WriteFile(cfg.PolicyFile, []byte("rules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.ReloadPolicy(); err != nil {
		t.Fatal(err)
	}
	if n := gauges(); n != 0 {
		t.Errorf("%d budget gauges after the budget left the policy, want 0", n)
	}
	if err := os.WriteFile(cfg.PolicyFile, []byte(withBudget), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.ReloadPolicy(); err != nil {
		t.Fatal(err)
	}
	m.Observe(ctx, []alerting.Observation{psiAt(1, "m1", 0.4, crit, 1000), psiAt(1, "m2", 0.01, ok, 1000)})
	if n := m.HandOver(func(id string) bool { return id == "m1" }); n != 2 {
		t.Errorf("HandOver = %d, want 2 (the drift alert and the burn alert)", n)
	}
	if n := gauges(); n != 3 {
		t.Errorf("%d budget gauges after the hand-over, want m2's 3", n)
	}
	recs := stop()
	var burns []string
	pdFake.mu.Lock()
	for _, n := range pdFake.got {
		if n.Signal == alerting.BurnSignal {
			burns = append(burns, n.ModelID+" "+n.Status)
		}
	}
	pdFake.mu.Unlock()
	slices.Sort(burns[:2])
	slices.Sort(burns[2:4])
	if want := []string{"m1 firing", "m2 firing", "m1 resolved", "m2 resolved", "m1 firing"}; !slices.Equal(burns, want) {
		t.Errorf("burn notifications %v, want %v", burns, want)
	}
	var handed []string
	for _, r := range recs {
		if r.State == alerting.StateHandedOver {
			handed = append(handed, r.Key)
		}
	}
	slices.Sort(handed)
	if want := []string{"driftwatch-budget/m1/b/all", "driftwatch/m1/7/amount"}; !slices.Equal(handed, want) {
		t.Errorf("handed over %v, want %v", handed, want)
	}
}

// TestBurnKey: a burn alert's key is escaped like the others, fits
// PagerDuty's 255 characters, and never equals a drift or signal key.
func TestBurnKey(t *testing.T) {
	if got := alerting.BurnKey("fraud-eu", "fraud", "fast"); got != "driftwatch-budget/fraud-eu/fraud/fast" {
		t.Errorf("BurnKey = %q", got)
	}
	if got := alerting.BurnKey("org/model", "b", "a"); got != "driftwatch-budget/org%2Fmodel/b/a" {
		t.Errorf("BurnKey = %q", got)
	}
	long := alerting.BurnKey(strings.Repeat("m", 300), "b", "a")
	if len(long) > alerting.MaxKeyLen || !strings.Contains(long, "/sha256:") || long == alerting.BurnKey(strings.Repeat("m", 301), "b", "a") {
		t.Errorf("long BurnKey %q", long)
	}
	for _, k := range []string{alerting.Key("driftwatch-budget", "m", "b"), alerting.SignalKey("m", "b", "a", "x")} {
		if strings.HasPrefix(k, "driftwatch-budget/") {
			t.Errorf("key %q has the burn prefix", k)
		}
	}
}
