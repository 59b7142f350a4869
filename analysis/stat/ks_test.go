package stat

import (
	"math"
	"testing"

	gonumstat "gonum.org/v1/gonum/stat"
)

func TestKolmogorovSmirnovMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.KS {
		got := KolmogorovSmirnov(ref.sample(t, c.X), ref.sample(t, c.Y))
		if got.Method != c.Method {
			t.Errorf("ks(%s, %s): method %q, scipy used %q", c.X, c.Y, got.Method, c.Method)
		}
		if !near(got.Statistic, c.Statistic, 1e-9, 1e-15) {
			t.Errorf("ks(%s, %s): D = %.17g, scipy %.17g", c.X, c.Y, got.Statistic, c.Statistic)
		}
		if !near(got.PValue, c.PValue, 1e-9, 1e-12) {
			t.Errorf("ks(%s, %s): p = %.17g, scipy %.17g (%s)", c.X, c.Y, got.PValue, c.PValue, c.Method)
		}
	}
}

// TestKolmogorovSmirnovAsympMatchesScipy checks the forced asymp method
// against scipy 1.10's ks_2samp(x, y, method='asymp') on samples of
// reference.json, at the unequal sizes a drift decision compares; exact is
// scipy's method='exact' p-value, which the asymp one stays within 2% of.
func TestKolmogorovSmirnovAsympMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range []struct {
		x, y            string
		d, asymp, exact float64
	}{
		{"large_10000_a", "normal_1000_a", 0.04680000000000001, 0.03612038787440641, 0.036318878983833215},
		{"large_9000", "shift_500_a", 0.04722222222222222, 0.23364047333281757, 0.23475993605570483},
		{"scale_800", "scale_600", 0.11083333333333333, 0.00039941686400230426, 0.00040709136723506196},
		{"poisson_300", "poisson_400", 0.15416666666666667, 0.0005148952083482958, 0.0005171451928135364},
		{"large_10000_b", "shift_500_b", 0.10699999999999998, 3.36110596330127e-05, 3.374069510351176e-05},
		{"unequal_250", "unequal_100", 0.17799999999999994, 0.01937971386222939, 0.01944227365344343},
	} {
		got := KolmogorovSmirnovAsymp(ref.sample(t, c.x), ref.sample(t, c.y))
		if got.Method != KSAsymp || !near(got.Statistic, c.d, 1e-12, 0) || !near(got.PValue, c.asymp, 1e-9, 1e-12) {
			t.Errorf("asymp ks(%s, %s) = %+v, scipy D %.17g p %.17g", c.x, c.y, got, c.d, c.asymp)
		}
		if math.Abs(got.PValue-c.exact) > 0.02*c.exact {
			t.Errorf("asymp ks(%s, %s): p %.6g more than 2%% from the exact %.6g", c.x, c.y, got.PValue, c.exact)
		}
		// The bounded test takes the exact p-value up to KSExactCells, the
		// asymp one beyond.
		x, y := ref.sample(t, c.x), ref.sample(t, c.y)
		wantP, wantMethod := c.exact, KSExact
		if len(x)*len(y) > KSExactCells {
			wantP, wantMethod = c.asymp, KSAsymp
		}
		if b := KolmogorovSmirnovBounded(x, y); b.Method != wantMethod || !near(b.PValue, wantP, 1e-9, 1e-12) {
			t.Errorf("bounded ks(%s, %s) = %+v, scipy %s p %.17g", c.x, c.y, b, wantMethod, wantP)
		}
	}
	if got := KolmogorovSmirnovAsymp(nil, []float64{1}); !math.IsNaN(got.PValue) || got.Method != "" {
		t.Errorf("empty sample: %+v", got)
	}
}

func TestKstwoSFMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.KStwoSF {
		got := kstwoSF(c.X, float64(c.N))
		if !near(got, c.SF, 1e-9, 1e-12) {
			t.Errorf("kstwo.sf(%.17g, %d) = %.17g, scipy %.17g", c.X, c.N, got, c.SF)
		}
	}
}

func TestSmirnovSFMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	if len(ref.SmirnovSF) == 0 {
		t.Fatal("no smirnov_sf cases in reference.json")
	}
	for _, c := range ref.SmirnovSF {
		got := smirnovSF(c.N, c.X)
		if !near(got, c.SF, 1e-9, 1e-12) {
			t.Errorf("smirnov(%d, %.17g) = %.17g, scipy %.17g", c.N, c.X, got, c.SF)
		}
	}
}

func TestKolmogorovSmirnovHandChecked(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want KSResult
	}{
		{"identical", []float64{1, 2, 3}, []float64{1, 2, 3}, KSResult{0, 1, KSExact}},
		// All 3+3 orderings equally likely; only the 2 fully separated
		// ones reach D = 1: p = 2/C(6,3) = 0.1.
		{"separated 3/3", []float64{1, 2, 3}, []float64{4, 5, 6}, KSResult{1, 0.1, KSExact}},
		// n ≠ m: 2/C(5,2) = 0.2.
		{"separated 2/3", []float64{1, 2}, []float64{4, 5, 6}, KSResult{1, 0.2, KSExact}},
		{"empty", nil, []float64{1}, KSResult{math.NaN(), math.NaN(), ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KolmogorovSmirnov(tt.x, tt.y)
			if got.Method != tt.want.Method || !near(got.Statistic, tt.want.Statistic, 1e-15, 0) ||
				!near(got.PValue, tt.want.PValue, 1e-14, 0) {
				t.Errorf("KolmogorovSmirnov(%v, %v) = %+v, want %+v", tt.x, tt.y, got, tt.want)
			}
		})
	}
}

// TestKolmogorovSmirnovStatisticVersusGonum checks the merged statistic
// against gonum's on samples with ties.
func TestKolmogorovSmirnovStatisticVersusGonum(t *testing.T) {
	x := benchSample(20000, 0, 1, 7)
	y := benchSample(15000, 0.05, 1, 8)
	for i := range x {
		x[i] = math.Round(x[i]*100) / 100
	}
	for i := range y {
		y[i] = math.Round(y[i]*100) / 100
	}
	want := gonumstat.KolmogorovSmirnov(x, nil, y, nil)
	got := KolmogorovSmirnov(x, y)
	if got.Method != KSAsymp || !near(got.Statistic, want, 1e-12, 0) {
		t.Errorf("KolmogorovSmirnov = %+v, gonum D = %v", got, want)
	}
}

func BenchmarkKolmogorovSmirnov(b *testing.B) {
	x := benchSample(10000, 0, 1, 1)
	for _, c := range []struct {
		name string
		y    []float64
	}{
		{"n=m=10000", benchSample(10000, 0.02, 1, 2)},
		{"n=10000,m=9000", benchSample(9000, 0.02, 1, 2)},
		{"n=10000,m=1000", benchSample(1000, 0.02, 1, 2)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				KolmogorovSmirnov(x, c.y)
			}
		})
	}
}
