package stat

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
	p := len(currentMean)
	if p == 0 {
		return math.NaN(), errors.New("mahalanobis distance of the mean: no features")
	}
	for i, r := range reference {
		if len(r) != p {
			return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: reference row %d has %d values, the current mean %d", i, len(r), p)
		}
	}
	j, err := NewJoint(nil, reference)
	if err != nil {
		return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: %w", err)
	}
	return j.Distance(currentMean)
}

// Joint is the joint reference of a model's numeric features: their mean
// and sample covariance (ddof 1), factorised once for Mahalanobis distances.
type Joint struct {
	// Features names the dimensions, in order.
	Features []string
	// Mean is the reference mean per feature.
	Mean []float64
	// Covariance is the sample covariance, row-major p×p.
	Covariance []float64
	// N is the number of reference rows.
	N uint64

	sd   []float64
	chol *mat.Cholesky
}

// NewJoint estimates the mean and covariance of rows (each with one value per
// feature) and prepares the factorisation; it errors if the covariance is
// singular (naming why).
func NewJoint(features []string, rows [][]float64) (*Joint, error) {
	n := len(rows)
	if n == 0 {
		return nil, errors.New("no reference rows")
	}
	p := len(rows[0])
	if p == 0 {
		return nil, errors.New("no features")
	}
	if n <= p {
		return nil, fmt.Errorf("covariance of %d reference rows in %d dimensions is singular (need more rows than features)", n, p)
	}
	mu := make([]float64, p)
	for _, r := range rows {
		for j, v := range r {
			mu[j] += v
		}
	}
	for j := range mu {
		mu[j] /= float64(n)
	}
	// Two-pass sample covariance, ddof 1.
	cov := make([]float64, p*p)
	dev := make([]float64, p)
	for _, r := range rows {
		for j, v := range r {
			dev[j] = v - mu[j]
		}
		for a := range p {
			for b := a; b < p; b++ {
				cov[a*p+b] += dev[a] * dev[b]
			}
		}
	}
	for a := range p {
		for b := a; b < p; b++ {
			cov[a*p+b] /= float64(n - 1)
			cov[b*p+a] = cov[a*p+b]
		}
	}
	j := &Joint{Features: features, Mean: mu, Covariance: cov, N: uint64(n)}
	if err := j.Prepare(); err != nil {
		return nil, err
	}
	return j, nil
}

// Prepare factorises the covariance (scaled to the correlation matrix, which
// leaves distances unchanged and makes the singularity check independent of
// units). Call it on a Joint filled from storage before Distance.
func (j *Joint) Prepare() error {
	p := len(j.Mean)
	if p == 0 || len(j.Covariance) != p*p {
		return fmt.Errorf("joint reference: %d means and %d covariance entries", p, len(j.Covariance))
	}
	j.sd = make([]float64, p)
	for a := range p {
		v := j.Covariance[a*p+a]
		if !(v > 0) {
			return fmt.Errorf("covariance is singular: feature %d is constant in the reference", a)
		}
		j.sd[a] = math.Sqrt(v)
	}
	corr := mat.NewSymDense(p, nil)
	for a := range p {
		for b := a; b < p; b++ {
			corr.SetSym(a, b, j.Covariance[a*p+b]/(j.sd[a]*j.sd[b]))
		}
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(corr); !ok || chol.Cond() > mahalanobisMaxCondition {
		return fmt.Errorf("covariance is singular: %s", dependentFeature(corr))
	}
	j.chol = &chol
	return nil
}

// Prepared reports whether the covariance has been factorised (by NewJoint
// or a successful Prepare), so that Distance can be called.
func (j *Joint) Prepared() bool { return j.chol != nil }

// Distance returns √((m − μ)ᵀ S⁻¹ (m − μ)) for the mean vector m.
func (j *Joint) Distance(m []float64) (float64, error) {
	if j.chol == nil {
		return math.NaN(), errors.New("mahalanobis distance of the mean: joint reference not prepared")
	}
	if len(m) != len(j.Mean) {
		return math.NaN(), fmt.Errorf("mahalanobis distance of the mean: %d values, the reference has %d features", len(m), len(j.Mean))
	}
	z := mat.NewVecDense(len(m), nil)
	for a := range m {
		z.SetVec(a, (m[a]-j.Mean[a])/j.sd[a])
	}
	var sol mat.VecDense
	if err := j.chol.SolveVecTo(&sol, z); err != nil {
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
