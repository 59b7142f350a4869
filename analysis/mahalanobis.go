package analysis

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// mahalanobisMaxCondition is the largest condition number of the reference
// correlation matrix MahalanobisMean accepts. Beyond it the solve would lose
// more than about six of sixteen digits, and the covariance is treated as
// singular.
const mahalanobisMaxCondition = 1e10

// MahalanobisMean returns √((m − μ)ᵀ S⁻¹ (m − μ)) for the current window's
// mean m against the reference mean μ and covariance S (sample covariance,
// ddof 1) estimated from reference rows; errors if S is singular (say which).
//
// Every row must have len(currentMean) values. S is factorised by Cholesky
// after scaling to the correlation matrix, which leaves the distance unchanged
// and makes the singularity check independent of the features' units. S is
// reported singular when there are no more rows than features, when a feature
// is constant in the reference (the error names it), or when the correlation
// matrix is not positive definite or its condition number exceeds 1e10; then
// the error names the first feature that is (nearly) a linear combination of
// the ones before it.
//
// Under no drift, with a current window of w rows from the reference
// distribution and n reference rows, d²/(1/w + 1/n) is approximately χ² with
// len(currentMean) degrees of freedom (Hotelling's T², for large n), so the
// distance shrinks as windows grow: compare it with that null, not with a
// fixed number.
func MahalanobisMean(reference [][]float64, currentMean []float64) (float64, error) {
	p, n := len(currentMean), len(reference)
	if p == 0 {
		return math.NaN(), errors.New("mahalanobis distance of the mean: no features")
	}
	for i, r := range reference {
		if len(r) != p {
			return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: reference row %d has %d values, the current mean %d", i, len(r), p)
		}
	}
	if n <= p {
		return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: covariance of %d reference rows in %d dimensions is singular (need more rows than features)", n, p)
	}

	mu := make([]float64, p)
	for _, r := range reference {
		for j, v := range r {
			mu[j] += v
		}
	}
	for j := range mu {
		mu[j] /= float64(n)
	}
	// Two-pass sample covariance, ddof 1.
	cov := mat.NewSymDense(p, nil)
	dev := make([]float64, p)
	for _, r := range reference {
		for j, v := range r {
			dev[j] = v - mu[j]
		}
		for a := range p {
			for b := a; b < p; b++ {
				cov.SetSym(a, b, cov.At(a, b)+dev[a]*dev[b])
			}
		}
	}
	sd := make([]float64, p)
	for j := range p {
		v := cov.At(j, j) / float64(n-1)
		if !(v > 0) {
			return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: covariance is singular: feature %d is constant in the reference", j)
		}
		sd[j] = math.Sqrt(v)
	}
	corr := mat.NewSymDense(p, nil)
	z := mat.NewVecDense(p, nil)
	for a := range p {
		for b := a; b < p; b++ {
			corr.SetSym(a, b, cov.At(a, b)/float64(n-1)/(sd[a]*sd[b]))
		}
		z.SetVec(a, (currentMean[a]-mu[a])/sd[a])
	}

	var chol mat.Cholesky
	if ok := chol.Factorize(corr); !ok || chol.Cond() > mahalanobisMaxCondition {
		return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: covariance is singular: %s", dependentFeature(corr))
	}
	var sol mat.VecDense
	if err := chol.SolveVecTo(&sol, z); err != nil {
		return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: solving with the reference covariance: %w", err)
	}
	return math.Sqrt(max(mat.Dot(z, &sol), 0)), nil
}

// dependentFeature describes the first feature j whose leading (j+1)×(j+1)
// block of corr is not positive definite or is too ill-conditioned.
func dependentFeature(corr *mat.SymDense) string {
	p := corr.SymmetricDim()
	for j := 1; j < p; j++ {
		var chol mat.Cholesky
		sub := corr.SliceSym(0, j+1).(*mat.SymDense)
		if ok := chol.Factorize(sub); !ok {
			return fmt.Sprintf("feature %d is a linear combination of features 0..%d in the reference", j, j-1)
		}
		if c := chol.Cond(); c > mahalanobisMaxCondition {
			return fmt.Sprintf("feature %d is nearly a linear combination of features 0..%d in the reference (condition number %.3g)", j, j-1, c)
		}
	}
	return "the correlation matrix is not positive definite"
}
