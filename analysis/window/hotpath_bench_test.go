package window

import (
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/llm"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/signal/performance"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/telemetry"
)

// hotPath is the per-event path of a partition: decode a message into one
// of a batch's event slots, count it in its window, and hand the batch to
// every signal, with the default signals and the access ones registered and
// a reference pinned (samples full, categories known: the steady state).
type hotPath struct {
	msgs   [][]byte
	dec    *telemetry.Decoder
	win    *Windower
	events []telemetry.Event
	next   int
}

const hotBatch = 64

func newHotPath(tb testing.TB, n int) *hotPath {
	tb.Helper()
	sc := generator.DefaultScenario(1, 15)
	sigs := append(append(outputs.Signals(outputs.DefaultConfig()), llm.Signals(llm.DefaultConfig())...),
		performance.Estimated{Config: performance.DefaultConfig()}, access.Volume{Config: access.DefaultConfig()},
		access.Probing{Config: access.DefaultConfig()})
	return buildHotPath(tb, n, sc, sigs)
}

// buildHotPath returns the hot path over n events of scenario sc's first
// model, with sigs registered, a reference pinned from those events and
// every state warmed up by two passes over them.
func buildHotPath(tb testing.TB, n int, sc generator.Scenario, sigs []signal.Signal) *hotPath {
	tb.Helper()
	sc.Start = windowtest.T0
	g, err := generator.New(sc, 1)
	if err != nil {
		tb.Fatal(err)
	}
	h := &hotPath{dec: telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return windowtest.T0 }),
		events: make([]telemetry.Event, hotBatch)}
	var e telemetry.Event
	for range n {
		g.Next(&e)
		e.EventTime = windowtest.T0 // one window: measure observing, not closing
		h.msgs = append(h.msgs, g.Append(nil, &e))
	}
	cfg := windowtest.Config(tb)
	cfg.WindowSize = 1 << 40
	set, err := signal.NewSet(sigs...)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Signals = set
	refs := reference.NewStore(cfg, nil)
	warm := NewWindow(cfg, analysisKey(sc), windowtest.T0, nil)
	for i := range h.msgs {
		if err := h.dec.Decode(h.msgs[i], &e); err != nil {
			tb.Fatal(err)
		}
		warm.Observe(e.Clone(), int64(i))
	}
	warm.EndBatch()
	refs.Set(reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0))
	h.win = NewWindower(cfg, refs, nil)
	for range 2 * n / hotBatch {
		h.batch(tb)
	}
	return h
}

func analysisKey(sc generator.Scenario) analysis.ModelKey {
	return analysis.ModelKey{ID: sc.Models[0].ID, Version: sc.Models[0].Version}
}

// batch runs the next hotBatch messages through the path.
func (h *hotPath) batch(tb testing.TB) {
	for i := range h.events {
		m := h.msgs[h.next%len(h.msgs)]
		if err := h.dec.Decode(m, &h.events[i]); err != nil {
			tb.Fatal(err)
		}
		if h.win.Observe(&h.events[i], int64(h.next)) != Counted {
			tb.Fatalf("event %d not counted", h.next)
		}
		h.next++
	}
	h.win.EndBatch()
}

// BenchmarkDecodeObserve measures the per-event path of a partition in
// steady state: decoding (fast path), windowing with a reference and every
// default signal plus the access signals. allocs/op is per event and must
// be 0.
func BenchmarkDecodeObserve(b *testing.B) { h := newHotPath(b, 4096); h.bench(b) }

// bench runs b.N events through the path, reporting bytes and ns per
// event; every event must take the fast path.
func (h *hotPath) bench(b *testing.B) {
	var bytes int
	for _, m := range h.msgs {
		bytes += len(m)
	}
	b.SetBytes(int64(bytes / len(h.msgs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += hotBatch {
		h.batch(b)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	if h.dec.SlowPath() != 0 {
		b.Fatalf("%d events took the slow path", h.dec.SlowPath())
	}
}

// TestDecodeObserveDoesNotAllocate pins the no-allocation rule of the
// per-event path in steady state, signals included.
func TestDecodeObserveDoesNotAllocate(t *testing.T) {
	h := newHotPath(t, 2048)
	if a := testing.AllocsPerRun(50, func() { h.batch(t) }); a != 0 {
		t.Fatalf("%v allocations per batch of %d events", a, hotBatch)
	}
}
