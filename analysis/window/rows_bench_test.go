package window

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// wideEvents returns n events of one model with distinct prediction ids,
// 15 numeric features, a score, 3 categorical features and a class.
func wideEvents(n int) []*telemetry.Event {
	r := rand.New(rand.NewPCG(7, 8))
	events := make([]*telemetry.Event, n)
	for i := range events {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("wide-%08d", i), EventTime: windowtest.T0,
			Model: telemetry.Model{ID: "fraud", Version: "v1"}}
		for f := range 15 {
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

// BenchmarkWarmupWindowObserve measures the per-event update of a warm-up
// window (no reference, samples of ReferenceSampleSize 10,000) observing
// events with 15 numeric features and a score: each window sees 20,000
// distinct events, all of the first 10,000 admitted to the samples and about
// 70% of the next ones, growth of the samples included.
func BenchmarkWarmupWindowObserve(b *testing.B) {
	cfg := windowtest.Config(b)
	cfg.ReferenceSampleSize = 10000
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	events := wideEvents(2 * cfg.ReferenceSampleSize)
	w := NewWindow(cfg, m, windowtest.T0, nil)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n == len(events) {
			b.StopTimer()
			w, n = NewWindow(cfg, m, windowtest.T0, nil), 0
			b.StartTimer()
		}
		w.Observe(events[n], int64(i))
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}
