package stat

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMahalanobisMeanMatchesNumpy(t *testing.T) {
	ref := loadBatteryReference(t)
	for _, c := range ref.Mahalanobis {
		got, err := MahalanobisMean(c.Reference, c.CurrentMean)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if !near(got, c.Distance, 1e-9, 0) {
			t.Errorf("%s: MahalanobisMean = %.17g, numpy %.17g", c.Name, got, c.Distance)
		}
	}
}

func TestMahalanobisMeanHandChecked(t *testing.T) {
	// Two features, uncorrelated, variances 1 and 4 (ddof 1), means 0 and 0:
	// rows (±1, ±2) in all four sign combinations give var = 4/3 and 16/3.
	rows := [][]float64{{1, 2}, {1, -2}, {-1, 2}, {-1, -2}}
	got, err := MahalanobisMean(rows, []float64{1, 2})
	want := math.Sqrt(1/(4.0/3) + 4/(16.0/3))
	if err != nil || !near(got, want, 1e-14, 0) {
		t.Errorf("MahalanobisMean = %v, %v; want %v", got, err, want)
	}
	if got, err := MahalanobisMean(rows, []float64{0, 0}); err != nil || got != 0 {
		t.Errorf("at the reference mean: %v, %v; want 0", got, err)
	}
}

// TestMahalanobisMeanInvariantToUnits: rescaling and shifting a feature must
// not change the distance.
func TestMahalanobisMeanInvariantToUnits(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	rows := gaussianRows(r, 200, 3, 0)
	for _, row := range rows {
		row[1] += 0.5 * row[0]
	}
	mean := []float64{0.1, 0.2, -0.1}
	want, err := MahalanobisMean(rows, mean)
	if err != nil {
		t.Fatal(err)
	}
	scaled := make([][]float64, len(rows))
	for i, row := range rows {
		scaled[i] = []float64{row[0] * 1e6, row[1], row[2]*1e-6 + 3}
	}
	got, err := MahalanobisMean(scaled, []float64{mean[0] * 1e6, mean[1], mean[2]*1e-6 + 3})
	if err != nil || !near(got, want, 1e-8, 0) {
		t.Errorf("rescaled features: %v, %v; want %v", got, err, want)
	}
}

func TestMahalanobisMeanErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	base := gaussianRows(r, 50, 3, 0)
	withColumn := func(f func(row []float64) float64) [][]float64 {
		out := make([][]float64, len(base))
		for i, row := range base {
			out[i] = append(append([]float64(nil), row...), f(row))
		}
		return out
	}
	tests := []struct {
		name      string
		rows      [][]float64
		mean      []float64
		errSubstr string
	}{
		{"no features", base, nil, "no features"},
		{"ragged row", [][]float64{{1, 2}, {3}}, []float64{0, 0}, "row 1 has 1 values"},
		{"too few rows", base[:3], []float64{0, 0, 0}, "3 reference rows in 3 dimensions"},
		{"constant feature", withColumn(func([]float64) float64 { return 7 }), []float64{0, 0, 0, 7},
			"feature 3 is constant"},
		{"exact linear combination", withColumn(func(row []float64) float64 { return row[0] - 2*row[2] }),
			[]float64{0, 0, 0, 0}, "feature 3 is"},
		{"duplicated feature", withColumn(func(row []float64) float64 { return row[1] }),
			[]float64{0, 0, 0, 0}, "feature 3 is"},
		{"nearly dependent", withColumn(func(row []float64) float64 { return row[0] + 1e-6*row[1] }),
			[]float64{0, 0, 0, 0}, "nearly a linear combination of features 0..2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MahalanobisMean(tt.rows, tt.mean)
			if err == nil || !strings.Contains(err.Error(), tt.errSubstr) || !math.IsNaN(got) {
				t.Errorf("MahalanobisMean = %v, %v; want NaN and an error containing %q", got, err, tt.errSubstr)
			}
		})
	}
}

func BenchmarkMahalanobisMean(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	rows := gaussianRows(r, 1000, 15, 0)
	mean := make([]float64, 15)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MahalanobisMean(rows, mean); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMahalanobisMeanNullScale checks the documented null: for windows of w
// rows from the reference distribution, d²/(1/w + 1/n) averages about p (the
// χ²_p mean; sd of the average over 500 windows ≈ 0.11 for p = 3).
func TestMahalanobisMeanNullScale(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	const n, w, p, windows = 2000, 50, 3, 500
	rows := gaussianRows(r, n, p, 0)
	for _, row := range rows {
		row[2] = 2*row[2] + row[0] // correlated, unequal variances
	}
	var mean float64
	for range windows {
		win := gaussianRows(r, w, p, 0)
		m := make([]float64, p)
		for _, row := range win {
			row[2] = 2*row[2] + row[0]
			for j, v := range row {
				m[j] += v / w
			}
		}
		d, err := MahalanobisMean(rows, m)
		if err != nil {
			t.Fatal(err)
		}
		mean += d * d / (1.0/w + 1.0/n) / windows
	}
	if mean < 2.6 || mean > 3.4 {
		t.Errorf("mean of d²/(1/w + 1/n) over null windows = %v, want about %d", mean, p)
	}
}
