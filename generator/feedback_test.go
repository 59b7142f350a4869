package generator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// feedbackWindow generates n inferences of a one-model scenario with
// feedback, writes each feedback event as JSON, decodes it with the
// telemetry decoder and observes it, adapted, into a partial of every
// poisoning signal. It returns the partials and the feedback count.
func feedbackWindow(t *testing.T, fb Feedback, seed int64, n int) ([]poisoning.Signal, []poisoning.Partial, int) {
	t.Helper()
	sc := DefaultScenario(1, 8)
	sc.Start = testStart
	sc.Feedback = &fb
	g, err := New(sc, seed)
	if err != nil {
		t.Fatal(err)
	}
	ms := sc.Models[0]
	var f poisoning.Features
	for _, s := range ms.Numeric {
		f.Numeric = append(f.Numeric, s.Name)
	}
	for _, s := range ms.Categorical {
		f.Categorical = append(f.Categorical, s.Name)
	}
	sigs := poisoning.Signals(poisoning.DefaultConfig(), f)
	parts := make([]poisoning.Partial, len(sigs))
	for i, s := range sigs {
		parts[i] = s.NewPartial()
	}
	a := poisoning.Adapter{Features: f, SourceFields: []string{access.FieldEndUser}}
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart.Add(time.Hour) })
	var e telemetry.Event
	var out, in telemetry.Feedback
	ex := make([]poisoning.Example, 1)
	count := 0
	for range n {
		g.Next(&e)
		if !g.NextFeedback(&out) {
			continue
		}
		msg := g.AppendFeedback(nil, &out)
		if err := d.DecodeFeedback(msg, &in); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		predicted := in.PreviousLabel // the generator's overrides replace the model's own label
		a.Adapt(&in, predicted, &ex[0])
		for _, p := range parts {
			p.Observe(ex)
		}
		count++
	}
	return sigs, parts, count
}

// worst returns the verdicts of every poisoning signal of cur against ref,
// decided as the evaluation decides them, keyed "signal subject" for the
// critical ones.
func criticalVerdicts(sigs []poisoning.Signal, cur, ref []poisoning.Partial) map[string]string {
	var vs []evaluate.SignalVerdict
	for i, s := range sigs {
		for _, v := range s.Score(cur[i], ref[i]) {
			vs = append(vs, evaluate.SignalVerdict{Signal: s.Name(), Verdict: v})
		}
	}
	evaluate.DecideSignals(0.01, vs)
	out := map[string]string{}
	for _, v := range vs {
		if v.Severity == verdict.SeverityCritical {
			out[v.Signal+" "+v.Subject] = v.Evidence
		}
	}
	return out
}

// TestFeedbackAttacksAreNamed runs each attack of the generator's feedback
// through the decoder, the adapter and the poisoning signals, against a
// reference window of honest feedback: the attack is named critical by its
// signal, and an honest window against the reference raises nothing
// critical.
func TestFeedbackAttacksAreNamed(t *testing.T) {
	honest := Feedback{Share: 0.5, Annotators: 20}
	sigs, ref, nref := feedbackWindow(t, honest, 1, 12000)
	if nref < 5000 {
		t.Fatalf("%d feedback events for 12,000 inferences at share 0.5", nref)
	}
	_, control, _ := feedbackWindow(t, honest, 2, 8000)
	if c := criticalVerdicts(sigs, control, ref); len(c) != 0 {
		t.Errorf("honest feedback against honest feedback: critical %v", c)
	}
	type named struct {
		signal  string
		subject func(string) bool
	}
	flip := named{"poisoning_label_flip", func(s string) bool { return s == "mallory" }}
	flood := named{"poisoning_flood", func(string) bool { return true }}
	trigger := named{"poisoning_trigger", func(s string) bool { return strings.Contains(s, TriggerValue) }}
	for _, tc := range []struct {
		attacks []string
		want    []named
	}{
		{[]string{AttackLabelFlip}, []named{flip}},
		{[]string{AttackFlood}, []named{flood}},
		{[]string{AttackBackdoor}, []named{trigger}},
		// Combined, each by its own attacker: mallory flips labels.
		{[]string{AttackLabelFlip, AttackFlood, AttackBackdoor}, []named{flip, flood, trigger}},
	} {
		t.Run(strings.Join(tc.attacks, ","), func(t *testing.T) {
			fb := honest
			fb.Attacks, fb.AttackShare = tc.attacks, 0.1
			_, cur, _ := feedbackWindow(t, fb, 3, 8000)
			crit := criticalVerdicts(sigs, cur, ref)
			for _, w := range tc.want {
				found := false
				for k := range crit {
					sig, subject, _ := strings.Cut(k, " ")
					if sig == w.signal && w.subject(subject) {
						found = true
					}
				}
				if !found {
					t.Errorf("%v: not named critical by %s; critical verdicts: %v", tc.attacks, w.signal, fmt.Sprint(crit))
				}
			}
		})
	}
}
