package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// series expands compact notation in tests.
func series(t *testing.T, s string) []float64 {
	t.Helper()
	pts, err := parseSeries(s, parseValue, stepValue)
	if err != nil {
		t.Fatalf("series %q: %v", s, err)
	}
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.v
	}
	return out
}

// verdicts builds one verdict per window of one-minute windows from t0.
func verdicts(vals []float64, sevs []Severity, samples []int) []Verdict {
	out := make([]Verdict, len(vals))
	for i, v := range vals {
		start := t0.Add(time.Duration(i) * time.Minute)
		out[i] = Verdict{WindowStart: start, WindowEnd: start.Add(time.Minute), Value: v, Severity: SeverityOK, Samples: -1}
		if sevs != nil {
			out[i].Severity = sevs[i]
		}
		if samples != nil {
			out[i].Samples = samples[i]
		}
	}
	return out
}

// steps runs verdicts through r for one key and writes each transition as
// "window:from>to/severity".
func steps(r *Rule, vs []Verdict) []string {
	var st SeriesState
	var out []string
	for i := range vs {
		res := r.Step(Key{"m", "1", "psi", "f"}, &st, &vs[i])
		if tr := res.Transition; tr != nil {
			out = append(out, fmt.Sprintf("%d:%s>%s/%s", i, tr.From, tr.To, tr.Severity))
		}
	}
	return out
}

// thresholdRule is a rule with psi-like thresholds: warning 0.1 (exit
// 0.08), critical 0.25 (exit 0.2).
func thresholdRule(forW, keep int) *Rule {
	return &Rule{
		Name: "t", For: forW, KeepFiringFor: keep, BudgetLevel: SeverityWarning, Receivers: Receivers{All: true},
		Thresholds: &Thresholds{Direction: Above, Warning: &Level{0.1, 0.08}, Critical: &Level{0.25, 0.2}},
	}
}

func TestThresholdLevel(t *testing.T) {
	above := &Thresholds{Direction: Above, Warning: &Level{0.1, 0.08}, Critical: &Level{0.25, 0.2}}
	below := &Thresholds{Direction: Below, Warning: &Level{0.9, 0.92}, Critical: &Level{0.8, 0.85}}
	critOnly := &Thresholds{Direction: Above, Critical: &Level{0.25, 0.2}}
	gated := &Thresholds{Direction: Above, Warning: &Level{0.1, 0.08}, RequireVerdict: true}
	const ok, warn, crit = SeverityOK, SeverityWarning, SeverityCritical
	cases := []struct {
		name     string
		th       *Thresholds
		prev     Severity
		x        float64
		proposed Severity
		want     Severity
	}{
		{"below warning enter", above, ok, 0.0999, ok, ok},
		{"at warning enter", above, ok, 0.1, ok, warn},
		{"at critical enter", above, ok, 0.25, ok, crit},
		{"warning between exit and enter stays", above, warn, 0.09, ok, warn},
		{"warning at exit stays", above, warn, 0.08, ok, warn},
		{"warning below exit clears", above, warn, 0.0799, ok, ok},
		{"ok between exit and enter stays ok", above, ok, 0.09, ok, ok},
		{"warning below critical enter stays warning", above, warn, 0.24, ok, warn},
		{"critical at exit stays", above, crit, 0.2, ok, crit},
		{"critical below exit de-escalates", above, crit, 0.19, ok, warn},
		{"critical below both exits clears", above, crit, 0.05, ok, ok},
		{"below: above warning enter", below, ok, 0.91, ok, ok},
		{"below: at warning enter", below, ok, 0.9, ok, warn},
		{"below: at critical enter", below, ok, 0.8, ok, crit},
		{"below: warning stays up to exit", below, warn, 0.92, ok, warn},
		{"below: warning clears past exit", below, warn, 0.921, ok, ok},
		{"below: critical stays up to exit", below, crit, 0.85, ok, crit},
		{"below: critical de-escalates", below, crit, 0.86, ok, warn},
		{"critical only: clears below exit", critOnly, crit, 0.19, ok, ok},
		{"critical only: never warning", critOnly, ok, 0.24, ok, ok},
		{"gated: analysis says ok", gated, ok, 1, ok, ok},
		{"gated: analysis says ok while warning", gated, warn, 0.09, ok, ok},
		{"gated: analysis flags, value decides", gated, ok, 0.05, warn, ok},
		{"gated: both", gated, ok, 0.2, crit, warn},
	}
	for _, c := range cases {
		if got := c.th.Level(c.prev, c.x, c.proposed); got != c.want {
			t.Errorf("%s: Level(%s, %g, %s) = %s, want %s", c.name, c.prev, c.x, c.proposed, got, c.want)
		}
	}
}

// TestLifecycle checks pending, firing, resolved, for, keep_firing_for and
// hysteresis on series of values.
func TestLifecycle(t *testing.T) {
	cases := []struct {
		name      string
		for_, kff int
		values    string
		want      []string
	}{
		{"for 1 keep 1 (the default)", 1, 1, "0.05 0.3 0.3 0.05 0.05",
			[]string{"1:inactive>pending/critical", "2:pending>firing/critical", "4:firing>resolved/critical"}},
		{"for 0 fires on the first window, keep 0 resolves on the first clean", 0, 0, "0.3 0.05",
			[]string{"0:inactive>firing/critical", "1:firing>resolved/critical"}},
		{"a clean window drops a pending alert", 2, 0, "0.15 0.15 0.05",
			[]string{"0:inactive>pending/warning", "2:pending>inactive/warning"}},
		{"for 2 fires on the third breaching window", 2, 0, "0.15x3",
			[]string{"0:inactive>pending/warning", "2:pending>firing/warning"}},
		{"pending takes the latest severity", 1, 0, "0.15 0.3",
			[]string{"0:inactive>pending/warning", "1:pending>firing/critical"}},
		{"hysteresis keeps a firing alert above exit", 0, 0, "0.12 0.09 0.085 0.08 0.079",
			[]string{"0:inactive>firing/warning", "4:firing>resolved/warning"}},
		{"hysteresis does not start an alert between exit and enter", 0, 0, "0.09x3", nil},
		{"severity changes while firing", 0, 0, "0.12 0.3 0.22 0.19 0.05",
			[]string{"0:inactive>firing/warning", "1:firing>firing/critical", "3:firing>firing/warning", "4:firing>resolved/warning"}},
		{"keep_firing_for 2, and a breach restarts the count", 0, 2, "0.3 0.05x2 0.3 0.05x3",
			[]string{"0:inactive>firing/critical", "6:firing>resolved/critical"}},
		{"keep_firing_for holds the last severity", 0, 1, "0.3 0.05 0.05",
			[]string{"0:inactive>firing/critical", "2:firing>resolved/critical"}},
		{"flapping never fires with for 1", 1, 1, "0.3 0.05 0.3 0.05 0.3 0.05 0.05",
			[]string{"0:inactive>pending/critical", "1:pending>inactive/critical", "2:inactive>pending/critical",
				"3:pending>inactive/critical", "4:inactive>pending/critical", "5:pending>inactive/critical"}},
	}
	for _, c := range cases {
		got := steps(thresholdRule(c.for_, c.kff), verdicts(series(t, c.values), nil, nil))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q gives\n  %v\nwant\n  %v", c.name, c.values, got, c.want)
		}
	}
}

// TestFlappingPagesOnce: a value that crosses its threshold every other
// window fires at most once and resolves at most once, for every for and
// keep_firing_for up to 3 except keep 0, which cannot hold through a
// clean window.
func TestFlappingPagesOnce(t *testing.T) {
	vals := series(t, strings.Repeat("0.3 0.05 ", 50)+"0.05x5")
	for f := range 4 {
		for k := 1; k < 4; k++ {
			fired, resolved := 0, 0
			for _, s := range steps(thresholdRule(f, k), verdicts(vals, nil, nil)) {
				switch {
				case strings.Contains(s, ">firing/"):
					fired++
				case strings.Contains(s, ">resolved/"):
					resolved++
				}
			}
			if fired > 1 || resolved > 1 {
				t.Errorf("for %d, keep_firing_for %d: %d firing and %d resolved transitions", f, k, fired, resolved)
			}
		}
	}
}

// TestMinSamples: windows with too few samples are skipped, neither breach
// nor clean, and do not break runs; unknown sample sizes pass.
func TestMinSamples(t *testing.T) {
	r := thresholdRule(1, 1)
	r.MinSamples = 100
	cases := []struct {
		name    string
		values  string
		samples []int
		want    []string
	}{
		{"a thin window does not break the pending run", "0.3x3", []int{500, 50, 500},
			[]string{"0:inactive>pending/critical", "2:pending>firing/critical"}},
		{"thin breaching windows start nothing", "0.3x3", []int{99, 0, 10}, nil},
		{"thin clean windows do not resolve", "0.3 0.3 0.05 0.05 0.05", []int{500, 500, 500, 10, 500},
			[]string{"0:inactive>pending/critical", "1:pending>firing/critical", "4:firing>resolved/critical"}},
		{"exactly min_samples counts", "0.3x2", []int{100, 100},
			[]string{"0:inactive>pending/critical", "1:pending>firing/critical"}},
		{"unknown sample size passes", "0.3x2", []int{-1, -1},
			[]string{"0:inactive>pending/critical", "1:pending>firing/critical"}},
	}
	for _, c := range cases {
		got := steps(r, verdicts(series(t, c.values), nil, c.samples))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// A window without a value is skipped too under thresholds.
	var st SeriesState
	v := verdicts([]float64{math.NaN()}, nil, nil)[0]
	if res := r.Step(Key{}, &st, &v); res.Outcome != OutcomeSkipped || res.Breach {
		t.Errorf("NaN value: %+v", res)
	}
}

// TestVerdictSeverity: without thresholds the analysis's severity decides.
func TestVerdictSeverity(t *testing.T) {
	sevs := []Severity{SeverityWarning, SeverityCritical, SeverityOK, SeverityOK, "bogus"}
	vals := make([]float64, len(sevs))
	got := steps(DefaultRule(), verdicts(vals, sevs, nil))
	want := []string{"0:inactive>pending/warning", "1:pending>firing/critical", "3:firing>resolved/critical"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestOutOfOrder: a window not after the last one is ignored.
func TestOutOfOrder(t *testing.T) {
	r := thresholdRule(1, 1)
	vs := verdicts(series(t, "0.3 0.3"), nil, nil)
	var st SeriesState
	r.Step(Key{}, &st, &vs[1])
	before := st
	for _, v := range []Verdict{vs[0], vs[1]} {
		if res := r.Step(Key{}, &st, &v); res.Outcome != OutcomeOutOfOrder || res.Transition != nil {
			t.Errorf("window ending %s: %+v", v.WindowEnd, res)
		}
	}
	if st != before {
		t.Errorf("state changed: %+v, was %+v", st, before)
	}
}

// TestBreachAndBudgetLevel: Result.Breach follows the rule's budget_level.
func TestBreachAndBudgetLevel(t *testing.T) {
	for _, c := range []struct {
		level      Severity
		warn, crit bool
	}{{SeverityWarning, true, true}, {SeverityCritical, false, true}, {"", false, false}} {
		r := thresholdRule(0, 0)
		r.BudgetLevel = c.level
		for _, x := range []struct {
			v    float64
			want bool
		}{{0.15, c.warn}, {0.3, c.crit}, {0.01, false}} {
			var st SeriesState
			v := verdicts([]float64{x.v}, nil, nil)[0]
			if got := r.Step(Key{}, &st, &v).Breach; got != x.want {
				t.Errorf("budget_level %q, value %g: breach %t, want %t", c.level, x.v, got, x.want)
			}
		}
	}
}

// TestTransitionContent: a transition carries the rule's labels, rendered
// annotations and the receivers of its severity.
func TestTransitionContent(t *testing.T) {
	p := mustParse(t, `
rules:
  - name: psi
    thresholds: {warning: 0.1, critical: 0.25}
    for: 0
    labels: {team: risk}
    annotations:
      summary: "{{.Signal}} {{humanize .Value}} ≥ {{humanize .Threshold}} on {{.Subject}} of {{.Model}} v{{.Version}}: {{.State}} {{.Severity}} since {{.StartsAt.Format \"15:04\"}}"
      runbook_url: "https://runbooks.example/{{pathEscape .Model}}/{{.Labels.team}}"
    receivers: {warning: [slack], critical: [slack, pagerduty]}
`)
	k := Key{"fraud/eu", "3", "psi", "amount"}
	e := NewEvaluator(p)
	vs := verdicts(series(t, "0.15 0.3"), nil, nil)
	r0 := e.Observe(k, vs[0])
	r1 := e.Observe(k, vs[1])
	if r0.Transition == nil || r1.Transition == nil {
		t.Fatalf("transitions: %+v, %+v", r0, r1)
	}
	tr := r1.Transition
	wantLabels := map[string]string{"team": "risk", "rule": "psi", "model": "fraud/eu", "version": "3", "signal": "psi", "subject": "amount", "severity": "critical"}
	if fmt.Sprint(tr.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", tr.Labels, wantLabels)
	}
	if got, want := tr.Annotations["summary"], "psi 0.3 ≥ 0.25 on amount of fraud/eu v3: firing critical since 00:00"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := tr.Annotations["runbook_url"], "https://runbooks.example/fraud%2Feu/risk"; got != want {
		t.Errorf("runbook_url %q, want %q", got, want)
	}
	if !slices.Equal(tr.Receivers, []string{"slack", "pagerduty"}) || tr.AllReceivers {
		t.Errorf("critical receivers %v (all %t)", tr.Receivers, tr.AllReceivers)
	}
	if !slices.Equal(r0.Transition.Receivers, []string{"slack"}) {
		t.Errorf("warning receivers %v", r0.Transition.Receivers)
	}
	if tr.Threshold != 0.25 || tr.StartsAt != t0 || tr.WindowEnd != t0.Add(2*time.Minute) {
		t.Errorf("transition %+v", tr)
	}
}

// TestEvaluatorRoundTrip: the state, encoded as JSON and restored into a
// new Evaluator mid-series, gives the same transitions as an Evaluator
// that ran through.
func TestEvaluatorRoundTrip(t *testing.T) {
	p := mustParse(t, `
rules:
  - name: psi
    match: {signals: [psi]}
    thresholds: {warning: {enter: 0.1, exit: 0.08}, critical: {enter: 0.25, exit: 0.2}}
    for: 2
    keep_firing_for: 2
    min_samples: 100
`)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []Key{{"a", "1", "psi", "x"}, {"a", "1", "psi", "y"}, {"b", "2", "ks", "x"}, {"b", "2", "error_rate", "*"}}
	const windows = 400
	type in struct {
		k Key
		v Verdict
	}
	var inputs [][]in
	sevs := []Severity{SeverityOK, SeverityOK, SeverityWarning, SeverityCritical}
	for w := range windows {
		var row []in
		start := t0.Add(time.Duration(w) * time.Minute)
		for _, k := range keys {
			// Regimes of 20 windows: quiet, or around the thresholds.
			base := 0.02
			if (w/20+len(k.Subject))%3 == 0 {
				base = 0.15
			}
			row = append(row, in{k, Verdict{WindowStart: start, WindowEnd: start.Add(time.Minute),
				Value: base + rng.NormFloat64()*0.07, Severity: sevs[rng.IntN(4)], Samples: 50 + rng.IntN(500)}})
		}
		inputs = append(inputs, row)
	}
	run := func(e *Evaluator, rows [][]in) []string {
		var out []string
		for _, row := range rows {
			for _, x := range row {
				if tr := e.Observe(x.k, x.v).Transition; tr != nil {
					out = append(out, fmt.Sprintf("%s %s %s>%s/%s", tr.WindowEnd.Format("15:04"), tr.Key, tr.From, tr.To, tr.Severity))
				}
			}
		}
		return out
	}
	through := run(NewEvaluator(p), inputs)
	fired := 0
	for _, s := range through {
		if strings.Contains(s, ">firing") {
			fired++
		}
	}
	if fired < 5 {
		t.Fatalf("only %d firing transitions: the series does not exercise the lifecycle", fired)
	}
	for _, cut := range []int{1, 57, 200, 333} {
		first := NewEvaluator(p)
		got := run(first, inputs[:cut])
		b, err := json.Marshal(first.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		var st EvaluatorState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		second := NewEvaluator(p)
		if err := second.Restore(st); err != nil {
			t.Fatal(err)
		}
		got = append(got, run(second, inputs[cut:])...)
		if !slices.Equal(got, through) {
			t.Errorf("cut at window %d: transitions differ from an uninterrupted run\n got %v\nwant %v", cut, got, through)
		}
	}
}

// TestRestoreRefuses: a corrupt state is refused and nothing changes.
func TestRestoreRefuses(t *testing.T) {
	e := NewEvaluator(mustParse(t, ""))
	k := Key{"m", "1", "psi", "f"}
	e.Observe(k, verdicts([]float64{0}, []Severity{SeverityWarning}, nil)[0])
	cases := []struct {
		st   EvaluatorState
		want string
	}{
		{EvaluatorState{Series: []SeriesSnapshot{{Key: k, State: SeriesState{State: "exploded"}}}},
			`restoring alert state: series[0] (m/1/psi/f): unknown state "exploded"`},
		{EvaluatorState{Series: []SeriesSnapshot{{Key: k, State: SeriesState{State: StateFiring, Severity: "fatal"}}}},
			`restoring alert state: series[0] (m/1/psi/f): unknown severity "fatal"`},
		{EvaluatorState{Series: []SeriesSnapshot{{Key: k, State: SeriesState{State: StateFiring}}, {Key: k, State: SeriesState{State: StateFiring}}}},
			"restoring alert state: series[1] (m/1/psi/f): key listed twice"},
	}
	for _, c := range cases {
		if err := e.Restore(c.st); err == nil || err.Error() != c.want {
			t.Errorf("Restore = %v, want %s", err, c.want)
		}
	}
	if a := e.Alerts(); len(a) != 1 || a[0].State.State != StatePending {
		t.Errorf("state changed by a refused restore: %+v", a)
	}
}

// TestSetPolicyKeepsState: a reload keeps alert state and the next window
// is decided by the new rule.
func TestSetPolicyKeepsState(t *testing.T) {
	k := Key{"m", "1", "psi", "f"}
	e := NewEvaluator(mustParse(t, "rules: [{name: slow, for: 5, thresholds: {warning: 0.1}}]"))
	vs := verdicts(series(t, "0.2x3"), nil, nil)
	e.Observe(k, vs[0])
	e.Observe(k, vs[1])
	e.SetPolicy(mustParse(t, "rules: [{name: quick, for: 2, thresholds: {warning: 0.1}}]"))
	res := e.Observe(k, vs[2])
	if res.Transition == nil || res.Transition.To != StateFiring || res.Rule.Name != "quick" {
		t.Errorf("after reload: %+v", res)
	}
}
