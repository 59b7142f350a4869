package poisoning

import "testing"

// BenchmarkObserve: the per-example cost of each signal at its bound (a
// partial that has seen 20,000 examples of the synthetic world), in batches
// of 1,000 examples; 0 allocations per batch.
func BenchmarkObserve(b *testing.B) {
	w := newWorld(71, 50)
	warm := w.examples(20000)
	batches := make([][]Example, 20)
	for i := range batches {
		batches[i] = w.examples(1000)
	}
	for _, s := range Signals(DefaultConfig(), testFeatures) {
		b.Run(s.Name(), func(b *testing.B) {
			p := observed(s, warm)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.Observe(batches[i%len(batches)])
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/example")
		})
	}
}
