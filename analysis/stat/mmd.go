package stat

import (
	"math"
	"math/rand/v2"
	"slices"
)

// mmdMinSquaredDistance is the floor of the median squared distance, as Alibi
// Detect clamps squared distances at 1e-30, so that the bandwidth of data whose
// points mostly coincide is tiny rather than zero.
const mmdMinSquaredDistance = 1e-30

// MMDResult is a kernel two-sample test with an RBF kernel (Alibi Detect
// conventions; see docs/statistics.md).
type MMDResult struct {
	// Statistic is the unbiased estimate (U-statistic) of MMD². It can be
	// slightly negative under the null hypothesis.
	Statistic float64
	// PValue is (1 + #{permutations with MMD² ≥ Statistic}) / (1 + B), the
	// Phipson–Smyth permutation p-value, in [1/(B+1), 1]. NaN when no
	// permutation was run.
	PValue float64
	// Sigma is the RBF bandwidth σ from the median heuristic on the
	// reference.
	Sigma float64
	// Permutations is B, the number of permutations run.
	Permutations int
}

// MMD returns the maximum mean discrepancy permutation test of reference rows
// x against current rows y, with the Gaussian RBF kernel
// k(a, b) = exp(−‖a − b‖²/(2σ²)).
//
// σ is Alibi Detect's median heuristic on x vs x: σ² = ½·(the lower median of
// the n(n−1)/2 squared distances between distinct rows of x), floored at
// ½·1e-30. The statistic is the unbiased
//
//	MMD²_u = Σ_{i≠j} k(x_i, x_j)/(n(n−1)) + Σ_{i≠j} k(y_i, y_j)/(m(m−1)) − 2·Σ k(x_i, y_j)/(nm).
//
// The pooled (n+m)×(n+m) kernel matrix is computed once; each of the
// permutations reassigns the pooled rows to groups of sizes n and m by a
// Fisher–Yates shuffle from a PCG generator seeded with seed, so results are
// reproducible. Unlike Alibi (mean of perm ≥ obs, which can be 0) the p-value
// counts the observed assignment: (1 + #{perm ≥ obs})/(1 + B).
//
// It allocates the kernel matrix, 8·(n+m)² bytes, and takes O((n+m)²·d) for
// it plus O(B·min(n, m)²) for the permutations. permutations ≤ 0 computes
// the statistic only and leaves PValue NaN. Fewer than 2 rows on either side
// gives NaN Statistic and PValue. Rows of different dimensions panic; values
// must be finite.
func MMD(x, y [][]float64, permutations int, seed uint64) MMDResult {
	n, m := len(x), len(y)
	res := MMDResult{Statistic: math.NaN(), PValue: math.NaN(), Sigma: math.NaN()}
	if n < 2 || m < 2 {
		return res
	}
	dim := len(x[0])
	for _, rows := range [][][]float64{x, y} {
		for _, r := range rows {
			if len(r) != dim {
				panic("stat: MMD of rows with different dimensions")
			}
		}
	}

	total := n + m
	row := func(i int) []float64 {
		if i < n {
			return x[i]
		}
		return y[i-n]
	}
	// Squared distances of the pooled rows, both triangles, zero diagonal.
	k := make([]float64, total*total)
	for i := range total {
		a := row(i)
		for j := i + 1; j < total; j++ {
			b := row(j)
			var d2 float64
			for t, v := range a {
				d := v - b[t]
				d2 += d * d
			}
			k[i*total+j] = d2
			k[j*total+i] = d2
		}
	}

	// Median heuristic on the reference block, lower median of i < j.
	pairs := make([]float64, 0, n*(n-1)/2)
	for i := range n {
		pairs = append(pairs, k[i*total+i+1:i*total+n]...)
	}
	slices.Sort(pairs)
	med := max(pairs[(len(pairs)-1)/2], mmdMinSquaredDistance)
	res.Sigma = math.Sqrt(med / 2)

	// Kernel values and off-diagonal row sums, invariant under permutation.
	rowSums := make([]float64, total)
	var all, allComp float64
	for i := range total {
		r := k[i*total : (i+1)*total]
		var s, comp float64
		for j := range r {
			if j == i {
				r[j] = 0
				continue
			}
			r[j] = math.Exp(-r[j] / med)
			addNeumaier(&s, &comp, r[j])
		}
		rowSums[i] = s + comp
		addNeumaier(&all, &allComp, rowSums[i])
	}
	all += allComp

	perm := make([]int, total)
	for i := range perm {
		perm[i] = i
	}
	mmd := mmdStatistic{k: k, total: total, n: n, rowSums: rowSums, all: all}
	res.Statistic = mmd.of(perm)
	if permutations <= 0 {
		return res
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6d64))
	exceed := 0
	for range permutations {
		rng.Shuffle(total, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		if mmd.of(perm) >= res.Statistic {
			exceed++
		}
	}
	res.Permutations = permutations
	res.PValue = float64(1+exceed) / float64(1+permutations)
	return res
}

// mmdStatistic evaluates MMD²_u for assignments of the pooled rows of a
// kernel matrix with zero diagonal to the groups x (size n) and y.
type mmdStatistic struct {
	k        []float64 // total×total kernel matrix, zero diagonal
	total, n int
	rowSums  []float64 // Σ_{j≠i} k_ij
	all      float64   // Σ_i rowSums[i]
}

// of returns MMD²_u when perm[:n] are the rows of x and perm[n:] those of y.
// It sums the kernel over the smaller group's block only: with S_g the sum
// over ordered pairs within group g and R_g the sum of its rows' sums,
// S_xy = R_x − S_xx and S_yy = all − S_xx − 2·S_xy. It sorts each group's
// indices in place so that the block is read row by row.
func (s *mmdStatistic) of(perm []int) float64 {
	xs, ys := perm[:s.n], perm[s.n:]
	slices.Sort(xs)
	slices.Sort(ys)
	small := xs
	if len(ys) < len(xs) {
		small = ys
	}
	var block, blockComp, rows, rowsComp float64 // S_small/2, R_small
	for a, i := range small {
		r := s.k[i*s.total : (i+1)*s.total]
		var t float64
		for _, j := range small[a+1:] {
			t += r[j]
		}
		addNeumaier(&block, &blockComp, t)
		addNeumaier(&rows, &rowsComp, s.rowSums[i])
	}
	block = 2 * (block + blockComp)
	rows += rowsComp
	cross := rows - block
	other := s.all - block - 2*cross
	sxx, syy := block, other
	if len(ys) < len(xs) {
		sxx, syy = other, block
	}
	fn, fm := float64(s.n), float64(s.total-s.n)
	return sxx/(fn*(fn-1)) + syy/(fm*(fm-1)) - 2*cross/(fn*fm)
}
