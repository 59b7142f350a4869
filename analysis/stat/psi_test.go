package stat

import (
	"fmt"
	"math"
	"testing"
)

func TestPSIMatchesNumpy(t *testing.T) {
	ref := loadStatsReference(t)
	if ref.PSIEpsilon != PSIEpsilon {
		t.Fatalf("reference.json uses epsilon %v, PSIEpsilon is %v", ref.PSIEpsilon, PSIEpsilon)
	}
	for _, c := range ref.Histograms {
		got := PSI(c.Reference, c.Current)
		if !near(got, c.PSI, 1e-9, 1e-15) {
			t.Errorf("%s: PSI = %.17g, numpy %.17g", c.Name, got, c.PSI)
		}
	}
}

func TestPSIHandChecked(t *testing.T) {
	tests := []struct {
		name      string
		ref, cur  []float64
		want, tol float64
	}{
		{"identical", []float64{10, 20, 30, 40}, []float64{10, 20, 30, 40}, 0, 0},
		{"proportional counts", []float64{10, 20, 30, 40}, []float64{1, 2, 3, 4}, 0, 1e-15},
		// (0.75−0.25)·ln 3 + (0.25−0.75)·ln(1/3) = ln 3.
		{"two bins swapped", []float64{1, 3}, []float64{3, 1}, math.Log(3), 1e-15},
		// Empty current bin: c = 1e-4 without renormalisation.
		{"empty bin floored", []float64{1, 1}, []float64{1, 0},
			(1-0.5)*math.Log(1/0.5) + (1e-4-0.5)*math.Log(1e-4/0.5), 1e-15},
		{"no reference", []float64{0, 0}, []float64{1, 2}, math.NaN(), 0},
		{"no current", []float64{1, 2}, []float64{0, 0}, math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PSI(tt.ref, tt.cur); !near(got, tt.want, tt.tol, tt.tol) {
				t.Errorf("PSI(%v, %v) = %.17g, want %.17g", tt.ref, tt.cur, got, tt.want)
			}
		})
	}
}

func TestPSISymmetric(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Histograms {
		a, b := PSI(c.Reference, c.Current), PSI(c.Current, c.Reference)
		if !near(a, b, 1e-12, 1e-15) {
			t.Errorf("%s: PSI not symmetric: %v vs %v", c.Name, a, b)
		}
	}
}

func TestPSIPanicsOnLengthMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PSI of different lengths did not panic")
		}
	}()
	PSI([]float64{1, 2}, []float64{1})
}

func BenchmarkPSI(b *testing.B) {
	for _, bins := range []int{10, 20} {
		b.Run(fmt.Sprintf("bins=%d", bins), func(b *testing.B) {
			r, c := benchCounts(bins)
			b.ReportAllocs()
			for b.Loop() {
				PSI(r, c)
			}
		})
	}
}

// TestPSIPValueMatchesChiSquare checks PSIPValue against scipy 1.10:
// chi2.sf(0.0338/(1/1000+1/1000), 9) = chi2.sf(16.9, 9).
func TestPSIPValueMatchesChiSquare(t *testing.T) {
	const want = 0.0503051901243108 // /usr/bin/python3 -c "from scipy.stats import chi2; print(repr(chi2.sf(16.9, 9)))"
	if got := PSIPValue(0.0338, 1000, 1000, 10); math.Abs(got-want) > 1e-9*want {
		t.Errorf("PSIPValue = %.16g, want %.16g", got, want)
	}
	if !math.IsNaN(PSIPValue(0.1, 0, 10, 10)) {
		t.Error("PSIPValue with an empty side is not NaN")
	}
}
