package analysis

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
			return math.Sqrt(2) * math.Sqrt(sum+comp)
		}
		d := float64(i)/fn - float64(j)/fm
		addNeumaier(&sum, &comp, d*d*(next-z))
		z = next
	}
}
