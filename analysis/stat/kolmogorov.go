package stat

import (
	"math"
)

// This file ports scipy.stats._ksstats (scipy 1.10), the two-sided
// one-sample Kolmogorov distribution of Simard and L'Ecuyer (2011), and the
// exact one-sided Smirnov sum of scipy.special.smirnov. scipy evaluates some
// of them in double-double or long double; these use float64 and agree with
// scipy to within 2e-12 relative on the tested points (n up to 150 000).

var (
	ksEP128 = math.Ldexp(1, 128)
	ksEM128 = math.Ldexp(1, -128)
)

const (
	ksLog2Pi   = 1.8378770664093453 // log(2π)
	ksSqrt2Pi  = 2.5066282746310002 // sqrt(2π)
	ksSqrt3    = 1.7320508075688772
	ksMinLog   = -708 // _MIN_LOG of _ksstats
	smirnovMin = -7.451332191019412076235e2
)

// kstwoSF is scipy.stats.kstwo.sf(x, n) for a (rounded, float) n: the
// probability that the two-sided one-sample statistic of n points is ≥ x.
func kstwoSF(x, n float64) float64 {
	if !(n >= 1) || math.IsNaN(x) {
		return math.NaN()
	}
	if x <= 0.5/n {
		return 1
	}
	if x >= 1 {
		return 0
	}
	return kolmogn(int(n), x, false)
}

func ksClip(p float64) float64 {
	if math.IsNaN(p) {
		return p
	}
	return math.Max(0, math.Min(1, p))
}

func ksSelect(cdfProb, sfProb float64, cdf bool) float64 {
	if cdf {
		return ksClip(cdfProb)
	}
	return ksClip(sfProb)
}

// kolmogn is _kolmogn: the CDF (or SF) of the two-sided one-sample
// Kolmogorov–Smirnov statistic D_n at x.
func kolmogn(n int, x float64, cdf bool) float64 {
	if n <= 0 {
		return math.NaN()
	}
	if x >= 1 {
		return ksSelect(1, 0, cdf)
	}
	if x <= 0 {
		return ksSelect(0, 1, cdf)
	}
	fn := float64(n)
	t := fn * x
	if t <= 1 { // Ruben–Gambino: 1/2n <= x <= 1/n
		if t <= 0.5 {
			return ksSelect(0, 1, cdf)
		}
		var prob float64
		if n <= 140 {
			prob = 1
			for i := 1; i <= n; i++ {
				prob *= float64(i) * (1 / fn) * (2*t - 1)
			}
		} else {
			prob = math.Exp(logNFactorialDivNPowN(n) + fn*math.Log(2*t-1))
		}
		return ksSelect(prob, 1-prob, cdf)
	}
	if t >= fn-1 { // Ruben–Gambino
		prob := 2 * math.Pow(1-x, fn)
		return ksSelect(1-prob, prob, cdf)
	}
	if x >= 0.5 { // exact: 2·smirnov
		prob := 2 * smirnovSF(n, x)
		return ksSelect(1-prob, prob, cdf)
	}
	nxSquared := t * x
	if n <= 140 {
		if nxSquared <= 0.754693 {
			prob := kolmognDMTW(n, x, true)
			return ksSelect(prob, 1-prob, cdf)
		}
		if nxSquared <= 4 {
			prob := kolmognPomeranz(n, x, true)
			return ksSelect(prob, 1-prob, cdf)
		}
		prob := 2 * smirnovSF(n, x) // Miller's approximation
		return ksSelect(1-prob, prob, cdf)
	}
	if !cdf {
		if nxSquared >= 370 {
			return 0
		}
		if nxSquared >= 2.2 {
			return ksClip(2 * smirnovSF(n, x))
		}
	}
	var cdfProb float64
	switch {
	case nxSquared >= 18:
		cdfProb = 1
	case n <= 100000 && fn*math.Pow(x, 1.5) <= 1.4:
		cdfProb = kolmognDMTW(n, x, true)
	default:
		cdfProb = kolmognPelzGood(n, x, true)
	}
	return ksSelect(cdfProb, 1-cdfProb, cdf)
}

// logNFactorialDivNPowN returns log(n!/n^n) by Stirling's series.
func logNFactorialDivNPowN(n int) float64 {
	coeffs := [...]float64{-2.955065359477124183e-2, 6.4102564102564102564e-3,
		-1.9175269175269175269e-3, 8.4175084175084175084e-4,
		-5.952380952380952381e-4, 7.9365079365079365079e-4,
		-2.7777777777777777778e-3, 8.3333333333333333333e-2}
	fn := float64(n)
	rn := 1 / fn
	x := rn / fn
	p := 0.0
	for _, c := range coeffs {
		p = p*x + c
	}
	return math.Log(fn)/2 - fn + ksLog2Pi/2 + rn*p
}

// kolmognDMTW is _kolmogn_DMTW: Pr(D_n ≤ d) by Durbin's matrix algorithm in
// the form of Marsaglia, Tsang and Wang (2003).
func kolmognDMTW(n int, d float64, cdf bool) float64 {
	if d >= 1 {
		return ksSelect(1, 0, cdf)
	}
	nd := float64(n) * d
	if nd <= 0.5 {
		return ksSelect(0, 1, cdf)
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1

	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		v[j-1] = 1 - math.Pow(h, float64(j))
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] *= fac
	}
	tt := math.Pow(math.Max(2*h-1, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1 + tt) * fac

	H := newKSMatrix(m)
	for i := 1; i < m; i++ {
		for r := i - 1; r < m; r++ {
			H.set(r, i, w[r-(i-1)])
		}
	}
	for r := 0; r < m; r++ {
		H.set(r, 0, v[r])
	}
	for c := 0; c < m; c++ {
		H.set(m-1, c, v[m-1-c])
	}

	hpwr := newKSMatrix(m)
	for i := 0; i < m; i++ {
		hpwr.set(i, i, 1)
	}
	tmp := newKSMatrix(m)
	nn := n
	expnt, hExpnt := 0, 0
	for nn > 0 {
		if nn%2 == 1 {
			tmp.mul(hpwr, H)
			hpwr, tmp = tmp, hpwr
			expnt += hExpnt
		}
		tmp.mul(H, H)
		H, tmp = tmp, H
		hExpnt *= 2
		if math.Abs(H.at(k-1, k-1)) > ksEP128 {
			for i := range H.a {
				H.a[i] /= ksEP128
			}
			hExpnt += 128
		}
		nn /= 2
	}
	p := hpwr.at(k-1, k-1)
	fn := float64(n)
	for i := 1; i <= n; i++ {
		p = float64(i) * p / fn
		if math.Abs(p) < ksEM128 {
			p *= ksEP128
			expnt -= 128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return ksSelect(p, 1-p, cdf)
}

// ksMatrix is a small dense square matrix for kolmognDMTW.
type ksMatrix struct {
	n int
	a []float64
}

func newKSMatrix(n int) *ksMatrix { return &ksMatrix{n: n, a: make([]float64, n*n)} }

func (m *ksMatrix) at(r, c int) float64     { return m.a[r*m.n+c] }
func (m *ksMatrix) set(r, c int, v float64) { m.a[r*m.n+c] = v }

// mul sets m = x·y; m must not alias x or y.
func (m *ksMatrix) mul(x, y *ksMatrix) {
	n := m.n
	for r := 0; r < n; r++ {
		row := m.a[r*n : (r+1)*n]
		clear(row)
		for k := 0; k < n; k++ {
			xv := x.a[r*n+k]
			if xv == 0 {
				continue
			}
			yr := y.a[k*n : (k+1)*n]
			for c := range row {
				row[c] += xv * yr[c]
			}
		}
	}
}

// pomeranzJ1J2 is _pomeranz_compute_j1j2: the endpoints of row i's interval.
func pomeranzJ1J2(i, n, ll, ceilf, roundf int) (int, int) {
	var j1, j2 int
	if i == 0 {
		j1, j2 = -ll-ceilf-1, ll+ceilf-1
	} else {
		ip1div2, ip1mod2 := (i+1)/2, (i+1)%2
		if ip1mod2 == 0 {
			if ip1div2 == n+1 {
				j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
			} else {
				j1, j2 = ip1div2-1-ll-roundf-1, ip1div2+ll-1+ceilf-1
			}
		} else {
			j1, j2 = ip1div2-1-ll-1, ip1div2+ll+roundf-1
		}
	}
	return max(j1+2, 0), min(j2, n)
}

// kolmognPomeranz is _kolmogn_Pomeranz: Pr(D_n ≤ x) by Pomeranz's (1974)
// recursion.
func kolmognPomeranz(n int, x float64, cdf bool) float64 {
	fn := float64(n)
	t := fn * x
	ll := int(math.Floor(t))
	f := t - float64(ll)
	g := math.Min(f, 1-f)
	ceilf, roundf := 0, 0
	if f > 0 {
		ceilf = 1
	}
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1)
	gpower := make([]float64, npwrs)
	twogpower := make([]float64, npwrs)
	onem2gpower := make([]float64, npwrs)
	gpower[0], twogpower[0], onem2gpower[0] = 1, 1, 1
	expnt := 0
	gOverN, twoGOverN, oneMinusTwoGOverN := g/fn, 2*g/fn, (1-2*g)/fn
	for m := 1; m < npwrs; m++ {
		fm := float64(m)
		gpower[m] = gpower[m-1] * gOverN / fm
		twogpower[m] = twogpower[m-1] * twoGOverN / fm
		onem2gpower[m] = onem2gpower[m-1] * oneMinusTwoGOverN / fm
	}
	v0 := make([]float64, npwrs)
	v1 := make([]float64, npwrs)
	v1[0] = 1
	v0s, v1s := 0, 0
	j1, j2 := pomeranzJ1J2(0, n, ll, ceilf, roundf)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		v0, v1 = v1, v0
		v0s, v1s = v1s, v0s
		clear(v1)
		j1, j2 = pomeranzJ1J2(i, n, ll, ceilf, roundf)
		var pwrs []float64
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		default:
			pwrs = onem2gpower
		}
		ln2 := j2 - k1 + 1
		if ln2 > 0 {
			// conv = numpy.convolve(V0[k1-V0s : k1-V0s+ln2], pwrs[:ln2]),
			// of which entries conv_start .. conv_start+conv_len-1 are used.
			lo := k1 - v0s
			src := v0[lo:min(lo+ln2, len(v0))]
			ker := pwrs[:min(ln2, len(pwrs))]
			convStart, convLen := j1-k1, j2-j1+1
			maxV := math.Inf(-1)
			for c := 0; c < convLen; c++ {
				kk := convStart + c
				s := 0.0
				for a := max(0, kk-len(ker)+1); a <= min(kk, len(src)-1); a++ {
					s += src[a] * ker[kk-a]
				}
				v1[c] = s
			}
			for _, e := range v1 {
				maxV = math.Max(maxV, e)
			}
			if maxV > 0 && maxV < ksEM128 {
				for c := range v1 {
					v1[c] *= ksEP128
				}
				expnt -= 128
			}
			v1s = v0s + j1 - k1
		}
	}
	ans := v1[n-v1s]
	for m := 1; m <= n; m++ {
		if math.Abs(ans) > ksEP128 {
			ans *= ksEM128
			expnt += 128
		}
		ans *= float64(m)
	}
	if expnt != 0 {
		ans = math.Ldexp(ans, expnt)
	}
	return ksSelect(ans, 1-ans, cdf)
}

// kolmognPelzGood is _kolmogn_PelzGood: the Pelz–Good (1976) approximation
// to Pr(D_n ≤ x).
func kolmognPelzGood(n int, x float64, cdf bool) float64 {
	if x <= 0 {
		return ksSelect(0, 1, cdf)
	}
	if x >= 1 {
		return ksSelect(1, 0, cdf)
	}
	fn := float64(n)
	z := math.Sqrt(fn) * x
	z2, z3, z4, z6 := z*z, z*z*z, math.Pow(z, 4), math.Pow(z, 6)
	pi2, pi4, pi6 := math.Pi*math.Pi, math.Pow(math.Pi, 4), math.Pow(math.Pi, 6)

	qlog := -pi2 / 8 / z2
	if qlog < ksMinLog {
		return ksSelect(0, 1, cdf)
	}
	q := math.Exp(qlog)

	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)

	var k0to3 [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := float64(2*k - 1)
		m2, m4, m6 := m*m, math.Pow(m, 4), math.Pow(m, 6)
		qpower := math.Pow(q, float64(8*k))
		coeffs := [4]float64{1,
			k1a + k1b*m2,
			k2a + k2b*m2 + k2c*m4,
			k3a + k3b*m2 + k3c*m4 + k3d*m6}
		for i := range k0to3 {
			k0to3[i] = k0to3[i]*qpower + coeffs[i]
		}
	}
	div := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	for i := range k0to3 {
		k0to3[i] = k0to3[i] * q * ksSqrt2Pi / div[i]
	}

	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := ksSqrt3 * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		ksq := fk * fk
		qp := math.Pow(q, ksq)
		kspi := math.Pi * fk
		k2extra += ksq * qp
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp
	}
	k0to3[2] += k2extra * (pi2 * ksSqrt2Pi / (-36 * z3))
	k0to3[3] += k3extra * (pi2 * ksSqrt2Pi / (216 * z6))
	for i := range k0to3 {
		k0to3[i] /= math.Pow(fn, float64(i)/2)
	}
	if !cdf {
		for i := range k0to3 {
			k0to3[i] = -k0to3[i]
		}
		k0to3[0]++
	}
	return k0to3[0] + k0to3[1] + k0to3[2] + k0to3[3]
}

// smirnovSF is scipy.special.smirnov(n, x): the exact probability that the
// one-sided one-sample statistic D_n+ is ≥ x, by the Birnbaum–Tingey sum as
// arranged in scipy's cephes/kolmogorov.c (_smirnov), in float64.
func smirnovSF(n int, x float64) float64 {
	if !(n > 0 && x >= 0 && x <= 1) {
		return math.NaN()
	}
	if n == 1 {
		return 1 - x
	}
	if x == 0 {
		return 1
	}
	if x == 1 {
		return 0
	}
	fn := float64(n)
	// n·x = nxHi + nxLo exactly; floor and remainder alpha from it.
	nxHi := fn * x
	nxLo := math.FMA(fn, x, -nxHi)
	fl := math.Floor(nxHi)
	alpha := (nxHi - fl) + nxLo
	if alpha < 0 {
		fl--
		alpha++
	}
	if alpha >= 1 {
		fl++
		alpha--
	}
	nxfl := int(fl)

	n1mxfl := n - nxfl - 1 // the last v of the lower sum
	// Special case: x <= 1/n.
	if nxfl == 0 || (nxfl == 1 && alpha == 0) {
		t := math.Pow(1+x, fn-1)
		return 1 - x*t
	}
	// The sf underflows.
	if -2*fn*x*x < smirnovMin {
		return 0
	}
	// x >= 1 - 1/n.
	if nxfl >= n-1 {
		return math.Pow(1-x, fn)
	}
	// n too large to sum: p ≈ exp(−(6nx+1)²/18n).
	if n > 1000000 {
		logp := -math.Pow(6*fn*x+1, 2) / 18 / fn
		if logp < -math.Ln2 {
			return math.Exp(logp)
		}
		return 1 + math.Expm1(logp)
	}
	// scipy switches to the upper sum when x ≤ 0.5/√n and at most three
	// upper terms remain; kolmogn never calls smirnovSF there (it uses the
	// Smirnov sum only for n·x² ≥ 2.2 or x ≥ 0.5), so only the lower sum is
	// ported: A_v = C(n, v)·(1−x−v/n)^(n−v)·(x+v/n)^(v−1), v = 0..n1mxfl.
	// Like scipy, the binomial and the powers are kept as a significand and
	// a binary exponent; log-space terms lose up to 1e-9 at n = 10⁵.
	sum := math.Pow(1-x, fn) / x // A_0
	cMan, cExp := 1.0, 0         // C(n, v) = cMan·2^cExp
	nTerms := n1mxfl + 1
	vmid := n / 2
	for v := 1; v < nTerms; v++ {
		fv := float64(v)
		var e int
		cMan, e = math.Frexp(cMan * (float64(n-v+1) / fv))
		cExp += e
		t2 := ((float64(n-v) - nxHi) - nxLo) / fn // 1 − x − v/n
		t1 := ((fv + nxHi) + nxLo) / fn           // x + v/n
		m2, e2 := powScaled(t2, n-v)
		m1, e1 := powScaled(t1, v-1)
		aj := math.Ldexp(cMan*m1*m2, cExp+e1+e2)
		if aj != 0 && !math.IsInf(aj, 0) {
			sum += aj
		}
		if aj != 0 {
			if 4*float64(nTerms-v)*math.Abs(aj) < 2.220446049250313e-16*sum && v != nTerms-1 {
				break
			}
		} else if v > vmid {
			break
		}
	}
	return ksClip(x * sum)
}

// powScaled returns a^m (a > 0, m ≥ 0) as a significand in [0.5, 1) and a
// binary exponent, by squaring with renormalisation, so that neither
// overflows nor underflows.
func powScaled(a float64, m int) (float64, int) {
	rm, re := 1.0, 0
	bm, be := math.Frexp(a)
	for m > 0 {
		if m&1 == 1 {
			var e int
			rm, e = math.Frexp(rm * bm)
			re += e + be
		}
		m >>= 1
		if m > 0 {
			var e int
			bm, e = math.Frexp(bm * bm)
			be = 2*be + e
		}
	}
	return rm, re
}
