package poisoning

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// labelled returns n examples of source, the first flips of them proposing
// "b" where the model predicted "a".
func labelled(source string, n, flips int) []Example {
	out := make([]Example, n)
	for i := range out {
		out[i] = Example{ID: fmt.Sprintf("%s-%d", source, i), Source: source, ProposedLabel: "a", PredictedLabel: "a"}
		if i < flips {
			out[i].ProposedLabel = "b"
		}
	}
	return out
}

// TestLabelFlipByHand: twenty sources with 200 compared examples, 10 of
// them flips, a flipper with 100 of 200 and one anonymous flip: against
// the others' 201 of 4,001 its rate 0.5 is an effect of 0.5 − 201/4001
// (critical), p = fisher_exact([[100, 100], [201, 3800]], greater) before
// adjustment, with three of its flipped examples named; the others stay
// below the warning level. Examples without a prediction are not compared.
func TestLabelFlipByHand(t *testing.T) {
	s := LabelFlip{DefaultConfig()}
	p := s.NewPartial()
	for i := range 20 {
		p.Observe(labelled(fmt.Sprint("user-", i), 200, 10))
	}
	p.Observe(labelled("flipper", 200, 100))
	p.Observe([]Example{{ID: "x", Source: "flipper", ProposedLabel: "b"}, {ID: "y", ProposedLabel: "b", PredictedLabel: "a"}})
	vs := s.Score(p, nil)
	if vs[0].Subject != "*" || vs[0].N != 4201 || vs[0].Decides() || !close(vs[0].Statistic, 301.0/4201, 1e-12) {
		t.Fatalf("summary %+v", vs[0])
	}
	v := find(vs, "flipper")
	if v == nil || vs[1].Subject != "flipper" {
		t.Fatalf("the flipper is not named first: %+v", vs)
	}
	// 21 sources tested: the flipper's adjusted p, the smallest, is its own times 21.
	// Its own: P(X ≥ 100), X ~ Binomial(200, p₀), p₀ = (201 + ½)/(4001 + 1)
	// from the other sources' 201 flips in 4,001, summed in exact rational
	// arithmetic (Python's fractions).
	const raw = 8.63843833134998e-74
	if !close(v.PValue, 21*raw, 1e-9) || !close(v.Effect, 0.5-201.0/4001, 1e-12) || v.N != 200 {
		t.Fatalf("flipper: %+v (raw p %g)", v, raw)
	}
	if !strings.Contains(v.Evidence, "100 of 200") || strings.Count(v.Evidence, "flipper-") != 3 || len(v.Evidence) > MaxEvidence {
		t.Fatalf("evidence %q", v.Evidence)
	}
	decide(0.01, vs)
	for _, v := range vs {
		if want := verdict.SeverityOK; v.Subject != "flipper" && v.Severity != want {
			t.Errorf("%s: %s", v.Subject, v.Severity)
		}
	}
	if v := find(vs, "flipper"); v.Severity != verdict.SeverityCritical {
		t.Errorf("flipper: %s", v.Severity)
	}
}

// TestLabelFlipAgainstReference: the window's flip rate rising from 0.05
// to 0.2 is a warning (effect 0.15, below the critical 0.3) with the one-sided Fisher
// p-value of [[40, 160], [10, 190]].
func TestLabelFlipAgainstReference(t *testing.T) {
	s := LabelFlip{DefaultConfig()}
	ref := observed(s, labelled("u", 200, 10))
	cur := observed(s, labelled("u", 200, 40))
	vs := s.Score(cur, ref)
	v := vs[0]
	if v.Subject != "*" || !v.Decides() || !close(v.PValue, fisherGreater(40, 160, 10, 190), 1e-12) || !close(v.Effect, 0.15, 1e-12) {
		t.Fatalf("%+v", v)
	}
	decide(0.01, vs)
	if vs[0].Severity != verdict.SeverityWarning {
		t.Fatalf("severity %s", vs[0].Severity)
	}
	if math.IsNaN(vs[0].AdjustedP) {
		t.Fatal("not adjusted")
	}
}
