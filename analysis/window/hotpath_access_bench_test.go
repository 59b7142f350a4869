package window

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/llm"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/signal/performance"
	"github.com/driftwatch/driftwatch/generator"
)

// accessCallers is the ordinary callers of the access benchmarks: more than
// the access signals' counters (1,000 and 256 by default), so that the
// Space-Saving summaries are full and counters change hands, as with a
// large population in production.
const accessCallers = 10_000

// newAccessHotPath is newHotPath over the events of a heavy-tailed
// population of accessCallers callers (generator.Callers, the generator's
// --callers) with the default signals (outputs, GenAI, estimated
// performance), plus the five access signals when withAccess.
func newAccessHotPath(tb testing.TB, n int, withAccess bool) *hotPath {
	tb.Helper()
	sc := generator.DefaultScenario(1, 15)
	sc.Callers = &generator.Callers{N: accessCallers}
	sigs := append(append(outputs.Signals(outputs.DefaultConfig()), llm.Signals(llm.DefaultConfig())...),
		performance.Estimated{Config: performance.DefaultConfig()})
	if withAccess {
		a := access.DefaultConfig()
		sigs = append(sigs, accessSignals(tb, a)...)
	}
	return buildHotPath(tb, n, sc, sigs)
}

// accessSignals returns the five access signals, or those named in
// BENCH_ACCESS_SIGNALS (comma-separated, e.g. caller_volume,caller_ood):
// the overhead of each, or of a subset, measured on its own.
func accessSignals(tb testing.TB, a access.Config) []signal.Signal {
	all := []signal.Signal{access.Volume{Config: a}, access.Probing{Config: a},
		access.Diversity{Config: a}, access.OOD{Config: a}, access.Harvest{Config: a}}
	names := os.Getenv("BENCH_ACCESS_SIGNALS")
	if names == "" {
		return all
	}
	var out []signal.Signal
	for name := range strings.SplitSeq(names, ",") {
		i := slices.IndexFunc(all, func(s signal.Signal) bool { return s.Name() == name })
		if i < 0 {
			tb.Fatalf("BENCH_ACCESS_SIGNALS: no access signal %q", name)
		}
		out = append(out, all[i])
	}
	return out
}

// benchAccessHotPath runs the per-event path over a ring of 16,384
// messages (the summaries see far more callers than they count).
func benchAccessHotPath(b *testing.B, withAccess bool) {
	newAccessHotPath(b, 16384, withAccess).bench(b)
}

// BenchmarkDecodeObserveDefault measures the per-event path in steady state
// with the default signals, over a heavy-tailed population of 10,000
// callers: the baseline of the access signals' budget (+15%).
func BenchmarkDecodeObserveDefault(b *testing.B) { benchAccessHotPath(b, false) }

// BenchmarkDecodeObserveAllAccess is BenchmarkDecodeObserveDefault with the
// five access signals registered too. allocs/op is per event and must be 0.
func BenchmarkDecodeObserveAllAccess(b *testing.B) { benchAccessHotPath(b, true) }

// TestDecodeObserveAllAccessDoesNotAllocate pins the no-allocation rule with
// the five access signals over a population of callers larger than their
// counters, in steady state.
func TestDecodeObserveAllAccessDoesNotAllocate(t *testing.T) {
	h := newAccessHotPath(t, 8192, true)
	if a := testing.AllocsPerRun(100, func() { h.batch(t) }); a != 0 {
		t.Fatalf("%v allocations per batch of %d events", a, hotBatch)
	}
}

// BenchmarkAccessOverhead runs the default path and the path with the five
// access signals batch by batch in turn, timing each batch, and reports the
// median batch of each per event and the access signals' overhead in per
// cent: on a shared machine, the two paths see the same load, which
// separate benchmarks do not.
func BenchmarkAccessOverhead(b *testing.B) { benchAccessOverhead(b, 1) }

// BenchmarkAccessOverheadWindows is BenchmarkAccessOverhead over four
// windows observed in turn, as a partition observes the windows of its
// models: the signals' state of four windows does not stay in the caches
// between two batches of one, so the overhead is larger than with one
// window, and nearer the pipeline's (BenchmarkPipeline's caller_signals).
func BenchmarkAccessOverheadWindows(b *testing.B) { benchAccessOverhead(b, 4) }

// benchAccessOverhead measures the access signals' overhead over windows
// windows, each of its own windower, observed batch by batch in turn.
func benchAccessOverhead(b *testing.B, windows int) {
	var def, acc []*hotPath
	for range windows {
		def = append(def, newAccessHotPath(b, 16384, false))
		acc = append(acc, newAccessHotPath(b, 16384, true))
	}
	var tdef, tacc []float64
	b.ReportAllocs()
	b.ResetTimer()
	for i, w := 0, 0; i < b.N; i, w = i+hotBatch, (w+1)%windows {
		t0 := time.Now()
		def[w].batch(b)
		t1 := time.Now()
		acc[w].batch(b)
		t2 := time.Now()
		tdef = append(tdef, float64(t1.Sub(t0).Nanoseconds())/hotBatch)
		tacc = append(tacc, float64(t2.Sub(t1).Nanoseconds())/hotBatch)
	}
	b.StopTimer()
	slices.Sort(tdef)
	slices.Sort(tacc)
	md, ma := tdef[len(tdef)/2], tacc[len(tacc)/2]
	b.ReportMetric(md, "default-ns/event")
	b.ReportMetric(ma, "access-ns/event")
	b.ReportMetric(100*(ma-md)/md, "overhead-%")
}
