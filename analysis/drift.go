package analysis

import (
	"math"
	"slices"
)

// Severity grades a drift decision.
type Severity string

// Severities, from none to worst.
const (
	SeverityOK       Severity = "ok"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities: ok 0, warning 1, critical 2.
func (s Severity) Rank() int {
	switch s {
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	}
	return 0
}

// Feature kinds.
const (
	KindNumeric     = "numeric"
	KindCategorical = "categorical"
)

// Test names, as stored in drift_scores.test.
const (
	TestPSI             = "psi"
	TestJS              = "js"
	TestWasserstein     = "wasserstein"
	TestWassersteinNorm = "wasserstein_norm"
	TestKS              = "ks"
	TestChi2            = "chi2"
)

// Score is one test of one feature of one window against its reference.
type Score struct {
	Feature string
	Kind    string
	Test    string
	// Statistic is the test statistic; PValue is NaN for tests without one.
	Statistic, PValue float64
	// Threshold is the level the decision was taken against: the critical
	// level when reached, else the warning level; NaN for informational tests.
	Threshold float64
	Severity  Severity
	Drifted   bool
	// NReference and NCurrent are the sample sizes of both sides.
	NReference, NCurrent uint64
	// Method qualifies the p-value (KS: "exact" or "asymp").
	Method string
}

// wasserstein normalisation floor, as Evidently's normed Wasserstein.
const minStdDev = 1e-3

// ScoreWindow compares a closed window with the reference it was opened
// against. Windows without a reference (warm-up) have no scores. It sorts the
// window's samples in place.
func (c *Config) ScoreWindow(w *Window) []Score {
	if w.Ref == nil {
		return nil
	}
	var out []Score
	for i, name := range w.NumericNames() {
		nr := w.Ref.Numeric[name]
		s := &w.Numeric[i]
		if nr == nil || s.Count == 0 || s.Bins == nil {
			continue
		}
		out = c.scoreNumeric(out, name, nr, s)
	}
	for i, name := range w.CategoricalNames() {
		cr := w.Ref.Categorical[name]
		s := &w.Categorical[i]
		if cr == nil || s.Count == 0 || s.Counts == nil {
			continue
		}
		out = c.scoreCategorical(out, name, cr, s)
	}
	return out
}

func (c *Config) scoreNumeric(out []Score, name string, nr *NumericReference, s *NumericState) []Score {
	ref := toFloats(nr.Counts)
	cur := toFloats(s.Bins)
	nRef := uint64(len(nr.Sample))
	sample := s.Sample.Values()
	slices.Sort(sample)
	enough := nRef >= uint64(c.MinCount) && s.Count >= uint64(c.MinCount)
	add := func(test string, stat, p float64, th Threshold, pvalue bool, nCur uint64, method string) {
		sc := Score{Feature: name, Kind: KindNumeric, Test: test, Statistic: stat, PValue: p,
			NReference: nRef, NCurrent: nCur, Method: method}
		decide(&sc, th, pvalue, enough)
		out = append(out, sc)
	}
	nan := math.NaN()
	add(TestPSI, PSI(ref, cur), nan, c.Thresholds.PSI, false, s.Count, "")
	add(TestJS, JensenShannon(ref, cur), nan, c.Thresholds.JS, false, s.Count, "")
	if len(sample) > 0 && len(nr.Sample) > 0 {
		w1 := Wasserstein1(nr.Sample, sample)
		nSample := uint64(len(sample))
		add(TestWasserstein, w1, nan, Threshold{}, false, nSample, "")
		add(TestWassersteinNorm, w1/math.Max(math.Sqrt(nr.Variance), minStdDev), nan, c.Thresholds.WassersteinNorm, false, nSample, "")
		ks := KolmogorovSmirnov(nr.Sample, sample)
		add(TestKS, ks.Statistic, ks.PValue, c.Thresholds.KS, true, nSample, ks.Method)
	}
	return out
}

func (c *Config) scoreCategorical(out []Score, name string, cr *CategoricalReference, s *CategoricalState) []Score {
	ref := make([]float64, len(cr.Counts)+1)
	cur := make([]float64, len(cr.Counts)+1)
	for i := range cr.Counts {
		ref[i] = float64(cr.Counts[i])
		cur[i] = float64(s.Counts[i])
	}
	ref[len(cr.Counts)] = float64(cr.Other)
	cur[len(cr.Counts)] = float64(s.Other)
	enough := cr.N >= uint64(c.MinCount) && s.Count >= uint64(c.MinCount)
	add := func(test string, stat, p float64, th Threshold, pvalue bool) {
		sc := Score{Feature: name, Kind: KindCategorical, Test: test, Statistic: stat, PValue: p,
			NReference: cr.N, NCurrent: s.Count}
		decide(&sc, th, pvalue, enough)
		out = append(out, sc)
	}
	nan := math.NaN()
	chi := ChiSquare(ref, cur)
	add(TestChi2, chi.Statistic, chi.PValue, c.Thresholds.Chi2, true)
	add(TestPSI, PSI(ref, cur), nan, c.Thresholds.PSI, false)
	add(TestJS, JensenShannon(ref, cur), nan, c.Thresholds.JS, false)
	return out
}

// decide sets the severity, threshold and drift flag of sc.
func decide(sc *Score, th Threshold, pvalue, enough bool) {
	sc.Severity = SeverityOK
	if th == (Threshold{}) {
		sc.Threshold = math.NaN()
		return
	}
	sc.Threshold = th.Warning
	if !enough {
		return
	}
	v := sc.Statistic
	reached := func(level float64) bool { return v >= level }
	if pvalue {
		v = sc.PValue
		reached = func(level float64) bool { return v < level }
	}
	switch {
	case reached(th.Critical):
		sc.Severity, sc.Threshold = SeverityCritical, th.Critical
	case reached(th.Warning):
		sc.Severity = SeverityWarning
	}
	sc.Drifted = sc.Severity != SeverityOK
}

func toFloats(c []uint64) []float64 {
	f := make([]float64, len(c))
	for i, v := range c {
		f[i] = float64(v)
	}
	return f
}
