package stat

import "math"

// EnergyDistance returns scipy.stats.energy_distance(x, y) for sorted
// samples, by one linear merge, O(n+m).
//
// It is √2·√(∫(F_x − G_y)²) = √(2·Σ (F(z_k) − G(z_k))²·(z_{k+1} − z_k)) over
// the pooled sorted values, with F and G the right-continuous empirical CDFs;
// equivalently √(2E|X−Y| − E|X−X'| − E|Y−Y'|), Székely's energy distance, in
// the units of the data. Unlike Wasserstein1 it weighs large CDF gaps more
// than many small ones.
//
// Both slices must be sorted ascending and free of NaN (not checked). It is NaN
// when either sample is empty, where scipy raises. It does not allocate.
func EnergyDistance(xSorted, ySorted []float64) float64 {
	return math.Sqrt(2) * math.Sqrt(cdfIntegral(xSorted, ySorted, func(d float64) float64 { return d * d }))
}
