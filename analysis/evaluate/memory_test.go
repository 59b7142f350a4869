package evaluate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/telemetry"
)

// memoryBound is the documented bound (docs/architecture.md, "Memory") of
// what a partition's windower and an instance's references, warm-ups and
// sequential series hold, as a function of the configuration only, with
// generous allowances for Go's map and slice overheads.
func memoryBound(cfg *analysis.Config, openWindows int) int {
	f := cfg.MaxFeatures // a hostile version may use them all, numeric or categorical
	perNumericWindow := cfg.ReferenceSampleSize*16 + (cfg.Bins+1)*8 + 256
	perCategoricalWindow := cfg.MaxCategories*(telemetry.DefaultMaxValueLength+64) + 512
	perWindow := f*max(perNumericWindow, perCategoricalWindow) + 4096
	windower := (cfg.MaxModels + cfg.MaxVersions) * openWindows * perWindow // established versions have max_versions more
	perReference := f*max(3*cfg.ReferenceSampleSize*8+(cfg.Bins+1)*16+256, cfg.MaxCategories*(telemetry.DefaultMaxValueLength+64)+512) + 4096
	references := cfg.MaxVersions * max(perReference, perWindow)
	series := cfg.Sequential.MaxSeries * 1024
	return windower + references + series
}

// TestMemoryBoundedUnderVersionFlood floods the analysis with model
// versions, each with the most features, new category values and callers in
// every event, and shows that the heap stays under the configured bound and
// does not grow with the number of versions sent: memory is bounded by the
// configuration, not by what producers send.
func TestMemoryBoundedUnderVersionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods thousands of model versions")
	}
	cfg := analysis.DefaultConfig()
	cfg.WindowSize, cfg.AllowedLateness = 10*time.Second, 2*time.Second
	cfg.MaxModels, cfg.MaxVersions, cfg.MaxFeatures, cfg.MaxCategories = 50, 20, 32, 16
	cfg.SampleSize, cfg.ReferenceSampleSize, cfg.WarmupWindows = 50, 200, 2
	cfg.Sequential.MaxSeries = 2000
	cfg = cfg.WithDerived()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	refs := reference.NewStore(&cfg, nil)
	win := window.NewWindower(&cfg, refs, nil)
	ev := NewEvaluator(&cfg, refs, NewEvidence(cfg.Sequential))
	r := rand.New(rand.NewPCG(51, 52))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := start
	id := 0
	e := &telemetry.Event{Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{}), Categorical: telemetry.CategoriesOf(map[string]string{})}}
	// flood sends versions [from, to): each one event in each of three
	// consecutive windows, so that some warm up and get a reference, with
	// every feature and new values in every categorical one.
	flood := func(from, to int) {
		for v := from; v < to; v++ {
			for w := range 3 {
				id++
				e.PredictionID = fmt.Sprintf("p%d", id)
				e.EventTime = at.Add(time.Duration(w) * cfg.WindowSize)
				e.Model = telemetry.Model{ID: "flood", Version: fmt.Sprintf("v%d", v)}
				e.Principal.Service = fmt.Sprintf("caller-%d", id)
				e.Features.Numeric = e.Features.Numeric[:0]
				e.Features.Categorical = e.Features.Categorical[:0]
				for f := range cfg.MaxFeatures / 2 {
					e.Features.SetNumeric(fmt.Sprintf("n%d", f), r.NormFloat64())
					e.Features.SetCategorical(fmt.Sprintf("c%d", f), fmt.Sprintf("value-%d-%d", id, f))
				}
				win.Observe(e, int64(id))
				win.EndBatch()
				for _, closed := range win.TakeClosed() {
					ev.Evaluate(closed, false, nil)
				}
			}
			if v%10 == 9 {
				at = at.Add(cfg.WindowSize) // time moves on: older windows close
			}
		}
	}
	heap := func() int {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int(ms.HeapAlloc)
	}
	base := heap()
	flood(0, 2000)
	after2k := heap() - base
	flood(2000, 10000)
	after10k := heap() - base
	bound := memoryBound(&cfg, 1+int((cfg.WindowSize+cfg.AllowedLateness)/cfg.WindowSize))
	nr, nw, er, ew := refs.Held()
	t.Logf("heap above baseline: %d KiB after 2,000 versions, %d KiB after 10,000; bound %d KiB; references %d, warm-ups %d held, %d and %d evicted",
		after2k>>10, after10k>>10, bound>>10, nr, nw, er, ew)
	if after10k > bound {
		t.Errorf("heap grew by %d KiB, over the configured bound of %d KiB", after10k>>10, bound>>10)
	}
	if after10k > after2k+after2k/4+(1<<20) {
		t.Errorf("heap grew with the versions sent: %d KiB after 2,000, %d KiB after 10,000", after2k>>10, after10k>>10)
	}
	if nr+nw > cfg.MaxVersions || er+ew == 0 {
		t.Errorf("%d references and %d warm-ups held for max_versions %d; %d evicted", nr, nw, cfg.MaxVersions, er+ew)
	}
}
