package detect

import (
	"slices"
	"testing"
)

func TestPageHinkleyHandCase(t *testing.T) {
	// δ = 0, α = 1 (no fading) on 0, 0, 0, 0, 10: the running mean after the
	// 10 is 2, so S⁺ = 8 (its minimum is 0) and S⁻ = 8 (its maximum is 8).
	// λ = 7.9 is crossed upwards only; MinInstances 5 allows it at index 4.
	for _, tc := range []struct {
		mode string
		want []int
	}{{"up", []int{4}}, {"down", nil}, {"both", []int{4}}} {
		d := mustDetector(NewPageHinkley(PageHinkleyConfig{MinInstances: 5, Delta: 1e-300, Threshold: 7.9, Alpha: 1, Mode: tc.mode}))
		if got := detections(d, []float64{0, 0, 0, 0, 10}); !slices.Equal(got, tc.want) {
			t.Errorf("mode %s: detections %v, want %v", tc.mode, got, tc.want)
		}
	}
	// Mirrored, a drop: S⁻ falls to −8 below its maximum 0.
	d := mustDetector(NewPageHinkley(PageHinkleyConfig{MinInstances: 5, Delta: 1e-300, Threshold: 7.9, Alpha: 1, Mode: "down"}))
	if got := detections(d, []float64{0, 0, 0, 0, -10}); !slices.Equal(got, []int{4}) {
		t.Errorf("mode down on a drop: detections %v, want [4]", got)
	}
	// MinInstances 6 holds the alarm back.
	d = mustDetector(NewPageHinkley(PageHinkleyConfig{MinInstances: 6, Delta: 1e-300, Threshold: 7.9, Alpha: 1}))
	if got := detections(d, []float64{0, 0, 0, 0, 10}); got != nil {
		t.Errorf("min_instances 6: detections %v, want none", got)
	}
}

func TestPageHinkleyResetsOnTheNextUpdate(t *testing.T) {
	d := mustDetector(NewPageHinkley(PageHinkleyConfig{MinInstances: 5, Delta: 1e-300, Threshold: 7.9, Alpha: 1}))
	if got := detections(d, []float64{0, 0, 0, 0, 10}); !slices.Equal(got, []int{4}) {
		t.Fatalf("detections %v, want [4]", got)
	}
	// The value after a detection is the first of a new segment: its mean
	// is that value alone, and five more values pass before an alarm.
	d.Update(10)
	if d.DriftDetected() || d.n != 1 || d.mean != 10 {
		t.Fatalf("after the reset: drift %v, n %d, mean %g; want false, 1, 10", d.DriftDetected(), d.n, d.mean)
	}
}

func TestPageHinkleyRunLengths(t *testing.T) {
	newRiver := func() Detector { return mustDetector(NewPageHinkley(PageHinkleyConfig{})) }
	arl0 := runLengths(newRiver, 54, 200, 20000, 0, 0)
	delay := runLengths(newRiver, 55, 200, 5200, 200, 1)
	t.Logf("Page–Hinkley River defaults on N(0,1): ARL0 %.1f (median %.0f, sd %.1f, %d censored of 200 at 20000); delay after a 1σ shift at 200: mean %.1f (median %.0f, sd %.1f, %d censored)",
		arl0.mean, arl0.median, arl0.sd, arl0.censored, delay.mean, delay.median, delay.sd, delay.censored)
	if delay.censored > 0 {
		t.Errorf("delay after a 1σ shift: %d streams never detected", delay.censored)
	}
}

func BenchmarkPageHinkleyUpdate(b *testing.B) {
	d := mustDetector(NewPageHinkley(PageHinkleyConfig{}))
	xs := benchStream(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Update(xs[i&4095])
	}
}
