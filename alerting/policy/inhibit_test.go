package policy

import (
	"os"
	"strings"
	"testing"
)

// TestInhibitRules parses the inhibit rules of inhibit.good.yml and checks
// which alerts each rule lets inhibit which.
func TestInhibitRules(t *testing.T) {
	p, err := parseFile(t, "inhibit.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Inhibit) != 2 {
		t.Fatalf("%d inhibit rules, want 2", len(p.Inhibit))
	}
	if got, want := p.Inhibit[0].String(), `multivariate-mutes-features: while feature=\*, severity=critical fires, mute feature=?*, feature!=\* with the same model_id, model_version`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	labels := func(kv ...string) LabelFunc {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(name string) string { return m[name] }
	}
	joint := labels("model_id", "fraud-eu", "model_version", "7", "feature", "*", "severity", "critical")
	burn := labels("model_id", "fraud-eu", "signal", BurnSignal, "subject", "fraud/fast", "severity", "critical", "budget", "fraud", "burn_alert", "fast")
	for _, tc := range []struct {
		name    string
		target  LabelFunc
		sources []LabelFunc
		want    string
	}{
		{"feature under the score", labels("model_id", "fraud-eu", "model_version", "7", "feature", "amount", "severity", "warning"), []LabelFunc{joint}, "multivariate-mutes-features"},
		{"feature of another version", labels("model_id", "fraud-eu", "model_version", "8", "feature", "amount"), []LabelFunc{joint}, ""},
		{"score under a warning score", joint, []LabelFunc{labels("model_id", "fraud-eu", "model_version", "7", "feature", "*", "severity", "warning")}, ""},
		{"signal under a page", labels("model_id", "fraud-eu", "model_version", "7", "signal", "error_rate", "subject", "*"), []LabelFunc{burn}, "budget-page-mutes-model"},
		{"burn alert under a page", labels("model_id", "fraud-eu", "signal", BurnSignal, "subject", "fraud/slow", "severity", "critical"), []LabelFunc{burn}, ""},
		{"no source", labels("model_id", "fraud-eu", "feature", "amount"), nil, ""},
	} {
		got := ""
		if r := p.InhibitedBy(tc.target, tc.sources); r != nil {
			got = r.Name
		}
		if got != tc.want {
			t.Errorf("%s: inhibited by %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestInhibitTwoSided: as in Alertmanager, two alerts that both sides of a
// rule match do not mute each other, while one that only the target side
// matches is muted.
func TestInhibitTwoSided(t *testing.T) {
	p := mustParse(t, `
inhibit_rules:
  - name: critical-mutes-model
    source_matchers: [severity=critical]
    target_matchers: ['model_id=?*']
    equal: [model_id]
`)
	r := p.Inhibit[0]
	a := func(name string) string {
		return map[string]string{"model_id": "m", "severity": "critical", "feature": "a"}[name]
	}
	b := func(name string) string {
		return map[string]string{"model_id": "m", "severity": "critical", "feature": "b"}[name]
	}
	w := func(name string) string { return map[string]string{"model_id": "m", "severity": "warning"}[name] }
	if r.Inhibits(a, b) || r.Inhibits(b, a) {
		t.Error("two critical alerts mute each other")
	}
	if !r.Inhibits(a, w) {
		t.Error("a critical alert does not mute a warning of its model")
	}
}

const inhibitCases = `
tests:
  - name: the multivariate score mutes the features of its version
    series:
      - key: {model: fraud-eu, version: "7", signal: mahalanobis, subject: "*"}
        severities: "ok critical critical critical ok ok"
      - key: {model: fraud-eu, version: "7", signal: psi, subject: amount}
        severities: "ok critical critical critical critical critical"
      - key: {model: fraud-eu, version: "8", signal: psi, subject: amount}
        severities: "ok critical critical critical ok ok"
    expect:
      - at: 2
        alerts:
          - key: {model: fraud-eu, version: "7", signal: mahalanobis, subject: "*"}
            state: firing
            inhibited: false
          - key: {model: fraud-eu, version: "7", signal: psi, subject: amount}
            state: firing
            inhibited: true
          - key: {model: fraud-eu, version: "8", signal: psi, subject: amount}
            state: firing
            inhibited: false
      - at: 5
        alerts:
          - key: {model: fraud-eu, version: "7", signal: mahalanobis, subject: "*"}
            state: resolved
          - key: {model: fraud-eu, version: "7", signal: psi, subject: amount}
            state: firing
            inhibited: false
          - key: {model: fraud-eu, version: "8", signal: psi, subject: amount}
            state: resolved
  - name: a paging burn mutes the model's signals
    window: 10m
    series:
      - key: {model: fraud-eu, version: "7", signal: error_rate, subject: "*"}
        severities: "critical critical"
    expect:
      - at: 0
        burn_alerts: []
        alerts:
          - key: {model: fraud-eu, version: "7", signal: error_rate, subject: "*"}
            state: pending
            inhibited: false
      - at: 1
        burn_alerts:
          - {model: fraud-eu, alert: fast}
        alerts:
          - key: {model: fraud-eu, version: "7", signal: error_rate, subject: "*"}
            state: firing
            inhibited: true
  - name: a wrong expectation fails
    series:
      - key: {model: m, version: "1", signal: mahalanobis, subject: "*"}
        severities: "critical critical"
      - key: {model: m, version: "1", signal: ks, subject: age}
        severities: "critical critical"
    expect:
      - at: 1
        alerts:
          - key: {model: m, version: "1", signal: mahalanobis, subject: "*"}
            state: firing
            inhibited: true
          - key: {model: m, version: "1", signal: ks, subject: age}
            state: firing
            inhibited: false
`

// TestCasesInhibited runs cases that assert inhibited alerts, with the
// multivariate score and a paging burn alert as sources.
func TestCasesInhibited(t *testing.T) {
	p, err := parseFile(t, "inhibit.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	budget := mustParse(t, `
budgets:
  - {name: fraud, models: ["fraud-*"], budget: 2%, period: 30d}
`)
	p.Budgets = budget.Budgets
	c, err := ParseCases("cases.yml", []byte(inhibitCases))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run(p)
	got := r.String()
	want := `PASS  the multivariate score mutes the features of its version (cases.yml:3)
PASS  a paging burn mutes the model's signals (cases.yml:32)
FAIL  a wrong expectation fails (cases.yml:51)
      cases.yml:60: tests[2].expect[0].alerts[0].inhibited: window 1 (ending 1970-01-01T00:02:00Z): alert m/1/mahalanobis/*: not inhibited, want inhibited
      cases.yml:63: tests[2].expect[0].alerts[1].inhibited: window 1 (ending 1970-01-01T00:02:00Z): alert m/1/ks/age: inhibited by rule "multivariate-mutes-features", want not inhibited
3 tests, 1 failed
`
	if got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	if _, err := ParseCases("bad.yml", []byte(strings.Replace(inhibitCases, "inhibited: true", "inhibited: yes please", 1))); err == nil ||
		!strings.Contains(err.Error(), `inhibited: must be true or false, got "yes please"`) {
		t.Errorf("a bad inhibited: %v", err)
	}
}

// TestInhibitDocExamples parses the inhibit rules shown in docs/policy.md
// and docs/alerting.md.
func TestInhibitDocExamples(t *testing.T) {
	for _, doc := range []string{"../../docs/policy.md", "../../docs/alerting.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		const marker = "```yaml\ninhibit_rules:\n"
		i := strings.Index(string(b), marker)
		if i < 0 {
			t.Fatalf("%s has no block starting %q", doc, marker)
		}
		rest := string(b)[i+len("```yaml\n"):]
		p, err := Parse(doc, []byte(rest[:strings.Index(rest, "```")]))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if len(p.Inhibit) == 0 {
			t.Errorf("%s: no inhibit rule parsed", doc)
		}
	}
}
