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
