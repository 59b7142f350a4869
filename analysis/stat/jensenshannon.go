package stat

import "math"

// JensenShannon returns scipy's jensenshannon(reference, current, base=2): the
// distance in [0,1] (counts are normalised).
//
// With p and q the normalised counts and m = (p+q)/2 it is
// √((KL(p‖m) + KL(q‖m)) / (2·ln 2)). Empty bins need no smoothing: a zero
// proportion contributes zero. Identical distributions give 0, distributions
// with disjoint support give 1. Where rounding would make the divergence
// slightly negative (scipy then returns NaN) the result is 0. It is NaN when
// either total is zero and panics when the lengths differ.
//
// gonum's stat.JensenShannon is the divergence in nats without the square
// root; the two are related by JensenShannon = √(gonum/ln 2).
func JensenShannon(reference, current []float64) float64 {
	if len(reference) != len(current) {
		panic("stat: JensenShannon of bin counts with different lengths")
	}
	var rt, ct float64
	for i := range reference {
		rt += reference[i]
		ct += current[i]
	}
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var left, right float64
	for i := range reference {
		p := reference[i] / rt
		q := current[i] / ct
		m := (p + q) / 2
		if p > 0 {
			left += p * math.Log(p/m)
		}
		if q > 0 {
			right += q * math.Log(q/m)
		}
	}
	js := (left + right) / math.Ln2
	if !(js > 0) {
		return 0
	}
	return math.Sqrt(js / 2)
}
