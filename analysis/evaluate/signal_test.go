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
