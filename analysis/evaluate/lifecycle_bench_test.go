package evaluate

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// lifecycleEvents is what lifecycle feeds a windower: the events of one
// window (11 numeric and 4 categorical features, a score and a class, as
// the pipeline benchmark's models have), and rings of prediction ids, one
// per window, so that consecutive windows sample different events without
// holding the events of every window.
type lifecycleEvents struct {
	events []*telemetry.Event
	ids    [][]string
}

// newLifecycleEvents returns n events per window, with ids for rings windows.
func newLifecycleEvents(n, rings int) *lifecycleEvents {
	r := rand.New(rand.NewPCG(7, 8))
	le := &lifecycleEvents{events: make([]*telemetry.Event, n), ids: make([][]string, rings)}
	for i := range le.events {
		e := &telemetry.Event{Model: telemetry.Model{ID: "fraud", Version: "v1"}}
		for f := range 11 {
			e.Features.SetNumeric(fmt.Sprintf("num_%02d", f), r.NormFloat64()*float64(f+1)+float64(f))
		}
		for f := range 4 {
			e.Features.SetCategorical(fmt.Sprintf("cat_%d", f), fmt.Sprintf("v%d", r.IntN(8)))
		}
		score := r.Float64()
		e.Prediction.Score = &score
		e.Prediction.Class = []string{"ok", "fraud"}[r.IntN(2)]
		le.events[i] = e
	}
	for w := range le.ids {
		le.ids[w] = make([]string, n)
		for i := range n {
			le.ids[w][i] = fmt.Sprintf("pred-%02d-%06d", w, i)
		}
	}
	return le
}

// lifecycle is one model version's windows from the partition stage to the
// decision, as the monitor runs them (one partition, so no merge): the
// windower observes a window's events; every window that closes is rebound
// if its reference came meanwhile, encoded, decoded, and evaluated
// (warm-up contribution and pinning, or scoring).
type lifecycle struct {
	cfg  *analysis.Config
	refs *reference.Store
	win  *window.Windower
	eval *Evaluator
	ev   *lifecycleEvents
	next int   // the next window to observe
	off  int64 // the next offset
	buf  []byte
	// decide is the time spent decoding and evaluating closed windows:
	// the decider's share.
	decide time.Duration
}

func newLifecycle(cfg *analysis.Config, ev *lifecycleEvents) *lifecycle {
	refs := reference.NewStore(cfg, func() time.Time { return windowtest.T0 })
	return &lifecycle{cfg: cfg, refs: refs, win: window.NewWindower(cfg, refs, nil),
		eval: NewEvaluator(cfg, refs, NewEvidence(cfg.Sequential)), ev: ev}
}

// window observes the next window's events and decides the windows that
// closed; it returns how many closed and whether one pinned a reference.
func (l *lifecycle) window(tb testing.TB) (closed int, pinned bool) {
	start := windowtest.T0.Add(time.Duration(l.next) * l.cfg.WindowSize)
	step := l.cfg.WindowSize / time.Duration(len(l.ev.events))
	ids := l.ev.ids[l.next%len(l.ev.ids)]
	for i, e := range l.ev.events {
		e.PredictionID, e.EventTime = ids[i], start.Add(time.Duration(i)*step)
		l.win.Observe(e, l.off)
		l.off++
	}
	l.next++
	lookup := func(m analysis.ModelKey, id string) *reference.Reference {
		if ref := l.refs.Get(m); ref != nil && ref.ID == id {
			return ref
		}
		return nil
	}
	for _, w := range l.win.TakeClosed() {
		if w.Ref == nil {
			w.Rebind(l.refs.Get(w.Model))
		}
		l.buf = w.AppendBinary(l.buf[:0])
		t0 := time.Now()
		d, err := window.DecodeWindow(l.cfg, l.buf, lookup)
		if err != nil {
			tb.Fatal(err)
		}
		dec := l.eval.Evaluate(d, false, nil)
		l.decide += time.Since(t0)
		pinned = pinned || dec.Pinned != nil
		closed++
	}
	return closed, pinned
}

// cpuTime returns the CPU time the process has used (every thread: the
// garbage collector's work too), which other load on a shared machine
// inflates less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWindowLifecycle measures the per-window costs of one model
// version with 10,000 events a window, from the windower to the decision
// (window.Windower, AppendBinary, DecodeWindow, Evaluator.Evaluate):
// warmup is a new version's first windows up to its pinned reference (their
// samples are reference-sized), scored a window scored against it. The
// per-event costs are in it too, as in the pipeline. cpu-ns/window is the
// process's CPU time (garbage collection included) per window,
// decide-ns/window the time of the decider's share (DecodeWindow and
// Evaluate).
func BenchmarkWindowLifecycle(b *testing.B) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	ev := newLifecycleEvents(10_000, 8)
	b.Run("warmup", func(b *testing.B) {
		b.ReportAllocs()
		windows, cpu0, decide := 0, cpuTime(), time.Duration(0)
		for range b.N {
			l := newLifecycle(&cfg, ev)
			for {
				n, pinned := l.window(b)
				windows += n
				if pinned {
					break
				}
			}
			decide += l.decide
		}
		b.ReportMetric(float64(decide.Nanoseconds())/float64(windows), "decide-ns/window")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(windows), "ns/window")
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(windows), "cpu-ns/window")
	})
	b.Run("scored", func(b *testing.B) {
		l := newLifecycle(&cfg, ev)
		for pinned := false; !pinned; {
			_, pinned = l.window(b)
		}
		l.window(b) // the window open when the reference was pinned
		b.ReportAllocs()
		b.ResetTimer()
		cpu0, decide0 := cpuTime(), l.decide
		for range b.N {
			if n, _ := l.window(b); n != 1 {
				b.Fatalf("%d windows closed, want 1", n)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/window")
		b.ReportMetric(float64((l.decide-decide0).Nanoseconds())/float64(b.N), "decide-ns/window")
	})
}
