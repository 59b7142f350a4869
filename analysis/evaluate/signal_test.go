package evaluate

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

func signalConfig(t *testing.T) *analysis.Config {
	t.Helper()
	cfg := windowtest.Config(t)
	set, err := signal.NewSet(signaltest.Classes{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signals = set
	return cfg
}

func classCounts(w *window.Window) *signaltest.ClassCounts {
	return w.Signals[0].(*signaltest.ClassCounts)
}

// TestSignalsRideTheWindows: a registered signal's partials see every
// counted event of their window through the windower's batches (and no late
// one), travel through the codec, merge across partitions to the partial of
// the whole, and are scored by the evaluator: against nothing during
// warm-up, then against the merge of the warm-up windows.
func TestSignalsRideTheWindows(t *testing.T) {
	cfg := signalConfig(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(21, 22))
	size := cfg.WindowSize
	// Three windows of events over two partitions, in batches of 7, plus a
	// late event that must not reach the signal.
	parts := []*window.Windower{window.NewWindower(cfg, reference.NewStore(cfg, nil), nil), window.NewWindower(cfg, reference.NewStore(cfg, nil), nil)}
	want := map[int]map[string]uint64{}
	var events [2][]*telemetry.Event
	for i := range 900 {
		win := i / 300
		at := windowtest.T0.Add(time.Duration(win)*size + time.Duration(i%300)*size/300)
		e := windowtest.RandomEvent(r, i, m, at)
		if want[win] == nil {
			want[win] = map[string]uint64{}
		}
		want[win][e.Prediction.Class]++
		events[i%2] = append(events[i%2], e)
	}
	for p, wr := range parts {
		for j, e := range events[p] {
			wr.Observe(e, int64(j))
			if j%7 == 6 {
				wr.EndBatch()
			}
		}
		wr.EndBatch()
	}
	// Close everything: an event far ahead; then a late one for window 0.
	for p, wr := range parts {
		wr.Observe(windowtest.RandomEvent(r, 10000+p, m, windowtest.T0.Add(10*size)), 10000)
		if wr.Observe(windowtest.RandomEvent(r, 20000+p, m, windowtest.T0), 10001) != window.Late {
			t.Fatal("the late event was not late")
		}
	}
	merged := map[int64]*window.Window{}
	for _, wr := range parts {
		for _, w := range wr.TakeClosed() {
			d, err := window.DecodeWindow(cfg, w.AppendBinary(nil), windowtest.Lookup())
			if err != nil {
				t.Fatal(err)
			}
			if got, orig := classCounts(d), classCounts(w); got.Events != orig.Events || len(got.Counts) != len(orig.Counts) {
				t.Fatalf("decoded partial %+v, encoded %+v", got, orig)
			}
			if acc := merged[w.Start.UnixMilli()]; acc != nil {
				acc.Merge(d)
			} else {
				merged[w.Start.UnixMilli()] = d
			}
		}
	}
	ev := NewEvaluator(cfg, reference.NewStore(cfg, nil), nil)
	for win := range 3 {
		w := merged[windowtest.T0.Add(time.Duration(win)*size).UnixMilli()]
		if w == nil {
			t.Fatalf("window %d not closed", win)
		}
		c := classCounts(w)
		var total uint64
		for class, n := range want[win] {
			total += n
			if c.Counts[class] != n {
				t.Fatalf("window %d class %q: %d, want %d", win, class, c.Counts[class], n)
			}
		}
		if c.Events != total || w.Events != total {
			t.Fatalf("window %d: signal saw %d events, window counted %d, want %d", win, c.Events, w.Events, total)
		}
		d := ev.Evaluate(w, false, nil)
		if len(d.Signals) != 1+len(want[win]) || d.Signals[0].Signal != "classes" || d.Signals[0].Subject != "*" || d.Signals[0].N != total {
			t.Fatalf("window %d verdicts %+v", win, d.Signals)
		}
		for _, v := range d.Signals[1:] {
			// Warm-up is two windows: the third is scored against them.
			if scored := !math.IsNaN(v.Effect); scored != (win == 2) {
				t.Fatalf("window %d, class %q: effect %v", win, v.Subject, v.Effect)
			}
		}
	}

	// A monitor without the signal refuses a window that carries it.
	plain := windowtest.Config(t)
	w := merged[windowtest.T0.UnixMilli()]
	w.Ref = nil
	if _, err := window.DecodeWindow(plain, w.AppendBinary(nil), windowtest.Lookup()); !errors.Is(err, window.ErrCorruptWindow) {
		t.Fatalf("a window with an unknown signal: %v", err)
	}
}

// TestSignalDecisions: a window's signal decisions are rejected by
// Benjamini–Hochberg across all its signals (adjusted p-values by hand:
// p = 0.001, 0.04, 0.5 of m = 3 give 0.003, 0.06, 0.5), then graded by their
// effect; informing verdicts keep their severity.
func TestSignalDecisions(t *testing.T) {
	nan := math.NaN()
	vs := []SignalVerdict{
		{Signal: "a", Verdict: signal.Decision("*", 0.2, 0.001, 0.3, 0.1, 0.25, 500, "")},                                                 // rejected, critical
		{Signal: "b", Verdict: signal.Decision("x", 0.2, 0.04, 0.3, 0.1, 0.25, 500, "")},                                                  // not rejected at 0.05
		{Signal: "b", Verdict: signal.Decision("y", 0.2, 0.5, 0.3, 0.1, 0.25, 500, "")},                                                   // not rejected
		{Signal: "c", Verdict: signal.Decision("*", 0.2, nan, 0.9, 0.1, 0.25, 5, "")},                                                     // too few to test
		{Signal: "d", Verdict: signal.Info("*", 7, nan, 7, "")},                                                                           // informs
		{Signal: "e", Verdict: signal.Verdict{Subject: "*", PValue: nan, Warning: nan, Critical: nan, Severity: verdict.SeverityWarning}}, // its own alarm
	}
	DecideSignals(0.05, vs)
	want := []struct {
		sev       verdict.Severity
		adjusted  float64
		threshold float64
	}{
		{verdict.SeverityCritical, 0.003, 0.25},
		{verdict.SeverityOK, 0.06, 0.1},
		{verdict.SeverityOK, 0.5, 0.1},
		{verdict.SeverityOK, nan, nan},
		{verdict.SeverityOK, nan, nan},
		{verdict.SeverityWarning, nan, nan},
	}
	same := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-12 }
	for i, w := range want {
		v := vs[i].Verdict
		if v.Severity != w.sev || !same(v.AdjustedP, w.adjusted) || !same(v.Threshold, w.threshold) {
			t.Errorf("verdict %d (%s): severity %s, adjusted p %v, threshold %v; want %s, %v, %v",
				i, vs[i].Signal, v.Severity, v.AdjustedP, v.Threshold, w.sev, w.adjusted, w.threshold)
		}
	}
	// A significant verdict below its warning level stays ok; at it, warning.
	vs = []SignalVerdict{
		{Signal: "a", Verdict: signal.Decision("*", 0, 1e-9, 0.05, 0.1, 0.25, 500, "")},
		{Signal: "a", Verdict: signal.Decision("z", 0, 1e-9, 0.1, 0.1, 0.25, 500, "")},
	}
	DecideSignals(0.01, vs)
	if vs[0].Severity != verdict.SeverityOK || vs[1].Severity != verdict.SeverityWarning || vs[1].Threshold != 0.1 {
		t.Errorf("effect levels: %+v", vs)
	}
}
