package analysis

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/telemetry"
)

func signalConfig(t *testing.T) *Config {
	t.Helper()
	cfg := testConfig(t)
	set, err := signal.NewSet(signaltest.Classes{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signals = set
	return cfg
}

func classCounts(w *Window) *signaltest.ClassCounts { return w.Signals[0].(*signaltest.ClassCounts) }

// TestSignalsRideTheWindows: a registered signal's partials see every
// counted event of their window through the windower's batches (and no late
// one), travel through the codec, merge across partitions to the partial of
// the whole, and are scored by the evaluator: against nothing during
// warm-up, then against the merge of the warm-up windows.
func TestSignalsRideTheWindows(t *testing.T) {
	cfg := signalConfig(t)
	m := ModelKey{"fraud", "v1"}
	r := rand.New(rand.NewPCG(21, 22))
	size := cfg.WindowSize
	// Three windows of events over two partitions, in batches of 7, plus a
	// late event that must not reach the signal.
	parts := []*Windower{NewWindower(cfg, NewReferences(cfg, nil)), NewWindower(cfg, NewReferences(cfg, nil))}
	want := map[int]map[string]uint64{}
	var events [2][]*telemetry.Event
	for i := range 900 {
		win := i / 300
		at := t0.Add(time.Duration(win)*size + time.Duration(i%300)*size/300)
		e := randomEvent(r, i, m, at)
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
		wr.Observe(randomEvent(r, 10000+p, m, t0.Add(10*size)), 10000)
		if wr.Observe(randomEvent(r, 20000+p, m, t0), 10001) != Late {
			t.Fatal("the late event was not late")
		}
	}
	merged := map[int64]*Window{}
	for _, wr := range parts {
		for _, w := range wr.TakeClosed() {
			d, err := DecodeWindow(cfg, w.AppendBinary(nil), lookupOf())
			if err != nil {
				t.Fatal(err)
			}
			if got, orig := classCounts(d), classCounts(w); got.Events != orig.Events || len(got.Counts) != len(orig.Counts) {
				t.Fatalf("decoded partial %+v, encoded %+v", got, orig)
			}
			if acc := merged[w.startMs]; acc != nil {
				acc.Merge(d)
			} else {
				merged[w.startMs] = d
			}
		}
	}
	ev := NewEvaluator(cfg, NewReferences(cfg, nil), nil)
	for win := range 3 {
		w := merged[t0.Add(time.Duration(win)*size).UnixMilli()]
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
	plain := testConfig(t)
	w := merged[t0.UnixMilli()]
	w.Ref = nil
	if _, err := DecodeWindow(plain, w.AppendBinary(nil), lookupOf()); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("a window with an unknown signal: %v", err)
	}
}
