package window

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/llm"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// benchEventSet returns n events of one model with 12 numeric and 3
// categorical features plus a score and class.
func benchEventSet(n int) []*telemetry.Event { return eventSet(n, 12, 3, "pred-") }

// eventSet returns n events of model fraud/v1 with distinct prediction ids
// (prefix and a number), numeric features num_00..., 3 categorical ones, a
// score and a class, drawn from a generator seeded with seed and seed+1.
func eventSet(n, numeric int, seed uint64, prefix string) []*telemetry.Event {
	r := rand.New(rand.NewPCG(seed, seed+1))
	events := make([]*telemetry.Event, n)
	for i := range events {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("%s%08d", prefix, i), EventTime: windowtest.T0,
			Model: telemetry.Model{ID: "fraud", Version: "v1"}}
		for f := range numeric {
			e.Features.SetNumeric(fmt.Sprintf("num_%02d", f), r.NormFloat64()*float64(f+1)+float64(f))
		}
		for f := range 3 {
			e.Features.SetCategorical(fmt.Sprintf("cat_%d", f), fmt.Sprintf("v%d", r.IntN(8)))
		}
		score := r.Float64()
		e.Prediction.Score = &score
		e.Prediction.Class = []string{"ok", "fraud"}[r.IntN(2)]
		events[i] = e
	}
	return events
}

// BenchmarkWindowObserve measures the per-event window update of a model
// version with a pinned reference: 13 numeric features (bins, moments,
// extremes, bottom-k sample) and 4 categorical ones. allocs/op must be 0.
func BenchmarkWindowObserve(b *testing.B) {
	cfg := windowtest.Config(b)
	cfg.SampleSize = 1000
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	events := benchEventSet(4096)
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i, e := range events {
		warm.Observe(e, int64(i))
	}
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	w := NewWindow(cfg, m, windowtest.T0, ref)
	for i, e := range events { // warm the samples up to capacity
		w.Observe(e, int64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Observe(events[i%len(events)], int64(i))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/17, "ns/feature")
}

// BenchmarkWindowerObserve adds routing by model version and event time.
func BenchmarkWindowerObserve(b *testing.B) {
	cfg := windowtest.Config(b)
	cfg.WindowSize = 1 << 40 // one window: measure routing, not closing
	refs := reference.NewStore(cfg, nil)
	events := benchEventSet(4096)
	warm := NewWindow(cfg, analysis.ModelKey{ID: "fraud", Version: "v1"}, windowtest.T0, nil)
	for i, e := range events {
		warm.Observe(e, int64(i))
	}
	refs.Set(reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0))
	w := NewWindower(cfg, refs, nil)
	for i, e := range events {
		w.Observe(e, int64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Observe(events[i%len(events)], int64(i))
	}
}

// TestWindowObserveDoesNotAllocate pins the zero-allocation property of the
// per-event update (numeric samples full, categories known).
func TestWindowObserveDoesNotAllocate(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	events := benchEventSet(2048)
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i, e := range events {
		warm.Observe(e, int64(i))
	}
	w := NewWindow(cfg, m, windowtest.T0, reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0))
	for i, e := range events {
		w.Observe(e, int64(i))
	}
	i := 0
	if a := testing.AllocsPerRun(1000, func() { w.Observe(events[i%len(events)], int64(i)); i++ }); a != 0 {
		t.Fatalf("Window.Observe allocates %.1f times per event, want 0", a)
	}
}

// signalEvents returns benchEventSet's events with what the output and
// GenAI signals read: latency, probabilities and threshold, some errors,
// GenAI usage.
func signalEvents(n int) []*telemetry.Event {
	events := benchEventSet(n)
	r := rand.New(rand.NewPCG(5, 6))
	for i, e := range events {
		lat, th := 10+r.ExpFloat64()*20, 0.5
		in, out, ttfc := int64(300+r.IntN(200)), int64(100+r.IntN(100)), 0.2+r.Float64()/10
		e.LatencyMS, e.Prediction.Threshold = &lat, &th
		e.Prediction.Probabilities = telemetry.Probabilities{{Class: "fraud", P: *e.Prediction.Score}, {Class: "ok", P: 1 - *e.Prediction.Score}}
		if i%50 == 0 {
			e.ErrorType = "timeout"
		}
		e.LLM = &telemetry.LLM{InputTokens: &in, OutputTokens: &out, TimeToFirstChunk: &ttfc,
			FinishReasons: []string{[]string{"stop", "length"}[i%2]}, Refusal: i%40 == 0}
	}
	return events
}

// signalWindow returns a window of the output and GenAI signals, warmed up
// with events so that its samples are full and its labels known.
func signalWindow(tb testing.TB, events []*telemetry.Event) *Window {
	cfg := windowtest.Config(tb)
	set, err := signal.NewSet(append(outputs.Signals(outputs.DefaultConfig()), llm.Signals(llm.DefaultConfig())...)...)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Signals = set
	w := NewWindow(cfg, analysis.ModelKey{ID: "fraud", Version: "v1"}, windowtest.T0, nil)
	for i, e := range events {
		w.Observe(e, int64(i))
		if i%64 == 63 {
			w.EndBatch()
		}
	}
	w.EndBatch()
	return w
}

// BenchmarkSignalsObserve measures what the output and GenAI signals
// (error_rate, latency, class_share, confidence, margin_density,
// refusal_rate, finish_reason, tokens, time_to_first_chunk) add per event:
// batches of 64 events handed to every partial (Window.EndBatch), in steady
// state. allocs/op must be 0.
func BenchmarkSignalsObserve(b *testing.B) {
	events := signalEvents(4096)
	w := signalWindow(b, events)
	batch := events[:64]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch = events[(i*64)%len(events):][:64]
		for _, p := range w.Signals {
			p.Observe(batch)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/event")
}

// TestSignalsObserveDoNotAllocate pins the zero-allocation property of the
// signals' per-batch update in steady state.
func TestSignalsObserveDoNotAllocate(t *testing.T) {
	events := signalEvents(2048)
	w := signalWindow(t, events)
	i := 0
	if a := testing.AllocsPerRun(200, func() {
		batch := events[(i*64)%len(events):][:64]
		for _, p := range w.Signals {
			p.Observe(batch)
		}
		i++
	}); a != 0 {
		t.Fatalf("the signals allocate %v times per batch of 64 events", a)
	}
}
