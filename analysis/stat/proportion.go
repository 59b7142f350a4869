package stat

import "math"

// TwoProportionZ returns the pooled two-proportion z statistic of k1
// successes in n1 trials against k2 successes in n2 trials, as statsmodels'
// proportions_ztest(count=[k1, k2], nobs=[n1, n2]):
//
//	z = (k1/n1 − k2/n2) / √(p̂(1 − p̂)(1/n1 + 1/n2)),  p̂ = (k1 + k2)/(n1 + n2).
//
// Under equal proportions z is asymptotically N(0, 1): the one-sided p-value
// of an increase is distuv.UnitNormal.Survival(z). It returns NaN when a
// side has no trials or p̂ is 0 or 1 (every trial alike on both sides: no
// evidence either way), where statsmodels divides by zero.
func TwoProportionZ(k1, n1, k2, n2 float64) float64 {
	if n1 <= 0 || n2 <= 0 {
		return math.NaN()
	}
	p := (k1 + k2) / (n1 + n2)
	if p <= 0 || p >= 1 {
		return math.NaN()
	}
	return (k1/n1 - k2/n2) / math.Sqrt(p*(1-p)*(1/n1+1/n2))
}
