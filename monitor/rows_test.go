package monitor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestReferenceSignalStatesSurviveStorage: a reference warmed up with a
// signal keeps the signal's merged state through ClickHouse, so that a
// decider that loads it (after a restart, or taking a model over in a
// rebalance) scores the signal as the one that pinned it did; a monitor
// without that signal leaves the state out.
func TestReferenceSignalStatesSurviveStorage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := migratedStore(t, ctx)
	set, err := signal.NewSet(signaltest.Classes{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := analysis.DefaultConfig()
	cfg.Signals = set
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	w := window.NewWindow(&cfg, m, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	for i := range 30 {
		score := float64(i) / 30
		e := &telemetry.Event{PredictionID: fmt.Sprint(i), EventTime: w.Start, Model: telemetry.Model{ID: m.ID, Version: m.Version},
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": score})}, Prediction: telemetry.Prediction{Class: []string{"a", "b", "b"}[i%3]}}
		w.Observe(e, int64(i))
	}
	w.EndBatch()
	ref := reference.Build(w.Sketches(), 10, 100, "warmup", 1, time.Now())
	ref.ID = ref.Hash()
	if err := store.SaveReference(ctx, ReferenceRows(ref, set)); err != nil {
		t.Fatal(err)
	}
	rows, err := store.LoadReferences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded := ReferencesFromRows(rows, set)
	if len(loaded) != 1 || len(loaded[0].Signals) != 1 {
		t.Fatalf("loaded %d references, signals %v", len(loaded), loaded)
	}
	got, want := loaded[0].Signals[0].(*signaltest.ClassCounts), ref.Signals[0].(*signaltest.ClassCounts)
	if got.Events != want.Events || fmt.Sprint(got.Counts) != fmt.Sprint(want.Counts) {
		t.Fatalf("signal state %+v after storage, %+v before", got, want)
	}
	if none := ReferencesFromRows(rows, nil); len(none) != 1 || none[0].Signals != nil || len(none[0].Numeric) != 1 {
		t.Fatalf("a monitor without the signal: %+v", none)
	}
}

// TestDriftSeriesOfSilentVersionsMakeRoom: at max_drift_series, the series of
// model versions unset for an hour are removed for new ones; live ones never
// are, and a new series is then dropped (counted). Signal statistics share
// the cap.
func TestDriftSeriesOfSilentVersionsMakeRoom(t *testing.T) {
	m := newMetrics(nil, 2)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	m.setDrift("flood", "1", "x", "psi", 1)
	m.setDrift("flood", "2", "x", "psi", 1)
	clock = clock.Add(30 * time.Minute)
	m.setDrift("fraud", "1", "x", "psi", 1)
	fraud := series{m.driftStat, [4]string{"fraud", "1", "x", "psi"}}
	if _, ok := m.seriesActive[fraud]; ok {
		t.Fatal("a new series was exported while the others were live")
	}
	clock = clock.Add(2 * time.Hour)
	m.setDrift("fraud", "1", "x", "psi", 1)
	if _, ok := m.seriesActive[fraud]; !ok || len(m.seriesActive) != 1 {
		t.Fatalf("silent series did not make room: %v", m.seriesActive)
	}
	m.setSignal("fraud", "1", "error_rate", "*", 0.1)
	m.setSignal("fraud", "1", "error_rate", "timeout", 0.1)
	errRate := series{m.signalStat, [4]string{"fraud", "1", "error_rate", "*"}}
	if _, ok := m.seriesActive[errRate]; !ok || len(m.seriesActive) != 2 {
		t.Fatalf("signal series beyond the shared cap: %v", m.seriesActive)
	}
	clock = clock.Add(2 * time.Hour)
	m.setDrift("fraud", "2", "x", "psi", 1)
	if _, ok := m.seriesActive[errRate]; ok {
		t.Fatalf("a silent signal series did not make room: %v", m.seriesActive)
	}
}

// migratedStore opens a fresh test database with the schema applied,
// closed when the test ends.
func migratedStore(t *testing.T, ctx context.Context) *storage.Store {
	t.Helper()
	addr, db := testClickHouse(t)
	store, err := storage.Open(ctx, clickHouseConfig(addr, db), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestHistoryWarningsDoNotPageByDefault: a <signal>_history warning is
// observed as ok (recorded in signals, no alert) unless
// analysis.sequential.history_pages is set; other signals' warnings are
// observed as they are.
func TestHistoryWarningsDoNotPageByDefault(t *testing.T) {
	mv := analysis.ModelKey{ID: "m", Version: "1"}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	warn := func(name string) evaluate.SignalVerdict {
		v := evaluate.SignalVerdict{Signal: name, Verdict: signal.Info("*", 7, 7, 500, "")}
		v.Severity = verdict.SeverityWarning
		return v
	}
	vs := []evaluate.SignalVerdict{warn("margin_density_history"), warn("refusal_rate")}
	for _, pages := range []bool{false, true} {
		m := &Monitor{cfg: DefaultConfig()}
		m.cfg.Analysis.Sequential.HistoryPages = pages
		obs := m.signalObservations(mv, start, start.Add(time.Minute), vs)
		want := []verdict.Severity{verdict.SeverityOK, verdict.SeverityWarning}
		if pages {
			want[0] = verdict.SeverityWarning
		}
		for i, o := range obs {
			if o.Severity != want[i] || o.Tests[0].Severity != want[i] {
				t.Errorf("history_pages %v: %s observed as %s (test %s), want %s", pages, o.Signal, o.Severity, o.Tests[0].Severity, want[i])
			}
		}
	}
}
