package stat

import (
	"math"
	"testing"
)

// TestMedianMAD against scipy.stats.median_abs_deviation's docstring-style
// values worked by hand: [1, 2, 3, 4, 100] has median 3 and deviations
// 2, 1, 0, 1, 97 (MAD 1); [1, 2, 3, 4] median 2.5, deviations 1.5, 0.5,
// 0.5, 1.5 (MAD 1).
func TestMedianMAD(t *testing.T) {
	for _, c := range []struct {
		xs       []float64
		med, mad float64
	}{
		{[]float64{100, 2, 3, 1, 4}, 3, 1},
		{[]float64{4, 1, 3, 2}, 2.5, 1},
		{[]float64{7}, 7, 0},
	} {
		med, mad := MedianMAD(c.xs)
		if med != c.med || mad != c.mad {
			t.Errorf("MedianMAD(%v) = %g, %g, want %g, %g", c.xs, med, mad, c.med, c.mad)
		}
	}
	if med, mad := MedianMAD(nil); !math.IsNaN(med) || !math.IsNaN(mad) {
		t.Errorf("MedianMAD(nil) = %g, %g", med, mad)
	}
	if math.Abs(MADScale-1/0.6744897501960817) > 1e-12 {
		t.Errorf("MADScale %g", MADScale)
	}
}
