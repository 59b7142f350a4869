package access

import (
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/telemetry"
)

// generatedBatches returns n generator events of a heavy-tailed population
// of callers (generator.Callers), in batches of 64.
func generatedBatches(tb testing.TB, callers, n int) [][]*telemetry.Event {
	tb.Helper()
	sc := generator.DefaultScenario(1, 15)
	sc.Start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	sc.Callers = &generator.Callers{N: callers}
	g, err := generator.New(sc, 1)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]*telemetry.Event
	for b := 0; b < n; b += 64 {
		batch := make([]*telemetry.Event, 64)
		for i := range batch {
			batch[i] = new(telemetry.Event)
			g.Next(batch[i])
		}
		out = append(out, batch)
	}
	return out
}

// BenchmarkAccessObserve observes generator events of 10,000 heavy-tailed
// callers into each access signal's partial, and into all five, in steady
// state (the summaries full): the per-event cost the access signals add to
// a partition's path.
func BenchmarkAccessObserve(b *testing.B) {
	batches := generatedBatches(b, 10_000, 1<<15)
	for _, c := range signalSubsets() {
		b.Run(c.name, func(b *testing.B) {
			ps := make([]signal.Partial, len(c.sigs))
			for i, s := range c.sigs {
				ps[i] = s.NewPartial()
			}
			for _, batch := range batches {
				for _, p := range ps {
					p.Observe(batch)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var bt signal.Batch // shared, as a window's
			i := 0
			for n := 0; n < b.N; n += 64 {
				bt.Reset(batches[i%len(batches)])
				for _, p := range ps {
					bt.Observe(p)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}

// subset is some of the access signals, named.
type subset struct {
	name string
	sigs []signal.Signal
}

// signalSubsets returns each access signal alone, then all five.
func signalSubsets() []subset {
	c := DefaultConfig()
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	out := make([]subset, 0, len(sigs)+1)
	for i, s := range sigs {
		out = append(out, subset{s.Name(), sigs[i : i+1]})
	}
	return append(out, subset{"all", sigs})
}

// BenchmarkInputHash hashes the quantized inputs of generator events (15
// features), the names' hashes cached by position.
func BenchmarkInputHash(b *testing.B) {
	batches := generatedBatches(b, 10_000, 1<<10)
	var x inputHasher
	var sink uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, _ := x.hash(batches[(i>>6)%len(batches)][i&63])
		sink += h
	}
	if sink == 1 {
		b.Log(sink)
	}
}

// BenchmarkAccessWindow observes generator events (its default 2,000
// callers, as BenchmarkPipeline's) into partials of each access signal,
// and of all five, in windows of 10,000 events (a model's one-minute window
// in BenchmarkPipeline) and batches of 64 (the columns the signals share
// computed once a batch, as by a window); at the end of each window the
// partials are encoded, as the partition does when it flushes the window,
// and reset for the next (Windower.Recycle): the per-event cost with each
// window's warm-up, which the steady state of BenchmarkAccessObserve does
// not see.
func BenchmarkAccessWindow(b *testing.B) {
	const perWindow = 10_000
	var batches [][]*telemetry.Event
	for evs := generatorEvents(b, 4*perWindow); len(evs) > 0; evs = evs[64:] {
		batches = append(batches, evs[:64])
	}
	for _, c := range signalSubsets() {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			var ps []signal.Partial
			var bt signal.Batch // shared, as a window's
			b.ReportAllocs()
			i, seen := 0, perWindow
			for n := 0; n < b.N; n += 64 {
				if seen >= perWindow {
					// Encoded, then reset for the next window, as a
					// partition recycles a closed window's partials.
					for _, p := range ps {
						buf = p.AppendBinary(buf[:0])
						p.(signal.Resetter).Reset()
					}
					if ps == nil {
						for _, s := range c.sigs {
							ps = append(ps, s.NewPartial())
						}
					}
					seen = 0
				}
				bt.Reset(batches[i%len(batches)])
				for _, p := range ps {
					bt.Observe(p)
				}
				i++
				seen += 64
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}

// BenchmarkAccessDecide decodes, scores and summarises the five access
// partials of one window of 10,000 generator events (2,000 callers), as a
// decider does for each window: the second stage's cost of the access
// signals, per window and per event of it.
func BenchmarkAccessDecide(b *testing.B) {
	const perWindow = 10_000
	evs := generatorEvents(b, perWindow)
	sigs := signalSubsets()[5].sigs
	enc := make([][]byte, len(sigs))
	for i, p := range observeShared(sigs, evs) {
		enc[i] = p.AppendBinary(nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ps := make([]signal.Partial, len(sigs))
		for i, s := range sigs {
			ps[i] = s.NewPartial()
			d := sketch.NewDecoder(enc[i])
			ps[i].Decode(d)
			if d.Err() != nil {
				b.Fatal(d.Err())
			}
			s.Score(ps[i], nil)
		}
		Summaries(ps)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perWindow, "ns/event")
}

// generatorEvents returns n events of the generator's default scenario
// (2,000 callers), as BenchmarkPipeline's.
func generatorEvents(tb testing.TB, n int) []*telemetry.Event {
	tb.Helper()
	sc := generator.DefaultScenario(1, 15)
	sc.Start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	g, err := generator.New(sc, 1)
	if err != nil {
		tb.Fatal(err)
	}
	evs := make([]*telemetry.Event, n)
	for i := range evs {
		evs[i] = new(telemetry.Event)
		g.Next(evs[i])
	}
	return evs
}

// BenchmarkAccessMerge decodes the five access partials of three
// partitions' windows of 3,333 generator events each (2,000 callers, as
// BenchmarkPipeline's) and merges them, as a decider does before it scores
// a window: the merge's share of the second stage, per window and per
// event of it.
func BenchmarkAccessMerge(b *testing.B) {
	const perPartition = 3333
	evs := generatorEvents(b, 3*perPartition)
	sigs := signalSubsets()[5].sigs
	enc := make([][][]byte, 3)
	for part := range enc {
		for _, p := range observeShared(sigs, evs[part*perPartition:(part+1)*perPartition]) {
			enc[part] = append(enc[part], p.AppendBinary(nil))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i, s := range sigs {
			var merged signal.Partial
			for part := range enc {
				p := s.NewPartial()
				d := sketch.NewDecoder(enc[part][i])
				if p.Decode(d); d.Err() != nil {
					b.Fatal(d.Err())
				}
				if merged == nil {
					merged = p
				} else {
					merged.Merge(p)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(3*perPartition), "ns/event")
}
