package stat

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// PSIEpsilon is the floor applied to every bin proportion before PSI takes
// logarithms, so that an empty bin contributes a large but finite term.
const PSIEpsilon = 1e-4

// PSI returns the population stability index of current vs reference bin
// counts (same length), proportions floored at PSIEpsilon (1e-4) without
// renormalisation, natural log: Σ (c−r)·ln(c/r).
//
// r_i = reference[i]/Σreference and c_i = current[i]/Σcurrent, each replaced by
// PSIEpsilon when smaller. The result is ≥ 0 and symmetric in its arguments. It
// is NaN when either total is zero (there is nothing to compare) and panics
// when the lengths differ, which is a programming error.
//
// Under no drift PSI·(1/n_ref + 1/n_cur)⁻¹ is approximately χ² with
// len(bins)−1 degrees of freedom, so fixed thresholds such as 0.1 and 0.25 only
// mean something for windows of roughly 1 000 events or more; see
// docs/statistics.md.
func PSI(reference, current []float64) float64 {
	if len(reference) != len(current) {
		panic("stat: PSI of bin counts with different lengths")
	}
	var rt, ct float64
	for i := range reference {
		rt += reference[i]
		ct += current[i]
	}
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var psi float64
	for i := range reference {
		r := max(reference[i]/rt, PSIEpsilon)
		c := max(current[i]/ct, PSIEpsilon)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}

// PSIPValue returns the p-value of a PSI under no drift for reference and
// current sizes n and m over bins bins: PSI/(1/n + 1/m) is asymptotically
// χ² with bins−1 degrees of freedom (docs/statistics.md).
func PSIPValue(psi float64, n, m, bins int) float64 {
	if bins < 2 || n == 0 || m == 0 || math.IsNaN(psi) {
		return math.NaN()
	}
	return distuv.ChiSquared{K: float64(bins - 1)}.Survival(psi / (1/float64(n) + 1/float64(m)))
}

// PSINullQuantile returns the q-quantile of PSI under no drift for samples of
// n and m values in bins bins: (1/n + 1/m)·χ²_{bins−1}(q) (docs/statistics.md).
func PSINullQuantile(n, m, bins int, q float64) float64 {
	if bins < 2 || n == 0 || m == 0 {
		return math.NaN()
	}
	return (1/float64(n) + 1/float64(m)) * distuv.ChiSquared{K: float64(bins - 1)}.Quantile(q)
}
