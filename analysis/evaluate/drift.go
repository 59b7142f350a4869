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
// Four tests decide drift: psi (numeric features, exact counts in reference
// bins), ks (numeric features, samples), chi2 (categorical features) and
// mahalanobis (the window mean of all numeric features). A decision has two
// levels (docs/statistics.md, "Detectable and material"):
//
//   - drifted, statistically detectable: both sides have at least MinCount
//     observations and Benjamini–Hochberg at FDR across the window's
//     features for that test rejects the test's p-value. It is recorded and
//     never pages by itself: with enough events every difference is
//     detectable.
//   - material, its severity: a detectable drift whose effect size also
//     reaches the warning level (warning) or the critical level (critical)
//     of analysis.Thresholds; this is what pages.
//
// The other tests are informational: never drifted, severity ok.
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
	// Severity is material drift: ok, or warning or critical when the test
	// is Drifted and its effect reaches the warning or critical level.
	Severity verdict.Severity
	// Drifted is statistically detectable drift: the test is significant
	// after Benjamini–Hochberg (whatever its effect size).
	Drifted bool
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
	var sample []float64 // the feature's sample, sorted: room shared by the features
	for i, name := range w.NumericNames() {
		nr, opened := ref.Numeric[name], w.Ref.Numeric[name]
		s := &w.Numeric[i]
		if nr == nil || opened == nil || s.Count == 0 || s.Bins == nil || !slices.Equal(nr.Edges, opened.Edges) || len(nr.Counts) != len(s.Bins) {
			continue
		}
		if len(nr.Sample) > 0 {
			// A sorted copy: the window's own sample stays a heap, usable
			// as the next window's rolling reference.
			sample = w.AppendSample(sample[:0], i)
			slices.Sort(sample)
		}
		out = scoreNumeric(c, out, name, nr, s, sample)
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

// scoreNumeric appends the scores of numeric feature name against nr: s is
// its state, sample its sample sorted (read only when nr has a sample).
func scoreNumeric(c *analysis.Config, out []Score, name string, nr *reference.Numeric, s *sketch.Numeric, sample []float64) []Score {
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
	nSample := uint64(len(sample))
	w1 := stat.Wasserstein1(nr.Sorted(), sample)
	wn := w1 / math.Max(math.Sqrt(nr.Variance), MinStdDev)
	nRefSample := uint64(len(nr.Sample))
	out = append(out, informational(name, analysis.KindNumeric, TestWasserstein, w1, nRefSample, nSample))
	out = append(out, informational(name, analysis.KindNumeric, TestWassersteinNorm, wn, nRefSample, nSample))
	// The whole reference sample: a fixed subsample of it would add the
	// same sampling error to every window's test (docs/detectors.md).
	ks := ksTest(nr.Sorted(), sample)
	out = append(out, Score{Feature: name, Kind: analysis.KindNumeric, Test: TestKS, Statistic: ks.Statistic, PValue: ks.PValue,
		Effect: wn, NReference: nRefSample, NCurrent: nSample, Method: ks.Method})
	return out
}

// KSExactCells bounds the product of the sample sizes for which the KS
// decision takes the exact p-value of unequal samples (stat.KSExactCells).
const KSExactCells = stat.KSExactCells

// ksTest is the KS test of a drift decision: stat.KolmogorovSmirnovBounded.
func ksTest(ref, cur []float64) stat.KSResult { return stat.KolmogorovSmirnovBounded(ref, cur) }

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
// observations (drifted: detectable), then the effect-size levels of th
// (severity: material).
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
		if !rejected[j] {
			continue
		}
		sc.Drifted = true
		if !(sc.Effect >= th.Warning) {
			continue
		}
		sc.Severity = verdict.SeverityWarning
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
