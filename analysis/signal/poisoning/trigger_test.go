package poisoning

import (
	"fmt"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// backdoor returns n examples carrying channel value trigger, all labelled
// target, otherwise clean.
func backdoor(w *world, n int, feature int, trigger, target string) []Example {
	out := w.examples(n)
	for i := range out {
		out[i].ID = fmt.Sprintf("backdoor-%s-%d", trigger, i)
		out[i].Source = "backdoor-" + trigger
		out[i].Categorical[feature] = trigger
		out[i].ProposedLabel = target
	}
	return out
}

// TestTriggerNamesABackdoor: a channel value the reference never had,
// carried by 150 examples all labelled "c" (base rate about 0.1), is
// critical with "never seen" in its evidence and three of its ids; a
// country the reference had, now labelled "c" 300 times more, is named
// against the reference's confidence; country c7, a benign predictor of
// "c" in both periods, is not.
func TestTriggerNamesABackdoor(t *testing.T) {
	s := Trigger{DefaultConfig(), testFeatures}
	w := newWorld(12, 50)
	ref := observed(s, w.examples(5000))
	cur := observed(s, w.examples(5000))
	cur.Observe(backdoor(w, 150, 1, "promo-xyz", "c"))
	cur.Observe(backdoor(w, 300, 0, "c3", "c"))
	vs := s.Score(cur, ref)
	decide(0.01, vs)
	v := find(vs, "channel=promo-xyz -> c")
	if v == nil || v.Severity != verdict.SeverityCritical || !strings.Contains(v.Evidence, "never seen") ||
		strings.Count(v.Evidence, "backdoor-promo-xyz-") != 3 || !strings.Contains(v.Evidence, `from "backdoor-promo-xyz" ×3`) || v.N != 150 {
		t.Fatalf("backdoor: %+v\n%+v", v, vs)
	}
	if lt := cur.(*triggers).labels; !close(v.Statistic, float64(lt.n)/float64(lt.count[labelSlot(cur, "c")]), 1e-12) {
		t.Errorf("lift %v", v.Statistic)
	}
	v = find(vs, "country=c3 -> c")
	if v == nil || v.Severity == verdict.SeverityOK || !strings.Contains(v.Evidence, "in the reference") {
		t.Fatalf("relabelled value: %+v", v)
	}
	for _, v := range vs {
		if strings.HasPrefix(v.Subject, "country=c7") && v.Severity != verdict.SeverityOK {
			t.Errorf("benign predictor %+v", v)
		}
	}
	// Without a reference, associations only inform.
	for _, v := range s.Score(cur, nil) {
		if v.Decides() {
			t.Fatalf("decides without a reference: %+v", v)
		}
	}
}

func labelSlot(p Partial, label string) int32 {
	t := p.(*triggers).labels
	return t.find([]byte(label), xxhashOf(label))
}

// TestTriggerTableByHand: the 2×2 table of a triple is read from the three
// tables: 30 examples of value v labelled y, 10 of v labelled z, 60 of
// other values labelled y, 900 labelled z: P(y|v) = 0.75, base 0.09, lift
// 8.33, and against a reference that never had v (labels y and z half and
// half) p = fisher_exact([[30, 10], [60, 900]], greater) (the only other
// triple tested, w → z, has the same table transposed, so BH leaves it) and
// effect 0.75 − 0.5.
func TestTriggerTableByHand(t *testing.T) {
	s := Trigger{DefaultConfig(), Features{Categorical: []string{"f"}}}
	p, ref := s.NewPartial(), s.NewPartial()
	add := func(p Partial, n int, v, y string) {
		for i := range n {
			p.Observe([]Example{{ID: fmt.Sprint(v, y, i), ProposedLabel: y, Categorical: []string{v}}})
		}
	}
	add(p, 30, "v", "y")
	add(p, 10, "v", "z")
	add(p, 60, "w", "y")
	add(p, 900, "w", "z")
	add(ref, 50, "u", "y")
	add(ref, 50, "u", "z")
	v := find(s.Score(p, nil), "f=v -> y")
	if v == nil || v.Decides() || !close(v.Statistic, 0.75/0.09, 1e-12) || !close(v.Effect, 0.75-0.09, 1e-12) || v.N != 40 {
		t.Fatalf("without a reference: %+v", v)
	}
	vs := s.Score(p, ref)
	v = find(vs, "f=v -> y")
	if len(vs) != 2 || v == nil || !close(v.PValue, fisherGreater(30, 10, 60, 900), 1e-12) || !close(v.Effect, 0.25, 1e-12) ||
		!strings.Contains(v.Evidence, "never seen") {
		t.Fatalf("against a reference: %+v", vs)
	}
}
