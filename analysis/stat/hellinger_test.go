package stat

import (
	"math"
	"testing"
)

func TestBinnedDistancesMatchScipy(t *testing.T) {
	ref := loadBatteryReference(t)
	if ref.PSIEpsilon != PSIEpsilon {
		t.Fatalf("battery reference.json uses epsilon %v, PSIEpsilon is %v", ref.PSIEpsilon, PSIEpsilon)
	}
	for _, c := range ref.Histograms {
		t.Run(c.Name, func(t *testing.T) {
			checks := []struct {
				stat      string
				got, want float64
			}{
				{"Hellinger", Hellinger(c.Reference, c.Current), c.Hellinger},
				{"KullbackLeibler(r, c)", KullbackLeibler(c.Reference, c.Current), c.KLCurrentReference},
				{"KullbackLeibler(c, r)", KullbackLeibler(c.Current, c.Reference), c.KLReferenceCurrent},
				{"LInfinity", LInfinity(c.Reference, c.Current), c.LInfinity},
				{"PSI", PSI(c.Reference, c.Current), c.PSI},
			}
			for _, ch := range checks {
				if !near(ch.got, ch.want, 1e-9, 1e-15) {
					t.Errorf("%s = %.17g, scipy %.17g", ch.stat, ch.got, ch.want)
				}
			}
		})
	}
}

// TestPSIIsSymmetrisedKullbackLeibler pins the documented identity
// PSI(r, c) = KL(c‖r) + KL(r‖c), floors included.
func TestPSIIsSymmetrisedKullbackLeibler(t *testing.T) {
	ref := loadBatteryReference(t)
	for _, c := range ref.Histograms {
		psi := PSI(c.Reference, c.Current)
		sum := KullbackLeibler(c.Reference, c.Current) + KullbackLeibler(c.Current, c.Reference)
		if !near(sum, psi, 1e-12, 1e-15) {
			t.Errorf("%s: KL(c‖r) + KL(r‖c) = %.17g, PSI %.17g", c.Name, sum, psi)
		}
	}
}

func TestBinnedDistancesHandChecked(t *testing.T) {
	tests := []struct {
		name                string
		ref, cur            []float64
		hellinger, kl, linf float64
	}{
		// p = (¾, ¼), q = (¼, ¾): Σ√(pq) = 2·√3/4, KL = ½·ln 3, L∞ = ½.
		{"swapped", []float64{3, 1}, []float64{1, 3}, math.Sqrt(1 - math.Sqrt(3)/2), 0.5 * math.Log(3), 0.5},
		{"identical", []float64{2, 5, 7}, []float64{2, 5, 7}, 0, 0, 0},
		{"proportional", []float64{2, 5, 7}, []float64{4, 10, 14}, 0, 0, 0},
		// Disjoint: KL = 1·ln(1/1e-4) + 1e-4·ln(1e-4/1).
		{"disjoint", []float64{1, 0}, []float64{0, 1}, 1, (1 - 1e-4) * math.Log(1e4), 1},
		{"no reference", []float64{0, 0}, []float64{1, 2}, math.NaN(), math.NaN(), math.NaN()},
		{"no current", []float64{1, 2}, []float64{0, 0}, math.NaN(), math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hellinger(tt.ref, tt.cur); !near(got, tt.hellinger, 1e-14, 1e-15) {
				t.Errorf("Hellinger = %.17g, want %.17g", got, tt.hellinger)
			}
			if got := KullbackLeibler(tt.ref, tt.cur); !near(got, tt.kl, 1e-14, 1e-15) {
				t.Errorf("KullbackLeibler = %.17g, want %.17g", got, tt.kl)
			}
			if got := LInfinity(tt.ref, tt.cur); !near(got, tt.linf, 1e-14, 1e-15) {
				t.Errorf("LInfinity = %.17g, want %.17g", got, tt.linf)
			}
		})
	}
}

func TestBinnedDistancesPanicOnLengthMismatch(t *testing.T) {
	for name, f := range map[string]func(a, b []float64) float64{
		"Hellinger": Hellinger, "KullbackLeibler": KullbackLeibler, "LInfinity": LInfinity,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of different lengths did not panic", name)
				}
			}()
			f([]float64{1, 2}, []float64{1})
		})
	}
}

func TestBinnedDistancesDoNotAllocate(t *testing.T) {
	r, c := benchCounts(10)
	for name, f := range map[string]func(a, b []float64) float64{
		"Hellinger": Hellinger, "KullbackLeibler": KullbackLeibler, "LInfinity": LInfinity,
	} {
		if a := testing.AllocsPerRun(10, func() { f(r, c) }); a != 0 {
			t.Errorf("%s allocates %v times", name, a)
		}
	}
}

func BenchmarkHellinger(b *testing.B) {
	r, c := benchCounts(10)
	b.ReportAllocs()
	for b.Loop() {
		Hellinger(r, c)
	}
}
