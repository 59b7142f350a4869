package stat

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMMDMatchesNumpy(t *testing.T) {
	ref := loadBatteryReference(t)
	for _, c := range ref.MMD {
		got := MMD(c.X, c.Y, 0, 1)
		if !near(got.Statistic, c.Statistic, 1e-9, 1e-14) {
			t.Errorf("%s: MMD² = %.17g, numpy %.17g", c.Name, got.Statistic, c.Statistic)
		}
		if !near(got.Sigma, c.Sigma, 1e-12, 0) {
			t.Errorf("%s: σ = %.17g, numpy %.17g", c.Name, got.Sigma, c.Sigma)
		}
		if !math.IsNaN(got.PValue) || got.Permutations != 0 {
			t.Errorf("%s: without permutations got p = %v after %d permutations", c.Name, got.PValue, got.Permutations)
		}
	}
}

// TestMMDPermutationsDoNotChangeStatistic: the permutation loop must leave
// the statistic and σ as the statistic-only call computes them, report B, and
// give a p-value of the form (1 + k)/(1 + B) in [1/(B+1), 1].
func TestMMDPermutationsDoNotChangeStatistic(t *testing.T) {
	ref := loadBatteryReference(t)
	const b = 199
	for _, c := range ref.MMD {
		plain := MMD(c.X, c.Y, 0, 1)
		got := MMD(c.X, c.Y, b, 7)
		if got.Statistic != plain.Statistic || got.Sigma != plain.Sigma || got.Permutations != b {
			t.Errorf("%s: with permutations %+v, without %+v", c.Name, got, plain)
		}
		k := got.PValue*(b+1) - 1
		if got.PValue < 1.0/(b+1) || got.PValue > 1 || math.Abs(k-math.Round(k)) > 1e-9 {
			t.Errorf("%s: p-value %v is not (1 + k)/(1 + %d)", c.Name, got.PValue, b)
		}
		if again := MMD(c.X, c.Y, b, 7); again != got {
			t.Errorf("%s: same seed gave %+v then %+v", c.Name, got, again)
		}
	}
}

// gaussianRows returns n rows of d independent N(shift, 1) values.
func gaussianRows(r *rand.Rand, n, d int, shift float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d)
		for j := range rows[i] {
			rows[i][j] = shift + r.NormFloat64()
		}
	}
	return rows
}

// TestMMDPValueUniformUnderNull draws 400 independent null data sets. With
// B = 99 permutations and exchangeable data, P(p ≤ 0.05) is exactly 5/100, so
// the number of such p-values is Binomial(400, 0.05): mean 20, sd 4.4. The
// test accepts 8..34 (about ±3 sd); the data are fixed by the seeds, so the
// outcome is deterministic. An estimator that let the observed assignment
// stand out from its permutations, or a p-value without the +1, fails it.
func TestMMDPValueUniformUnderNull(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 11))
	const sets, b = 400, 99
	low, min := 0, 0
	var mean float64
	for s := range sets {
		x := gaussianRows(r, 25, 3, 0)
		y := gaussianRows(r, 20, 3, 0)
		p := MMD(x, y, b, uint64(s)).PValue
		if p <= 0.05 {
			low++
		}
		if p == 1.0/(b+1) {
			min++
		}
		mean += p / sets
	}
	if low < 8 || low > 34 {
		t.Errorf("%d of %d null p-values ≤ 0.05, want about 20 (8..34)", low, sets)
	}
	// E[p] = (1 + E[k])/(1 + B) = (1 + B/2)/(1 + B) ≈ 0.505 with sd ≈ 0.0145.
	if mean < 0.45 || mean > 0.56 {
		t.Errorf("mean null p-value %v, want about 0.505", mean)
	}
	if min > 15 {
		t.Errorf("%d of %d null p-values are the minimum 1/(B+1), want about 4", min, sets)
	}
}

// TestMMDDetectsShift: a 1σ mean shift in every one of 5 dimensions at
// 100 rows a side is far beyond every permutation.
func TestMMDDetectsShift(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := gaussianRows(r, 100, 5, 0)
	y := gaussianRows(r, 100, 5, 1)
	got := MMD(x, y, 100, 1)
	if got.PValue != 1.0/101 || got.Statistic <= 0.1 {
		t.Errorf("1σ shift: %+v, want MMD² > 0.1 and p = 1/101", got)
	}
}

func TestMMDEdgeCases(t *testing.T) {
	one := [][]float64{{1, 2}}
	two := [][]float64{{1, 2}, {3, 4}}
	for _, tt := range []struct {
		name string
		x, y [][]float64
	}{{"one reference row", one, two}, {"one current row", two, one}, {"no rows", nil, two}} {
		if got := MMD(tt.x, tt.y, 10, 1); !math.IsNaN(got.Statistic) || !math.IsNaN(got.PValue) {
			t.Errorf("%s: %+v, want NaN", tt.name, got)
		}
	}
	// Identical points: all squared distances 0, σ from the 1e-30 floor, every
	// kernel value 1, MMD² = 1 + 1 − 2 = 0.
	same := [][]float64{{1, 1}, {1, 1}, {1, 1}}
	if got := MMD(same, same, 9, 1); got.Statistic != 0 || got.Sigma != math.Sqrt(0.5e-30) || got.PValue != 1 {
		t.Errorf("identical points: %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MMD of rows with different dimensions did not panic")
		}
	}()
	MMD(two, [][]float64{{1}, {2}}, 0, 1)
}

func BenchmarkMMD(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := gaussianRows(r, 500, 15, 0)
	y := gaussianRows(r, 500, 15, 0.1)
	b.ReportAllocs()
	for b.Loop() {
		MMD(x, y, 100, 1)
	}
}
