package evaluate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

// batteryWindows returns one closed window per model for 50 models with 15
// numeric features each, 5,000 events per window, against references of the
// default size.
func batteryWindows(b *testing.B, cfg *analysis.Config) []*window.Window {
	b.Helper()
	var out []*window.Window
	for i := range 50 {
		m := analysis.ModelKey{ID: fmt.Sprintf("model-%02d", i), Version: "1"}
		d := &decisionWorld{r: rand.New(rand.NewPCG(uint64(i), 99)), numeric: 15, shiftNum: -1}
		ref := reference.Build(d.window(cfg, m, nil, 2*cfg.ReferenceSampleSize).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
		d.shiftNum, d.shiftBy = i%15, 0.2
		w := d.window(cfg, m, ref, 5000)
		w.Sync() // the full battery reads the samples directly
		out = append(out, w)
	}
	return out
}

// BenchmarkScoreWindowBattery scores one window of each of 50 models × 15
// numeric features: the decisions (PSI, KS) and the informational tests (JS,
// Wasserstein-1), Benjamini–Hochberg and the sequential evidence. One op is
// the whole battery of a window period; s/battery must stay well under 1.
func BenchmarkScoreWindowBattery(b *testing.B) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	windows := batteryWindows(b, &cfg)
	ev := NewEvidence(cfg.Sequential)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		end := windowtest.T0.Add(time.Duration(i+1) * time.Minute) // each op is a new window period
		for _, w := range windows {
			ev.Add(w.Model, end, ScoreWindow(&cfg, w))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/battery")
}

// BenchmarkFullUnivariateBattery runs every univariate test of the project
// (KS, Anderson–Darling, Wasserstein-1, energy, PSI, JS, Hellinger, KL) on
// each of 50 × 15 features: window sample (1,000) against reference sample
// (10,000), binned tests on the window's exact counts.
func BenchmarkFullUnivariateBattery(b *testing.B) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	windows := batteryWindows(b, &cfg)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, w := range windows {
			for i, name := range w.NumericNames() {
				nr, s := w.Ref.Numeric[name], &w.Numeric[i]
				sample := slices.Clone(s.Sample.Values())
				slices.Sort(sample)
				ref, cur := toFloats(nr.Counts), toFloats(s.Bins)
				_ = ksTest(nr.Sorted(), sample)
				_ = stat.AndersonDarling(nr.Sorted(), sample)
				_ = stat.Wasserstein1(nr.Sorted(), sample)
				_ = stat.EnergyDistance(nr.Sorted(), sample)
				_ = stat.PSI(ref, cur)
				_ = stat.JensenShannon(ref, cur)
				_ = stat.Hellinger(ref, cur)
				_ = stat.KullbackLeibler(ref, cur)
			}
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/battery")
}
