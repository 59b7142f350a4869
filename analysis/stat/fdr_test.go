package stat

import (
	"math"
	"slices"
	"testing"
)

func TestBenjaminiHochbergMatchesNumpy(t *testing.T) {
	ref := loadBatteryReference(t)
	for _, c := range ref.BenjaminiHochberg {
		p := nullableFloats(c.P)
		rejected, adjusted := BenjaminiHochberg(p, c.Q)
		if !slices.Equal(rejected, c.Rejected) {
			t.Errorf("%s: rejected %v, numpy %v", c.Name, rejected, c.Rejected)
		}
		want := nullableFloats(c.Adjusted)
		for i := range want {
			if !near(adjusted[i], want[i], 1e-12, 0) {
				t.Errorf("%s: adjusted[%d] = %.17g, numpy %.17g", c.Name, i, adjusted[i], want[i])
			}
		}
	}
}

// TestBenjaminiHochberg1995 is the worked example of Benjamini and Hochberg
// (1995, §4): 15 p-values at q = 0.05. The largest k with p_(k) ≤ k·q/15 is
// k = 4 (0.0095 ≤ 0.0133; 0.0201 > 0.0167, …, 0.0459 > 0.03), so the first
// four are rejected, where Bonferroni (0.05/15 = 0.0033) rejects only three.
func TestBenjaminiHochberg1995(t *testing.T) {
	p := []float64{0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
		0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000}
	rejected, adjusted := BenjaminiHochberg(p, 0.05)
	for i, r := range rejected {
		if r != (i < 4) {
			t.Errorf("p = %v: rejected %v, want %v", p[i], r, i < 4)
		}
	}
	// Hand-computed from 15·p_(j)/j = 0.0015, 0.003, 0.0095, 0.035625, 0.0603,
	// 0.0695, 0.063857…, 0.0645, 0.0765, 0.486, …, 1 and the running minimum
	// from the right.
	want := map[int]float64{0: 0.0015, 2: 0.0095, 3: 0.035625, 4: 0.0603, 5: 15 * 0.0298 / 7,
		6: 15 * 0.0298 / 7, 7: 0.0645, 8: 0.0765, 14: 1}
	for i, w := range want {
		if !near(adjusted[i], w, 1e-12, 0) {
			t.Errorf("adjusted p_(%d) = %v, want %v", i+1, adjusted[i], w)
		}
	}
}

func TestBenjaminiHochbergEdgeCases(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name     string
		p        []float64
		rejected []bool
		adjusted []float64
	}{
		{"empty", nil, []bool{}, []float64{}},
		{"all untested", []float64{nan, nan}, []bool{false, false}, []float64{nan, nan}},
		// m counts only the two tested values: 2·0.01/1 = 0.02, 2·0.04/2 = 0.04.
		{"untested do not count", []float64{nan, 0.04, nan, 0.01}, []bool{false, true, false, true},
			[]float64{nan, 0.04, nan, 0.02}},
		// p_(k) = k·q/m exactly is rejected (≤).
		{"boundary", []float64{0.025, 0.5}, []bool{true, false}, []float64{0.05, 0.5}},
		{"capped at 1", []float64{0.9, 0.95}, []bool{false, false}, []float64{0.95, 0.95}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected, adjusted := BenjaminiHochberg(tt.p, 0.05)
			if !slices.Equal(rejected, tt.rejected) {
				t.Errorf("rejected %v, want %v", rejected, tt.rejected)
			}
			if len(adjusted) != len(tt.adjusted) {
				t.Fatalf("adjusted %v, want %v", adjusted, tt.adjusted)
			}
			for i := range adjusted {
				if !near(adjusted[i], tt.adjusted[i], 1e-15, 0) {
					t.Errorf("adjusted %v, want %v", adjusted, tt.adjusted)
				}
			}
		})
	}
}

// TestBenjaminiHochbergRejectsByAdjusted: rejection is "adjusted ≤ q" and the
// adjusted values are monotone in p, for prefixes of a fixed list.
func TestBenjaminiHochbergRejectsByAdjusted(t *testing.T) {
	p := benchSample(200, 0, 1, 9)
	for i, v := range p {
		p[i] = math.Abs(v) / 40 // many small p-values, some rejected, some not
	}
	rejections := 0
	for _, m := range []int{1, 2, 10, 50, 200} {
		rejected, adjusted := BenjaminiHochberg(p[:m], 0.05)
		for i := range m {
			if rejected[i] != (adjusted[i] <= 0.05) {
				t.Errorf("m=%d: p=%v rejected=%v adjusted=%v", m, p[i], rejected[i], adjusted[i])
			}
			if rejected[i] {
				rejections++
			}
			for j := range m {
				if p[i] < p[j] && adjusted[i] > adjusted[j] {
					t.Errorf("m=%d: p %v < %v but adjusted %v > %v", m, p[i], p[j], adjusted[i], adjusted[j])
				}
			}
		}
	}
	if rejections == 0 {
		t.Error("the list rejects nothing, so the test checks nothing")
	}
}
