package alerting_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
)

// memStore is a StateStore in memory: the newest version of each model wins.
type memStore struct {
	mu    sync.Mutex
	rows  map[string]alerting.StateRow
	saves int
}

func newMemStore() *memStore { return &memStore{rows: map[string]alerting.StateRow{}} }

func (s *memStore) SaveAlertState(_ context.Context, rows []alerting.StateRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	for _, r := range rows {
		if r.Version > s.rows[r.ModelID].Version {
			s.rows[r.ModelID] = r
		}
	}
	return nil
}

func (s *memStore) LoadAlertState(_ context.Context, models []string) ([]alerting.StateRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []alerting.StateRow
	for _, m := range models {
		if r, ok := s.rows[m]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *memStore) row(model string) (alerting.StateRow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[model]
	return r, ok
}

// stateRig is one manager "process": it delivers to fakes named slack-ml
// and pagerduty-fraud and keeps its state in store. kill stops it without
// Close or a last save, as SIGKILL would.
type stateRig struct {
	m         *alerting.Manager
	slack, pd *fake
	reg       *prometheus.Registry
	cancel    context.CancelFunc
	done      chan struct{}
}

func newStateRig(t *testing.T, cfg alerting.Config, store alerting.StateStore, instance string) *stateRig {
	t.Helper()
	r := &stateRig{slack: &fake{}, pd: &fake{}, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": r.slack, "pagerduty-fraud": r.pd}, nil, r.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UseStateStore(store, instance); err != nil {
		t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { _ = m.Run(ctx) })
		wg.Go(func() { m.KeepState(ctx) })
		wg.Wait()
		close(r.done)
	}()
	t.Cleanup(r.kill)
	return r
}

func (r *stateRig) kill() {
	r.cancel()
	<-r.done
}

// waitSaved waits until the stored state of model satisfies ok.
func waitSaved(t *testing.T, s *memStore, model string, ok func(alerting.StateRow) bool) alerting.StateRow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, found := s.row(model)
		if found && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored state of %s never got there; last: %+v", model, r)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestStateSurvivesRestart: a firing alert saved soon after it fires (no
// interval needed) is restored by the next manager when it first observes
// the model: a replayed window and further drifted ones send nothing, and
// the clean windows resolve it with the same key, to the receivers that
// were paged.
func TestStateSurvivesRestart(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PendingWindows, cfg.ResolveWindows = 2, 2
	cfg.StateInterval = time.Hour // only the transition's own save can store it
	store := newMemStore()
	ctx := context.Background()
	amount := func(i int, sev alerting.Severity) alerting.Observation {
		return alerttest.Window(i, "fraud-scorer", "3", "amount", sev, alerttest.PSI(0.41, sev))
	}

	first := newStateRig(t, cfg, store, "first")
	for i := range 3 {
		first.m.Observe(ctx, []alerting.Observation{amount(i, crit), alerttest.Window(i, "churn", "1", "tenure", ok, alerttest.PSI(0.01, ok))})
	}
	waitDelivered(t, first.m, 2)
	saved := waitSaved(t, store, "fraud-scorer", func(r alerting.StateRow) bool { return strings.Contains(r.State, `"state":"firing"`) })
	if saved.Instance != "first" || saved.Version == 0 {
		t.Errorf("saved row %+v", saved)
	}
	first.kill()

	second := newStateRig(t, cfg, store, "second")
	// Window 2 again (a replay after the restart), then more drift.
	for _, i := range []int{2, 3, 4} {
		second.m.Observe(ctx, []alerting.Observation{amount(i, crit)})
	}
	active := second.m.Active()
	if len(active) != 1 || active[0].State != alerting.StateFiring || active[0].Key != "driftwatch/fraud-scorer/3/amount" ||
		!active[0].FiredAt.Equal(alerttest.T0.Add(2*time.Minute)) || active[0].Severity != crit {
		t.Fatalf("restored alerts %+v, want amount firing since window 1", active)
	}
	time.Sleep(50 * time.Millisecond)
	if got := append(second.slack.notes(), second.pd.notes()...); len(got) != 0 {
		t.Fatalf("the restarted manager sent %v for an alert that fired before", got)
	}
	for _, i := range []int{5, 6} {
		second.m.Observe(ctx, []alerting.Observation{amount(i, ok)})
	}
	waitDelivered(t, second.m, 2)
	for _, f := range []*fake{second.slack, second.pd} {
		if got := f.notes(); !slices.Equal(got, []string{"resolved/critical"}) || f.got[0].Key != "driftwatch/fraud-scorer/3/amount" {
			t.Errorf("after the restart the receiver got %v, want the resolve of the alert", got)
		}
	}
	if got := counter(t, second.reg, "driftwatch_alerts_state_restored_total", map[string]string{"kind": "alert"}); got != 1 {
		t.Errorf("restored alerts counted %v, want 1", got)
	}
	waitSaved(t, store, "fraud-scorer", func(r alerting.StateRow) bool { return r.Instance == "second" && !strings.Contains(r.State, "firing") })
}

// TestStateKeepsBudgets: a model's risk budget and its firing burn alert
// survive a restart: the budget continues from its consumption, the page
// is not sent again, and its resolve is.
func TestStateKeepsBudgets(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize = "testdata/policy/budget.good.yml", time.Minute
	store := newMemStore()
	ctx := context.Background()
	first := newStateRig(t, cfg, store, "first")
	for i := range 18 {
		first.m.Observe(ctx, []alerting.Observation{psiAt(i, "fraud-eu", 0.4, crit, 1000)})
	}
	waitDelivered(t, first.m, 3) // the drift alert to both, the fast page
	if err := first.m.SaveState(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := store.row("fraud-eu")
	if row.Budget != "fraud" || row.Period != "30d" || row.Breached != 18 || row.Windows != 43200 ||
		math.Abs(row.Remaining-(1-18/864.0)) > 1e-9 || !slices.Equal(row.BurnAlerts, []string{"fast", "slow", "ticket"}) ||
		!slices.Equal(row.BurnFiring, []uint8{1, 0, 0}) || row.BurnLongWindows[0] != "1h" || row.BurnShortWindows[0] != "5m" ||
		math.Abs(row.BurnLongRates[0]-15) > 1e-9 {
		t.Errorf("budget columns of the saved state: %+v", row)
	}
	var snap map[string]json.RawMessage
	if err := json.Unmarshal([]byte(row.State), &snap); err != nil || snap["budget"] == nil || snap["burns"] == nil {
		t.Errorf("saved state %s: %v", row.State, err)
	}
	first.kill()

	second := newStateRig(t, cfg, store, "second")
	second.m.Observe(ctx, []alerting.Observation{psiAt(18, "fraud-eu", 0.4, crit, 1000)})
	remaining := 1 - 19/864.0
	if got := counter(t, second.reg, "driftwatch_alerts_budget_remaining_ratio", map[string]string{"budget": "fraud", "model": "fraud-eu"}); math.Abs(got-remaining) > 1e-9 {
		t.Errorf("remaining after the restart = %v, want %v (the 18 windows before it count)", got, remaining)
	}
	for i := 19; i < 25; i++ {
		second.m.Observe(ctx, []alerting.Observation{psiAt(i, "fraud-eu", 0.01, ok, 1000)})
	}
	waitDelivered(t, second.m, 3) // the drift alert's resolve to both, the page's resolve
	var burns []string
	for _, n := range second.pd.got {
		if n.Signal == alerting.BurnSignal {
			burns = append(burns, n.Key+" "+n.Status)
		}
	}
	if want := []string{"driftwatch-budget/fraud-eu/fraud/fast resolved"}; !slices.Equal(burns, want) {
		t.Errorf("PagerDuty got burn notifications %v after the restart, want only %v", burns, want)
	}
}

// TestStateHandOver: the state of a model handed over is written at once
// and taken over by the instance that observes the model next; the first
// forgets it, and reads it anew when the model comes back.
func TestStateHandOver(t *testing.T) {
	cfg := alerttest.FastConfig()
	store := newMemStore()
	ctx := context.Background()
	a := newStateRig(t, cfg, store, "a")
	b := newStateRig(t, cfg, store, "b")
	a.m.Observe(ctx, []alerting.Observation{
		alerttest.Window(0, "x", "1", "f", crit, alerttest.PSI(0.5, crit)),
		alerttest.Window(0, "y", "1", "f", crit, alerttest.PSI(0.5, crit)),
	})
	waitDelivered(t, a.m, 4)
	if n := a.m.HandOver(func(model string) bool { return model == "x" }); n != 1 {
		t.Fatalf("handed over %d alerts, want 1", n)
	}
	if r, ok := store.row("x"); !ok || r.Instance != "a" || !strings.Contains(r.State, "firing") {
		t.Fatalf("state of x after the hand-over: %+v", r)
	}
	b.m.Observe(ctx, []alerting.Observation{alerttest.Window(1, "x", "1", "f", crit, alerttest.PSI(0.5, crit))})
	if got := b.m.Active(); len(got) != 1 || got[0].ModelID != "x" || got[0].State != alerting.StateFiring {
		t.Fatalf("b's alerts after taking x over: %+v", got)
	}
	b.m.Observe(ctx, []alerting.Observation{alerttest.Window(2, "x", "1", "f", ok, alerttest.PSI(0.01, ok))})
	waitDelivered(t, b.m, 2)
	if got := b.pd.notes(); !slices.Equal(got, []string{"resolved/critical"}) {
		t.Errorf("b sent %v for x, want its resolve only", got)
	}
	b.m.HandOver(func(model string) bool { return model == "x" })
	a.m.Observe(ctx, []alerting.Observation{alerttest.Window(3, "x", "1", "f", ok, alerttest.PSI(0.01, ok))})
	if got := a.m.Active(); len(got) != 1 || got[0].ModelID != "y" {
		t.Errorf("a's alerts after x came back resolved: %+v", got)
	}
}

// TestStateGroups: with grouping, a group whose message was sent before
// the restart is not sent again; when its alerts resolve, the group's
// resolve is, under the same group key.
func TestStateGroups(t *testing.T) {
	store := newMemStore()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	cfg := alerttest.FastConfig()
	cfg.GroupBy, cfg.StaleAfter = []string{"model_id"}, 24*time.Hour
	start := func(name string) *stateRig {
		r := newStateRig(t, cfg, store, name)
		alerting.SetNow(r.m, clk.now)
		return r
	}
	obs := func(i int, sev alerting.Severity) []alerting.Observation {
		return []alerting.Observation{
			alerttest.Window(i, "fraud", "1", "a", sev, alerttest.PSI(0.5, sev)),
			alerttest.Window(i, "fraud", "1", "b", sev, alerttest.PSI(0.4, sev)),
		}
	}
	first := start("first")
	first.m.Observe(ctx, obs(0, crit))
	clk.add(time.Minute)
	alerting.FlushGroups(first.m)
	waitDelivered(t, first.m, 2)
	if err := first.m.SaveState(ctx); err != nil {
		t.Fatal(err)
	}
	first.kill()
	if got := first.pd.got; len(got) != 1 || got[0].Group == nil || len(got[0].Group.Firing) != 2 {
		t.Fatalf("first manager sent %+v, want one group of 2", got)
	}
	groupKey := first.pd.got[0].Key

	second := start("second")
	second.m.Observe(ctx, obs(1, crit))
	clk.add(time.Hour)
	alerting.FlushGroups(second.m)
	time.Sleep(50 * time.Millisecond)
	if got := second.pd.notes(); len(got) != 0 {
		t.Fatalf("the group was sent again after the restart: %v", got)
	}
	second.m.Observe(ctx, obs(2, ok))
	clk.add(10 * time.Minute)
	alerting.FlushGroups(second.m)
	waitDelivered(t, second.m, 2)
	got := second.pd.got
	if len(got) != 1 || got[0].Key != groupKey || got[0].Status != alerting.StatusResolved || len(got[0].Group.Resolved) != 2 {
		t.Errorf("after the restart PagerDuty got %v, want the group %s resolved with its 2 alerts", second.pd.notes(), groupKey)
	}
}

func TestStateIntervalConfig(t *testing.T) {
	cfg := alerttest.FastConfig()
	cfg.StateInterval = 50 * time.Millisecond
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "state_interval") {
		t.Errorf("Validate with state_interval 50ms: %v, want an error naming state_interval", err)
	}
	cfg.StateInterval = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with the default state_interval: %v", err)
	}
}

// BenchmarkStateSave measures one save of the state of 100 models with a
// 2% budget over 30 days of one-minute windows, each with a firing alert.
func BenchmarkStateSave(b *testing.B) {
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize = "testdata/policy/budget.good.yml", time.Minute
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": &fake{}, "pagerduty-fraud": &fake{}}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	store := newMemStore()
	if err := m.UseStateStore(store, "bench"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var obs []alerting.Observation
	for i := range 100 {
		obs = append(obs, psiAt(0, "fraud-"+strconv.Itoa(i), 0.4, crit, 1000))
	}
	m.Observe(ctx, obs)
	b.ReportAllocs()
	for b.Loop() {
		for i := range obs {
			obs[i].WindowStart, obs[i].WindowEnd = obs[i].WindowStart.Add(time.Minute), obs[i].WindowEnd.Add(time.Minute)
		}
		m.Observe(ctx, obs)
		if err := m.SaveState(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStateVersionsWinOverSkewedClocks: an instance whose clock is behind
// the one that wrote a model's state still writes a newer version of it
// once it took the model over.
func TestStateVersionsWinOverSkewedClocks(t *testing.T) {
	store := newMemStore()
	ctx := context.Background()
	write := func(instance string, skew time.Duration, i int, sev alerting.Severity) {
		m, err := alerting.NewWithNotifiers(alerttest.FastConfig(), map[string]alerting.Notifier{"r": &fake{}}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		alerting.SetNow(m, func() time.Time { return time.Now().Add(skew) })
		if err := m.UseStateStore(store, instance); err != nil {
			t.Fatal(err)
		}
		m.Observe(ctx, []alerting.Observation{alerttest.Window(i, "x", "1", "f", sev, alerttest.PSI(0.5, sev))})
		if err := m.SaveState(ctx); err != nil {
			t.Fatal(err)
		}
	}
	write("ahead", time.Hour, 0, crit)
	write("behind", -time.Hour, 1, ok)
	if r, _ := store.row("x"); r.Instance != "behind" || strings.Contains(r.State, "firing") {
		t.Errorf("stored state of x: %+v, want the resolved state the instance behind wrote last", r)
	}
}
