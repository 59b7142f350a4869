package stat

import (
	"cmp"
	"math"
	"slices"
)

// BenjaminiHochberg returns, for p-values p (NaN = not tested), which are
// rejected at FDR q and the BH-adjusted values
// p̃_(i) = min_{j>=i} min(1, m·p_(j)/j), m = number of non-NaN p-values.
//
// With the tested p-values sorted ascending, p_(1) ≤ … ≤ p_(m), it rejects
// p_(1) … p_(k*) for k* = max{k : p_(k) ≤ (k/m)·q}, the step-up procedure of
// Benjamini and Hochberg (1995), which controls the false discovery rate at q
// for independent or positively dependent tests. Equivalently, up to rounding,
// p_i is rejected when p̃_i ≤ q. Both results are in the order of p; a NaN p-value is never
// rejected and its adjusted value is NaN. p-values should be in [0, 1]. Tied
// p-values get equal adjusted values whatever their order.
//
// Use it across the features of one window, where each feature's test gives
// one p-value; it does not address repeating the test in every window.
func BenjaminiHochberg(p []float64, q float64) (rejected []bool, adjusted []float64) {
	rejected = make([]bool, len(p))
	adjusted = make([]float64, len(p))
	order := make([]int, 0, len(p))
	for i, v := range p {
		if math.IsNaN(v) {
			adjusted[i] = math.NaN()
			continue
		}
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	m := float64(len(order))
	last := -1 // k* − 1
	for k, i := range order {
		if p[i] <= float64(k+1)/m*q {
			last = k
		}
	}
	running := 1.0
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		running = min(running, m*p[i]/float64(k+1))
		adjusted[i] = running
		rejected[i] = k <= last
	}
	return rejected, adjusted
}
