package outputs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

func errorEvents(n, failed int, errType string) []*telemetry.Event {
	out := make([]*telemetry.Event, n)
	for i := range out {
		out[i] = &telemetry.Event{}
		if i < failed {
			out[i].ErrorType = errType
		}
	}
	return out
}

// TestErrorRateAgainstTheReference: 30 failures of 1,000 calls against 20 of
// 1,000 in the reference: one-sided p = Φ̄(1.4322297480788655) =
// 0.07603904039648764 (the pooled two-proportion z-test by hand), effect one
// point; the error type is a subject of its own; without a reference the
// verdicts only inform.
func TestErrorRateAgainstTheReference(t *testing.T) {
	sig := ErrorRate{DefaultConfig()}
	cur, ref := sig.NewPartial(), sig.NewPartial()
	cur.Observe(errorEvents(1000, 30, "timeout"))
	ref.Observe(errorEvents(1000, 20, "timeout"))
	vs := sig.Score(cur, ref)
	all := signaltest.Verdict(t, vs, "*")
	if !all.Decides() || math.Abs(all.PValue-0.07603904039648764) > 1e-12 || math.Abs(all.Effect-0.01) > 1e-12 ||
		all.Statistic != 0.03 || all.N != 1000 || !strings.Contains(all.Evidence, "30 of 1000 calls failed; top: timeout 30 (3.00%; reference 2.00%)") {
		t.Errorf("overall verdict %+v", all)
	}
	if tv := signaltest.Verdict(t, vs, "timeout"); math.Abs(tv.PValue-all.PValue) > 1e-12 || tv.Statistic != 0.03 {
		t.Errorf("timeout verdict %+v", tv)
	}
	for _, v := range sig.Score(cur, nil) {
		if v.Decides() {
			t.Errorf("a verdict without reference decides: %+v", v)
		}
	}
	// Too few calls on a side: not tested.
	small := sig.NewPartial()
	small.Observe(errorEvents(50, 10, "timeout"))
	if v := signaltest.Verdict(t, sig.Score(small, ref), "*"); !math.IsNaN(v.PValue) {
		t.Errorf("50 calls were tested: %+v", v)
	}
}

// TestLatencyQuantilesAndShift: the sketch's percentiles are within 1% of
// the exact ones (numpy's linear rule on 1..10000 ms: p50 5000.5, p95
// 9500.05, p99 9900.01); a window 50% slower is flagged with effect ≈ 0.5,
// one like the reference is not.
func TestLatencyQuantilesAndShift(t *testing.T) {
	sig := Latency(DefaultConfig())
	values := func(scale float64) []*telemetry.Event {
		out := make([]*telemetry.Event, 10000)
		for i := range out {
			v := float64(i+1) * scale
			out[i] = &telemetry.Event{LatencyMS: &v}
		}
		return out
	}
	ref := sig.NewPartial()
	ref.Observe(values(1))
	same, slower := sig.NewPartial(), sig.NewPartial()
	same.Observe(values(1))
	slower.Observe(values(1.5))
	v := signaltest.Verdict(t, sig.Score(same, ref), "*")
	if math.Abs(v.Statistic-9500.05)/9500.05 > 0.01 || v.PValue < 0.3 || math.Abs(v.Effect) > 1e-9 {
		t.Errorf("same latencies: %+v", v)
	}
	q, _ := same.(*latencies).s.GetValuesAtQuantiles([]float64{0.5, 0.99})
	if math.Abs(q[0]-5000.5)/5000.5 > 0.01 || math.Abs(q[1]-9900.01)/9900.01 > 0.01 {
		t.Errorf("p50, p99 = %v, want within 1%% of 5000.5, 9900.01", q)
	}
	v = signaltest.Verdict(t, sig.Score(slower, ref), "*")
	if !(v.PValue < 1e-12) || math.Abs(v.Effect-0.5) > 0.03 || !strings.Contains(v.Evidence, "reference p95") {
		t.Errorf("50%% slower: %+v", v)
	}
}

// TestClassShareNamesTheClass: a class going from 20% to 30% of 2,000
// calls is flagged, two-sided, with effect 0.1; the others move less.
func TestClassShareNamesTheClass(t *testing.T) {
	sig := ClassShare{DefaultConfig()}
	mix := func(n int, fraud float64) []*telemetry.Event {
		out := make([]*telemetry.Event, n)
		for i := range out {
			out[i] = &telemetry.Event{Prediction: telemetry.Prediction{Class: "ok"}}
			if float64(i) < fraud*float64(n) {
				out[i].Prediction.Class = "fraud"
			}
		}
		return out
	}
	cur, ref := sig.NewPartial(), sig.NewPartial()
	cur.Observe(mix(2000, 0.3))
	ref.Observe(mix(2000, 0.2))
	f := signaltest.Verdict(t, sig.Score(cur, ref), "fraud")
	z := 0.1 / math.Sqrt(0.25*0.75*(2.0/2000))
	if want := 2 * distuv.UnitNormal.Survival(z); math.Abs(f.PValue-want) > 1e-12*want || math.Abs(f.Effect-0.1) > 1e-12 || f.Statistic != 0.3 {
		t.Errorf("fraud verdict %+v, want p %v", f, want)
	}
}

// rejectionRate returns the share of n stationary windows whose "*"
// decision (or subject's) is rejected at α = 0.05, with effect levels 0 so
// that significance alone decides, each window and reference drawn afresh.
func rejectionRate(t *testing.T, n int, subject string, draw func(r *rand.Rand) (cur, ref signal.Partial), sig signal.Signal) float64 {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	rejected := 0
	for range n {
		cur, ref := draw(r)
		v := signaltest.Verdict(t, sig.Score(cur, ref), subject)
		if v.PValue <= 0.05 {
			rejected++
		}
	}
	rate := float64(rejected) / float64(n)
	t.Logf("%s rejects %.3f of %d stationary windows at α = 0.05", sig.Name(), rate, n)
	return rate
}

// TestFalsePositiveRateOnStationaryData: on data where nothing changes,
// each decision's per-window rejection rate at α = 0.05 stays within
// [α/2, 2α] over 2,000 windows (the brief's bound; its binomial standard
// error at 0.05 is 0.005).
func TestFalsePositiveRateOnStationaryData(t *testing.T) {
	cfg := DefaultConfig()
	const windows = 2000
	binomial := func(r *rand.Rand, n int, p float64) uint64 {
		return uint64(distuv.Binomial{N: float64(n), P: p, Src: r}.Rand())
	}
	t.Run("error_rate", func(t *testing.T) {
		sig := ErrorRate{cfg}
		rate := rejectionRate(t, windows, "*", func(r *rand.Rand) (signal.Partial, signal.Partial) {
			cur, ref := sig.NewPartial().(*errorCounts), sig.NewPartial().(*errorCounts)
			cur.c.N, cur.c.K = 1000, binomial(r, 1000, 0.05)
			ref.c.N, ref.c.K = 5000, binomial(r, 5000, 0.05)
			return cur, ref
		}, sig)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("error_rate rejects %.3f of stationary windows", rate)
		}
	})
	t.Run("class_share", func(t *testing.T) {
		sig := ClassShare{cfg}
		rate := rejectionRate(t, windows, "fraud", func(r *rand.Rand) (signal.Partial, signal.Partial) {
			cur, ref := sig.NewPartial().(*classCounts), sig.NewPartial().(*classCounts)
			k, rk := binomial(r, 1000, 0.2), binomial(r, 5000, 0.2)
			cur.c.N, cur.c.K, cur.c.Named["fraud"], cur.c.Named["ok"] = 1000, 1000, k, 1000-k
			ref.c.N, ref.c.K, ref.c.Named["fraud"], ref.c.Named["ok"] = 5000, 5000, rk, 5000-rk
			return cur, ref
		}, sig)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("class_share rejects %.3f of stationary windows", rate)
		}
	})
	t.Run("margin_density", func(t *testing.T) {
		sig := MarginDensity{cfg}
		rate := rejectionRate(t, windows, "*", func(r *rand.Rand) (signal.Partial, signal.Partial) {
			cur, ref := sig.NewPartial().(*margins), sig.NewPartial().(*margins)
			cur.c.N, cur.c.K = 1000, binomial(r, 1000, 0.1)
			ref.c.N, ref.c.K = 5000, binomial(r, 5000, 0.1)
			return cur, ref
		}, sig)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("margin_density rejects %.3f of stationary windows", rate)
		}
	})
	t.Run("confidence", func(t *testing.T) {
		sig := Confidence{cfg}
		id := uint64(0)
		rate := rejectionRate(t, windows/2, "*", func(r *rand.Rand) (signal.Partial, signal.Partial) {
			cur, ref := sig.NewPartial().(*confidences), sig.NewPartial().(*confidences)
			for _, p := range []*confidences{cur, ref} {
				for range 1000 {
					id++
					p.s.Observe(0.5+0.5*math.Sqrt(r.Float64()), id*0x9E3779B97F4A7C15, 0)
				}
			}
			return cur, ref
		}, sig)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("confidence rejects %.3f of stationary windows", rate)
		}
	})
	t.Run("latency", func(t *testing.T) {
		sig := Latency(cfg)
		lognormal := distuv.LogNormal{Mu: 3, Sigma: 0.8}
		rate := rejectionRate(t, windows/2, "*", func(r *rand.Rand) (signal.Partial, signal.Partial) {
			lognormal.Src = r
			cur, ref := sig.NewPartial().(*latencies), sig.NewPartial().(*latencies)
			for range 1000 {
				cur.s.Add(lognormal.Rand())
				cur.n++
			}
			for range 5000 {
				ref.s.Add(lognormal.Rand())
				ref.n++
			}
			return cur, ref
		}, sig)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("latency rejects %.3f of stationary windows", rate)
		}
	})
}

// TestPartialsMergeAndTravel: partials of split event sets merge to the
// partial of the union, encode and decode to the same verdicts, even with
// more error types and classes than max_subjects (the named ones do not
// depend on the split); decoding refuses inconsistent or oversized states
// instead of trusting them.
func TestPartialsMergeAndTravel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSubjects = 3
	r := rand.New(rand.NewPCG(3, 4))
	events := make([]*telemetry.Event, 3000)
	for i := range events {
		v, score, th := math.Exp(r.NormFloat64()+3), r.Float64(), 0.5
		e := &telemetry.Event{PredictionID: fmt.Sprint(i), LatencyMS: &v,
			Prediction: telemetry.Prediction{Class: []string{"a", "b", "c", "d", "e"}[r.IntN(5)], Score: &score, Threshold: &th}}
		if r.Float64() < 0.1 {
			e.ErrorType = []string{"timeout", "oom", "500", "503"}[r.IntN(4)]
		}
		events[i] = e
	}
	for _, sig := range Signals(cfg) {
		whole, a, b := sig.NewPartial(), sig.NewPartial(), sig.NewPartial()
		whole.Observe(events)
		a.Observe(events[:1200])
		b.Observe(events[1200:])
		a.Merge(b)
		decoded := sig.NewPartial()
		d := sketch.NewDecoder(a.AppendBinary(nil))
		decoded.Decode(d)
		if d.Err() != nil || d.Remaining() != 0 {
			t.Fatalf("%s: decoding: %v (%d bytes left)", sig.Name(), d.Err(), d.Remaining())
		}
		got, want := sig.Score(decoded, whole), sig.Score(whole, whole)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: %d verdicts from the merged partial, %d from the whole", sig.Name(), len(got), len(want))
		}
		for i := range got {
			// Moments merge exactly up to rounding (Chan et al.), as the drift moments do.
			if got[i].Subject != want[i].Subject || math.Abs(got[i].Statistic-want[i].Statistic) > 1e-9*math.Max(1, math.Abs(want[i].Statistic)) ||
				got[i].N != want[i].N || got[i].Evidence != want[i].Evidence {
				t.Errorf("%s: merged %+v, whole %+v", sig.Name(), got[i], want[i])
			}
		}
		if sig.Name() != "latency" && len(got) > cfg.MaxSubjects+1 {
			t.Errorf("%s: %d subjects beyond max_subjects %d", sig.Name(), len(got), cfg.MaxSubjects)
		}
	}
	// Hostile states: counts that do not add up, too many labels, a sketch
	// that lies about its count, garbage.
	bad := [][]byte{
		{5, 6, 0}, // 6 failed of 5
		{10, 5, 5, 1, 'a', 1, 1, 'b', 1, 1, 'c', 1, 1, 'd', 1, 1, 'e', 1}, // 5 labels, bound 3+1
		{10, 5, 1, 1, 'a', 9}, // labels count more than k
	}
	for i, b := range bad {
		p := ErrorRate{cfg}.NewPartial()
		d := sketch.NewDecoder(b)
		p.Decode(d)
		if d.Err() == nil {
			t.Errorf("bad counts %d decoded", i)
		}
	}
	lat := Latency(cfg).NewPartial().(*latencies)
	for _, v := range []float64{1, 2, 3} {
		lat.s.Add(v)
	}
	lat.n = 4 // lies
	for i, b := range [][]byte{lat.AppendBinary(nil), {1, 200, 1}, append([]byte{9, 5}, 0xff, 0xff, 0xff, 0xff, 0xff)} {
		p := Latency(cfg).NewPartial()
		d := sketch.NewDecoder(b)
		p.Decode(d)
		if d.Err() == nil {
			t.Errorf("bad latency state %d decoded", i)
		}
	}
}

// FuzzLatencyDecode: no input makes the latency decoder panic or keep more
// than its bounded stores.
func FuzzLatencyDecode(f *testing.F) {
	p := Latency(DefaultConfig()).NewPartial()
	v := 12.5
	p.Observe([]*telemetry.Event{{LatencyMS: &v}})
	f.Add(p.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := Latency(DefaultConfig()).NewPartial()
		q.Decode(sketch.NewDecoder(b))
	})
}

var _ = slices.Sorted[string]

// TestEntropyByHand: the normalised entropy of a binary score 0.9 is
// −(0.9 ln 0.9 + 0.1 ln 0.1)/ln 2 = 0.46899559358928117, of probabilities
// (0.7, 0.2, 0.1) it is 0.7298466991620974 (divided by ln 3), of a score 0.5
// it is 1 and of a certain one 0; a window of uncertain calls is flagged
// against a reference of sure ones with the rise of the mean as its effect.
func TestEntropyByHand(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		e    telemetry.Event
		want float64
	}{
		{telemetry.Event{Prediction: telemetry.Prediction{Score: f(0.9)}}, 0.46899559358928117},
		{telemetry.Event{Prediction: telemetry.Prediction{Probabilities: telemetry.ProbabilitiesOf(map[string]float64{"a": 0.7, "b": 0.2, "c": 0.1})}}, 0.7298466991620974},
		{telemetry.Event{Prediction: telemetry.Prediction{Score: f(0.5)}}, 1},
		{telemetry.Event{Prediction: telemetry.Prediction{Score: f(1)}}, 0},
	} {
		if h, ok := entropyOf(&tc.e); !ok || math.Abs(h-tc.want) > 1e-12 {
			t.Errorf("entropy of %+v = %v, want %v", tc.e.Prediction, h, tc.want)
		}
	}
	sig := Confidence{DefaultConfig()}
	calls := func(n int, score float64) []*telemetry.Event {
		out := make([]*telemetry.Event, n)
		for i := range out {
			s := score + float64(i%100)/10000
			out[i] = &telemetry.Event{PredictionID: fmt.Sprint(score, "-", i), Prediction: telemetry.Prediction{Score: &s}}
		}
		return out
	}
	ref, cur := sig.NewPartial(), sig.NewPartial()
	ref.Observe(calls(1000, 0.9))
	cur.Observe(calls(1000, 0.6))
	v := signaltest.Verdict(t, sig.Score(cur, ref), "entropy")
	if !(v.PValue < 1e-9) || v.Effect < 0.3 || !strings.Contains(v.Evidence, "normalised entropy") {
		t.Errorf("entropy verdict %+v", v)
	}
}
