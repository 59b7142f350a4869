package detect

import (
	"math"
	"slices"
	"testing"
)

func TestCUSUMMatchesHandComputedSums(t *testing.T) {
	ref := loadChartReference(t)
	for _, name := range []string{"cusum_known", "cusum_estimated"} {
		t.Run(name, func(t *testing.T) {
			c, ok := ref.Cases[name]
			if !ok || len(c.Steps) != len(c.Stream) || len(c.Stream) == 0 {
				t.Fatalf("case %s missing from charts.json", name)
			}
			d := mustDetector(NewCUSUM(CUSUMConfig{MinInstances: c.MinInstances, Slack: c.Slack, Threshold: c.Threshold, Mean: c.Mean, Sigma: c.Sigma}))
			alarms := 0
			for i, x := range c.Stream {
				d.Update(x)
				up, lo := d.Sums()
				w := c.Steps[i]
				if math.Abs(up-w.Upper) > 1e-9 || math.Abs(lo-w.Lower) > 1e-9 || d.DriftDetected() != w.Alarm {
					t.Fatalf("after x[%d] = %g: S+ %g S- %g alarm %v, want %g %g %v", i, x, up, lo, d.DriftDetected(), w.Upper, w.Lower, w.Alarm)
				}
				if w.Alarm {
					alarms++
				}
			}
			if alarms == 0 {
				t.Fatal("the case has no alarm to check")
			}
		})
	}
}

func TestCUSUMModes(t *testing.T) {
	up := []float64{0, 0, 0, 3, 3, 3, 3}
	for _, tc := range []struct {
		mode   string
		stream []float64
		want   []int
	}{
		{"up", up, []int{5}},
		{"down", up, nil},
		{"both", up, []int{5}},
		{"up", neg(up), nil},
		{"down", neg(up), []int{5}},
		{"both", neg(up), []int{5}},
	} {
		// μ₀ = 0, σ = 1, k = 0.5, h = 5: S = 2.5, 5, 7.5 after the 3s.
		d := mustDetector(NewCUSUM(CUSUMConfig{Mode: tc.mode, Mean: 0, Sigma: 1}))
		if got := detections(d, tc.stream); !slices.Equal(got, tc.want) {
			t.Errorf("mode %s on %v: detections %v, want %v", tc.mode, tc.stream, got, tc.want)
		}
	}
}

func neg(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = -x
	}
	return out
}

// Montgomery, Introduction to Statistical Quality Control, Table 9.3: the
// two-sided tabular CUSUM with k = 1/2, h = 5 has ARL0 = 465 and ARL 10.4 at
// a 1σ shift; the Markov-chain values of make_charts.py are 464.9 and 10.37.
func TestCUSUMAverageRunLengthMatchesTheory(t *testing.T) {
	ref := loadChartReference(t)
	theory := ref.ARL["cusum_k0.5_h5"]
	newKnown := func() Detector { return mustDetector(NewCUSUM(CUSUMConfig{Mean: 0, Sigma: 1})) }
	for _, tc := range []struct {
		name      string
		shift     float64
		published float64
		markov    float64
		tol       float64
	}{
		{"ARL0", 0, 465, theory["arl0"], 0.08},
		{"ARL1 at 1σ", 1, 10.4, theory["arl1_shift1"], 0.05},
	} {
		st := runLengths(newKnown, 1954, 2000, 20000, 0, tc.shift)
		t.Logf("CUSUM k=0.5 h=5 known μ0, σ: %s measured %.1f (sd %.1f, %d censored), Markov chain %.2f, Montgomery %.1f",
			tc.name, st.mean, st.sd, st.censored, tc.markov, tc.published)
		if st.censored > 0 {
			t.Errorf("%s: %d streams without detection", tc.name, st.censored)
		}
		for _, want := range []float64{tc.published, tc.markov} {
			if math.Abs(st.mean-want) > tc.tol*want {
				t.Errorf("%s: measured %.1f, want %.2f ± %.0f%%", tc.name, st.mean, want, 100*tc.tol)
			}
		}
	}
}

// With μ₀ and σ estimated from 30 values, as River does, the run lengths
// spread far wider than the textbook chart's; the delay after a 1σ shift
// stays finite.
func TestCUSUMEstimatedRunLengths(t *testing.T) {
	newRiver := func() Detector { return mustDetector(NewCUSUM(CUSUMConfig{})) }
	arl0 := runLengths(newRiver, 30, 400, 20000, 0, 0)
	delay := runLengths(newRiver, 31, 400, 5200, 200, 1)
	t.Logf("CUSUM River defaults: ARL0 %.1f (median %.0f, sd %.1f, %d censored of 400); delay after a 1σ shift at 200: mean %.1f (median %.0f, sd %.1f, %d censored)",
		arl0.mean, arl0.median, arl0.sd, arl0.censored, delay.mean, delay.median, delay.sd, delay.censored)
	if delay.censored > 0 {
		t.Errorf("delay after a 1σ shift: %d streams never detected", delay.censored)
	}
}

func BenchmarkCUSUMUpdate(b *testing.B) {
	d := mustDetector(NewCUSUM(CUSUMConfig{}))
	xs := benchStream(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Update(xs[i&4095])
	}
}
