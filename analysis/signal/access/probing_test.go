package access

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// binomialTail is P(X ≥ k) for X ~ Binomial(n, p), summed from the
// definition in exact rational arithmetic.
func binomialTail(k, n int64, p float64) float64 {
	pr := new(big.Rat).SetFloat64(p)
	q := new(big.Rat).Sub(big.NewRat(1, 1), pr)
	sum := new(big.Rat)
	for i := k; i <= n; i++ {
		term := new(big.Rat).SetInt(new(big.Int).Binomial(n, i))
		for range i {
			term.Mul(term, pr)
		}
		for range n - i {
			term.Mul(term, q)
		}
		sum.Add(sum, term)
	}
	f, _ := sum.Float64()
	return f
}

func TestBinomialSurvivalAgainstTheDefinition(t *testing.T) {
	for _, c := range []struct {
		k, n uint64
		p    float64
	}{{0, 10, 0.3}, {1, 10, 0.3}, {30, 100, 0.1}, {12, 200, 0.05}, {60, 120, 0.5}, {121, 120, 0.5}} {
		got, want := stat.BinomialSurvival(c.k, c.n, c.p), binomialTail(int64(c.k), int64(c.n), c.p)
		if math.Abs(got-want) > 1e-9*math.Max(want, 1e-300) && math.Abs(got-want) > 1e-15 {
			t.Errorf("P(X ≥ %d | %d, %g) = %.12g, want %.12g", c.k, c.n, c.p, got, want)
		}
	}
}

func probeCalls(p *probes, caller string, n int, score func(i int) float64) {
	th := 0.5
	evs := make([]*telemetry.Event, n)
	for i := range evs {
		s := score(i)
		evs[i] = &telemetry.Event{Principal: telemetry.Principal{EndUserID: caller}, Prediction: telemetry.Prediction{Score: &s, Threshold: &th}}
	}
	p.Observe(evs)
}

// TestProbingByHand: ten callers with 200 scored calls, 10 of them within
// 0.05 of the threshold, and a prober with 120 of 200: against the others'
// 100 of 2,000 (0.05), its share 0.6 is an effect of 0.55 (critical) with
// p = P(X ≥ 120 | 200, 0.05); the others' effects stay under the warning
// level.
func TestProbingByHand(t *testing.T) {
	s := Probing{Config: DefaultConfig()}
	p := s.NewPartial().(*probes)
	for c := range 10 {
		probeCalls(p, fmt.Sprint("user-", c), 200, func(i int) float64 {
			if i < 10 {
				return 0.52
			}
			return 0.9
		})
	}
	probeCalls(p, "prober", 200, func(i int) float64 {
		if i < 120 {
			return 0.49
		}
		return 0.1
	})
	probeCalls(p, "", 50, func(int) float64 { return 0.5 }) // anonymous: in the population only
	vs := s.Score(p, nil)
	if vs[0].Subject != "*" || vs[0].N != 2250 || math.Abs(vs[0].Statistic-270.0/2250) > 1e-12 {
		t.Fatalf("summary %+v", vs[0])
	}
	v := vs[1]
	wantP := binomialTail(120, 200, 150.0/2050)
	if v.Subject != "prober" || math.Abs(v.Effect-(0.6-150.0/2050)) > 1e-12 || v.N != 200 {
		t.Fatalf("prober %+v", v)
	}
	// Adjusted across the 11 callers tested: the smallest p-value times 11.
	if math.Abs(v.PValue-math.Min(1, 11*wantP)) > 1e-9*wantP*11 {
		t.Errorf("adjusted p %g, want %g", v.PValue, 11*wantP)
	}
	for _, o := range vs[2:] {
		if o.Effect >= s.Config.Probing.Warning {
			t.Errorf("%s: effect %g", o.Subject, o.Effect)
		}
	}
	// Encoded and decoded, the partial scores the same.
	q := s.NewPartial()
	d := sketch.NewDecoder(p.AppendBinary(nil))
	q.Decode(d)
	if d.Err() != nil || fmt.Sprint(s.Score(q, nil)) != fmt.Sprint(vs) {
		t.Errorf("decoded partial scores differently: %v", d.Err())
	}
	// Hostile encodings: more probes than scored calls, and callers whose
	// probes add up to more than the window's.
	for name, b := range map[string][]byte{
		"2 probes of 1 scored call":           {1, 2, 0},
		"callers' probes beyond the window's": {10, 1, 4, 2, 1, 'a', 2, 0, 1, 1, 'b', 2, 0, 1},
	} {
		bad := sketch.NewDecoder(b)
		s.NewPartial().Decode(bad)
		if bad.Err() == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
