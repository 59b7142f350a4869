package stat

import (
	"math"
	"testing"

	gonumstat "gonum.org/v1/gonum/stat"
)

func TestWasserstein1MatchesScipy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Wasserstein {
		got := Wasserstein1(ref.sample(t, c.X), ref.sample(t, c.Y))
		if !near(got, c.Want, 1e-9, 1e-15) {
			t.Errorf("Wasserstein1(%s, %s) = %.17g, scipy %.17g", c.X, c.Y, got, c.Want)
		}
	}
}

func TestWasserstein1HandChecked(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"identical", []float64{1, 2, 3}, []float64{1, 2, 3}, 0},
		{"shift by 2", []float64{1, 2, 3}, []float64{3, 4, 5}, 2},
		{"point masses", []float64{0}, []float64{5}, 5},
		// Equal n: mean |x_(i) − y_(i)| = (1 + 0 + 2)/3.
		{"equal n", []float64{0, 1, 2}, []float64{1, 1, 4}, 1},
		{"ties", []float64{0, 0, 0, 1}, []float64{0, 1, 1, 1}, 0.5},
		{"empty", nil, []float64{1}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Wasserstein1(tt.x, tt.y); !near(got, tt.want, 1e-15, 1e-15) {
				t.Errorf("Wasserstein1(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
			}
		})
	}
}

// TestWasserstein1VersusGonum checks the linear merge against gonum's
// O(n·m) implementation on samples of unequal size.
func TestWasserstein1VersusGonum(t *testing.T) {
	x := benchSample(700, 0, 1, 3)
	y := benchSample(300, 0.4, 1.3, 4)
	want := gonumstat.WassersteinDistance(x, y, nil, nil)
	if got := Wasserstein1(x, y); !near(got, want, 1e-12, 0) {
		t.Errorf("Wasserstein1 = %.17g, gonum %.17g", got, want)
	}
}

func TestWasserstein1DoesNotAllocate(t *testing.T) {
	x := benchSample(100, 0, 1, 5)
	y := benchSample(80, 1, 1, 6)
	if a := testing.AllocsPerRun(100, func() { Wasserstein1(x, y) }); a != 0 {
		t.Errorf("Wasserstein1 allocates %v times per call", a)
	}
}

func BenchmarkWasserstein1(b *testing.B) {
	x := benchSample(10000, 0, 1, 1)
	y := benchSample(10000, 0.1, 1, 2)
	b.ReportAllocs()
	for b.Loop() {
		Wasserstein1(x, y)
	}
}
