package stat

import "gonum.org/v1/gonum/mathext"

// BinomialSurvival returns P(X ≥ k) for X ~ Binomial(n, p), as the
// regularized incomplete beta function I_p(k, n − k + 1), which keeps its
// precision in the far tail (1 − CDF would cancel to 0 below 1e-16).
func BinomialSurvival(k, n uint64, p float64) float64 {
	switch {
	case k == 0:
		return 1
	case k > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	return mathext.RegIncBeta(float64(k), float64(n-k+1), p)
}
