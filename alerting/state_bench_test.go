package alerting_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/policy"
)

// budgetModels is how many models with a budget the budget benchmarks track.
const budgetModels = 100

// budgetBench is a manager tracking the 2% budget over 30 days of
// one-minute windows (43,200 windows) of budgetModels models, each with
// the full period observed and 1% of it in breach, restored from store.
type budgetBench struct {
	m     *alerting.Manager
	store *memStore
	next  int // the next window to observe, after alerttest.T0
}

func newBudgetBench(b *testing.B) *budgetBench {
	b.Helper()
	cfg := alerttest.FastConfig()
	cfg.PolicyFile, cfg.WindowSize = "testdata/policy/budget.good.yml", time.Minute
	cfg.StaleAfter = 24 * time.Hour // the models not observed stay where they are
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": &fake{}, "pagerduty-fraud": &fake{}}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	store := newMemStore()
	if err := m.UseStateStore(store, "bench"); err != nil {
		b.Fatal(err)
	}
	const windows = 30 * 24 * 60
	head := alerttest.T0.UnixNano()/int64(time.Minute) - 1 // the window ending at T0
	var obs []alerting.Observation
	for i := range budgetModels {
		model := "fraud-" + strconv.Itoa(i)
		bs := policy.BudgetState{Model: model, Budget: "fraud", Head: head, Seen: [][2]int64{{head - windows + 1, head}}}
		for j := head - windows + 1 + int64(i); j <= head; j += 100 {
			bs.Breached = append(bs.Breached, [2]int64{j, j})
		}
		js, err := json.Marshal(map[string]any{"alerts": []any{}, "budget": bs})
		if err != nil {
			b.Fatal(err)
		}
		store.rows[model] = alerting.StateRow{ModelID: model, Instance: "before", Version: 1, State: string(js)}
		obs = append(obs, psiAt(0, model, 0.01, ok, 1000))
	}
	ctx := context.Background()
	m.Observe(ctx, obs) // claims every model: restores its budget
	if err := m.SaveState(ctx); err != nil {
		b.Fatal(err)
	}
	return &budgetBench{m: m, store: store, next: 1}
}

// observe observes the next clean window of fraud-0.
func (bb *budgetBench) observe() {
	bb.m.Observe(context.Background(), []alerting.Observation{psiAt(bb.next, "fraud-0", 0.01, ok, 1000)})
	bb.next++
}

// BenchmarkSaveOneModelWithManyBudgets measures the save of one model's
// state (its budget's 30 days of one-minute windows) while 100 models
// with such a budget are tracked: only the model saved should cost.
func BenchmarkSaveOneModelWithManyBudgets(b *testing.B) {
	bb := newBudgetBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		bb.observe() // fraud-0's state changed
		b.StartTimer()
		if err := bb.m.SaveState(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if r, _ := bb.store.row("fraud-0"); r.Budget != "fraud" || r.Windows != 30*24*60 || r.Observed == 0 {
		b.Fatalf("stored state of fraud-0: %+v", r)
	}
}

// BenchmarkHandOverOneModelWithManyBudgets measures handing one model
// over (its state written) and taking it back (its state read and
// restored when it is observed next) while 100 models with a budget of
// 30 days of one-minute windows are tracked.
func BenchmarkHandOverOneModelWithManyBudgets(b *testing.B) {
	bb := newBudgetBench(b)
	owns := func(model string) bool { return model == "fraud-0" }
	b.ReportAllocs()
	for b.Loop() {
		bb.m.HandOver(owns)
		bb.observe() // takes fraud-0 back: restores its budget
	}
	if r, _ := bb.store.row("fraud-0"); r.Budget != "fraud" || r.Windows != 30*24*60 || r.Observed == 0 {
		b.Fatalf("stored state of fraud-0: %+v", r)
	}
}

// Sizes of the alert benchmarks: alertModels models with alertSeries
// firing alerts each.
const (
	alertModels = 1000
	alertSeries = 20
)

// alertBench is a manager tracking alertSeries firing alerts (one per
// feature) of each of alertModels models, every model claimed and saved.
type alertBench struct {
	m     *alerting.Manager
	store *memStore
	next  int // the next window to observe, after alerttest.T0
}

func newAlertBench(b *testing.B) *alertBench {
	b.Helper()
	cfg := alerttest.FastConfig() // fires on the second drifted window
	cfg.StaleAfter = 24 * time.Hour
	cfg.MaxAlerts = 2 * alertModels * alertSeries
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": &fake{}}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	store := newMemStore()
	if err := m.UseStateStore(store, "bench"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	obs := make([]alerting.Observation, 0, alertModels*alertSeries)
	for w := range 2 {
		obs = obs[:0]
		for i := range alertModels {
			for j := range alertSeries {
				obs = append(obs, alerttest.Window(w, "fraud-"+strconv.Itoa(i), "7", "f"+strconv.Itoa(j), crit, alerttest.PSI(0.4, crit)))
			}
		}
		m.Observe(ctx, obs)
	}
	if err := m.SaveState(ctx); err != nil {
		b.Fatal(err)
	}
	bb := &alertBench{m: m, store: store, next: 2}
	if n := bb.stored("fraud-0"); n != alertSeries {
		b.Fatalf("stored alerts of fraud-0 = %d, want %d", n, alertSeries)
	}
	return bb
}

// observe observes the next drifted window of one feature of fraud-0.
func (ab *alertBench) observe() {
	o := alerttest.Window(ab.next, "fraud-0", "7", "f0", crit, alerttest.PSI(0.4, crit))
	ab.m.Observe(context.Background(), []alerting.Observation{o})
	ab.next++
}

// stored returns how many alerts with policy state the stored state of model holds.
func (ab *alertBench) stored(model string) int {
	r, _ := ab.store.row(model)
	var ms struct {
		Alerts []struct {
			Series *policy.SeriesState `json:"series"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(r.State), &ms); err != nil {
		return -1
	}
	n := 0
	for _, a := range ms.Alerts {
		if a.Series != nil && a.Series.State == policy.StateFiring {
			n++
		}
	}
	return n
}

// BenchmarkSaveOneModelWithManyAlerts measures the save of one model's
// state (its 20 firing alerts) while 1,000 models with 20 firing alerts
// each are tracked: only the model saved should cost.
func BenchmarkSaveOneModelWithManyAlerts(b *testing.B) {
	ab := newAlertBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ab.observe() // fraud-0's state changed
		b.StartTimer()
		if err := ab.m.SaveState(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n := ab.stored("fraud-0"); n != alertSeries {
		b.Fatalf("stored alerts of fraud-0 = %d, want %d", n, alertSeries)
	}
}

// BenchmarkHandOverOneModelWithManyAlerts measures handing one model over
// (its state written) and taking it back (its state read and restored when
// it is observed next) while 1,000 models with 20 firing alerts each are
// tracked.
func BenchmarkHandOverOneModelWithManyAlerts(b *testing.B) {
	ab := newAlertBench(b)
	owns := func(model string) bool { return model == "fraud-0" }
	b.ReportAllocs()
	for b.Loop() {
		ab.m.HandOver(owns)
		ab.observe() // takes fraud-0 back: restores its alerts
	}
	if n := ab.stored("fraud-0"); n != alertSeries {
		b.Fatalf("stored alerts of fraud-0 = %d, want %d", n, alertSeries)
	}
}
