package stat

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// adSignificance are the significance levels of ADResult.CriticalValues, from
// Table 2 of Scholz and Stephens (1987) as scipy uses them.
var adSignificance = [7]float64{0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001}

// Interpolation coefficients b0, b1, b2 of the critical values,
// b0 + b1/√m + b2/m with m = k − 1 (Scholz and Stephens 1987, Table 2).
var (
	adB0 = [7]float64{0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085}
	adB1 = [7]float64{-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615}
	adB2 = [7]float64{-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154}
)

// ADResult is scipy.stats.anderson_ksamp's result (midrank=True): the
// standardized statistic, the interpolated p-value clipped to [0.001, 0.25] as
// scipy does, and the critical values at significance levels
// [.25, .1, .05, .025, .01, .005, .001].
type ADResult struct {
	// Statistic is the standardized k-sample statistic (A²akN − (k−1))/σN. It
	// can be negative: values near 0 are typical under the null hypothesis.
	Statistic float64
	// PValue is exp of a quadratic fitted to log(significance) against the
	// critical values, evaluated at Statistic; 0.25 when Statistic is below
	// the smallest critical value and 0.001 when above the largest.
	PValue float64
	// CriticalValues are the statistic's critical values at the significance
	// levels .25, .1, .05, .025, .01, .005 and .001, in that order.
	CriticalValues [7]float64
}

// AndersonDarling returns the k-sample Anderson–Darling test of scipy 1.10's
// anderson_ksamp(samples) with midrank=True: Scholz and Stephens' (1987)
// A²akN for data with ties, standardized, with scipy's interpolated p-value.
//
// The samples may be in any order; the function sorts copies and does not
// modify them. Let Z* be the distinct pooled values, l_j their multiplicities
// and B_j = #{Z < Z*_j} + l_j/2; for sample i of size n_i let
// M_ij = #{x_i < Z*_j} + f_ij/2 with f_ij the multiplicity of Z*_j in sample i.
// Then
//
//	A²akN = (N−1)/N · Σ_i 1/n_i · Σ_j l_j/N · (N·M_ij − B_j·n_i)² / (B_j(N−B_j) − N·l_j/4)
//
// and Statistic = (A²akN − (k−1))/σN with scipy's σN. The p-value is clipped
// exactly as scipy clips it, by comparing Statistic with the smallest and
// largest critical value; in between it is the interpolation, unclipped.
//
// Fewer than two samples is a programming error and panics. An empty sample or
// fewer than two distinct values (where scipy raises), or fewer than 4
// observations in all (where scipy divides by zero), give a NaN Statistic and
// PValue; CriticalValues are filled whenever k ≥ 2. Values must not be NaN.
// It costs one sort per sample and O(N·k) after that.
func AndersonDarling(samples ...[]float64) ADResult {
	k := len(samples)
	if k < 2 {
		panic("stat: AndersonDarling needs at least two samples")
	}
	res := ADResult{CriticalValues: adCriticalValues(k)}
	nan := ADResult{Statistic: math.NaN(), PValue: math.NaN(), CriticalValues: res.CriticalValues}

	total := 0
	for _, s := range samples {
		if len(s) == 0 {
			return nan
		}
		total += len(s)
	}
	buf := make([]float64, 0, total)
	sorted := make([][]float64, k)
	for i, s := range samples {
		start := len(buf)
		buf = append(buf, s...)
		sorted[i] = buf[start:len(buf):len(buf)]
		slices.Sort(sorted[i])
	}

	a2, distinct := adMidrank(sorted, total)
	if distinct < 2 || total < 4 {
		return nan
	}
	sigma := math.Sqrt(adVariance(sorted, total))
	res.Statistic = (a2 - float64(k-1)) / sigma
	res.PValue = adPValue(res.Statistic, res.CriticalValues)
	return res
}

// adMidrank returns A²akN (equation 7 of Scholz and Stephens) of sorted
// samples with N observations in all, and the number of distinct values. It
// walks the distinct pooled values in order with one cursor per sample.
func adMidrank(sorted [][]float64, total int) (a2 float64, distinct int) {
	k := len(sorted)
	fN := float64(total)
	pos := make([]int, k)
	prev := make([]int, k)
	sums := make([]float64, 2*k) // per-sample Neumaier sum and compensation
	below := 0                   // #{Z < z}
	for below < total {
		z := math.Inf(1)
		for i, s := range sorted {
			if pos[i] < len(s) && s[pos[i]] < z {
				z = s[pos[i]]
			}
		}
		l := 0
		for i, s := range sorted {
			prev[i] = pos[i]
			for pos[i] < len(s) && s[pos[i]] == z {
				pos[i]++
			}
			l += pos[i] - prev[i]
		}
		distinct++
		lj := float64(l)
		bj := float64(below) + lj/2
		den := bj*(fN-bj) - fN*lj/4
		below += l
		for i, s := range sorted {
			// M_ij = #{x_i ≤ z} − f_ij/2 = #{x_i < z} + f_ij/2.
			mij := float64(prev[i]) + float64(pos[i]-prev[i])/2
			d := fN*mij - bj*float64(len(s))
			addNeumaier(&sums[2*i], &sums[2*i+1], lj/fN*d*d/den)
		}
	}
	for i, s := range sorted {
		a2 += (sums[2*i] + sums[2*i+1]) / float64(len(s))
	}
	return a2 * (fN - 1) / fN, distinct
}

// adVariance returns scipy's σ²N of A²akN under the null hypothesis for the
// sample sizes of sorted and N observations in all (N ≥ 4).
func adVariance(sorted [][]float64, total int) float64 {
	var hSmall float64 // H = Σ 1/n_i
	for _, s := range sorted {
		hSmall += 1 / float64(len(s))
	}
	// hs_cs = cumsum(1/(N−1), 1/(N−2), …, 1/2); h = hs_cs[−1] + 1;
	// g = Σ_{t=2}^{N−1} hs_cs[t−2]/t, summed as numpy does the cumsum.
	var cum, g, gc float64
	for i := 0; i < total-2; i++ {
		cum += 1 / float64(total-1-i)
		addNeumaier(&g, &gc, cum/float64(2+i))
	}
	g += gc
	h := cum + 1
	fk := float64(len(sorted))
	fN := float64(total)
	a := (4*g-6)*(fk-1) + (10-6*g)*hSmall
	b := (2*g-4)*fk*fk + 8*h*fk + (2*g-14*h-4)*hSmall - 8*h + 4*g - 6
	c := (6*h+2*g-2)*fk*fk + (4*h-4*g+6)*fk + (2*h-6)*hSmall + 4*h
	d := (2*h+6)*fk*fk - 4*h*fk
	return (a*fN*fN*fN + b*fN*fN + c*fN + d) / ((fN - 1) * (fN - 2) * (fN - 3))
}

// adCriticalValues returns b0 + b1/√m + b2/m for m = k − 1.
func adCriticalValues(k int) [7]float64 {
	m := float64(k - 1)
	var cv [7]float64
	for i := range cv {
		cv[i] = adB0[i] + adB1[i]/math.Sqrt(m) + adB2[i]/m
	}
	return cv
}

// adPValue is scipy's p-value: 0.25 below the smallest critical value, 0.001
// above the largest, otherwise exp of the least-squares quadratic through
// (critical, log significance) at the statistic (numpy.polyfit, degree 2).
func adPValue(stat float64, cv [7]float64) float64 {
	switch {
	case math.IsNaN(stat):
		return math.NaN()
	case stat < slices.Min(cv[:]):
		return slices.Max(adSignificance[:])
	case stat > slices.Max(cv[:]):
		return slices.Min(adSignificance[:])
	}
	// Least squares by QR of the Vandermonde matrix, as numpy.polyfit does
	// with lstsq; the columns are scaled to unit norm first, like polyfit.
	v := mat.NewDense(7, 3, nil)
	y := mat.NewVecDense(7, nil)
	var scale [3]float64
	for i, c := range cv {
		v.Set(i, 0, c*c)
		v.Set(i, 1, c)
		v.Set(i, 2, 1)
		y.SetVec(i, math.Log(adSignificance[i]))
	}
	for j := range scale {
		scale[j] = mat.Norm(v.ColView(j), 2)
		for i := range 7 {
			v.Set(i, j, v.At(i, j)/scale[j])
		}
	}
	var qr mat.QR
	qr.Factorize(v)
	var coef mat.VecDense
	if err := qr.SolveVecTo(&coef, false, y); err != nil {
		// The 7×3 Vandermonde matrix of distinct critical values has full
		// rank, so this cannot happen.
		panic("stat: Anderson–Darling p-value fit: " + err.Error())
	}
	p2 := coef.AtVec(0) / scale[0]
	p1 := coef.AtVec(1) / scale[1]
	p0 := coef.AtVec(2) / scale[2]
	return math.Exp((p2*stat+p1)*stat + p0)
}

// addNeumaier adds x to the compensated sum (*sum, *comp); the total is
// *sum + *comp.
func addNeumaier(sum, comp *float64, x float64) {
	t := *sum + x
	if math.Abs(*sum) >= math.Abs(x) {
		*comp += (*sum - t) + x
	} else {
		*comp += (x - t) + *sum
	}
	*sum = t
}
