package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/policy"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// inhibitPolicy mutes the per-feature alerts of a model version while its
// multivariate score (feature "*") fires critical.
const inhibitPolicy = `
inhibit_rules:
  - name: multivariate-mutes-features
    source_matchers: ['feature=\*', severity=critical]
    target_matchers: ['feature=?*', 'feature!=\*']
    equal: [model_id, model_version]
`

// inhibitRig is a running Manager on a fake clock delivering to a real
// webhook and a real PagerDuty notifier posting to local servers.
type inhibitRig struct {
	m        *alerting.Manager
	clk      *clock
	hook, pd *alerttest.Server
	reg      *prometheus.Registry
	hookN    int
	pdN      int
	mu       sync.Mutex
	recs     []alerting.Record
}

func newInhibitRig(t *testing.T, policyText string) *inhibitRig {
	t.Helper()
	r := &inhibitRig{clk: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry()}
	r.hook = alerttest.NewServer(t, nil, alerttest.Reply{Status: 200})
	r.pd = alerttest.NewServer(t, checkPagerDutyEvent, alerttest.Reply{Status: 202, Body: `{"status":"success"}`})
	cfg := alerttest.FastConfig()
	cfg.StaleAfter = 24 * time.Hour
	cfg.PolicyFile = writePolicy(t, policyText)
	wc := webhook.DefaultConfig()
	wc.URL = r.hook.URL + "/hook"
	pc := pagerduty.DefaultConfig()
	pc.URL, pc.RoutingKeyFile, pc.RatePerSecond = r.pd.URL+"/v2/enqueue", "testdata/routing_key", -1
	cfg.Webhook, cfg.PagerDuty = []webhook.Config{wc}, []pagerduty.Config{pc}
	rec := alerting.RecorderFunc(func(_ context.Context, rs []alerting.Record) error {
		r.mu.Lock()
		r.recs = append(r.recs, rs...)
		r.mu.Unlock()
		return nil
	})
	m, err := alerting.New(cfg, rec, r.reg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	alerting.SetNow(m, r.clk.now)
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = m.Close(cctx)
	})
	return r
}

// observe feeds window i: the given features of model fraud-eu v7 at
// severity feat, and its multivariate score at severity joint (none when
// joint is ""), features first as the monitor sends them.
func (r *inhibitRig) observe(i int, model string, features []string, feat, joint alerting.Severity) {
	r.clk.add(time.Minute)
	var obs []alerting.Observation
	for _, f := range features {
		obs = append(obs, alerttest.Window(i, model, "7", f, feat, alerttest.PSI(0.4, feat)))
	}
	if joint != "" {
		maha := alerting.TestResult{Test: "mahalanobis", Statistic: 0.3, PValue: math.NaN(), Threshold: 0.1, Severity: joint}
		obs = append(obs, alerttest.Window(i, "fraud-eu", "7", "*", joint, maha))
	}
	r.m.Observe(context.Background(), obs)
}

// next returns the webhook payloads of the next n requests, as "status key".
func (r *inhibitRig) next(t *testing.T, n int) []string {
	t.Helper()
	expect(t, r.pd, &r.pdN, n)
	var out []string
	for _, req := range expect(t, r.hook, &r.hookN, n) {
		var p struct{ Status, Key string }
		if err := json.Unmarshal(req.Body, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Status+" "+p.Key)
	}
	slices.Sort(out)
	return out
}

// records returns the records of a kind so far as "state outcome key"
// lines ("state outcome receiver key" for deliveries), sorted.
func (r *inhibitRig) records(kind string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		switch {
		case rec.Kind != kind:
		case kind == alerting.KindState:
			out = append(out, fmt.Sprintf("%s %s %s", rec.State, rec.Outcome, rec.Key))
		default:
			out = append(out, fmt.Sprintf("%s %s %s %s", rec.State, rec.Outcome, rec.Receiver, rec.Key))
		}
	}
	slices.Sort(out)
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const (
	keyAmount   = "driftwatch/fraud-eu/7/amount"
	keyMerchant = "driftwatch/fraud-eu/7/merchant"
	keyJoint    = "driftwatch/fraud-eu/7/%2A"
)

// TestInhibition: while the multivariate score of fraud-eu v7 fires
// critical, its per-feature alerts fire, are recorded (outcome inhibited)
// and are delivered to no receiver; when the score resolves while they
// still fire, their firing notifications go out, and their resolves later.
func TestInhibition(t *testing.T) {
	r := newInhibitRig(t, inhibitPolicy)
	feats := []string{"amount", "merchant"}

	// Window 0: the features and the score drift in the same window; the
	// features come first in the batch and are inhibited all the same.
	r.observe(0, "fraud-eu", feats, crit, crit)
	sameLines(t, "window 0", r.next(t, 1), []string{"firing " + keyJoint})
	if got := metricValue(t, r.reg, "driftwatch_alerts_inhibited", ""); got != 2 {
		t.Errorf("driftwatch_alerts_inhibited = %v, want 2", got)
	}
	// Window 1: still so; nothing new is sent or recorded as held back again.
	r.observe(1, "fraud-eu", feats, crit, crit)
	r.next(t, 0)

	// Window 2: the score resolves, the features still fire: their firing goes out.
	r.observe(2, "fraud-eu", feats, crit, alerting.SeverityOK)
	sameLines(t, "window 2", r.next(t, 3), []string{"firing " + keyAmount, "firing " + keyMerchant, "resolved " + keyJoint})
	if got := metricValue(t, r.reg, "driftwatch_alerts_inhibited", ""); got != 0 {
		t.Errorf("driftwatch_alerts_inhibited = %v, want 0", got)
	}
	// Window 3: the features resolve; their receivers were sent the firing, so they get the resolve.
	r.observe(3, "fraud-eu", feats, alerting.SeverityOK, alerting.SeverityOK)
	sameLines(t, "window 3", r.next(t, 2), []string{"resolved " + keyAmount, "resolved " + keyMerchant})

	if got := metricValue(t, r.reg, "driftwatch_alerts_inhibited_notifications_total", "pagerduty"); got != 2 {
		t.Errorf("inhibited notifications to pagerduty = %v, want 2", got)
	}
	r.m.Close(context.Background())
	var held []string
	for _, rec := range r.records(alerting.KindDelivery) {
		if strings.Contains(rec, alerting.OutcomeInhibited) {
			held = append(held, rec)
		}
	}
	sameLines(t, "held-back deliveries", held, []string{
		"firing inhibited pagerduty " + keyAmount, "firing inhibited pagerduty " + keyMerchant,
		"firing inhibited webhook " + keyAmount, "firing inhibited webhook " + keyMerchant,
	})
	sameLines(t, "state records", r.records(alerting.KindState), []string{
		"firing  " + keyJoint,
		"firing inhibited " + keyAmount, "firing inhibited " + keyMerchant,
		"pending  " + keyJoint,
		"pending inhibited " + keyAmount, "pending inhibited " + keyMerchant,
		"resolved  " + keyJoint, "resolved  " + keyAmount, "resolved  " + keyMerchant,
	})
}

// TestInhibitionTargetResolvesFirst: a feature that fires and resolves
// while the score inhibits it sends nothing at all, and the score's own
// notifications go out.
func TestInhibitionTargetResolvesFirst(t *testing.T) {
	r := newInhibitRig(t, inhibitPolicy)
	r.observe(0, "fraud-eu", []string{"amount"}, crit, crit)
	sameLines(t, "window 0", r.next(t, 1), []string{"firing " + keyJoint})
	r.observe(1, "fraud-eu", []string{"amount"}, alerting.SeverityOK, crit)
	r.next(t, 0)
	r.observe(2, "fraud-eu", []string{"amount"}, alerting.SeverityOK, alerting.SeverityOK)
	sameLines(t, "window 2", r.next(t, 1), []string{"resolved " + keyJoint})
	r.m.Close(context.Background())
	sameLines(t, "amount's state records", slices.DeleteFunc(r.records(alerting.KindState), func(s string) bool {
		return !strings.HasSuffix(s, keyAmount)
	}), []string{"firing inhibited " + keyAmount, "pending inhibited " + keyAmount, "resolved inhibited " + keyAmount})
}

// TestInhibitionOff: the same windows without inhibit rules, under a rule
// whose equal labels differ, or under a source of too low a severity,
// notify every alert.
func TestInhibitionOff(t *testing.T) {
	for _, tc := range []struct {
		name, policy, model string
		joint               alerting.Severity
	}{
		{"no inhibit rules", "rules: []\n", "fraud-eu", crit},
		{"equal mismatch", inhibitPolicy, "fraud-us", crit},
		{"source matcher mismatch", inhibitPolicy, "fraud-eu", warn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newInhibitRig(t, tc.policy)
			r.observe(0, tc.model, []string{"amount"}, crit, tc.joint)
			key := "driftwatch/" + tc.model + "/7/amount"
			sameLines(t, "window 0", r.next(t, 2), []string{"firing " + keyJoint, "firing " + key})
			r.m.Close(context.Background())
			for _, rec := range r.records(alerting.KindState) {
				if strings.Contains(rec, alerting.OutcomeInhibited) {
					t.Errorf("state record %s, want none inhibited", rec)
				}
			}
		})
	}
}

// TestInhibitionLaterSource: a feature that fired before the score is not
// taken back (as in Alertmanager), but its escalation while the score
// fires is held until the score resolves.
func TestInhibitionLaterSource(t *testing.T) {
	r := newInhibitRig(t, inhibitPolicy)
	r.observe(0, "fraud-eu", []string{"amount"}, warn, "")
	sameLines(t, "window 0", r.next(t, 1), []string{"firing " + keyAmount})
	r.observe(1, "fraud-eu", []string{"amount"}, crit, crit)
	sameLines(t, "window 1", r.next(t, 1), []string{"firing " + keyJoint})
	r.observe(2, "fraud-eu", []string{"amount"}, crit, alerting.SeverityOK)
	got := r.next(t, 2)
	sameLines(t, "window 2", got, []string{"firing " + keyAmount, "resolved " + keyJoint})
}

// TestInhibitHostilePolicy: a policy file with thousands of inhibit rules,
// or a rule with thousands of matchers, is refused at start with an error
// naming the file, line and key.
func TestInhibitHostilePolicy(t *testing.T) {
	var b strings.Builder
	b.WriteString("inhibit_rules:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - {name: r%d, source_matchers: ['feature=\\*'], target_matchers: [feature=f%d], equal: [model_id]}\n", i, i)
	}
	var m strings.Builder
	m.WriteString("inhibit_rules:\n  - name: wide\n    source_matchers: ['feature=\\*']\n    target_matchers:\n")
	for i := range 3000 {
		fmt.Fprintf(&m, "      - feature!=f%d\n", i)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"rules", b.String(), fmt.Sprintf(":2: inhibit_rules: 5000 inhibit rules, at most %d", policy.MaxInhibitRules)},
		{"matchers", m.String(), fmt.Sprintf(":5: inhibit_rules[0].target_matchers: 3000 matchers, at most %d", policy.MaxInhibitMatchers)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := alerttest.FastConfig()
			cfg.PolicyFile = writePolicy(t, tc.text)
			start := time.Now()
			_, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": alerting.NotifierFunc(
				func(context.Context, *alerting.Notification) error { return nil })}, nil, nil, nil)
			if err == nil || !strings.Contains(err.Error(), cfg.PolicyFile+tc.want) {
				t.Fatalf("NewWithNotifiers: %v, want an error containing %q", err, cfg.PolicyFile+tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusing the policy took %v", d)
			}
		})
	}
}

// TestInhibitionAtTheBound: the largest policy accepted (MaxInhibitRules
// rules of MaxInhibitMatchers matchers a side) over a storm of max_alerts
// firing features decides an Observe call in bounded time.
func TestInhibitionAtTheBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("inhibit_rules:\n")
	for i := range policy.MaxInhibitRules {
		fmt.Fprintf(&b, "  - name: r%d\n    source_matchers: ['feature=\\*'", i)
		for j := range policy.MaxInhibitMatchers - 1 {
			fmt.Fprintf(&b, ", 'subject!=s%d'", j)
		}
		b.WriteString("]\n    target_matchers: ['feature=?*'")
		for j := range policy.MaxInhibitMatchers - 1 {
			fmt.Fprintf(&b, ", 'feature!=x%d-%d'", i, j)
		}
		b.WriteString("]\n    equal: [model_id, model_version]\n")
	}
	cfg := alerttest.FastConfig()
	cfg.MaxAlerts = 2000
	cfg.PolicyFile = writePolicy(t, b.String())
	var sent sync.Map
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": alerting.NotifierFunc(
		func(_ context.Context, n *alerting.Notification) error { sent.Store(n.Key, n.Status); return nil })}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obs []alerting.Observation
	for f := range cfg.MaxAlerts - 1 {
		obs = append(obs, alerttest.Window(0, "fraud-eu", "7", fmt.Sprintf("f%04d", f), crit, alerttest.PSI(0.4, crit)))
	}
	maha := alerting.TestResult{Test: "mahalanobis", Statistic: 0.3, PValue: math.NaN(), Threshold: 0.1, Severity: crit}
	obs = append(obs, alerttest.Window(0, "fraud-eu", "7", "*", crit, maha))
	start := time.Now()
	m.Observe(context.Background(), obs)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Observe with %d firing alerts and %d inhibit rules took %v", cfg.MaxAlerts, policy.MaxInhibitRules, d)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	sent.Range(func(k, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d alerts notified, want 1 (the score; every feature inhibited)", n)
	}
}

// TestInhibitionAfterRestart: an alert whose firing an inhibit rule held
// back when the manager stopped is restored without any record of that;
// the next manager holds it while its source fires and sends its firing
// when the source resolves, and never a resolve where its firing did not go.
func TestInhibitionAfterRestart(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile = writePolicy(t, inhibitPolicy)
	var (
		mu   sync.Mutex
		rows = map[string]alerting.StateRow{}
	)
	store := alerting.StateStoreFuncs{
		Save: func(_ context.Context, rs []alerting.StateRow) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				if r.Version > rows[r.ModelID].Version {
					rows[r.ModelID] = r
				}
			}
			return nil
		},
		Load: func(_ context.Context, models []string) ([]alerting.StateRow, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []alerting.StateRow
			for _, m := range models {
				if r, ok := rows[m]; ok {
					out = append(out, r)
				}
			}
			return out, nil
		},
	}
	start := func(name string) (*alerting.Manager, *fake, func()) {
		f := &fake{}
		m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": f}, nil, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.UseStateStore(store, name); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			wg.Go(func() { _ = m.Run(ctx) })
			wg.Go(func() { m.KeepState(ctx) })
			wg.Wait()
			close(done)
		}()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return m, f, stop
	}
	window := func(i int, amount, joint alerting.Severity) []alerting.Observation {
		maha := alerting.TestResult{Test: "mahalanobis", Statistic: 0.3, PValue: math.NaN(), Threshold: 0.1, Severity: joint}
		return []alerting.Observation{alerttest.Window(i, "fraud-eu", "7", "amount", amount, alerttest.PSI(0.4, amount)),
			alerttest.Window(i, "fraud-eu", "7", "*", joint, maha)}
	}
	wait := func(f *fake, n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(f.notes()) < n && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []string
		for _, n := range f.got {
			out = append(out, n.Status+" "+n.Key)
		}
		return out
	}

	first, f1, kill := start("first")
	first.Observe(context.Background(), window(0, crit, crit))
	sameLines(t, "first manager", wait(f1, 1), []string{"firing " + keyJoint})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		saved := strings.Contains(rows["fraud-eu"].State, "amount")
		mu.Unlock()
		if saved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the state of fraud-eu was never saved")
		}
		time.Sleep(2 * time.Millisecond)
	}
	kill()

	second, f2, _ := start("second")
	second.Observe(context.Background(), window(1, crit, crit)) // still inhibited: nothing
	if got := wait(f2, 0); len(got) != 0 {
		t.Fatalf("second manager sent %q while the score fires", got)
	}
	second.Observe(context.Background(), window(2, crit, alerting.SeverityOK)) // the score resolves
	got := wait(f2, 2)
	slices.Sort(got)
	sameLines(t, "second manager", got, []string{"firing " + keyAmount, "resolved " + keyJoint})
}
