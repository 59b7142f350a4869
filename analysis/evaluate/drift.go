package evaluate

import (
	"math"
	"slices"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
)

// Test names, as stored in drift_scores.test.
const (
	TestPSI             = "psi"
	TestJS              = "js"
	TestWasserstein     = "wasserstein"
	TestWassersteinNorm = "wasserstein_norm"
	TestKS              = "ks"
	TestChi2            = "chi2"
	TestLInf            = "linf"
)

// Score is one test of one feature of one window against its reference.
//
// Three tests decide drift: psi (numeric features, exact counts in reference
// bins), ks (numeric features, samples) and chi2 (categorical features). A
// decision needs both sides to have at least MinCount observations, the
// test's p-value to be rejected by Benjamini–Hochberg at FDR across the
// window's features for that test, and the effect size to reach its warning
// level. The other tests are informational: never drifted, severity ok.
type Score struct {
	Feature string
	Kind    string
	Test    string
	// Statistic is the test statistic; PValue is NaN for tests without one.
	Statistic, PValue float64
	// Effect is the effect size the decision used (PSI itself for psi,
	// normalised Wasserstein-1 for ks, L∞ for chi2); NaN for informational tests.
	Effect float64
	// AdjustedP is the Benjamini–Hochberg adjusted p-value; NaN when not tested.
	AdjustedP float64
	// Threshold is the effect level the decision was taken against: the
	// critical level when reached, else the warning level; NaN for
	// informational tests.
	Threshold float64
	Severity  verdict.Severity
	Drifted   bool
	// NReference and NCurrent are the sample sizes of both sides.
	NReference, NCurrent uint64
	// Method qualifies the p-value (KS: "exact" or "asymp").
	Method string
}

// MinStdDev is the floor of the reference standard deviation that
// Wasserstein-1 is divided by to normalise it, as in Evidently's normed
// Wasserstein.
const MinStdDev = 1e-3

// ScoreWindow compares a closed window with the reference it was opened
// against. Windows without a reference (warm-up) have no scores.
func ScoreWindow(c *analysis.Config, w *window.Window) []Score { return ScoreAgainst(c, w, w.Ref) }

// ScoreAgainst compares a closed window with ref, a reference whose
// bins and categories are those of the reference the window was opened
// against (a rolling reference built from other windows); features whose
// bins or categories differ are not scored. A reference without samples
// (built from stored windows) has no KS or Wasserstein scores.
func ScoreAgainst(c *analysis.Config, w *window.Window, ref *reference.Reference) []Score {
	if w.Ref == nil || ref == nil {
		return nil
	}
	var out []Score
	for i, name := range w.NumericNames() {
		nr, opened := ref.Numeric[name], w.Ref.Numeric[name]
		s := &w.Numeric[i]
		if nr == nil || opened == nil || s.Count == 0 || s.Bins == nil || !slices.Equal(nr.Edges, opened.Edges) || len(nr.Counts) != len(s.Bins) {
			continue
		}
		out = scoreNumeric(c, out, name, nr, s)
	}
	for i, name := range w.CategoricalNames() {
		cr, opened := ref.Categorical[name], w.Ref.Categorical[name]
		s := &w.Categorical[i]
		if cr == nil || opened == nil || s.Count == 0 || s.Counts == nil || !slices.Equal(cr.Categories, opened.Categories) {
			continue
		}
		out = scoreCategorical(c, out, name, cr, s)
	}
	if ref == w.Ref {
		out = scoreJoint(c, out, w, ref.Joint)
	}
	decide(c, out, TestPSI, c.Thresholds.PSI)
	decide(c, out, TestMahalanobis, c.Thresholds.Mahalanobis)
	decide(c, out, TestKS, c.Thresholds.WassersteinNorm)
	decide(c, out, TestChi2, c.Thresholds.LInf)
	return out
}

// informational returns a score that takes no decision.
func informational(feature, kind, test string, stat float64, nRef, nCur uint64) Score {
	nan := math.NaN()
	return Score{Feature: feature, Kind: kind, Test: test, Statistic: stat, PValue: nan, Effect: nan,
		AdjustedP: nan, Threshold: nan, Severity: verdict.SeverityOK, NReference: nRef, NCurrent: nCur}
}

func scoreNumeric(c *analysis.Config, out []Score, name string, nr *reference.Numeric, s *sketch.Numeric) []Score {
	ref, cur := toFloats(nr.Counts), toFloats(s.Bins)
	var nRef uint64
	for _, c := range nr.Counts {
		nRef += c
	}
	psi := stat.PSI(ref, cur)
	out = append(out, Score{Feature: name, Kind: analysis.KindNumeric, Test: TestPSI, Statistic: psi,
		PValue: stat.PSIPValue(psi, int(nRef), int(s.Count), len(ref)), Effect: psi, NReference: nRef, NCurrent: s.Count})
	out = append(out, informational(name, analysis.KindNumeric, TestJS, stat.JensenShannon(ref, cur), nRef, s.Count))

	if len(nr.Sample) == 0 {
		return out // a reference without samples: binned tests only
	}
	// A sorted copy: the window's own sample stays a heap, usable as the
	// next window's rolling reference.
	sample := slices.Clone(s.Sample.Values())
	slices.Sort(sample)
	nSample := uint64(len(sample))
	w1 := stat.Wasserstein1(nr.Sorted(), sample)
	wn := w1 / math.Max(math.Sqrt(nr.Variance), MinStdDev)
	nRefSample := uint64(len(nr.Sample))
	out = append(out, informational(name, analysis.KindNumeric, TestWasserstein, w1, nRefSample, nSample))
	out = append(out, informational(name, analysis.KindNumeric, TestWassersteinNorm, wn, nRefSample, nSample))
	head := nr.Head()
	ks := stat.KolmogorovSmirnov(head, sample)
	out = append(out, Score{Feature: name, Kind: analysis.KindNumeric, Test: TestKS, Statistic: ks.Statistic, PValue: ks.PValue,
		Effect: wn, NReference: uint64(len(head)), NCurrent: nSample, Method: ks.Method})
	return out
}

func scoreCategorical(c *analysis.Config, out []Score, name string, cr *reference.Categorical, s *sketch.Categorical) []Score {
	ref := make([]float64, len(cr.Counts)+1)
	cur := make([]float64, len(cr.Counts)+1)
	for i := range cr.Counts {
		ref[i] = float64(cr.Counts[i])
		cur[i] = float64(s.Counts[i])
	}
	ref[len(cr.Counts)] = float64(cr.Other)
	cur[len(cr.Counts)] = float64(s.Other)
	chi := stat.ChiSquare(ref, cur)
	linf := stat.LInfinity(ref, cur)
	out = append(out, Score{Feature: name, Kind: analysis.KindCategorical, Test: TestChi2, Statistic: chi.Statistic, PValue: chi.PValue,
		Effect: linf, NReference: cr.N, NCurrent: s.Count})
	out = append(out, informational(name, analysis.KindCategorical, TestPSI, stat.PSI(ref, cur), cr.N, s.Count))
	out = append(out, informational(name, analysis.KindCategorical, TestJS, stat.JensenShannon(ref, cur), cr.N, s.Count))
	out = append(out, informational(name, analysis.KindCategorical, TestLInf, linf, cr.N, s.Count))
	return out
}

// decide takes the decisions of one test across the window's features:
// Benjamini–Hochberg over the p-values of the features with enough
// observations, then the effect-size levels.
func decide(c *analysis.Config, scores []Score, test string, th analysis.Threshold) {
	var idx []int
	var p []float64
	for i := range scores {
		sc := &scores[i]
		if sc.Test != test {
			continue
		}
		if test == TestPSI && sc.Kind != analysis.KindNumeric {
			continue
		}
		sc.Severity, sc.Threshold, sc.AdjustedP = verdict.SeverityOK, th.Warning, math.NaN()
		if sc.NReference < uint64(c.MinCount) || sc.NCurrent < uint64(c.MinCount) || math.IsNaN(sc.PValue) {
			continue
		}
		idx = append(idx, i)
		p = append(p, sc.PValue)
	}
	if len(idx) == 0 {
		return
	}
	rejected, adjusted := stat.BenjaminiHochberg(p, c.FDR)
	for j, i := range idx {
		sc := &scores[i]
		sc.AdjustedP = adjusted[j]
		if !rejected[j] || !(sc.Effect >= th.Warning) {
			continue
		}
		sc.Drifted, sc.Severity = true, verdict.SeverityWarning
		if sc.Effect >= th.Critical {
			sc.Severity, sc.Threshold = verdict.SeverityCritical, th.Critical
		}
	}
}

func toFloats(c []uint64) []float64 {
	f := make([]float64, len(c))
	for i, v := range c {
		f[i] = float64(v)
	}
	return f
}
