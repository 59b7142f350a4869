package stat

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// batteryReference is analysis/stat/testdata/battery/reference.json, written by
// make_reference.py from scipy and numpy. A null in a float list is NaN.
type batteryReference struct {
	PSIEpsilon float64 `json:"psi_epsilon"`
	Anderson   []struct {
		Name           string      `json:"name"`
		Samples        [][]float64 `json:"samples"`
		Statistic      float64     `json:"statistic"`
		PValue         float64     `json:"pvalue"`
		CriticalValues []float64   `json:"critical_values"`
	} `json:"anderson"`
	Energy []struct {
		Name     string    `json:"name"`
		X        []float64 `json:"x"`
		Y        []float64 `json:"y"`
		Distance float64   `json:"distance"`
	} `json:"energy"`
	Histograms []struct {
		Name               string    `json:"name"`
		Reference          []float64 `json:"reference"`
		Current            []float64 `json:"current"`
		Hellinger          float64   `json:"hellinger"`
		KLCurrentReference float64   `json:"kl_current_reference"`
		KLReferenceCurrent float64   `json:"kl_reference_current"`
		PSI                float64   `json:"psi"`
		LInfinity          float64   `json:"linf"`
	} `json:"histograms"`
	MMD []struct {
		Name      string      `json:"name"`
		X         [][]float64 `json:"x"`
		Y         [][]float64 `json:"y"`
		Statistic float64     `json:"statistic"`
		Sigma     float64     `json:"sigma"`
	} `json:"mmd"`
	Mahalanobis []struct {
		Name        string      `json:"name"`
		Reference   [][]float64 `json:"reference"`
		CurrentMean []float64   `json:"current_mean"`
		Distance    float64     `json:"distance"`
	} `json:"mahalanobis"`
	BenjaminiHochberg []struct {
		Name     string     `json:"name"`
		P        []*float64 `json:"p"`
		Q        float64    `json:"q"`
		Rejected []bool     `json:"rejected"`
		Adjusted []*float64 `json:"adjusted"`
	} `json:"benjamini_hochberg"`
}

var batteryRef referenceFile[batteryReference]

func loadBatteryReference(t testing.TB) *batteryReference {
	t.Helper()
	r := batteryRef.load(t, "testdata", "battery", "reference.json")
	if len(r.Anderson) == 0 || len(r.Energy) == 0 || len(r.Histograms) == 0 || len(r.MMD) == 0 ||
		len(r.Mahalanobis) == 0 || len(r.BenjaminiHochberg) == 0 {
		t.Fatal("battery reference.json lacks a section; regenerate it with make_reference.py")
	}
	return r
}

// nullableFloats turns JSON nulls into NaN.
func nullableFloats(v []*float64) []float64 {
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

func TestAndersonDarlingMatchesScipy(t *testing.T) {
	ref := loadBatteryReference(t)
	clipped := map[float64]int{}
	for _, c := range ref.Anderson {
		t.Run(c.Name, func(t *testing.T) {
			before := make([][]float64, len(c.Samples))
			for i, s := range c.Samples {
				before[i] = slices.Clone(s)
			}
			got := AndersonDarling(c.Samples...)
			for i := range c.Samples {
				if !slices.Equal(before[i], c.Samples[i]) {
					t.Fatalf("sample %d was modified", i)
				}
			}
			if !near(got.Statistic, c.Statistic, 1e-9, 1e-12) {
				t.Errorf("statistic = %.17g, scipy %.17g", got.Statistic, c.Statistic)
			}
			if !near(got.PValue, c.PValue, 1e-9, 0) {
				t.Errorf("p-value = %.17g, scipy %.17g", got.PValue, c.PValue)
			}
			for i, cv := range c.CriticalValues {
				if !near(got.CriticalValues[i], cv, 1e-12, 0) {
					t.Errorf("critical value %d = %.17g, scipy %.17g", i, got.CriticalValues[i], cv)
				}
			}
		})
		clipped[c.PValue]++
	}
	if clipped[0.25] == 0 || clipped[0.001] == 0 || len(clipped) < 4 {
		t.Errorf("reference lacks a capped, floored or interpolated p-value: %v", clipped)
	}
}

func TestAndersonDarlingEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		samples [][]float64
	}{
		{"empty sample", [][]float64{{1, 2, 3}, {}}},
		{"one distinct value", [][]float64{{2, 2, 2}, {2, 2}}},
		{"three observations", [][]float64{{1}, {2, 3}}}, // scipy: nan (σN divides by zero)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AndersonDarling(tt.samples...)
			if !math.IsNaN(got.Statistic) || !math.IsNaN(got.PValue) {
				t.Errorf("AndersonDarling(%v) = %+v, want NaN statistic and p-value", tt.samples, got)
			}
			if !near(got.CriticalValues[0], 0.325, 1e-12, 0) {
				t.Errorf("critical values %v not filled", got.CriticalValues)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("AndersonDarling of one sample did not panic")
		}
	}()
	AndersonDarling([]float64{1, 2, 3})
}

// TestAndersonDarlingOrderInvariant: the statistic depends on the samples as
// sets, so permuting the values inside each sample or the samples themselves
// must not change it.
func TestAndersonDarlingOrderInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a := benchSample(70, 0, 1, 5)
	b := benchSample(90, 0.3, 1, 6)
	c := benchSample(50, 0, 1.5, 7)
	want := AndersonDarling(a, b, c)
	r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	for _, got := range []ADResult{AndersonDarling(a, b, c), AndersonDarling(c, a, b)} {
		if !near(got.Statistic, want.Statistic, 1e-12, 0) || !near(got.PValue, want.PValue, 1e-12, 0) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func BenchmarkAndersonDarling(b *testing.B) {
	x := benchSample(10000, 0, 1, 1)
	y := benchSample(10000, 0.02, 1, 2)
	b.ReportAllocs()
	b.SetBytes(8 * 20000)
	for b.Loop() {
		AndersonDarling(x, y)
	}
}
