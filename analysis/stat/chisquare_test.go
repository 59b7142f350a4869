package stat

import (
	"fmt"
	"math"
	"testing"
)

func TestChiSquareMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.ChiSquare {
		got := ChiSquare(c.Reference, c.Current)
		if got.DoF != c.DoF {
			t.Errorf("%s: DoF = %d, scipy %d", c.Name, got.DoF, c.DoF)
		}
		if !near(got.Statistic, c.Statistic, 1e-9, 1e-12) {
			t.Errorf("%s: statistic = %.17g, scipy %.17g", c.Name, got.Statistic, c.Statistic)
		}
		if !near(got.PValue, c.PValue, 1e-9, 1e-12) {
			t.Errorf("%s: p = %.17g, scipy %.17g", c.Name, got.PValue, c.PValue)
		}
	}
}

func TestChiSquareHandChecked(t *testing.T) {
	tests := []struct {
		name     string
		ref, cur []float64
		want     ChiSquareResult
	}{
		{"identical", []float64{10, 20, 30}, []float64{10, 20, 30}, ChiSquareResult{0, 1, 2}},
		// 2×2 [[10,0],[0,10]]: E=5, |O−E|=5 → 4.5 after Yates; X² = 4·4.5²/5 = 16.2.
		{"yates 2x2", []float64{10, 0}, []float64{0, 10},
			ChiSquareResult{16.2, math.Erfc(math.Sqrt(16.2 / 2)), 1}},
		{"zero column dropped", []float64{10, 0, 0}, []float64{0, 0, 10},
			ChiSquareResult{16.2, math.Erfc(math.Sqrt(16.2 / 2)), 1}},
		{"one column", []float64{4, 0}, []float64{9, 0}, ChiSquareResult{0, 1, 0}},
		{"all zero", []float64{0, 0}, []float64{0, 0}, ChiSquareResult{0, 1, 0}},
		{"empty current", []float64{4, 5}, []float64{0, 0}, ChiSquareResult{math.NaN(), math.NaN(), 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChiSquare(tt.ref, tt.cur)
			if got.DoF != tt.want.DoF || !near(got.Statistic, tt.want.Statistic, 1e-14, 0) ||
				!near(got.PValue, tt.want.PValue, 1e-12, 0) {
				t.Errorf("ChiSquare(%v, %v) = %+v, want %+v", tt.ref, tt.cur, got, tt.want)
			}
		})
	}
}

func BenchmarkChiSquare(b *testing.B) {
	for _, bins := range []int{10, 20} {
		b.Run(fmt.Sprintf("bins=%d", bins), func(b *testing.B) {
			r, c := benchCounts(bins)
			b.ReportAllocs()
			for b.Loop() {
				ChiSquare(r, c)
			}
		})
	}
}
