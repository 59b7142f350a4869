package stat

import "math"

// Hellinger returns the Hellinger distance between the normalised reference
// and current bin (or category) counts, which must have the same length:
// √(1 − Σ√(p_i q_i)) = ‖√p − √q‖₂/√2, in [0, 1].
//
// It is computed in the second (NannyML, Frouros) form, which loses no digits
// to cancellation when the distributions are close. Identical or proportional
// counts give 0 and disjoint supports give 1; no smoothing is needed. It is NaN
// when either total is zero and panics when the lengths differ.
func Hellinger(reference, current []float64) float64 {
	rt, ct := binTotals("Hellinger", reference, current)
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var sum float64
	for i := range reference {
		d := math.Sqrt(reference[i]/rt) - math.Sqrt(current[i]/ct)
		sum += d * d
	}
	return min(math.Sqrt(sum/2), 1)
}

// KullbackLeibler returns KL(current‖reference) = Σ c_i·ln(c_i/r_i) in nats of
// the normalised bin counts, each proportion floored at PSIEpsilon without
// renormalisation, exactly as PSI floors them.
//
// With that shared convention PSI(r, c) = KL(c‖r) + KL(r‖c) term by term, so
// PSI is the symmetrised (Jeffreys) form of this divergence. Because the floor
// is not renormalised, a value within about PSIEpsilon·len(bins) of 0 can be
// slightly negative. It is NaN when either total is zero and panics when the
// lengths differ.
func KullbackLeibler(reference, current []float64) float64 {
	rt, ct := binTotals("KullbackLeibler", reference, current)
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var kl float64
	for i := range reference {
		r := max(reference[i]/rt, PSIEpsilon)
		c := max(current[i]/ct, PSIEpsilon)
		kl += c * math.Log(c/r)
	}
	return kl
}

// LInfinity returns max_i |p_i − q_i| of the normalised reference and current
// counts (NannyML's L-infinity), in [0, 1]: the largest change of any single
// bin's or category's share. It is NaN when either total is zero and panics
// when the lengths differ.
func LInfinity(reference, current []float64) float64 {
	rt, ct := binTotals("LInfinity", reference, current)
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var d float64
	for i := range reference {
		d = max(d, math.Abs(reference[i]/rt-current[i]/ct))
	}
	return d
}

// binTotals returns the totals of two count vectors and panics, naming the
// statistic, when their lengths differ.
func binTotals(stat string, reference, current []float64) (rt, ct float64) {
	if len(reference) != len(current) {
		panic("stat: " + stat + " of bin counts with different lengths")
	}
	for i := range reference {
		rt += reference[i]
		ct += current[i]
	}
	return rt, ct
}
