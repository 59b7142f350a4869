package stat

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ChiSquareResult is a chi-square test of homogeneity result.
type ChiSquareResult struct {
	// Statistic is Pearson's X², with Yates' continuity correction when DoF
	// is 1.
	Statistic float64
	// PValue is the upper tail χ²_DoF(Statistic).
	PValue float64
	// DoF is the degrees of freedom: the number of non-empty columns minus
	// one.
	DoF int
}

// ChiSquare returns scipy.stats.chi2_contingency([reference, current]) on a 2×K
// table of counts: columns that are zero in both rows are dropped, Yates'
// correction only when dof == 1; DoF 0 (fewer than 2 non-empty columns) →
// statistic 0, p 1.
//
// Expected counts are E_ij = R_i·C_j/N. Yates' correction moves every observed
// count towards its expectation by min(0.5, |O−E|), as scipy does. A new
// category (zero in reference, non-zero in current) is an ordinary column.
// When one row is entirely zero (an empty window) the test is undefined and
// Statistic and PValue are NaN (scipy raises an error). It panics when the
// lengths differ. It does not allocate.
//
// The test's validity needs every expected count ≥ 5 (Cochran); callers that
// score many rare categories should merge them first.
func ChiSquare(reference, current []float64) ChiSquareResult {
	if len(reference) != len(current) {
		panic("stat: ChiSquare of counts with different lengths")
	}
	var rt, ct float64
	cols := 0
	for i := range reference {
		if reference[i]+current[i] == 0 {
			continue
		}
		cols++
		rt += reference[i]
		ct += current[i]
	}
	dof := cols - 1
	if dof <= 0 {
		return ChiSquareResult{Statistic: 0, PValue: 1, DoF: 0}
	}
	if rt == 0 || ct == 0 {
		return ChiSquareResult{Statistic: math.NaN(), PValue: math.NaN(), DoF: dof}
	}
	total := rt + ct
	var stat float64
	for i := range reference {
		col := reference[i] + current[i]
		if col == 0 {
			continue
		}
		stat += chiSquareTerm(reference[i], rt*col/total, dof)
		stat += chiSquareTerm(current[i], ct*col/total, dof)
	}
	p := distuv.ChiSquared{K: float64(dof)}.Survival(stat)
	return ChiSquareResult{Statistic: stat, PValue: p, DoF: dof}
}

// chiSquareTerm returns (O−E)²/E, with O first moved towards E by
// min(0.5, |O−E|) when dof is 1 (Yates).
func chiSquareTerm(observed, expected float64, dof int) float64 {
	if dof == 1 {
		diff := expected - observed
		observed += math.Copysign(math.Min(0.5, math.Abs(diff)), diff)
	}
	d := observed - expected
	return d * d / expected
}
