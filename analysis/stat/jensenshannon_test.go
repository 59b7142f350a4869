package stat

import (
	"fmt"
	"math"
	"testing"

	gonumstat "gonum.org/v1/gonum/stat"
)

func TestJensenShannonMatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Histograms {
		got := JensenShannon(c.Reference, c.Current)
		if !near(got, c.JS, 1e-9, 1e-12) {
			t.Errorf("%s: JensenShannon = %.17g, scipy %.17g", c.Name, got, c.JS)
		}
	}
}

func TestJensenShannonHandChecked(t *testing.T) {
	tests := []struct {
		name     string
		ref, cur []float64
		want     float64
	}{
		{"identical", []float64{3, 1, 4}, []float64{3, 1, 4}, 0},
		{"proportional", []float64{3, 1, 4}, []float64{6, 2, 8}, 0},
		{"disjoint", []float64{5, 5, 0, 0}, []float64{0, 0, 7, 3}, 1},
		// p=(1,0), q=(½,½): m=(¾,¼); JSD = ½[ln(4/3) + ½ln(2/3) + ½ln 2]/ln 2.
		{"half overlap", []float64{1, 0}, []float64{1, 1},
			math.Sqrt((math.Log(4.0/3) + 0.5*math.Log(2.0/3) + 0.5*math.Log(2)) / (2 * math.Ln2))},
		{"no current", []float64{1, 1}, []float64{0, 0}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JensenShannon(tt.ref, tt.cur); !near(got, tt.want, 1e-15, 1e-15) {
				t.Errorf("JensenShannon(%v, %v) = %.17g, want %.17g", tt.ref, tt.cur, got, tt.want)
			}
		})
	}
}

// TestJensenShannonVersusGonum pins the relation to gonum's divergence in
// nats (statistics.md §0.6): distance = √(gonum/ln 2).
func TestJensenShannonVersusGonum(t *testing.T) {
	r, c := benchCounts(20)
	p, q := normalised(r), normalised(c)
	want := math.Sqrt(gonumstat.JensenShannon(p, q) / math.Ln2)
	if got := JensenShannon(r, c); !near(got, want, 1e-12, 0) {
		t.Errorf("JensenShannon = %v, √(gonum/ln 2) = %v", got, want)
	}
}

func normalised(x []float64) []float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v / s
	}
	return out
}

func BenchmarkJensenShannon(b *testing.B) {
	for _, bins := range []int{10, 20} {
		b.Run(fmt.Sprintf("bins=%d", bins), func(b *testing.B) {
			r, c := benchCounts(bins)
			b.ReportAllocs()
			for b.Loop() {
				JensenShannon(r, c)
			}
		})
	}
}
