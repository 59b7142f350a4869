package detect

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestADWINWindowStatistics(t *testing.T) {
	// Without a detection the window holds every value: its mean and
	// population variance, computed here in two passes, must match.
	rng := rand.New(rand.NewPCG(7, 7))
	d := mustDetector(NewADWIN(ADWINConfig{}))
	var xs []float64
	for i := 0; i < 3000; i++ {
		x := 5 + 2*rng.NormFloat64()
		xs = append(xs, x)
		d.Update(x)
		if d.DriftDetected() {
			t.Fatalf("false alarm at %d on a stationary stream", i)
		}
		if i%97 != 0 {
			continue
		}
		var mean, ss float64
		for _, v := range xs {
			mean += v
		}
		mean /= float64(len(xs))
		for _, v := range xs {
			ss += (v - mean) * (v - mean)
		}
		if d.Width() != len(xs) || math.Abs(d.Estimation()-mean) > 1e-9 || math.Abs(d.Variance()-ss/float64(len(xs))) > 1e-9 {
			t.Fatalf("after %d values: width %d mean %g var %g, want %d %g %g", len(xs), d.Width(), d.Estimation(), d.Variance(), len(xs), mean, ss/float64(len(xs)))
		}
	}
	// Bucket sizes are powers of two and each row holds at most MaxBuckets.
	for i, r := range d.rows {
		if len(r.total) == 0 || len(r.total) > 5 {
			t.Fatalf("row %d holds %d buckets", i, len(r.total))
		}
	}
}

func TestADWINClockAndReset(t *testing.T) {
	// Pitfall: checks happen every Clock values counted from the last reset,
	// so a detection at i satisfies (i − r + 1) mod 32 = 0, r being the first
	// index after the previous detection; and the whole window is dropped on
	// the next Update.
	rng := rand.New(rand.NewPCG(8, 8))
	d := mustDetector(NewADWIN(ADWINConfig{}))
	r, n := 0, 0
	for i := 0; i < 20000; i++ {
		mean := float64((i / 700) % 2 * 3)
		d.Update(mean + rng.NormFloat64())
		if i == r && d.Width() != 1 {
			t.Fatalf("first value after a reset at %d: width %d, want 1", i, d.Width())
		}
		if d.DriftDetected() {
			n++
			if (i-r+1)%32 != 0 {
				t.Fatalf("detection at %d, %d values after the reset at %d: not a multiple of the clock", i, i-r+1, r)
			}
			r = i + 1
		}
	}
	if n < 20 {
		t.Fatalf("only %d detections on a stream with 28 mean shifts of 3σ", n)
	}
}

func TestADWINEmptyWindow(t *testing.T) {
	d := mustDetector(NewADWIN(ADWINConfig{}))
	if d.Width() != 0 || d.Estimation() != 0 || d.Variance() != 0 || d.DriftDetected() {
		t.Fatalf("fresh detector: width %d mean %g var %g drift %v", d.Width(), d.Estimation(), d.Variance(), d.DriftDetected())
	}
}

func TestADWINRunLengths(t *testing.T) {
	newRiver := func() Detector { return mustDetector(NewADWIN(ADWINConfig{})) }
	arl0 := runLengths(newRiver, 2007, 100, 20000, 0, 0)
	delay := runLengths(newRiver, 2008, 200, 5200, 200, 1)
	// Most streams never alarm within 20000 values: ARL0 is beyond that.
	t.Logf("ADWIN River defaults on N(0,1): ARL0 %.1f (median %.0f, sd %.1f, %d censored of 100 at 20000); delay after a 1σ shift at 200: mean %.1f (median %.0f, sd %.1f, %d censored)",
		arl0.mean, arl0.median, arl0.sd, arl0.censored, delay.mean, delay.median, delay.sd, delay.censored)
	if delay.censored > 0 {
		t.Errorf("delay after a 1σ shift: %d streams never detected", delay.censored)
	}
}

func BenchmarkADWINUpdate(b *testing.B) {
	d := mustDetector(NewADWIN(ADWINConfig{}))
	xs := benchStream(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Update(xs[i&4095])
	}
}
