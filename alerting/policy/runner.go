package policy

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of running a cases file.
type Report struct {
	// File is the cases file.
	File string
	// Tests are the outcomes of its tests, in file order.
	Tests []TestReport
}

// TestReport is one test's outcome.
type TestReport struct {
	// Name and Line identify the test.
	Name string
	Line int
	// Failures are its mismatches, each naming the line of the expectation.
	Failures Errors
}

// Failed returns how many tests failed.
func (r *Report) Failed() int {
	n := 0
	for _, t := range r.Tests {
		if len(t.Failures) > 0 {
			n++
		}
	}
	return n
}

// String writes one line per test, PASS or FAIL, with every mismatch of
// the failed ones below it, and a last line counting the failures.
func (r *Report) String() string {
	var b strings.Builder
	for _, t := range r.Tests {
		if len(t.Failures) == 0 {
			fmt.Fprintf(&b, "PASS  %s (%s:%d)\n", t.Name, r.File, t.Line)
			continue
		}
		fmt.Fprintf(&b, "FAIL  %s (%s:%d)\n", t.Name, r.File, t.Line)
		for _, f := range t.Failures {
			fmt.Fprintf(&b, "      %s\n", f)
		}
	}
	noun := "tests"
	if len(r.Tests) == 1 {
		noun = "test"
	}
	fmt.Fprintf(&b, "%d %s, %d failed\n", len(r.Tests), noun, r.Failed())
	return b.String()
}

// Run runs every test against p and reports the mismatches.
func (c *Cases) Run(p *Policy) *Report {
	r := &Report{File: c.File}
	for _, t := range c.Tests {
		r.Tests = append(r.Tests, TestReport{Name: t.Name, Line: t.Line, Failures: c.run(p, t)})
	}
	return r
}

// latest is what the runner remembers of a key for rendering at checkpoints.
type latest struct {
	verdict Verdict
	rule    *Rule
}

// run runs one test.
func (c *Cases) run(p *Policy, t *CaseTest) Errors {
	var fails Errors
	fail := func(line int, path, format string, a ...any) {
		fails = append(fails, &Error{File: c.File, Line: line, Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	for _, s := range t.Series {
		r := p.Match(s.Key)
		if s.Severities == nil && (r.Thresholds == nil || r.Thresholds.RequireVerdict) {
			fail(s.Line, s.Path, "rule %q takes the analysis's severity: give severities", r.Name)
		}
		if !s.hasValues && r.Thresholds != nil {
			fail(s.Line, s.Path, "rule %q compares values with thresholds: give values", r.Name)
		}
	}
	tr, err := NewTracker(p, t.Window)
	if err != nil {
		fail(t.Line, t.Path, "%v", err)
	}
	if len(fails) > 0 {
		return fails
	}
	ev := NewEvaluator(p)
	last := map[Key]latest{}
	next := 0
	for w := range t.windows {
		start := t.Start.Add(time.Duration(w) * t.Window)
		end := start.Add(t.Window)
		resolved := map[Key]*Transition{}
		breach := map[string]bool{}
		var models []string
		for _, s := range t.Series {
			if w >= len(s.Missing) || s.Missing[w] {
				continue
			}
			v := Verdict{WindowStart: start, WindowEnd: end, Value: s.Values[w], Severity: SeverityOK, Samples: s.Samples[w]}
			if s.Severities != nil {
				v.Severity = s.Severities[w]
			}
			res := ev.Observe(s.Key, v)
			if res.Outcome == OutcomeSkipped || res.Outcome == OutcomeOutOfOrder {
				continue
			}
			last[s.Key] = latest{verdict: v, rule: res.Rule}
			if res.Transition != nil && res.Transition.To == StateResolved {
				resolved[s.Key] = res.Transition
			}
			if _, ok := breach[s.Key.Model]; !ok {
				models = append(models, s.Key.Model)
			}
			breach[s.Key.Model] = breach[s.Key.Model] || res.Breach
		}
		burnResolved := map[[2]string]bool{}
		for _, m := range models {
			for _, bt := range tr.Observe(m, end, breach[m]) {
				if bt.State == StateResolved {
					burnResolved[[2]string{bt.Model, bt.Alert}] = true
				}
			}
		}
		for _, bt := range tr.Advance(end) {
			if bt.State == StateResolved {
				burnResolved[[2]string{bt.Model, bt.Alert}] = true
			}
		}
		for next < len(t.Expect) && t.Expect[next].At == w {
			cp := t.Expect[next]
			next++
			fails = append(fails, c.check(cp, end, ev, tr, last, resolved, burnResolved)...)
		}
	}
	return fails
}

// actualAlert is an alert as a checkpoint sees it.
type actualAlert struct {
	state               State
	severity            Severity
	labels, annotations map[string]string
	inhibit             LabelFunc // its labels as inhibit rules see them
}

// check compares one checkpoint with the evaluator and tracker.
func (c *Cases) check(cp *Checkpoint, end time.Time, ev *Evaluator, tr *Tracker, last map[Key]latest,
	resolved map[Key]*Transition, burnResolved map[[2]string]bool) Errors {
	var fails Errors
	where := fmt.Sprintf("window %d (ending %s)", cp.At, end.Format(time.RFC3339))
	fail := func(line int, path, format string, a ...any) {
		fails = append(fails, &Error{File: c.File, Line: line, Path: path, Msg: where + ": " + fmt.Sprintf(format, a...)})
	}
	if cp.CheckAlerts {
		checkAlerts(cp, ev, tr, last, resolved, fail)
	}
	if cp.CheckBurnAlerts {
		checkBurns(cp, tr, burnResolved, fail)
	}
	for _, e := range cp.Budgets {
		s, ok := tr.Status(e.Model)
		if !ok {
			fail(e.Line, e.Path, "model %s has no budget (none matches it, or it had no window)", e.Model)
			continue
		}
		if !math.IsNaN(e.Consumed) && math.Abs(s.Consumed-e.Consumed) > budgetTolerance {
			fail(e.Line, e.Path+".consumed", "budget of %s: got %.6g (%d of %.4g windows), want %g", e.Model, s.Consumed, s.Breached, s.Allowed, e.Consumed)
		}
		if !math.IsNaN(e.Remaining) && math.Abs(s.Remaining-e.Remaining) > budgetTolerance {
			fail(e.Line, e.Path+".remaining", "budget of %s: got %.6g (%d of %.4g windows), want %g", e.Model, s.Remaining, s.Breached, s.Allowed, e.Remaining)
		}
	}
	return fails
}

// failFunc reports one mismatch at a line and key path.
type failFunc func(line int, path, format string, a ...any)

// checkAlerts compares the expected alerts of a checkpoint with the
// pending and firing alerts and those the window resolved.
func checkAlerts(cp *Checkpoint, ev *Evaluator, tr *Tracker, last map[Key]latest, resolved map[Key]*Transition, fail failFunc) {
	actual := map[Key]actualAlert{}
	var sources []LabelFunc
	var sourceKeys []Key
	for _, a := range ev.Alerts() {
		l := last[a.Key]
		labels, ann := l.rule.Render(a.Key, a.State.State, a.State.Severity, &l.verdict, a.State.StartsAt)
		lf := inhibitLabels(a.Key, l.rule, a.State.Severity)
		actual[a.Key] = actualAlert{state: a.State.State, severity: a.State.Severity, labels: labels, annotations: ann, inhibit: lf}
		if a.State.State == StateFiring {
			sources, sourceKeys = append(sources, lf), append(sourceKeys, a.Key)
		}
	}
	for k, t := range resolved {
		actual[k] = actualAlert{state: StateResolved, severity: t.Severity, labels: t.Labels, annotations: t.Annotations,
			inhibit: inhibitLabels(k, last[k].rule, t.Severity)}
	}
	sources = append(sources, burnLabels(tr)...)
	inhibitedBy := func(k Key, a actualAlert) *InhibitRule {
		var others []LabelFunc
		for i, s := range sources {
			if i >= len(sourceKeys) || sourceKeys[i] != k {
				others = append(others, s)
			}
		}
		return ev.pol.InhibitedBy(a.inhibit, others)
	}
	expected := map[Key]bool{}
	for _, e := range cp.Alerts {
		expected[e.Key] = true
		a, ok := actual[e.Key]
		if !ok {
			fail(e.Line, e.Path, "alert %s: missing (inactive), want %s", e.Key, e.State)
			continue
		}
		if a.state != e.State {
			fail(e.Line, e.Path+".state", "alert %s: got %s, want %s", e.Key, a.state, e.State)
		}
		if e.Severity != "" && a.severity != e.Severity {
			fail(e.Line, e.Path+".severity", "alert %s: got %s, want %s", e.Key, a.severity, e.Severity)
		}
		if e.CheckInhibited {
			switch r := inhibitedBy(e.Key, a); {
			case r != nil && !e.Inhibited:
				fail(e.Line, e.Path+".inhibited", "alert %s: inhibited by rule %q, want not inhibited", e.Key, r.Name)
			case r == nil && e.Inhibited:
				fail(e.Line, e.Path+".inhibited", "alert %s: not inhibited, want inhibited", e.Key)
			}
		}
		for _, m := range []struct {
			what      string
			got, want map[string]string
		}{{"labels", a.labels, e.Labels}, {"annotations", a.annotations, e.Annotations}} {
			for _, name := range slices.Sorted(maps.Keys(m.want)) {
				got, has := m.got[name]
				switch {
				case !has:
					fail(e.Line, e.Path+"."+m.what+"."+name, "alert %s: missing, want %q", e.Key, m.want[name])
				case got != m.want[name]:
					fail(e.Line, e.Path+"."+m.what+"."+name, "alert %s: got %q, want %q", e.Key, got, m.want[name])
				}
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(actual), compareKeys) {
		if !expected[k] {
			a := actual[k]
			fail(cp.alertsLine, cp.Path+".alerts", "unexpected alert %s (%s, %s)", k, a.state, a.severity)
		}
	}
}

// checkBurns compares the expected burn alerts of a checkpoint with the
// firing ones and those the window resolved.
func checkBurns(cp *Checkpoint, tr *Tracker, burnResolved map[[2]string]bool, fail failFunc) {
	type burnKey = [2]string
	actual := map[burnKey]State{}
	for _, m := range tr.Models() {
		s, _ := tr.Status(m)
		for _, b := range s.Burns {
			if b.Firing {
				actual[burnKey{m, b.Name}] = StateFiring
			}
		}
	}
	for k := range burnResolved {
		actual[k] = StateResolved
	}
	expected := map[burnKey]bool{}
	for _, e := range cp.BurnAlerts {
		k := burnKey{e.Model, e.Alert}
		expected[k] = true
		got, ok := actual[k]
		switch {
		case !ok:
			fail(e.Line, e.Path, "burn alert %s of %s: not firing, want %s", e.Alert, e.Model, e.State)
		case got != e.State:
			fail(e.Line, e.Path+".state", "burn alert %s of %s: got %s, want %s", e.Alert, e.Model, got, e.State)
		}
	}
	keys := slices.SortedFunc(maps.Keys(actual), func(a, b burnKey) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	})
	for _, k := range keys {
		if !expected[k] {
			fail(cp.burnAlertsLine, cp.Path+".burn_alerts", "unexpected burn alert %s of %s (%s)", k[1], k[0], actual[k])
		}
	}
}
