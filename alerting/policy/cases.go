package policy

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultCaseWindow is a test's analysis window length when it sets none,
// analysis.window_size's default.
const DefaultCaseWindow = time.Minute

// Cases is a parsed `policy test` cases file: tests that feed series of
// verdicts through a policy and check the alerts and budgets they produce,
// as `promtool test rules` does for Prometheus rules.
type Cases struct {
	// File is the name the cases were parsed under.
	File string
	// Tests are the file's tests in file order.
	Tests []*CaseTest
}

// CaseTest is one test: series of verdicts and what to expect.
type CaseTest struct {
	// Name and Line identify the test; Path is its key path ("tests[0]").
	Name string
	Line int
	Path string
	// Window is the analysis window length. Default: DefaultCaseWindow.
	Window time.Duration
	// Start is the start of window 0. Default: the Unix epoch.
	Start time.Time
	// Series are the input series, one per key.
	Series []*CaseSeries
	// Expect are the checkpoints, in window order.
	Expect []*Checkpoint
	// windows is the length of the longest series.
	windows int
}

// CaseSeries is one key's verdicts, window by window.
type CaseSeries struct {
	// Key is the series' alert key.
	Key Key
	// Line and Path locate the series in the cases file.
	Line int
	Path string
	// Values, Severities and Samples are per window; Values may be NaN,
	// Severities nil when the file gives none (every window ok), Samples
	// -1 when the file gives none.
	Values     []float64
	Severities []Severity
	Samples    []int
	// Missing marks windows without a verdict.
	Missing []bool
	// hasValues says whether the file gave values.
	hasValues bool
}

// Checkpoint is what to expect after one window.
type Checkpoint struct {
	// At is the 0-based window index.
	At int
	// Line and Path locate the checkpoint in the cases file.
	Line int
	Path string
	// Alerts are the expected alerts: every pending or firing alert after
	// the window, and every alert the window resolved, exactly. They are
	// checked when CheckAlerts is set (the file has the key, maybe empty).
	Alerts      []*ExpectedAlert
	CheckAlerts bool
	alertsLine  int
	// BurnAlerts are the expected burn alerts: every firing one after the
	// window, and every one the window resolved, exactly. They are checked
	// when CheckBurnAlerts is set.
	BurnAlerts      []*ExpectedBurn
	CheckBurnAlerts bool
	burnAlertsLine  int
	// Budgets are expected budget figures of some models.
	Budgets []*ExpectedBudget
}

// ExpectedAlert is one expected alert.
type ExpectedAlert struct {
	// Key is the alert's key.
	Key Key
	// Line and Path locate the expectation in the cases file.
	Line int
	Path string
	// State is pending, firing or resolved.
	State State
	// Severity, when set, must equal the alert's.
	Severity Severity
	// Labels and Annotations, when set, must be among the alert's, equal.
	Labels, Annotations map[string]string
	// Inhibited, when CheckInhibited is set, says whether an inhibit rule
	// mutes the alert after the window: a firing alert other than it that
	// a rule's source matchers match inhibits it (inhibit.go).
	Inhibited, CheckInhibited bool
}

// ExpectedBurn is one expected burn alert.
type ExpectedBurn struct {
	// Model and Alert name the model and the burn alert, e.g. "fast".
	Model, Alert string
	// Line and Path locate the expectation in the cases file.
	Line int
	Path string
	// State is firing (default) or resolved.
	State State
}

// ExpectedBudget is one model's expected budget figures; NaN is unchecked.
type ExpectedBudget struct {
	// Model names the model.
	Model string
	// Line and Path locate the expectation in the cases file.
	Line int
	Path string
	// Consumed and Remaining are the expected shares of the budget.
	Consumed, Remaining float64
}

// budgetTolerance is how far budget figures may be from the expected ones.
const budgetTolerance = 1e-6

// ParseCases decodes and validates a cases file. file names it in errors.
func ParseCases(file string, data []byte) (*Cases, error) {
	d := &decoder{file: file}
	c := &Cases{File: file}
	root := d.document(data)
	if root == nil {
		if len(d.errs) == 0 {
			d.errorf(nil, "", "no tests")
		}
		return nil, d.err()
	}
	fs := d.mapping(root, "", "tests")
	if f, ok := fs["tests"]; ok {
		if items, ok := d.list(f.val, "tests"); ok {
			for i, it := range items {
				if t := d.caseTest(it, index("tests", i)); t != nil {
					c.Tests = append(c.Tests, t)
				}
			}
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	if len(c.Tests) == 0 {
		d.errorf(root, "tests", "no tests")
		return nil, d.err()
	}
	return c, nil
}

// caseTest decodes one test.
func (d *decoder) caseTest(n *yaml.Node, path string) *CaseTest {
	fs := d.mapping(n, path, "name", "window", "start", "series", "expect")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	t := &CaseTest{Line: resolve(n).Line, Path: path, Window: DefaultCaseWindow, Start: time.Unix(0, 0).UTC()}
	if f, ok := fs["name"]; ok {
		t.Name, _ = d.str(f.val, join(path, "name"))
	} else {
		t.Name = path
	}
	if f, ok := fs["window"]; ok {
		t.Window, _ = d.duration(f.val, join(path, "window"))
	}
	if f, ok := fs["start"]; ok {
		if s, ok := d.scalar(f.val, join(path, "start")); ok {
			st, err := time.Parse(time.RFC3339, s)
			if err != nil {
				d.errorf(f.val, join(path, "start"), "must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got %q", s)
			}
			t.Start = st.UTC()
		}
	}
	seen := map[Key]int{}
	if f, ok := fs["series"]; !ok {
		d.errorf(n, join(path, "series"), "required")
	} else if items, ok := d.list(f.val, join(path, "series")); ok {
		for i, it := range items {
			s := d.caseSeries(it, index(join(path, "series"), i))
			if s == nil {
				continue
			}
			if line, dup := seen[s.Key]; dup {
				d.errorf(it, s.Path+".key", "key %s already has a series at line %d", s.Key, line)
				continue
			}
			seen[s.Key] = s.Line
			t.Series = append(t.Series, s)
			t.windows = max(t.windows, len(s.Missing))
		}
	}
	if f, ok := fs["expect"]; !ok {
		d.errorf(n, join(path, "expect"), "required")
	} else if items, ok := d.list(f.val, join(path, "expect")); ok {
		ats := map[int]int{}
		for i, it := range items {
			cp := d.checkpoint(it, index(join(path, "expect"), i))
			if cp == nil {
				continue
			}
			if line, dup := ats[cp.At]; dup {
				d.errorf(it, cp.Path+".at", "window %d is already checked at line %d", cp.At, line)
				continue
			}
			ats[cp.At] = cp.Line
			t.Expect = append(t.Expect, cp)
		}
	}
	if len(d.errs) > bad {
		return nil
	}
	for _, cp := range t.Expect {
		if cp.At >= t.windows {
			d.errorAt(cp.Line, cp.Path+".at", "window %d is past the series' %d windows", cp.At, t.windows)
		}
	}
	slices.SortFunc(t.Expect, func(a, b *Checkpoint) int { return a.At - b.At })
	if len(d.errs) > bad {
		return nil
	}
	return t
}

// key decodes an alert key.
func (d *decoder) key(n *yaml.Node, path string) (Key, bool) {
	fs := d.mapping(n, path, "model", "version", "signal", "subject")
	if fs == nil {
		return Key{}, false
	}
	var k Key
	ok := true
	for _, f := range []struct {
		name string
		into *string
	}{{"model", &k.Model}, {"version", &k.Version}, {"signal", &k.Signal}, {"subject", &k.Subject}} {
		v, has := fs[f.name]
		if !has {
			d.errorf(n, join(path, f.name), "required")
			ok = false
			continue
		}
		s, good := d.str(v.val, join(path, f.name))
		*f.into, ok = s, ok && good
	}
	return k, ok
}

// caseSeries decodes one input series.
func (d *decoder) caseSeries(n *yaml.Node, path string) *CaseSeries {
	fs := d.mapping(n, path, "key", "values", "severities", "samples")
	if fs == nil {
		return nil
	}
	s := &CaseSeries{Line: resolve(n).Line, Path: path}
	f, ok := fs["key"]
	if !ok {
		d.errorf(n, join(path, "key"), "required")
		return nil
	}
	if s.Key, ok = d.key(f.val, join(path, "key")); !ok {
		return nil
	}
	text := func(key string) (string, *yaml.Node, bool) {
		f, ok := fs[key]
		if !ok {
			return "", nil, false
		}
		n := resolve(f.val)
		if n.Kind == yaml.SequenceNode {
			var parts []string
			for i, it := range n.Content {
				v, ok := d.scalar(it, index(join(path, key), i))
				if !ok {
					return "", nil, false
				}
				parts = append(parts, v)
			}
			return strings.Join(parts, " "), n, true
		}
		v, ok := d.scalar(n, join(path, key))
		return v, n, ok
	}
	vals, vn, hasVals := text("values")
	sevs, sn, hasSevs := text("severities")
	samples, cn, hasSamples := text("samples")
	bad := len(d.errs)
	if !hasVals && !hasSevs {
		if len(d.errs) == bad {
			d.errorf(n, join(path, "values"), "required (or severities, for rules that take the analysis's severity)")
		}
		return nil
	}
	length := -1
	fit := func(node *yaml.Node, key string, n int) bool {
		if length >= 0 && n != length {
			d.errorf(node, join(path, key), "has %d windows, the series has %d", n, length)
			return false
		}
		length = n
		return true
	}
	if hasVals {
		pts, err := parseSeries(vals, parseValue, stepValue)
		if err != nil {
			d.errorf(vn, join(path, "values"), "%v", err)
			return nil
		}
		fit(vn, "values", len(pts))
		s.hasValues = true
		for _, p := range pts {
			s.Values = append(s.Values, p.v)
			s.Missing = append(s.Missing, p.missing)
		}
	}
	if hasSevs {
		pts, err := parseSeries(sevs, parseSeverity, nil)
		if err != nil {
			d.errorf(sn, join(path, "severities"), "%v", err)
			return nil
		}
		if !fit(sn, "severities", len(pts)) {
			return nil
		}
		for i, p := range pts {
			s.Severities = append(s.Severities, p.v)
			if !hasVals {
				s.Values = append(s.Values, math.NaN())
				s.Missing = append(s.Missing, p.missing)
			} else if p.missing != s.Missing[i] {
				d.errorf(sn, join(path, "severities"), "window %d is _ in one of values and severities but not in the other", i)
				return nil
			}
		}
	}
	s.Samples = slices.Repeat([]int{-1}, length)
	if hasSamples {
		pts, err := parseSeries(samples, parseSamples, stepSamples)
		if err != nil {
			d.errorf(cn, join(path, "samples"), "%v", err)
			return nil
		}
		if len(pts) == 1 {
			pts = slices.Repeat(pts, length)
		}
		if !fit(cn, "samples", len(pts)) {
			return nil
		}
		for i, p := range pts {
			if !p.missing {
				s.Samples[i] = p.v
			}
		}
	}
	if len(d.errs) > bad {
		return nil
	}
	return s
}

// checkpoint decodes one expectation.
func (d *decoder) checkpoint(n *yaml.Node, path string) *Checkpoint {
	fs := d.mapping(n, path, "at", "alerts", "burn_alerts", "budgets")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	cp := &Checkpoint{Line: resolve(n).Line, Path: path}
	if f, ok := fs["at"]; !ok {
		d.errorf(n, join(path, "at"), "required: the 0-based window index")
	} else {
		cp.At, _ = d.integer(f.val, join(path, "at"), 0)
	}
	if f, ok := fs["alerts"]; ok {
		cp.CheckAlerts, cp.alertsLine = true, f.key.Line
		if items, ok := d.list(f.val, join(path, "alerts")); ok {
			for i, it := range items {
				if a := d.expectedAlert(it, index(join(path, "alerts"), i)); a != nil {
					cp.Alerts = append(cp.Alerts, a)
				}
			}
		}
	}
	if f, ok := fs["burn_alerts"]; ok {
		cp.CheckBurnAlerts, cp.burnAlertsLine = true, f.key.Line
		if items, ok := d.list(f.val, join(path, "burn_alerts")); ok {
			for i, it := range items {
				at := index(join(path, "burn_alerts"), i)
				bf := d.mapping(it, at, "model", "alert", "state")
				if bf == nil {
					continue
				}
				b := &ExpectedBurn{Line: it.Line, Path: at, State: StateFiring}
				for _, k := range []struct {
					key  string
					into *string
				}{{"model", &b.Model}, {"alert", &b.Alert}} {
					if v, ok := bf[k.key]; ok {
						*k.into, _ = d.str(v.val, join(at, k.key))
					} else {
						d.errorf(it, join(at, k.key), "required")
					}
				}
				if v, ok := bf["state"]; ok {
					if s, ok := d.scalar(v.val, join(at, "state")); ok {
						b.State = State(s)
						if b.State != StateFiring && b.State != StateResolved {
							d.errorf(v.val, join(at, "state"), "must be firing or resolved, got %q", s)
						}
					}
				}
				cp.BurnAlerts = append(cp.BurnAlerts, b)
			}
		}
	}
	if f, ok := fs["budgets"]; ok {
		if items, ok := d.list(f.val, join(path, "budgets")); ok {
			for i, it := range items {
				at := index(join(path, "budgets"), i)
				bf := d.mapping(it, at, "model", "consumed", "remaining")
				if bf == nil {
					continue
				}
				b := &ExpectedBudget{Line: it.Line, Path: at, Consumed: math.NaN(), Remaining: math.NaN()}
				if v, ok := bf["model"]; ok {
					b.Model, _ = d.str(v.val, join(at, "model"))
				} else {
					d.errorf(it, join(at, "model"), "required")
				}
				if v, ok := bf["consumed"]; ok {
					b.Consumed, _ = d.number(v.val, join(at, "consumed"))
				}
				if v, ok := bf["remaining"]; ok {
					b.Remaining, _ = d.number(v.val, join(at, "remaining"))
				}
				cp.Budgets = append(cp.Budgets, b)
			}
		}
	}
	if len(d.errs) > bad {
		return nil
	}
	return cp
}

// expectedAlert decodes one expected alert.
func (d *decoder) expectedAlert(n *yaml.Node, path string) *ExpectedAlert {
	fs := d.mapping(n, path, "key", "state", "severity", "labels", "annotations", "inhibited")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	a := &ExpectedAlert{Line: resolve(n).Line, Path: path}
	if f, ok := fs["key"]; ok {
		a.Key, _ = d.key(f.val, join(path, "key"))
	} else {
		d.errorf(n, join(path, "key"), "required")
	}
	if f, ok := fs["state"]; !ok {
		d.errorf(n, join(path, "state"), "required: pending, firing or resolved")
	} else if s, ok := d.scalar(f.val, join(path, "state")); ok {
		a.State = State(s)
		switch a.State {
		case StatePending, StateFiring, StateResolved:
		default:
			d.errorf(f.val, join(path, "state"), "must be pending, firing or resolved, got %q", s)
		}
	}
	if f, ok := fs["severity"]; ok {
		if s, ok := d.scalar(f.val, join(path, "severity")); ok {
			a.Severity = Severity(s)
			if a.Severity != SeverityWarning && a.Severity != SeverityCritical {
				d.errorf(f.val, join(path, "severity"), "must be warning or critical, got %q", s)
			}
		}
	}
	strMap := func(key string) map[string]string {
		f, ok := fs[key]
		if !ok {
			return nil
		}
		m := d.mapping(f.val, join(path, key))
		out := make(map[string]string, len(m))
		for _, name := range slices.Sorted(maps.Keys(m)) {
			v, _ := d.text(m[name].val, join(join(path, key), name))
			out[name] = v
		}
		return out
	}
	a.Labels, a.Annotations = strMap("labels"), strMap("annotations")
	if f, ok := fs["inhibited"]; ok {
		a.Inhibited, a.CheckInhibited = d.boolean(f.val, join(path, "inhibited"))
	}
	if len(d.errs) > bad {
		return nil
	}
	return a
}
