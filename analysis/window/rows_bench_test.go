package window

import (
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// wideEvents returns n events of one model with distinct prediction ids,
// 15 numeric features, a score, 3 categorical features and a class.
func wideEvents(n int) []*telemetry.Event { return eventSet(n, 15, 7, "wide-") }

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
