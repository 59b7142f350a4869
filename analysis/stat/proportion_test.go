package stat

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestTwoProportionZ checks the statistic against statsmodels' documented
// example of proportions_ztest (count [5, 12], nobs [83, 99]: two-sided
// p = 0.159) and against the formula evaluated in double precision by hand
// (Python's math module).
func TestTwoProportionZ(t *testing.T) {
	tests := []struct {
		name           string
		k1, n1, k2, n2 float64
		z, pLarger     float64
	}{
		{"statsmodels example", 5, 83, 12, 99, -1.4078304151258787, 0.9204093540942151},
		{"2% to 5%", 150, 3000, 60, 3000, 6.322214192986388, 1.2892081542556286e-10},
		{"3% against 2%", 30, 1000, 20, 1000, 1.4322297480788655, 0.07603904039648764},
	}
	for _, tc := range tests {
		z := TwoProportionZ(tc.k1, tc.n1, tc.k2, tc.n2)
		p := distuv.UnitNormal.Survival(z)
		if math.Abs(z-tc.z) > 1e-12 || math.Abs(p-tc.pLarger) > 1e-12*math.Max(1, tc.pLarger)+1e-15 {
			t.Errorf("%s: z %v p %v, want %v %v", tc.name, z, p, tc.z, tc.pLarger)
		}
	}
	if p := 2 * distuv.UnitNormal.Survival(math.Abs(TwoProportionZ(5, 83, 12, 99))); math.Abs(p-0.159) > 5e-4 {
		t.Errorf("statsmodels example: two-sided p %v, want 0.159", p)
	}
	for _, c := range [][4]float64{{0, 500, 0, 500}, {500, 500, 500, 500}, {0, 0, 3, 10}, {1, 10, 0, 0}} {
		if z := TwoProportionZ(c[0], c[1], c[2], c[3]); !math.IsNaN(z) {
			t.Errorf("TwoProportionZ%v = %v, want NaN (no variance or no trials)", c, z)
		}
	}
}
