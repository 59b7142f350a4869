package policy

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseSeries(t *testing.T) {
	cases := []struct {
		in   string
		want string // values, "_" for a missing window
		err  string
	}{
		{"0.1 0.3x3 0.05", "0.1 0.3 0.3 0.3 0.05", ""},
		{"0+0.1x4", "0 0.1 0.2 0.30000000000000004", ""},
		{"1-0.25x3", "1 0.75 0.5", ""},
		{"-1+1x3", "-1 0 1", ""},
		{"1e-3x2 2E+1", "0.001 0.001 20", ""},
		{"_ _x2 nan", "_ _ _ NaN", ""},
		{"0.3x0", "", `"0.3x0": the count after x must be a positive whole number`},
		{"0.3xa", "", `"0.3xa": the count after x must be a positive whole number`},
		{"0+0.1", "", `"0+0.1": a step needs a count, e.g. 0+0.1x5`},
		{"abc", "", `"abc": not a number`},
		{"inf", "", `"inf": not a number`},
		{"  ", "", "empty series"},
		{"1x2000000", "", `"1x2000000": the series is longer than 1048576 windows`},
	}
	for _, c := range cases {
		pts, err := parseSeries(c.in, parseValue, stepValue)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("parseSeries(%q) error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSeries(%q): %v", c.in, err)
			continue
		}
		var got []string
		for _, p := range pts {
			if p.missing {
				got = append(got, "_")
			} else {
				got = append(got, fmt.Sprint(p.v))
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("parseSeries(%q) = %s, want %s", c.in, strings.Join(got, " "), c.want)
		}
	}
	sevs, err := parseSeries("ok warningx2 _ critical", parseSeverity, nil)
	if err != nil || len(sevs) != 5 || sevs[2].v != SeverityWarning || !sevs[3].missing || sevs[4].v != SeverityCritical {
		t.Errorf("severities: %v, %v", sevs, err)
	}
	if _, err := parseSeries("warn", parseSeverity, nil); err == nil || err.Error() != `"warn": not a severity (ok, warning, critical)` {
		t.Errorf("bad severity: %v", err)
	}
	if _, err := parseSeries("ok+okx2", parseSeverity, nil); err == nil || err.Error() != `"ok+okx2": this series cannot step` {
		t.Errorf("stepping severities: %v", err)
	}
}

// loadCases parses the policy and a cases file under testdata/cases.
func loadCases(t *testing.T, name string) (*Policy, *Cases) {
	t.Helper()
	pb, err := os.ReadFile("testdata/cases/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("testdata/cases/policy.yml", pb)
	if err != nil {
		t.Fatal(err)
	}
	path := "testdata/cases/" + name
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCases(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// TestCasesPass runs a cases file whose expectations all hold.
func TestCasesPass(t *testing.T) {
	p, c := loadCases(t, "pass.yml")
	r := c.Run(p)
	want := `PASS  psi pages on the second window and resolves on the third clean one (testdata/cases/pass.yml:2)
PASS  the default rule takes the analysis's severity (testdata/cases/pass.yml:46)
PASS  thin and missing windows are no evidence (testdata/cases/pass.yml:67)
3 tests, 0 failed
`
	if r.Failed() != 0 || r.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", r, want)
	}
}

// TestCasesFail runs a cases file with wrong expectations and checks that
// every mismatch is reported with its line.
func TestCasesFail(t *testing.T) {
	p, c := loadCases(t, "fail.yml")
	r := c.Run(p)
	want := `FAIL  a wrong guess about the lifecycle (testdata/cases/fail.yml:2)
      testdata/cases/fail.yml:14: tests[0].expect[0].alerts[0].state: window 1 (ending 1970-01-01T00:20:00Z): alert fraud-eu/3/psi/amount: got pending, want firing
      testdata/cases/fail.yml:13: tests[0].expect[0].alerts: window 1 (ending 1970-01-01T00:20:00Z): unexpected alert fraud-eu/3/psi/country (firing, warning)
      testdata/cases/fail.yml:18: tests[0].expect[1].alerts[0].severity: window 3 (ending 1970-01-01T00:40:00Z): alert fraud-eu/3/psi/amount: got critical, want warning
      testdata/cases/fail.yml:18: tests[0].expect[1].alerts[0].annotations.summary: window 3 (ending 1970-01-01T00:40:00Z): alert fraud-eu/3/psi/amount: got "psi 0.3 on amount of fraud-eu v3", want "psi 0.30 on amount"
      testdata/cases/fail.yml:17: tests[0].expect[1].alerts: window 3 (ending 1970-01-01T00:40:00Z): unexpected alert fraud-eu/3/psi/country (firing, warning)
      testdata/cases/fail.yml:24: tests[0].expect[2].burn_alerts: window 6 (ending 1970-01-01T01:10:00Z): unexpected burn alert fast of fraud-eu (firing)
      testdata/cases/fail.yml:27: tests[0].expect[2].budgets[0].consumed: window 6 (ending 1970-01-01T01:10:00Z): budget of fraud-eu: got 0.0810185 (7 of 86.4 windows), want 0.5
1 test, 1 failed
`
	if r.Failed() != 1 || r.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", r, want)
	}
}

// TestCasesRunErrors: a series whose rule needs severities the file does
// not give, and a budget that cannot be evaluated at the test's window,
// fail the test with a message naming the line.
func TestCasesRunErrors(t *testing.T) {
	p := mustParse(t, "budgets: [{name: b, budget: 2%, period: 30d}]")
	c, err := ParseCases("c.yml", []byte(`
tests:
  - name: no severities
    window: 1h
    series:
      - key: {model: m, version: "1", signal: psi, subject: x}
        values: "0.3x3"
    expect:
      - at: 2
        alerts: []
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `FAIL  no severities (c.yml:3)
      c.yml:6: tests[0].series[0]: rule "default" takes the analysis's severity: give severities
1 test, 1 failed
`
	if got := c.Run(p).String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	p2 := mustParse(t, "rules: [{name: psi, thresholds: {warning: 0.1}}]")
	c2, err := ParseCases("c.yml", []byte(`
tests:
  - name: no values
    series:
      - key: {model: m, version: "1", signal: psi, subject: x}
        severities: "ok warning"
    expect: [{at: 1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want2 := `FAIL  no values (c.yml:3)
      c.yml:5: tests[0].series[0]: rule "psi" compares values with thresholds: give values
1 test, 1 failed
`
	if got := c2.Run(p2).String(); got != want2 {
		t.Errorf("report:\n%s\nwant:\n%s", got, want2)
	}
	c.Tests[0].Series[0].Severities = []Severity{"ok", "ok", "ok"}
	p = mustParse(t, "budgets: [{name: b, budget: 0.01%, period: 30d, burn_alerts: [{name: x, long: 1h, short: 1h, burn_rate: 1, severity: page}]}]")
	want = `FAIL  no severities (c.yml:3)
      c.yml:3: tests[0]: inline.yml:1: budgets[0]: 0.01% of 720 windows of 1h0m0s is 0.072 windows: one breached window would spend more than the whole budget; use a longer period or a larger share
1 test, 1 failed
`
	if got := c.Run(p).String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

// TestParseCasesBad checks the messages of bad cases files.
func TestParseCasesBad(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"empty", "", "e.yml: no tests"},
		{"no tests", "tests: []\n", "e.yml:1: tests: no tests"},
		{"unknown key", "tests:\n  - name: x\n    serie: []\n", "e.yml:3: tests[0].serie: unknown key (allowed: name, window, start, series, expect)\n" +
			"e.yml:2: tests[0].series: required\ne.yml:2: tests[0].expect: required"},
		{"lengths differ", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1x3"
        severities: "okx2"
    expect: [{at: 0}]
`, "e.yml:5: tests[0].series[0].severities: has 2 windows, the series has 3"},
		{"bad value", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1 high"
    expect: [{at: 0}]
`, `e.yml:4: tests[0].series[0].values: "high": not a number`},
		{"key field missing", `tests:
  - series:
      - key: {model: m, version: "1", signal: s}
        values: "0.1"
    expect: [{at: 0}]
`, "e.yml:3: tests[0].series[0].key.subject: required"},
		{"at past the end", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1x3"
    expect:
      - at: 3
`, "e.yml:6: tests[0].expect[0].at: window 3 is past the series' 3 windows"},
		{"bad state", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1x3"
    expect:
      - at: 1
        alerts:
          - key: {model: m, version: "1", signal: s, subject: x}
            state: on
`, `e.yml:9: tests[0].expect[0].alerts[0].state: must be pending, firing or resolved, got "on"`},
		{"missing disagrees", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1 _"
        severities: "ok ok"
    expect: [{at: 0}]
`, "e.yml:5: tests[0].series[0].severities: window 1 is _ in one of values and severities but not in the other"},
		{"same window twice", `tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1x3"
    expect:
      - at: 1
      - at: 1
`, "e.yml:7: tests[0].expect[1].at: window 1 is already checked at line 6"},
	}
	for _, c := range cases {
		_, err := ParseCases("e.yml", []byte(c.text))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v\nwant %s", c.name, err, c.want)
		}
	}
}

// TestCasesSamplesAndValues: one samples value applies to every window; a
// severities-only series has no values.
func TestCasesSamplesAndValues(t *testing.T) {
	c, err := ParseCases("c.yml", []byte(`
tests:
  - series:
      - key: {model: m, version: "1", signal: s, subject: x}
        values: "0.1x3"
        samples: 200
      - key: {model: m, version: "1", signal: s, subject: y}
        severities: "ok _ critical"
    expect: [{at: 2}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Tests[0].Series
	if fmt.Sprint(s[0].Samples) != "[200 200 200]" || fmt.Sprint(s[1].Samples) != "[-1 -1 -1]" ||
		!math.IsNaN(s[1].Values[0]) || !s[1].Missing[1] || s[1].Severities[2] != SeverityCritical {
		t.Errorf("series %+v %+v", s[0], s[1])
	}
	if c.Tests[0].Name != "tests[0]" || c.Tests[0].Window != DefaultCaseWindow {
		t.Errorf("test defaults %+v", c.Tests[0])
	}
}
