package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// decisionWorld generates windows of a model with numeric N(0,1) features
// and categorical features with fixed shares, optionally shifted.
type decisionWorld struct {
	r        *rand.Rand
	numeric  int
	cats     int
	shares   []float64
	next     int
	shiftNum int     // index of the shifted numeric feature, -1 for none
	shiftBy  float64 // in σ
}

func (d *decisionWorld) event(m analysis.ModelKey) *telemetry.Event {
	d.next++
	e := &telemetry.Event{PredictionID: fmt.Sprintf("e%d", d.next), EventTime: windowtest.T0, Model: telemetry.Model{ID: m.ID, Version: m.Version},
		Features: telemetry.Features{Numeric: make([]telemetry.Number, 0, d.numeric), Categorical: make([]telemetry.Category, 0, d.cats)}}
	for f := range d.numeric {
		v := d.r.NormFloat64()
		if f == d.shiftNum {
			v += d.shiftBy
		}
		e.Features.SetNumeric(fmt.Sprintf("x%d", f), v)
	}
	for f := range d.cats {
		u, k := d.r.Float64(), 0
		for acc := d.shares[0]; u > acc && k < len(d.shares)-1; acc += d.shares[k] {
			k++
		}
		e.Features.SetCategorical(fmt.Sprintf("c%d", f), fmt.Sprintf("v%d", k))
	}
	return e
}

func (d *decisionWorld) window(cfg *analysis.Config, m analysis.ModelKey, ref *reference.Reference, n int) *window.Window {
	w := window.NewWindow(cfg, m, windowtest.T0, ref)
	for i := range n {
		w.Observe(d.event(m), int64(i))
	}
	return w
}

// decisionsPerWindow scores windows and returns, per decision test, the
// number of windows in which at least one feature drifted, and per feature
// and test how often it drifted.
func decisionsPerWindow(t *testing.T, cfg *analysis.Config, d *decisionWorld, windows, n int) (map[string]int, map[string]int) {
	t.Helper()
	m := analysis.ModelKey{ID: "m", Version: "1"}
	ref := reference.Build(d.window(cfg, m, nil, 2*cfg.ReferenceSampleSize).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	any := map[string]int{}
	per := map[string]int{}
	for range windows {
		flagged := map[string]bool{}
		for _, sc := range ScoreWindow(cfg, d.window(cfg, m, ref, n)) {
			if sc.Drifted {
				flagged[sc.Test] = true
				per[sc.Feature+"/"+sc.Test]++
			}
		}
		for test := range flagged {
			any[test]++
		}
	}
	return any, per
}

// TestFalsePositiveRateOfEachDecision runs 1,000 windows of stationary data:
// for each default decision, the share of windows in which it flags any
// feature must lie within [q/2, 2q] (Benjamini–Hochberg with all null
// hypotheses true rejects anything with probability q).
func TestFalsePositiveRateOfEachDecision(t *testing.T) {
	cfg := analysis.DefaultConfig()
	cfg.SampleSize = 500
	cfg.FDR = 0.05
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := &decisionWorld{r: rand.New(rand.NewPCG(11, 12)), numeric: 6, cats: 2, shares: []float64{0.4, 0.3, 0.15, 0.1, 0.05}, shiftNum: -1}
	const windows = 1000
	any, _ := decisionsPerWindow(t, &cfg, d, windows, 500)
	for _, test := range []string{TestPSI, TestKS, TestChi2, TestMahalanobis} {
		rate := float64(any[test]) / windows
		t.Logf("%s: %d of %d stationary windows flagged (rate %.3f, q %.2f)", test, any[test], windows, rate, cfg.FDR)
		if rate < cfg.FDR/2 || rate > 2*cfg.FDR {
			t.Errorf("%s: per-window false-positive rate %.3f outside [%.3f, %.3f]", test, rate, cfg.FDR/2, 2*cfg.FDR)
		}
	}
}

// TestSmallShiftDetectedAtN5000 shifts one of eight numeric features by
// 0.1σ: with the default configuration, windows of 5,000 events flag that
// feature in most windows and the others almost never.
func TestSmallShiftDetectedAtN5000(t *testing.T) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := &decisionWorld{r: rand.New(rand.NewPCG(21, 22)), numeric: 8, cats: 0, shiftNum: -1}
	m := analysis.ModelKey{ID: "m", Version: "1"}
	ref := reference.Build(d.window(&cfg, m, nil, 2*cfg.ReferenceSampleSize).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	d.shiftNum, d.shiftBy = 3, 0.1
	const windows = 20
	detected, falseFlags, joint := 0, 0, 0
	for range windows {
		flagged := false
		for _, sc := range ScoreWindow(&cfg, d.window(&cfg, m, ref, 5000)) {
			if !sc.Drifted {
				continue
			}
			switch sc.Feature {
			case "x3":
				flagged = true
			case JointFeature:
				joint++ // the multivariate score sees the shift too
			default:
				falseFlags++
			}
		}
		if flagged {
			detected++
		}
	}
	t.Logf("0.1σ shift at n=5000: detected in %d of %d windows (multivariate: %d); %d false flags on stable features", detected, windows, joint, falseFlags)
	if detected < windows*6/10 {
		t.Errorf("0.1σ shift detected in only %d of %d windows", detected, windows)
	}
	if falseFlags > 2 {
		t.Errorf("%d false flags on stable features over %d windows", falseFlags, windows)
	}
}

// TestDecisionNeedsEffectSignificanceAndCounts checks the three conditions
// one at a time on a big, clearly significant shift: enough observations and
// significance make a drift detectable (drifted), its effect size makes it
// material (its severity).
func TestDecisionNeedsEffectSignificanceAndCounts(t *testing.T) {
	base := analysis.DefaultConfig()
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	m := analysis.ModelKey{ID: "m", Version: "1"}
	run := func(cfg analysis.Config, n int, shift float64) map[string]Score {
		d := &decisionWorld{r: rand.New(rand.NewPCG(31, 32)), numeric: 2, cats: 0, shiftNum: -1}
		ref := reference.Build(d.window(&cfg, m, nil, 20000).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
		d.shiftNum, d.shiftBy = 0, shift
		out := map[string]Score{}
		for _, sc := range ScoreWindow(&cfg, d.window(&cfg, m, ref, n)) {
			if sc.Feature == "x0" {
				out[sc.Test] = sc
			}
		}
		return out
	}
	got := run(base, 2000, 1)
	for _, test := range []string{TestPSI, TestKS} {
		sc := got[test]
		critical := map[string]float64{TestPSI: base.Thresholds.PSI.Critical, TestKS: base.Thresholds.WassersteinNorm.Critical}[test]
		if !sc.Drifted || sc.Severity != verdict.SeverityCritical || sc.Threshold != critical {
			t.Errorf("1σ shift, %s: %+v, want drifted critical at the critical level", test, sc)
		}
		if math.IsNaN(sc.AdjustedP) || sc.AdjustedP < sc.PValue {
			t.Errorf("%s: adjusted p %g below p %g", test, sc.AdjustedP, sc.PValue)
		}
	}
	if sc := got[TestJS]; sc.Drifted || !math.IsNaN(sc.Threshold) {
		t.Errorf("informational js row took a decision: %+v", sc)
	}
	// Too few observations: no decision however large the shift.
	if sc := run(base, 50, 1)[TestPSI]; sc.Drifted {
		t.Errorf("decided on 50 observations (min_count %d): %+v", base.MinCount, sc)
	}
	// Effect below the warning level: detectable (drifted, recorded) however
	// significant, but not material (severity ok: it does not page).
	strict := base
	strict.Thresholds.PSI = analysis.Threshold{Warning: 5, Critical: 10}
	if sc := run(strict, 2000, 1)[TestPSI]; !sc.Drifted || sc.Severity != verdict.SeverityOK || sc.Threshold != 5 || sc.PValue > 1e-10 {
		t.Errorf("below the effect level: %+v, want drifted (significant) at severity ok", sc)
	}
	// No shift: significance fails.
	if sc := run(base, 2000, 0)[TestPSI]; sc.Drifted {
		t.Errorf("drifted without a shift: %+v", sc)
	}
}
