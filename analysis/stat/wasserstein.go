package stat

import (
	"math"
)

// Wasserstein1 returns scipy.stats.wasserstein_distance(x, y) for sorted
// samples, by one linear merge, O(n+m).
//
// It is ∫|F_x − G_y| over the pooled sorted values: Σ |F(z_k) − G(z_k)|·(z_{k+1}
// − z_k), with F and G the right-continuous empirical CDFs, in the units of the
// data. Both slices must be sorted ascending and free of NaN (not checked). It is
// NaN when either sample is empty. It does not allocate.
//
// gonum's stat.WassersteinDistance computes the same quantity in O(n·m) and is
// far too slow for windows of thousands of values.
func Wasserstein1(xSorted, ySorted []float64) float64 {
	return cdfIntegral(xSorted, ySorted, math.Abs)
}

// cdfIntegral returns ∫ f(F(z) − G(z)) dz for the empirical CDFs F and G of
// two sorted samples, by one linear merge with a Neumaier-compensated sum
// (scipy's _cdf_distance without the final power); NaN when either is empty.
func cdfIntegral(xSorted, ySorted []float64, f func(float64) float64) float64 {
	n, m := len(xSorted), len(ySorted)
	if n == 0 || m == 0 {
		return math.NaN()
	}
	fn, fm := float64(n), float64(m)
	i, j := 0, 0
	var sum, comp float64
	z := math.Min(xSorted[0], ySorted[0])
	for {
		for i < n && xSorted[i] <= z {
			i++
		}
		for j < m && ySorted[j] <= z {
			j++
		}
		var next float64
		switch {
		case i < n && j < m:
			next = math.Min(xSorted[i], ySorted[j])
		case i < n:
			next = xSorted[i]
		case j < m:
			next = ySorted[j]
		default:
			return sum + comp
		}
		addNeumaier(&sum, &comp, f(float64(i)/fn-float64(j)/fm)*(next-z))
		z = next
	}
}
