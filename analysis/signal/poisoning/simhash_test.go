package poisoning

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuantizeByHand: two significant digits, worked by hand.
func TestQuantizeByHand(t *testing.T) {
	for _, c := range []struct {
		x    float64
		m    int64
		e    int
		dgts int
	}{
		{129.93, 13, 1, 2}, {130.4, 13, 1, 2}, {124.9, 12, 1, 2}, {125.1, 13, 1, 2},
		{0.0123, 12, -3, 2}, {-0.0123, -12, -3, 2}, {1000, 10, 2, 2}, {999.96, 10, 2, 2}, {99.4, 99, 0, 2},
		{0, 0, 0, 2}, {1e-320, 0, 0, 2}, {3.14159, 314, -2, 3}, {1e308, 10, 307, 2},
		{math.Inf(1), 1, math.MaxInt16, 2}, {math.Inf(-1), -1, math.MaxInt16, 2},
	} {
		if m, e := quantize(c.x, c.dgts); m != c.m || e != c.e {
			t.Errorf("quantize(%g, %d) = %d·10^%d, want %d·10^%d", c.x, c.dgts, m, e, c.m, c.e)
		}
	}
	// Every power of ten, where Log10 may be off by one, lands on 10·10^(k−1).
	for k := -300; k <= 300; k++ {
		if m, e := quantize(math.Pow10(k), 2); m != 10 || e != k-1 {
			t.Fatalf("quantize(1e%d) = %d·10^%d", k, m, e)
		}
	}
}

// TestSimHashNearDuplicates: vectors whose values differ within their
// quantization cells (a 0.1% jitter) have the same fingerprint whatever
// the order of their categorical values' hashing; distinct vectors differ
// in about half of the 64 bits and never within 3; a vector that differs
// from another in one of 64 values lies a few bits away (the mean
// distance is measured here, about 3 bits: SimHash's locality).
func TestSimHashNearDuplicates(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	base := []float64{129.9, 3.14, 1000, 0.0421, -7.7, 55}
	cat := []string{"DE", "web"}
	fp, n := simHash(base, cat, 2)
	if n != 8 {
		t.Fatalf("%d tokens, want 8", n)
	}
	for range 100 {
		jit := make([]float64, len(base))
		for i, x := range base {
			jit[i] = x * (1 + (rng.Float64()-0.5)*0.001)
		}
		// 129.9 ± 0.07, 3.14 ± 0.002, ... stay in their 2-digit cells.
		if f, _ := simHash(jit, cat, 2); f != fp {
			t.Fatalf("jittered %v: %016x, want %016x", jit, f, fp)
		}
	}
	if f, _ := simHash(base, []string{"FR", "web"}, 2); f == fp {
		t.Fatal("another country, the same fingerprint")
	}
	if f, _ := simHash(base, []string{"web", "DE"}, 2); f == fp {
		t.Fatal("values swapped between features, the same fingerprint")
	}
	var near, far float64
	const trials = 2000
	for range trials {
		a, b := make([]float64, 64), make([]float64, 64)
		for i := range a {
			a[i] = rng.NormFloat64() * 100
			b[i] = rng.NormFloat64() * 100
		}
		fa, _ := simHash(a, nil, 2)
		fb, _ := simHash(b, nil, 2)
		if hamming(fa, fb) <= 3 {
			t.Fatalf("distinct vectors %d bits apart", hamming(fa, fb))
		}
		far += float64(hamming(fa, fb)) / trials
		c := append([]float64(nil), a...)
		c[rng.IntN(64)] += 1000 // another cell
		fc, _ := simHash(c, nil, 2)
		near += float64(hamming(fa, fc)) / trials
	}
	if far < 30 || far > 34 || near > 4.5 || near < 1 {
		t.Fatalf("mean distance %.1f bits between distinct vectors, %.1f with one value of 64 changed", far, near)
	}
	t.Logf("mean distance %.1f bits between distinct vectors, %.2f with one value of 64 changed", far, near)
}
