package poisoning

import (
	"math"
)

// fisherGreater returns the one-sided ("greater") p-value of Fisher's exact
// test on the 2×2 table [[a, b], [c, d]]: P(X ≥ a) for X hypergeometric,
// the number of successes in a + b draws without replacement from a
// population of a + b + c + d holding a + c successes (scipy's
// fisher_exact(table, alternative="greater"), = hypergeom.sf(a − 1, ...)).
//
// It sums the smaller tail from its end nearest the mode outwards, each
// term from the last by the ratio of consecutive probabilities, and stops
// when a term no longer changes the sum: O(√n) terms, whatever the
// population. It stops after maxTerms terms in any case, which bounds the
// work a hostile count can ask for; only populations beyond 10¹⁰ come
// near it.
func fisherGreater(a, b, c, d uint64) float64 {
	M, K, n := float64(a+b+c+d), float64(a+c), float64(a+b)
	lo, hi := math.Max(0, n+K-M), math.Min(n, K)
	x := float64(a)
	if x <= lo {
		return 1
	}
	mode := math.Floor((n + 1) * (K + 1) / (M + 2))
	if x > mode { // the upper tail, from x up
		term := math.Exp(logHypergeom(x, M, K, n))
		sum := term
		for y := x; y < hi && term > sum*1e-17 && y < x+maxTerms; y++ {
			term *= (K - y) * (n - y) / ((y + 1) * (M - K - n + y + 1))
			sum += term
		}
		return math.Min(1, sum)
	}
	// 1 − the lower tail P(X ≤ x − 1), from x − 1 down.
	y := x - 1
	term := math.Exp(logHypergeom(y, M, K, n))
	sum := term
	for stop := y - maxTerms; y > lo && term > sum*1e-17 && y > stop; y-- {
		term *= y * (M - K - n + y) / ((K - y + 1) * (n - y + 1))
		sum += term
	}
	return math.Max(0, 1-sum)
}

// maxTerms bounds the terms fisherGreater sums.
const maxTerms = 1 << 20

// logHypergeom returns the log probability of x successes (see
// fisherGreater).
func logHypergeom(x, M, K, n float64) float64 {
	return logChoose(K, x) + logChoose(M-K, n-x) - logChoose(M, n)
}

func logChoose(n, k float64) float64 {
	a, _ := math.Lgamma(n + 1)
	b, _ := math.Lgamma(k + 1)
	c, _ := math.Lgamma(n - k + 1)
	return a - b - c
}

// normalSurvival returns P(Z > z) for a standard normal Z.
func normalSurvival(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
