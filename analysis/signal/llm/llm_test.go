package llm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

func call(i int, refused bool, reason string, out int64) *telemetry.Event {
	in := int64(400 + i%7)
	ttfc := 0.2 + float64(i%13)/100
	return &telemetry.Event{PredictionID: fmt.Sprint("p", i), LLM: &telemetry.LLM{InputTokens: &in, OutputTokens: &out,
		FinishReasons: []string{reason}, Refusal: refused, TimeToFirstChunk: &ttfc}}
}

// TestRefusalRateAgainstTheReference: 30 refusals of 1,000 calls against
// 20 of 1,000: one-sided p = Φ̄(1.4322297480788655) = 0.07603904039648764
// (the pooled two-proportion z-test by hand); calls without GenAI usage do
// not count.
func TestRefusalRateAgainstTheReference(t *testing.T) {
	sig := RefusalRate{DefaultConfig()}
	cur, ref := sig.NewPartial(), sig.NewPartial()
	var ce, re []*telemetry.Event
	for i := range 1000 {
		ce = append(ce, call(i, i < 30, "stop", 100), &telemetry.Event{})
		re = append(re, call(i, i < 20, "stop", 100))
	}
	cur.Observe(ce)
	ref.Observe(re)
	v := signaltest.Verdict(t, sig.Score(cur, ref), "*")
	if !v.Decides() || math.Abs(v.PValue-0.07603904039648764) > 1e-12 || math.Abs(v.Effect-0.01) > 1e-12 || v.N != 1000 {
		t.Errorf("refusal verdict %+v", v)
	}
}

// TestFinishReasonsAndTokens: the reasons' shares and the token means are
// what the calls say; a doubled output is flagged with effect 1, the
// unchanged input is not; merged partials travel to the same verdicts.
func TestFinishReasonsAndTokens(t *testing.T) {
	cfg := DefaultConfig()
	r := rand.New(rand.NewPCG(1, 2))
	gen := func(n, seed int, factor float64, lengthShare float64) []*telemetry.Event {
		out := make([]*telemetry.Event, n)
		for i := range out {
			reason := "stop"
			if r.Float64() < lengthShare {
				reason = "length"
			}
			out[i] = call(seed+i, false, reason, int64(math.Round(factor*math.Exp(5+0.6*r.NormFloat64()))))
		}
		return out
	}
	ref, same, inflated := gen(2000, 0, 1, 0.05), gen(2000, 10000, 1, 0.05), gen(2000, 20000, 2, 0.2)
	for _, sig := range Signals(cfg) {
		rp := sig.NewPartial()
		rp.Observe(ref)
		a, b, whole := sig.NewPartial(), sig.NewPartial(), sig.NewPartial()
		a.Observe(inflated[:700])
		b.Observe(inflated[700:])
		whole.Observe(inflated)
		a.Merge(b)
		d := sketch.NewDecoder(a.AppendBinary(nil))
		dec := sig.NewPartial()
		dec.Decode(d)
		if d.Err() != nil || d.Remaining() != 0 {
			t.Fatalf("%s: decode: %v", sig.Name(), d.Err())
		}
		got, want := sig.Score(dec, rp), sig.Score(whole, rp)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: %d verdicts merged, %d whole", sig.Name(), len(got), len(want))
		}
		for i := range got {
			if got[i].Subject != want[i].Subject || math.Abs(got[i].Statistic-want[i].Statistic) > 1e-9*math.Max(1, math.Abs(want[i].Statistic)) ||
				got[i].N != want[i].N {
				t.Errorf("%s: merged %+v, whole %+v", sig.Name(), got[i], want[i])
			}
		}
	}
	tok := Tokens{cfg}
	rp, cp, sp := tok.NewPartial(), tok.NewPartial(), tok.NewPartial()
	rp.Observe(ref)
	cp.Observe(inflated)
	sp.Observe(same)
	if v := signaltest.Verdict(t, tok.Score(cp, rp), "output"); !(v.PValue < 1e-12) || math.Abs(v.Effect-1) > 0.1 {
		t.Errorf("doubled output tokens: %+v", v)
	}
	if v := signaltest.Verdict(t, tok.Score(cp, rp), "input"); v.PValue < 0.01 || v.Effect > 0.01 {
		t.Errorf("unchanged input tokens: %+v", v)
	}
	if v := signaltest.Verdict(t, tok.Score(sp, rp), "output"); v.PValue < 0.01 || v.Effect > 0.1 {
		t.Errorf("same output tokens: %+v", v)
	}
	fr := FinishReason{cfg}
	rp, cp = fr.NewPartial(), fr.NewPartial()
	rp.Observe(ref)
	cp.Observe(inflated)
	if v := signaltest.Verdict(t, fr.Score(cp, rp), "length"); !(v.PValue < 1e-9) || math.Abs(v.Effect-0.15) > 0.03 || math.Abs(v.Statistic-0.2) > 0.03 {
		t.Errorf("length share 5%% → 20%%: %+v", v)
	}
}

// TestFalsePositiveRateOnStationaryData: each GenAI decision rejects within
// [α/2, 2α] of 1,000 or 2,000 stationary windows at α = 0.05, its levels at 0.
func TestFalsePositiveRateOnStationaryData(t *testing.T) {
	cfg := DefaultConfig()
	r := rand.New(rand.NewPCG(9, 10))
	binomial := func(n int, p float64) uint64 { return uint64(distuv.Binomial{N: float64(n), P: p, Src: r}.Rand()) }
	check := func(name string, windows int, draw func() (cur, ref signal.Partial), sig signal.Signal, subject string) {
		rejected := 0
		for range windows {
			cur, ref := draw()
			if v := signaltest.Verdict(t, sig.Score(cur, ref), subject); v.PValue <= 0.05 {
				rejected++
			}
		}
		rate := float64(rejected) / float64(windows)
		t.Logf("%s rejects %.3f of %d stationary windows at α = 0.05", name, rate, windows)
		if rate < 0.025 || rate > 0.1 {
			t.Errorf("%s rejects %.3f of stationary windows", name, rate)
		}
	}
	check("refusal_rate", 2000, func() (signal.Partial, signal.Partial) {
		cur, ref := &refusals{c: sketch.NewLabels()}, &refusals{c: sketch.NewLabels()}
		cur.c.N, cur.c.K = 1000, binomial(1000, 0.02)
		ref.c.N, ref.c.K = 5000, binomial(5000, 0.02)
		return cur, ref
	}, RefusalRate{cfg}, "*")
	check("finish_reason", 2000, func() (signal.Partial, signal.Partial) {
		cur, ref := &reasons{c: sketch.NewLabels(), max: 16}, &reasons{c: sketch.NewLabels(), max: 16}
		k, rk := binomial(1000, 0.06), binomial(5000, 0.06)
		cur.c.N, cur.c.K, cur.c.Named["length"], cur.c.Named["stop"] = 1000, 1000, k, 1000-k
		ref.c.N, ref.c.K, ref.c.Named["length"], ref.c.Named["stop"] = 5000, 5000, rk, 5000-rk
		return cur, ref
	}, FinishReason{cfg}, "length")
	id := uint64(0)
	tok := Tokens{cfg}
	check("tokens", 1000, func() (signal.Partial, signal.Partial) {
		cur, ref := tok.NewPartial().(*tokens), tok.NewPartial().(*tokens)
		for _, p := range []*tokens{cur, ref} {
			for range 1000 {
				id++
				// Continuous, as KS assumes (token counts are mostly distinct at this spread).
				p.s[1].Observe(math.Exp(5+0.6*r.NormFloat64()), id*0x9E3779B97F4A7C15, 0)
			}
		}
		return cur, ref
	}, tok, "output")
}
