package policy

import (
	"slices"
	"testing"
	"time"
)

// TestFallbackRule: a policy's Default replaces the built-in rule for the
// keys no rule matches; NewDefaultRule keeps everything of the built-in
// rule but its timing, and counts as the default.
func TestFallbackRule(t *testing.T) {
	p, err := Parse("p.yml", []byte("rules:\n  - name: psi\n    match: {signals: [psi]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Match(Key{"m", "1", "ks", "f"}) != DefaultRule() || p.Fallback() != DefaultRule() {
		t.Error("without Default, the built-in rule is the fallback")
	}
	d := NewDefaultRule(0, 3)
	p.Default = d
	if p.Match(Key{"m", "1", "ks", "f"}) != d || p.Match(Key{"m", "1", "psi", "f"}).Name != "psi" {
		t.Error("Default does not decide the keys no rule matches, or decides the others")
	}
	if !d.IsDefault() || !DefaultRule().IsDefault() || p.Rules[0].IsDefault() {
		t.Error("IsDefault")
	}
	if d.For != 0 || d.KeepFiringFor != 3 || d.Name != DefaultRuleName || !d.Receivers.All || d.BudgetLevel != SeverityWarning ||
		DefaultRule().For != DefaultFor || NewDefaultRule(-1, -1).For != 0 {
		t.Errorf("NewDefaultRule(0, 3) = %+v", d)
	}
	// for 0 fires on the first breaching window; keep_firing_for 3 resolves on the fourth clean one.
	got := steps(d, verdicts(series(t, "0x6"), []Severity{SeverityWarning, SeverityOK, SeverityOK, SeverityOK, SeverityOK, SeverityOK}, nil))
	if want := []string{"0:inactive>firing/warning", "4:firing>resolved/warning"}; !slices.Equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
}

// TestObserveRuleAndForget: ObserveRule decides a key under the rule given,
// whatever the policy matches; Forget drops a key's state without a
// transition; Tracker.Forget drops a model's budget state.
func TestObserveRuleAndForget(t *testing.T) {
	p, err := Parse("p.yml", []byte("rules:\n  - name: never\n    match: {signals: [psi]}\n    receivers: []\n    for: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator(p)
	k := Key{"m", "1", "psi", "f"}
	v := Verdict{WindowStart: t0, WindowEnd: t0.Add(time.Minute), Value: 1, Severity: SeverityCritical, Samples: -1}
	if res := e.ObserveRule(k, NewDefaultRule(0, 0), v); res.State != StateFiring || res.Rule.Name != DefaultRuleName {
		t.Fatalf("ObserveRule under a for-0 rule: %+v, want firing", res)
	}
	e.Forget(k)
	if len(e.Alerts()) != 0 {
		t.Fatalf("after Forget: %+v", e.Alerts())
	}
	if res := e.Observe(k, v); res.State != StatePending || res.Rule.Name != "never" {
		t.Errorf("after Forget the key starts again under its rule: %+v", res)
	}

	bp, err := Parse("b.yml", []byte("budgets:\n  - name: b\n    budget: 10%\n    period: 1h\n    burn_alerts: [{name: all, long: 10m, short: 1m, burn_rate: 1, severity: page}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTracker(bp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if bts := tr.Observe("m", t0.Add(time.Minute), true); len(bts) != 1 {
		t.Fatalf("burn transitions %+v, want the alert firing", bts)
	}
	tr.Forget("m")
	if _, ok := tr.Status("m"); ok || len(tr.Models()) != 0 {
		t.Error("Tracker.Forget left the model")
	}
}
