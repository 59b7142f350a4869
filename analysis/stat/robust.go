package stat

import (
	"math"
	"slices"
)

// MADScale makes the median absolute deviation a consistent estimate of the
// standard deviation of normal data: 1/Φ⁻¹(3/4).
const MADScale = 1.482602218505602

// MedianMAD returns the median of xs and the median of their absolute
// deviations from it, as numpy's median (the mean of the middle two of an
// even count) and scipy.stats.median_abs_deviation with scale 1 compute
// them. Both are NaN for no values. xs is not changed.
func MedianMAD(xs []float64) (med, mad float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med = middle(s)
	for i := range s {
		s[i] = math.Abs(s[i] - med)
	}
	slices.Sort(s)
	return med, middle(s)
}

func middle(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
