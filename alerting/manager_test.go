package alerting_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
)

// fake is a notifier that remembers what it was given and answers with fn.
type fake struct {
	mu  sync.Mutex
	got []*alerting.Notification
	at  []time.Time
	fn  func(call int, n *alerting.Notification) error
}

func (f *fake) Notify(ctx context.Context, n *alerting.Notification) error {
	f.mu.Lock()
	call := len(f.got)
	f.got = append(f.got, n)
	f.at = append(f.at, time.Now())
	f.mu.Unlock()
	if f.fn == nil {
		return nil
	}
	return f.fn(call, n)
}

func (f *fake) notes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.got {
		out = append(out, n.Status+"/"+string(n.Severity))
	}
	return out
}

const (
	ok   = alerting.SeverityOK
	warn = alerting.SeverityWarning
	crit = alerting.SeverityCritical
)

type step struct {
	window int
	sev    alerting.Severity
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name       string
		pending    int
		resolve    int
		steps      []step
		wantStates []string // state/severity of every state record, in order
		wantNotes  []string // status/severity of every notification, in order
		wantActive string   // state of the alert at the end, "" when none
	}{
		{
			name:       "pending, firing, resolved",
			steps:      []step{{0, warn}, {1, warn}, {2, warn}, {3, ok}, {4, ok}},
			wantStates: []string{"pending/warning", "firing/warning", "resolved/warning"},
			wantNotes:  []string{"firing/warning", "resolved/warning"},
		},
		{
			name:       "pending cleared by a clean window never notifies",
			steps:      []step{{0, warn}, {1, ok}, {2, crit}, {3, ok}},
			wantStates: []string{"pending/warning", "inactive/warning", "pending/critical", "inactive/critical"},
		},
		{
			name:       "flapping while firing does not resolve",
			steps:      []step{{0, warn}, {1, warn}, {2, ok}, {3, warn}, {4, ok}, {5, warn}},
			wantStates: []string{"pending/warning", "firing/warning"},
			wantNotes:  []string{"firing/warning"},
			wantActive: "firing",
		},
		{
			name:       "escalation re-notifies with the new severity",
			steps:      []step{{0, warn}, {1, warn}, {2, crit}, {3, crit}, {4, ok}, {5, ok}},
			wantStates: []string{"pending/warning", "firing/warning", "firing/critical", "resolved/critical"},
			wantNotes:  []string{"firing/warning", "firing/critical", "resolved/critical"},
		},
		{
			name: "de-escalation re-notifies too, after keep_firing_for windows below",
			// keep_firing_for is resolve_windows-1 = 1: the second warning
			// window in a row brings the severity down.
			steps:      []step{{0, crit}, {1, crit}, {2, warn}, {3, warn}},
			wantStates: []string{"pending/critical", "firing/critical", "firing/warning"},
			wantNotes:  []string{"firing/critical", "firing/warning"},
			wantActive: "firing",
		},
		{
			name: "a critical alert wavering to warning every other window notifies once",
			steps: []step{{0, crit}, {1, crit}, {2, warn}, {3, crit}, {4, warn}, {5, crit}, {6, warn}, {7, crit},
				{8, warn}, {9, crit}},
			wantStates: []string{"pending/critical", "firing/critical"},
			wantNotes:  []string{"firing/critical"},
			wantActive: "firing",
		},
		{
			name:       "escalation while pending fires with the latest severity",
			steps:      []step{{0, warn}, {1, crit}},
			wantStates: []string{"pending/warning", "firing/critical"},
			wantNotes:  []string{"firing/critical"},
			wantActive: "firing",
		},
		{
			name: "out-of-order and repeated windows are ignored",
			// Windows 0 and 1 fire; the late clean windows 0 and 1 must not count
			// towards resolving, nor must a repeat of window 3.
			steps:      []step{{0, warn}, {1, warn}, {0, ok}, {1, ok}, {3, ok}, {3, ok}, {2, ok}, {4, warn}},
			wantStates: []string{"pending/warning", "firing/warning"},
			wantNotes:  []string{"firing/warning"},
			wantActive: "firing",
		},
		{
			name:       "identical repeats are not re-sent",
			steps:      []step{{0, crit}, {1, crit}, {2, crit}, {3, crit}, {4, crit}},
			wantStates: []string{"pending/critical", "firing/critical"},
			wantNotes:  []string{"firing/critical"},
			wantActive: "firing",
		},
		{
			name:       "fires again after resolving",
			steps:      []step{{0, warn}, {1, warn}, {2, ok}, {3, ok}, {4, warn}, {5, warn}},
			wantStates: []string{"pending/warning", "firing/warning", "resolved/warning", "pending/warning", "firing/warning"},
			wantNotes:  []string{"firing/warning", "resolved/warning", "firing/warning"},
			wantActive: "firing",
		},
		{
			name:       "pending_windows 3 needs three drifted windows in a row",
			pending:    3,
			resolve:    1,
			steps:      []step{{0, warn}, {1, warn}, {2, ok}, {3, warn}, {4, warn}, {5, warn}, {6, ok}},
			wantStates: []string{"pending/warning", "inactive/warning", "pending/warning", "firing/warning", "resolved/warning"},
			wantNotes:  []string{"firing/warning", "resolved/warning"},
		},
		{
			name:       "clean windows only keep no state",
			steps:      []step{{0, ok}, {1, ok}},
			wantStates: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := alerttest.FastConfig()
			cfg.PendingWindows, cfg.ResolveWindows = tc.pending, tc.resolve
			if tc.pending == 0 {
				cfg.PendingWindows = 2
			}
			if tc.resolve == 0 {
				cfg.ResolveWindows = 2
			}
			var batches [][]alerting.Observation
			for _, s := range tc.steps {
				tests := []alerting.TestResult{alerttest.PSI(0.1, ok)}
				if s.sev != ok {
					tests = []alerting.TestResult{alerttest.PSI(0.41, s.sev), alerttest.KS(0.2, 0.001, warn)}
				}
				batches = append(batches, []alerting.Observation{alerttest.Window(s.window, "fraud-scorer", "3", "amount", s.sev, tests...)})
			}
			f := &fake{}
			res := alerttest.Drive(t, cfg, f, len(tc.wantNotes), batches...)
			var states []string
			for _, r := range res.Records {
				if r.Kind == alerting.KindState {
					states = append(states, r.State+"/"+string(r.Severity))
					if r.Key != "driftwatch/fraud-scorer/3/amount" || r.ModelID != "fraud-scorer" || r.Feature != "amount" {
						t.Errorf("state record identifies %q %q %q", r.Key, r.ModelID, r.Feature)
					}
				}
			}
			if got, want := strings.Join(states, " "), strings.Join(tc.wantStates, " "); got != want {
				t.Errorf("state records:\n got %s\nwant %s", got, want)
			}
			if got, want := strings.Join(f.notes(), " "), strings.Join(tc.wantNotes, " "); got != want {
				t.Errorf("notifications:\n got %s\nwant %s", got, want)
			}
			for _, n := range f.got {
				if n.Key != "driftwatch/fraud-scorer/3/amount" {
					t.Errorf("notification key %q", n.Key)
				}
			}
			active := res.Manager.Active()
			switch {
			case tc.wantActive == "" && len(active) != 0:
				t.Errorf("Active() = %+v, want none", active)
			case tc.wantActive != "" && (len(active) != 1 || active[0].State != tc.wantActive):
				t.Errorf("Active() = %+v, want one %s alert", active, tc.wantActive)
			}
		})
	}
}

func TestNotificationContent(t *testing.T) {
	f := &fake{}
	tests := []alerting.TestResult{
		alerttest.KS(0.3, 0.0001, warn),
		{Test: "PSI", Statistic: 0.41, PValue: math.NaN(), Threshold: 0.25, Severity: crit},
	}
	w0 := alerttest.Window(0, "fraud-scorer", "3", "amount", crit, tests...)
	w1 := alerttest.Window(1, "fraud-scorer", "3", "amount", ok, alerttest.PSI(0.05, ok))
	cfg := alerttest.FastConfig()
	cfg.DashboardURL = "http://127.0.0.1:3000/d/drift"
	res := alerttest.Drive(t, cfg, f, 2, []alerting.Observation{w0}, []alerting.Observation{w1})
	if len(f.got) != 2 {
		t.Fatalf("got %d notifications, want 2", len(f.got))
	}
	fire, resolve := f.got[0], f.got[1]
	if want := "PSI 0.41 on feature amount of fraud-scorer v3 (window 14:00–14:01)"; fire.Summary != want {
		t.Errorf("summary %q, want %q", fire.Summary, want)
	}
	if fire.Status != "firing" || fire.Severity != crit || !fire.StartsAt.Equal(w0.WindowStart) ||
		!fire.WindowEnd.Equal(w0.WindowEnd) || !fire.EndsAt.IsZero() || fire.DashboardURL != cfg.DashboardURL || len(fire.Tests) != 2 {
		t.Errorf("firing notification %+v", fire)
	}
	if resolve.Status != "resolved" || resolve.Severity != crit || !resolve.EndsAt.Equal(w1.WindowEnd) ||
		!resolve.StartsAt.Equal(w0.WindowStart) || resolve.Key != fire.Key {
		t.Errorf("resolved notification %+v", resolve)
	}
	var firingState *alerting.Record
	for i, r := range res.Records {
		if r.Kind == alerting.KindState && r.State == alerting.StateFiring {
			firingState = &res.Records[i]
		}
	}
	if firingState == nil || firingState.Statistic != 0.41 || firingState.Threshold != 0.25 || firingState.Summary != fire.Summary {
		t.Errorf("firing state record = %+v, want the worst test (PSI 0.41 / 0.25)", firingState)
	}
}

// TestSignalLifecycle: a signal's verdicts go through the same lifecycle as
// drift, under their own key (model, version, signal, subject): the signal
// about the model itself fires and resolves while a feature named like the
// signal, and another subject of the same signal, keep their own alerts.
func TestSignalLifecycle(t *testing.T) {
	const model, version, signal = "fraud-scorer", "3", "error_rate"
	cfg := alerttest.FastConfig()
	cfg.PendingWindows, cfg.ResolveWindows = 2, 2
	var batches [][]alerting.Observation
	for i, sev := range []alerting.Severity{crit, crit, ok, ok} {
		stat := 0.12
		if sev == ok {
			stat = 0.01
		}
		batches = append(batches, []alerting.Observation{
			alerttest.SignalWindow(i, model, version, signal, "*", sev, alerttest.Rate(signal, stat, 0.001, sev)),
			alerttest.Window(i, model, version, signal, warn, alerttest.PSI(0.3, warn)),
			alerttest.SignalWindow(i, model, version, signal, "checkout/web", warn, alerttest.Rate(signal, 0.3, 0.01, warn)),
		})
	}
	f := &fake{}
	res := alerttest.Drive(t, cfg, f, 4, batches...)

	modelKey := alerting.SignalKey(model, version, signal, "*")
	subjectKey := alerting.SignalKey(model, version, signal, "checkout/web")
	featureKey := alerting.Key(model, version, signal)
	if modelKey != "driftwatch/fraud-scorer/3/error_rate/%2A" || subjectKey != "driftwatch/fraud-scorer/3/error_rate/checkout%2Fweb" ||
		featureKey != "driftwatch/fraud-scorer/3/error_rate" {
		t.Fatalf("keys %q, %q, %q", modelKey, subjectKey, featureKey)
	}
	var notes []string
	f.mu.Lock()
	got := slices.Clone(f.got)
	f.mu.Unlock()
	for _, n := range got {
		notes = append(notes, n.Key+" "+n.Status+"/"+string(n.Severity))
	}
	want := []string{
		modelKey + " firing/critical", featureKey + " firing/warning", subjectKey + " firing/warning",
		modelKey + " resolved/critical",
	}
	if !slices.Equal(notes, want) {
		t.Fatalf("notifications:\n got %q\nwant %q", notes, want)
	}
	fire, feat, subj, resolve := got[0], got[1], got[2], got[3]
	if fire.Signal != signal || fire.Subject != "*" || fire.Feature != "" || fire.ModelID != model || fire.ModelVersion != version {
		t.Errorf("signal notification names %q %q %q %q %q", fire.ModelID, fire.ModelVersion, fire.Feature, fire.Signal, fire.Subject)
	}
	if feat.Signal != "" || feat.Subject != "" || feat.Feature != signal {
		t.Errorf("feature notification names feature %q, signal %q, subject %q", feat.Feature, feat.Signal, feat.Subject)
	}
	for _, c := range []struct{ got, want string }{
		{fire.Summary, "error_rate 0.12 of fraud-scorer v3 (window 14:01–14:02)"},
		{subj.Summary, "error_rate 0.3 for checkout/web of fraud-scorer v3 (window 14:01–14:02)"},
		{feat.Summary, "psi 0.3 on feature error_rate of fraud-scorer v3 (window 14:01–14:02)"},
		{resolve.Summary, "error_rate resolved of fraud-scorer v3 (window 14:03–14:04)"},
	} {
		if c.got != c.want {
			t.Errorf("summary %q, want %q", c.got, c.want)
		}
	}
	if !resolve.StartsAt.Equal(alerttest.T0) || !resolve.EndsAt.Equal(alerttest.T0.Add(4*time.Minute)) || resolve.Subject != "*" {
		t.Errorf("resolved notification %+v", resolve)
	}

	states := map[string][]string{}
	for _, r := range res.Records {
		if (r.Key == featureKey) != (r.Signal == "") || (r.Key == featureKey) != (r.Feature == signal) {
			t.Errorf("record of %q names feature %q, signal %q", r.Key, r.Feature, r.Signal)
		}
		if r.Key == modelKey && r.Subject != "*" || r.Key == subjectKey && r.Subject != "checkout/web" {
			t.Errorf("record of %q names subject %q", r.Key, r.Subject)
		}
		if r.Kind == alerting.KindState {
			states[r.Key] = append(states[r.Key], r.State)
		}
	}
	if got := strings.Join(states[modelKey], " "); got != "pending firing resolved" {
		t.Errorf("state records of the signal: %s", got)
	}
	for _, k := range []string{featureKey, subjectKey} {
		if got := strings.Join(states[k], " "); got != "pending firing" {
			t.Errorf("state records of %s: %s", k, got)
		}
	}
	var active []string
	for _, a := range res.Manager.Active() {
		active = append(active, a.Key+" "+a.State+" "+a.Signal+" "+a.Subject)
	}
	if want := []string{featureKey + " firing  ", subjectKey + " firing error_rate checkout/web"}; !slices.Equal(active, want) {
		t.Errorf("active alerts %q, want %q", active, want)
	}
}

func TestDeliveryOutcomes(t *testing.T) {
	errDown := errors.New("connection refused")
	tests := []struct {
		name         string
		maxAttempts  int
		fn           func(call int, n *alerting.Notification) error
		wantOutcomes string
		wantOK       int
	}{
		{"success", 5, nil, "success", 1},
		{"retried then success", 5, func(call int, _ *alerting.Notification) error {
			if call < 2 {
				return alerting.Retryable(&alerting.StatusError{Code: 503}, 0)
			}
			return nil
		}, "retry retry success", 1},
		{"permanent error is not retried", 5, func(int, *alerting.Notification) error {
			return &alerting.StatusError{Code: 400, Body: "invalid event"}
		}, "failed", 0},
		{"attempts exhausted", 3, func(int, *alerting.Notification) error {
			return alerting.Retryable(errDown, 0)
		}, "retry retry failed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{fn: tc.fn}
			cfg := alerttest.FastConfig()
			cfg.MaxAttempts = tc.maxAttempts
			res := alerttest.Drive(t, cfg, f, 1, []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn, alerttest.PSI(0.3, warn))})
			var outs []string
			for i, r := range res.Deliveries() {
				outs = append(outs, r.Outcome)
				if r.Attempt != i+1 || r.Receiver != "test" || r.State != "firing" {
					t.Errorf("delivery record %d: %+v", i, r)
				}
				if r.Outcome != alerting.OutcomeSuccess && r.Error == "" {
					t.Errorf("delivery record %d has no error: %+v", i, r)
				}
			}
			if got := strings.Join(outs, " "); got != tc.wantOutcomes {
				t.Errorf("outcomes %q, want %q", got, tc.wantOutcomes)
			}
			if len(f.got) != len(outs) {
				t.Errorf("%d attempts, %d records", len(f.got), len(outs))
			}
			if res.OK != tc.wantOK || res.OK+res.Failed != 1 {
				t.Errorf("Delivered() = %d, %d", res.OK, res.Failed)
			}
		})
	}
}

func TestRetryAfterIsCappedByMaxBackoff(t *testing.T) {
	f := &fake{fn: func(call int, _ *alerting.Notification) error {
		if call == 0 {
			return alerting.Retryable(&alerting.StatusError{Code: 429}, time.Hour)
		}
		return nil
	}}
	cfg := alerttest.FastConfig()
	cfg.MaxBackoff = 50 * time.Millisecond
	start := time.Now()
	alerttest.Drive(t, cfg, f, 1, []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn)})
	if len(f.got) != 2 {
		t.Fatalf("%d attempts, want 2", len(f.got))
	}
	gap := f.at[1].Sub(f.at[0])
	if gap < 50*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Errorf("second attempt %s after the first, want the 50ms cap", gap)
	}
}

func TestReceiversAreIndependent(t *testing.T) {
	bad := &fake{fn: func(int, *alerting.Notification) error { return &alerting.StatusError{Code: 404} }}
	slow := &fake{fn: func(call int, _ *alerting.Notification) error {
		if call == 0 {
			return alerting.Retryable(errors.New("timeout"), 0)
		}
		return nil
	}}
	good := &fake{}
	m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"bad": bad, "slow": slow, "good": good}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	m.Observe(ctx, []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn)})
	m.Observe(ctx, []alerting.Observation{alerttest.Window(1, "m", "1", "x", ok)})
	waitDelivered(t, m, 6)
	if got := strings.Join(good.notes(), " "); got != "firing/warning resolved/warning" {
		t.Errorf("good receiver got %s", got)
	}
	if got := strings.Join(bad.notes(), " "); got != "firing/warning resolved/warning" {
		t.Errorf("failing receiver got %s (each transition once, no retries of 404)", got)
	}
	// The retried firing is delivered before the resolve that follows it.
	if got := strings.Join(slow.notes(), " "); got != "firing/warning firing/warning resolved/warning" {
		t.Errorf("retried receiver got %s", got)
	}
	okN, failed := m.Delivered()
	if okN != 4 || failed != 2 {
		t.Errorf("Delivered() = %d, %d; want 4, 2", okN, failed)
	}
}

func waitDelivered(t *testing.T, m *alerting.Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, b := m.Delivered()
		if a+b >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d deliveries ended", a+b, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestQueueRefusesWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	var recs []alerting.Record
	rec := alerting.RecorderFunc(func(_ context.Context, rs []alerting.Record) error { recs = append(recs, rs...); return nil })
	cfg := alerttest.FastConfig()
	cfg.QueueSize = 1
	f := &fake{}
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"r": f}, rec, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No Run: nothing drains the queue, so the second and third alerts are refused.
	m.Observe(context.Background(), []alerting.Observation{
		alerttest.Window(0, "m", "1", "a", warn), alerttest.Window(0, "m", "1", "b", warn), alerttest.Window(0, "m", "1", "c", crit),
	})
	if got := counter(t, reg, "driftwatch_alerts_queue_refused_total", nil); got != 2 {
		t.Errorf("queue_refused_total = %v, want 2", got)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(f.got) != 1 || f.got[0].Feature != "a" {
		t.Errorf("delivered %v, want only feature a", f.notes())
	}
	dropped := 0
	for _, r := range recs {
		if r.Kind == alerting.KindDelivery && r.Outcome == alerting.OutcomeDropped {
			dropped++
		}
	}
	if dropped != 2 {
		t.Errorf("%d dropped records, want 2", dropped)
	}
	if okN, failed := m.Delivered(); okN != 1 || failed != 2 {
		t.Errorf("Delivered() = %d, %d; want 1, 2", okN, failed)
	}
	if got := counter(t, reg, "driftwatch_alerts_notifications_total", map[string]string{"receiver": "r", "outcome": "dropped"}); got != 2 {
		t.Errorf("notifications_total{outcome=dropped} = %v, want 2", got)
	}
}

func TestCloseDrainsAndIsIdempotent(t *testing.T) {
	f := &fake{}
	m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"r": f}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn)})
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(1, "m", "1", "y", crit)})
	if got := strings.Join(f.notes(), " "); got != "firing/warning" {
		t.Errorf("notifications %s, want the one queued before Close", got)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	block := &fake{fn: func(int, *alerting.Notification) error { return alerting.Retryable(errors.New("down"), 0) }}
	cfg := alerttest.FastConfig()
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxAttempts = time.Second, time.Second, 100
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"r": block}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn), alerttest.Window(0, "m", "1", "y", warn)})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = m.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 notifications undelivered") {
		t.Errorf("Close = %v, want 2 undelivered and deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s, want about 100ms", d)
	}
	if okN, failed := m.Delivered(); okN != 0 || failed != 2 {
		t.Errorf("Delivered() = %d, %d; want 0, 2", okN, failed)
	}
}

// resender is a notifier that asks for refreshes, like Alertmanager.
type resender struct {
	fake
	every time.Duration
}

func (r *resender) ResendInterval() time.Duration { return r.every }

func TestFiringAlertsAreRefreshed(t *testing.T) {
	r := &resender{every: 40 * time.Millisecond}
	plain := &fake{}
	m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"am": r, "slack": plain}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	m.Observe(ctx, []alerting.Observation{alerttest.Window(0, "m", "1", "x", crit)})
	time.Sleep(300 * time.Millisecond)
	m.Observe(ctx, []alerting.Observation{alerttest.Window(1, "m", "1", "x", ok)})
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	notes := r.notes()
	if len(notes) < 4 || notes[len(notes)-1] != "resolved/critical" {
		t.Fatalf("refreshing receiver got %v, want several firing/critical then resolved/critical", notes)
	}
	for _, n := range notes[:len(notes)-1] {
		if n != "firing/critical" {
			t.Errorf("refreshing receiver got %v", notes)
		}
	}
	if got := strings.Join(plain.notes(), " "); got != "firing/critical resolved/critical" {
		t.Errorf("plain receiver got %s, want no refreshes", got)
	}
}

func TestConcurrentObserve(t *testing.T) {
	f := &fake{}
	m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"r": f}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	var wg sync.WaitGroup
	const workers, features = 8, 20
	for w := range workers {
		wg.Go(func() {
			for i := range features {
				feat := fmt.Sprintf("f%d-%d", w, i)
				m.Observe(ctx, []alerting.Observation{alerttest.Window(0, "m", "1", feat, warn)})
				_ = m.Active()
				m.Observe(ctx, []alerting.Observation{alerttest.Window(1, "m", "1", feat, ok)})
			}
		})
	}
	wg.Wait()
	waitDelivered(t, m, 2*workers*features)
	if got := len(m.Active()); got != 0 {
		t.Errorf("%d alerts still active, want none (resolved alerts are forgotten)", got)
	}
	if okN, _ := m.Delivered(); okN != 2*workers*features {
		t.Errorf("%d delivered, want %d", okN, 2*workers*features)
	}
}

func TestRecorderErrorsDoNotBlockDelivery(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := alerting.RecorderFunc(func(context.Context, []alerting.Record) error { return errors.New("clickhouse down") })
	f := &fake{}
	m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"r": f}, rec, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	m.Observe(ctx, []alerting.Observation{alerttest.Window(0, "m", "1", "x", warn)})
	waitDelivered(t, m, 1)
	cancel()
	if err := m.Close(context.Background()); err == nil {
		t.Error("Close did not report the recorder's error")
	}
	if okN, _ := m.Delivered(); okN != 1 {
		t.Errorf("delivered %d, want 1", okN)
	}
	if got := counter(t, reg, "driftwatch_alerts_record_errors_total", nil); got < 1 {
		t.Errorf("record_errors_total = %v, want >= 1", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := alerttest.FastConfig()
	cfg.PendingWindows = 2
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"r": &fake{}}, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(context.Background(), []alerting.Observation{
		alerttest.Window(0, "m", "1", "a", warn), alerttest.Window(0, "m", "1", "b", crit), alerttest.Window(0, "m", "1", "c", crit),
	})
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(1, "m", "1", "b", crit)})
	want := map[[2]string]float64{{"pending", "warning"}: 1, {"pending", "critical"}: 1, {"firing", "critical"}: 1, {"firing", "warning"}: 0}
	for k, v := range want {
		if got := counter(t, reg, "driftwatch_alerts_active", map[string]string{"state": k[0], "severity": k[1]}); got != v {
			t.Errorf("active{%s,%s} = %v, want %v", k[0], k[1], got, v)
		}
	}
	if got := counter(t, reg, "driftwatch_alerts_state_changes_total", map[string]string{"state": "pending"}); got != 3 {
		t.Errorf("state_changes_total{pending} = %v, want 3", got)
	}
	if got := counter(t, reg, "driftwatch_alerts_state_changes_total", map[string]string{"state": "firing"}); got != 1 {
		t.Errorf("state_changes_total{firing} = %v, want 1", got)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, reg, "driftwatch_alerts_notifications_total", map[string]string{"receiver": "r", "outcome": "success"}); got != 1 {
		t.Errorf("notifications_total{success} = %v, want 1", got)
	}
	if _, err := alerting.NewWithNotifiers(cfg, nil, nil, reg, nil); err == nil {
		t.Error("registering the metrics twice on one registry did not fail")
	}
	promtoolCheck(t, reg)
}

// promtoolCheck lints the registry's exposition with promtool check metrics.
func promtoolCheck(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (or apt-get download + dpkg -x)")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// counter returns the value of the series of name with exactly labels.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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
			if !sameLabels(mt.GetLabel(), labels) {
				continue
			}
			if mt.Counter != nil {
				return mt.GetCounter().GetValue()
			}
			return mt.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// TestMaxAlertsBoundsTrackedAlerts: a flood of drifting series (a producer
// sending ever new model versions) cannot grow the alert state beyond
// max_alerts; what is not tracked is counted, and the alerts already
// tracked fire as before.
func TestMaxAlertsBoundsTrackedAlerts(t *testing.T) {
	f := &fake{}
	cfg := alerttest.FastConfig()
	cfg.MaxAlerts, cfg.PendingWindows = 2, 1
	var first []alerting.Observation
	for i := range 5 {
		first = append(first, alerttest.Window(0, "fraud", fmt.Sprintf("v%d", i), "amount", crit, alerttest.PSI(0.5, crit)))
	}
	alerttest.Drive(t, cfg, f, 2, first)
	if len(f.got) != 2 {
		t.Fatalf("%d alerts fired for max_alerts 2", len(f.got))
	}
}

// runRecorded runs a Manager on cfg that delivers to f and records into
// memory; stop closes it and returns its records.
func runRecorded(t *testing.T, cfg alerting.Config, f *fake) (m *alerting.Manager, reg *prometheus.Registry, stop func() []alerting.Record) {
	t.Helper()
	var mu sync.Mutex
	var recs []alerting.Record
	rec := alerting.RecorderFunc(func(_ context.Context, rs []alerting.Record) error {
		mu.Lock()
		recs = append(recs, rs...)
		mu.Unlock()
		return nil
	})
	reg = prometheus.NewRegistry()
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": f}, rec, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return m, reg, func() []alerting.Record {
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]alerting.Record(nil), recs...)
	}
}

// TestSilentSeriesGoStale: a version that stops sending windows ends its
// alerts after stale_after: its firing alert is resolved (marked stale,
// notified, recorded) and its pending one dropped, both counted, while a
// series that keeps sending stays firing. Without it, the alert state of
// every version a producer ever sent would stay.
func TestSilentSeriesGoStale(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PendingWindows, cfg.StaleAfter = 2, 300*time.Millisecond
	f := &fake{}
	m, reg, stop := runRecorded(t, cfg, f)
	ctx := context.Background()
	drift := alerttest.PSI(0.5, crit)
	m.Observe(ctx, []alerting.Observation{
		alerttest.Window(0, "fraud", "old", "amount", crit, drift),
		alerttest.Window(0, "fraud", "burst", "amount", crit, drift),
		alerttest.Window(0, "fraud", "live", "amount", crit, drift),
	})
	m.Observe(ctx, []alerting.Observation{
		alerttest.Window(1, "fraud", "old", "amount", crit, drift),
		alerttest.Window(1, "fraud", "live", "amount", crit, drift),
	})
	// Only "live" keeps sending, for well over stale_after.
	for i := 2; i < 22; i++ {
		time.Sleep(50 * time.Millisecond)
		m.Observe(ctx, []alerting.Observation{alerttest.Window(i, "fraud", "live", "amount", crit, drift)})
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.notes()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	active := m.Active()
	recs := stop()

	if len(active) != 1 || active[0].ModelVersion != "live" || active[0].State != alerting.StateFiring {
		t.Fatalf("active alerts %+v, want only the live version firing", active)
	}
	var stale *alerting.Notification
	f.mu.Lock()
	for _, n := range f.got {
		if n.ModelVersion == "burst" {
			t.Errorf("the pending alert of the silent burst was notified: %+v", n)
		}
		if n.ModelVersion == "old" && n.Status == alerting.StatusResolved {
			stale = n
		}
	}
	f.mu.Unlock()
	if stale == nil || !stale.Stale || !strings.Contains(stale.Summary, "resolved as stale") || !stale.EndsAt.Equal(stale.WindowEnd) {
		t.Fatalf("resolution of the silent firing alert: %+v", stale)
	}
	states := map[string]string{}
	for _, r := range recs {
		if r.Kind == alerting.KindState {
			states[r.ModelVersion] += r.State + " "
		}
	}
	if states["old"] != "pending firing resolved " || states["burst"] != "pending inactive " || states["live"] != "pending firing " {
		t.Fatalf("state records %v", states)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "driftwatch_alerts_stale_total" {
			for _, mt := range mf.GetMetric() {
				got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
			}
		}
	}
	if got["firing"] != 1 || got["pending"] != 1 {
		t.Fatalf("driftwatch_alerts_stale_total %v, want one firing and one pending", got)
	}
}

// TestHandOverForgetsWithoutNotifying: when another instance takes over the
// decisions of a model, this one drops its alerts silently (recorded as
// handed_over, counted) and never ends them as stale later, which would
// resolve the incident the new owner keeps open; the other models' alerts
// go on.
func TestHandOverForgetsWithoutNotifying(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.StaleAfter = 200 * time.Millisecond
	f := &fake{}
	m, reg, stop := runRecorded(t, cfg, f)
	ctx := context.Background()
	drift := alerttest.PSI(0.5, crit)
	m.Observe(ctx, []alerting.Observation{
		alerttest.Window(0, "moved", "1", "amount", crit, drift),
		alerttest.Window(0, "kept", "1", "amount", crit, drift),
	})
	if n := m.HandOver(func(id string) bool { return id == "moved" }); n != 1 {
		t.Fatalf("handed over %d alerts, want 1", n)
	}
	// Longer than stale_after: "kept" goes stale and resolves, "moved" says nothing.
	time.Sleep(600 * time.Millisecond)
	recs := stop()
	f.mu.Lock()
	var notes []string
	for _, n := range f.got {
		notes = append(notes, n.ModelID+"/"+n.Status)
	}
	f.mu.Unlock()
	if strings.Join(notes, " ") != "moved/firing kept/firing kept/resolved" && strings.Join(notes, " ") != "kept/firing moved/firing kept/resolved" {
		t.Fatalf("notifications %v: the handed-over alert must not be resolved by this instance", notes)
	}
	var handed int
	for _, r := range recs {
		if r.State == alerting.StateHandedOver {
			handed++
			if r.ModelID != "moved" {
				t.Errorf("handed over %s", r.ModelID)
			}
		}
	}
	if handed != 1 {
		t.Fatalf("%d handed_over records, want 1", handed)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "driftwatch_alerts_handed_over_total" && mf.GetMetric()[0].GetCounter().GetValue() != 1 {
			t.Errorf("driftwatch_alerts_handed_over_total = %v, want 1", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
