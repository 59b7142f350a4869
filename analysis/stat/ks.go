package stat

import (
	"math"
)

// KSResult is a two-sample Kolmogorov–Smirnov result.
type KSResult struct {
	// Statistic is D = sup |F_x − G_y|. In exact mode it is snapped to the
	// lattice h/lcm(n, m), as scipy does.
	Statistic float64
	// PValue is the two-sided p-value for D under H0 (same distribution).
	PValue float64
	// Method is "exact" or "asymp", the method that produced PValue.
	Method string
}

// KSMaxExactN is the largest sample size for which KolmogorovSmirnov computes
// the exact p-value (scipy's MAX_AUTO_N).
const KSMaxExactN = 10000

// Method names reported in KSResult.Method.
const (
	KSExact = "exact"
	KSAsymp = "asymp"
)

// KolmogorovSmirnov returns scipy.stats.ks_2samp(x, y) (two-sided,
// method='auto') for sorted samples.
//
// It is a port of scipy 1.10's ks_2samp. The statistic compares the
// right-continuous empirical CDFs at every pooled value (searchsorted 'right'),
// so ties are handled exactly. When max(n, m) ≤ KSMaxExactN the p-value is
// exact: D is snapped to h/lcm(n, m) with h = round(D·lcm), then n == m uses the
// alternating binomial sum of paths outside the square and n ≠ m uses Hodges'
// lattice-path inside method with Viehmann's recursion for 1 − p. When the
// exact computation leaves [0, 1] (scipy warns and switches) or the samples are
// larger, the p-value is scipy's asymp: kstwo.sf(D, round(n·m/(n+m))), the
// exact one-sample Kolmogorov distribution at the effective size, evaluated
// with Simard and L'Ecuyer's algorithm (Durbin matrix, Pomeranz recursion,
// Pelz–Good and the exact Smirnov sum, as scipy.stats._ksstats._kolmogn). This
// is not the classical limit Q_KS(√en·D) that ClickHouse and textbooks call
// "asymptotic"; see docs/statistics.md.
//
// Both slices must be sorted ascending and free of NaN (not checked). An empty
// sample gives NaN statistic and p-value and an empty Method. The statistic is
// computed in one O(n+m) merge; the exact p-value costs O(n) for n == m and
// O(n·m/gcd) time with one O(min(n, m)) scratch allocation otherwise.
func KolmogorovSmirnov(xSorted, ySorted []float64) KSResult {
	n, m := len(xSorted), len(ySorted)
	if n == 0 || m == 0 {
		return KSResult{Statistic: math.NaN(), PValue: math.NaN()}
	}
	d := ksStatistic(xSorted, ySorted)
	if max(n, m) <= KSMaxExactN {
		g := gcd(n, m)
		lcm := (n / g) * m
		h := int(math.RoundToEven(d * float64(lcm)))
		d = float64(h) / float64(lcm)
		if h == 0 {
			return KSResult{Statistic: d, PValue: 1, Method: KSExact}
		}
		var p float64
		if n == m {
			p = ksProbOutsideSquare(n, h)
		} else {
			p = ksOuterProbInside(n, m, g, h)
		}
		if p >= 0 && p <= 1 {
			return KSResult{Statistic: d, PValue: p, Method: KSExact}
		}
		// scipy: "Exact calculation unsuccessful. Switching to method=asymp."
	}
	return ksAsymp(d, n, m)
}

// KSExactCells bounds the product of the sample sizes for which
// KolmogorovSmirnovBounded takes the exact p-value of unequal samples (it
// costs O(n·m·D)); beyond it, scipy's asymp p-value, within about 2% of the
// exact one at such sizes. Equal sizes are always exact (O(n)).
const KSExactCells = 2_500_000

// KolmogorovSmirnovBounded is the KS test of a decision whose cost must not
// follow the samples' sizes: KolmogorovSmirnov (scipy's auto method) where
// it is cheap, KolmogorovSmirnovAsymp for unequal samples beyond
// KSExactCells.
func KolmogorovSmirnovBounded(xSorted, ySorted []float64) KSResult {
	if len(xSorted) != len(ySorted) && len(xSorted)*len(ySorted) > KSExactCells {
		return KolmogorovSmirnovAsymp(xSorted, ySorted)
	}
	return KolmogorovSmirnov(xSorted, ySorted)
}

// KolmogorovSmirnovAsymp returns scipy.stats.ks_2samp(x, y,
// method='asymp') (two-sided) for sorted samples: the statistic D, not
// snapped to a lattice, and the p-value kstwo.sf(D, round(n·m/(n+m))).
// It costs one O(n+m) merge and a Kolmogorov tail, where the exact p-value
// of unequal samples costs O(n·m·D) (KolmogorovSmirnov); at the sizes a
// drift monitor compares (hundreds against thousands) the two p-values
// differ by about 2% of their value (docs/statistics.md). Slices as for
// KolmogorovSmirnov.
func KolmogorovSmirnovAsymp(xSorted, ySorted []float64) KSResult {
	n, m := len(xSorted), len(ySorted)
	if n == 0 || m == 0 {
		return KSResult{Statistic: math.NaN(), PValue: math.NaN()}
	}
	return ksAsymp(ksStatistic(xSorted, ySorted), n, m)
}

// ksAsymp is scipy's two-sided asymp p-value of statistic d for samples of
// n and m values.
func ksAsymp(d float64, n, m int) KSResult {
	big, small := float64(max(n, m)), float64(min(n, m))
	en := big * small / (big + small)
	p := kstwoSF(d, math.RoundToEven(en))
	return KSResult{Statistic: d, PValue: math.Max(0, math.Min(1, p)), Method: KSAsymp}
}

// ksStatistic returns the two-sided statistic max(D+, D−) of scipy's
// ks_2samp, with the CDF differences computed as scipy computes them.
func ksStatistic(x, y []float64) float64 {
	n, m := len(x), len(y)
	fn, fm := float64(n), float64(m)
	maxS, minS := math.Inf(-1), math.Inf(1)
	i, j := 0, 0
	for i < n || j < m {
		var z float64
		// Plain comparisons: the samples hold no NaN, and math.Min and
		// math.Max (which handle NaN and signed zeros) are calls that took
		// more than half of this loop's time in the pipeline's profile.
		switch {
		case i < n && j < m:
			z = x[i]
			if y[j] < z {
				z = y[j]
			}
		case i < n:
			z = x[i]
		default:
			z = y[j]
		}
		for i < n && x[i] <= z {
			i++
		}
		for j < m && y[j] <= z {
			j++
		}
		d := float64(i)/fn - float64(j)/fm
		if d > maxS {
			maxS = d
		}
		if d < minS {
			minS = d
		}
	}
	minS = math.Max(0, math.Min(1, -minS))
	if minS > maxS {
		return minS
	}
	return maxS
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ksProbOutsideSquare is scipy's _compute_prob_outside_square: P(D_{n,n} ≥
// h/n) = 2·Σ_k (−1)^{k−1} C(2n, n−kh)/C(2n, n), in Horner form.
func ksProbOutsideSquare(n, h int) float64 {
	p := 0.0
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		p = p1 * (1 - p)
	}
	return 2 * p
}

// ksOuterProbInside is scipy's _compute_outer_prob_inside_method: the
// proportion of lattice paths from (0, 0) to (m, n) that leave the band
// |x/m − y/n| < h/lcm(m, n), computed directly as 1 − p by Viehmann's
// recursion on one sliding column.
func ksOuterProbInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	minj, maxj := 0, min(int(math.Ceil(float64(h)/float64(mg))), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	a := make([]float64, lenA)
	for k := range a {
		a[k] = 1
	}
	for k := minj; k < maxj && k < lenA; k++ {
		a[k] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(int(math.Floor(float64(ng*i-h)/float64(mg)))+1, 0)
		minj = min(minj, n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/float64(mg))), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		fi := float64(i)
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (a[jj+minj-lastminj]*fi + val*float64(j)) / float64(i+j)
			a[jj] = val
		}
		curlen = maxj - minj
		for k := curlen; k < curlen+(lastlen-curlen) && k < lenA; k++ {
			a[k] = 1
		}
	}
	return a[maxj-minj-1]
}
