package stat

import (
	"math"
	"slices"
	"testing"
)

func TestEnergyDistanceMatchesScipy(t *testing.T) {
	ref := loadBatteryReference(t)
	for _, c := range ref.Energy {
		x, y := slices.Sorted(slices.Values(c.X)), slices.Sorted(slices.Values(c.Y))
		if got := EnergyDistance(x, y); !near(got, c.Distance, 1e-9, 1e-15) {
			t.Errorf("%s: EnergyDistance = %.17g, scipy %.17g", c.Name, got, c.Distance)
		}
	}
}

func TestEnergyDistanceHandChecked(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		// F − G = 1 on [0, 2): √2·√2 = 2.
		{"two points", []float64{0}, []float64{2}, 2},
		// F − G = 1/2 on [0, 1): √(2·¼·1).
		{"half", []float64{0, 1}, []float64{1}, math.Sqrt(0.5)},
		{"same", []float64{1, 2, 3}, []float64{1, 2, 3}, 0},
		{"empty x", nil, []float64{1}, math.NaN()},
		{"empty y", []float64{1}, nil, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EnergyDistance(tt.x, tt.y); !near(got, tt.want, 1e-15, 1e-15) {
				t.Errorf("EnergyDistance(%v, %v) = %.17g, want %.17g", tt.x, tt.y, got, tt.want)
			}
		})
	}
}

// TestEnergyDistanceShiftScaling: for a pure location shift of size s much
// larger than the spread, ∫(F − G)² ≈ s, and scaling both samples by a scales
// the distance by √a.
func TestEnergyDistanceShiftScaling(t *testing.T) {
	x := benchSample(500, 0, 1, 11)
	y := benchSample(400, 0.5, 1, 12)
	d := EnergyDistance(x, y)
	sx, sy := slices.Clone(x), slices.Clone(y)
	for i := range sx {
		sx[i] *= 4
	}
	for i := range sy {
		sy[i] *= 4
	}
	if got := EnergyDistance(sx, sy); !near(got, 2*d, 1e-12, 0) {
		t.Errorf("scaled by 4: %v, want 2·%v", got, d)
	}
	if got := EnergyDistance(y, x); !near(got, d, 1e-12, 0) {
		t.Errorf("not symmetric: %v vs %v", got, d)
	}
}

func TestEnergyDistanceDoesNotAllocate(t *testing.T) {
	x := benchSample(1000, 0, 1, 1)
	y := benchSample(900, 0.1, 1, 2)
	if a := testing.AllocsPerRun(10, func() { EnergyDistance(x, y) }); a != 0 {
		t.Errorf("EnergyDistance allocates %v times", a)
	}
}

func BenchmarkEnergyDistance(b *testing.B) {
	x := benchSample(10000, 0, 1, 1)
	y := benchSample(10000, 0.02, 1, 2)
	b.ReportAllocs()
	b.SetBytes(8 * 20000)
	for b.Loop() {
		EnergyDistance(x, y)
	}
}
