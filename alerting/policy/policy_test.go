package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseFile parses a testdata file.
func parseFile(t *testing.T, name string) (*Policy, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, b)
}

// mustParse parses a policy given as text.
func mustParse(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := Parse("inline.yml", []byte(text))
	if err != nil {
		t.Fatalf("parsing policy: %v", err)
	}
	return p
}

// TestParseBad checks the exact message, file and line of every bad file,
// and that every *.bad.yml in testdata is in the table.
func TestParseBad(t *testing.T) {
	cases := map[string][]string{
		"unknown-key.bad.yml": {
			"testdata/unknown-key.bad.yml:5: rules[0].treshold: unknown key (allowed: name, match, thresholds, for, keep_firing_for, min_samples, budget_level, labels, annotations, receivers)",
		},
		"exit-wrong-side.bad.yml": {
			"testdata/exit-wrong-side.bad.yml:6: rules[0].thresholds.warning.exit: 0.12 is above enter 0.1: exit must be on the safe side of enter (direction above)",
		},
		"exit-wrong-side-below.bad.yml": {
			"testdata/exit-wrong-side-below.bad.yml:7: rules[0].thresholds.critical.exit: 0.75 is below enter 0.8: exit must be on the safe side of enter (direction below)",
		},
		"critical-below-warning.bad.yml": {
			"testdata/critical-below-warning.bad.yml:5: rules[0].thresholds.critical.enter: 0.25 is less severe than warning.enter 0.3 (direction above)",
		},
		"template-field.bad.yml": {
			`testdata/template-field.bad.yml:6: rules[0].annotations.summary: rendering template on a sample alert: 1:24: executing "summary" at <.Lables.team>: can't evaluate field Lables in type *policy.TemplateData`,
		},
		"template-label.bad.yml": {
			`testdata/template-label.bad.yml:6: rules[0].annotations.summary: rendering template on a sample alert: 1:18: executing "summary" at <.Labels.teem>: map has no entry for key "teem"`,
		},
		"template-syntax.bad.yml": {
			"testdata/template-syntax.bad.yml:4: rules[0].annotations.description: parsing template: 1: unexpected EOF",
		},
		"url.bad.yml": {
			`testdata/url.bad.yml:4: rules[0].annotations.runbook_url: renders "runbooks/model" on a sample alert, not an absolute http(s) URL`,
		},
		"glob.bad.yml": {
			`testdata/glob.bad.yml:4: rules[0].match.models[0]: bad pattern "fraud-[": syntax error in pattern`,
		},
		"unreachable.bad.yml": {
			`testdata/unreachable.bad.yml:4: rules[1]: rule "psi" is unreachable: rule "everything" (line 2) matches every series and the first match wins`,
		},
		"duplicate-rule.bad.yml": {
			`testdata/duplicate-rule.bad.yml:4: rules[1].name: rule "psi" is already defined at line 2`,
		},
		"reserved-label.bad.yml": {
			"testdata/reserved-label.bad.yml:4: rules[0].labels.severity: reserved: every alert sets alertname, rule, model, version, signal, subject, severity",
		},
		"default-name.bad.yml": {
			`testdata/default-name.bad.yml:2: rules[0].name: "default" is the built-in rule's name: add a last rule without match to replace it, under another name`,
		},
		"duplicate-key.bad.yml": {
			"testdata/duplicate-key.bad.yml:4: rules[0].for: duplicate key (first at line 3)",
		},
		"several.bad.yml": {
			"testdata/several.bad.yml:4: rules[0].for: must be at least 0, got -1",
			`testdata/several.bad.yml:5: rules[0].min_samples: must be a whole number, got "many"`,
			`testdata/several.bad.yml:6: rules[0].receivers[1]: receiver "slack" is listed twice`,
			"testdata/several.bad.yml:7: rules[1].name: required",
			`testdata/several.bad.yml:10: budgets[0].budget: must be strictly between 0 and 100%, got "200%"`,
		},
		"syntax.bad.yml": {
			"testdata/syntax.bad.yml:3: parsing YAML: did not find expected ',' or ']'",
		},
		"budget-never-fires.bad.yml": {
			`testdata/budget-never-fires.bad.yml:3: budgets[0].budget: default burn alert "fast" (14.4× over 1h and 5m): burn rate 14.4 × budget 10% needs 144% of windows in breach: the alert can never fire; set burn_alerts`,
		},
		"budget-period.bad.yml": {
			`testdata/budget-period.bad.yml:4: budgets[0].period: default burn alert "ticket" (1× over 3d and 6h): long window 3d is longer than the budget's period 2d; set burn_alerts`,
		},
		"burn-short.bad.yml": {
			"testdata/burn-short.bad.yml:8: budgets[0].burn_alerts[0].short: short window 2h is longer than long window 1h",
		},
		"burn-rate.bad.yml": {
			"testdata/burn-rate.bad.yml:6: budgets[0].burn_alerts[0].burn_rate: burn rate 60 × budget 2% needs 120% of windows in breach: the alert can never fire",
			`testdata/burn-rate.bad.yml:7: budgets[0].burn_alerts[1].severity: must be page or ticket, got "email"`,
		},
		"unreachable-budget.bad.yml": {
			`testdata/unreachable-budget.bad.yml:5: budgets[1]: budget "fraud" is unreachable: budget "all" (line 2) matches every model and the first match wins`,
		},
		"inhibit.bad.yml": {
			`testdata/inhibit.bad.yml:2: inhibit_rules[0].target_matchers: required: a list of matchers such as model_id=fraud-* or feature!=\*`,
			`testdata/inhibit.bad.yml:5: inhibit_rules[1].source_matchers[0]: matcher "model_id=~fraud.*": regular expressions (=~, !~) are not supported: use a glob, e.g. model_id=fraud-*`,
			`testdata/inhibit.bad.yml:5: inhibit_rules[1].source_matchers[1]: matcher "feature=[a-": pattern "[a-" is not a valid glob: syntax error in pattern`,
			`testdata/inhibit.bad.yml:6: inhibit_rules[1].target_matchers: matchers feature!=\* all match an alert without those labels, so they would select every alert: add one that needs a value, e.g. feature=?*`,
			`testdata/inhibit.bad.yml:7: inhibit_rules[1].equal[1]: label "model_id" is listed twice`,
			`testdata/inhibit.bad.yml:7: inhibit_rules[1].equal[2]: "9lives" is not a label name (one of model_id, model_version, feature, test, signal, subject, rule, severity, or a rule label)`,
			`testdata/inhibit.bad.yml:14: inhibit_rules[3].treshold: unknown key (allowed: name, source_matchers, target_matchers, equal)`,
			`testdata/inhibit.bad.yml:11: inhibit_rules[3].name: inhibit rule "dup" is already defined at line 8`,
		},
		"receivers.bad.yml": {
			"testdata/receivers.bad.yml:5: rules[0].receivers.page: unknown key (allowed: warning, critical)",
		},
	}
	files, err := filepath.Glob("testdata/*.bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in TestParseBad", f)
		}
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parseFile(t, name)
			if err == nil {
				t.Fatalf("parsed without error: %d rules", len(p.Rules))
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, e := range errs {
				if e.Line == 0 || e.File != filepath.Join("testdata", name) {
					t.Errorf("error without file or line: %+v", e)
				}
			}
		})
	}
}

// TestParseGood checks that every *.good.yml parses, and what full.good.yml holds.
func TestParseGood(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := parseFile(t, filepath.Base(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	p, err := parseFile(t, "full.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 3 || len(p.Budgets) != 2 {
		t.Fatalf("%d rules, %d budgets; want 3 and 2", len(p.Rules), len(p.Budgets))
	}
	r := p.Rules[0]
	want := &Thresholds{Direction: Above, Warning: &Level{0.1, 0.08}, Critical: &Level{0.25, 0.2}}
	if r.Name != "fraud-psi" || r.Line != 4 || r.For != 2 || r.KeepFiringFor != 3 || r.MinSamples != 500 ||
		r.BudgetLevel != SeverityCritical || *r.Thresholds.Warning != *want.Warning || *r.Thresholds.Critical != *want.Critical ||
		r.Thresholds.Direction != Above || r.Labels["team"] != "risk" || r.Labels["tier"] != "1" {
		t.Errorf("rule 0 = %+v", r)
	}
	if !slices.Equal(r.Match.Subjects, []string{"amount", "merchant_*"}) || !slices.Equal(r.Match.Models, []string{"fraud-*"}) {
		t.Errorf("rule 0 match = %+v", r.Match)
	}
	if names, all := r.Receivers.For("critical"); all || !slices.Equal(names, []string{"slack-ml", "pagerduty-ml"}) {
		t.Errorf("critical receivers = %v, %t", names, all)
	}
	acc := p.Rules[1]
	if acc.Thresholds.Direction != Below || *acc.Thresholds.Critical != (Level{0.8, 0.8}) || acc.For != 0 || acc.KeepFiringFor != 0 {
		t.Errorf("rule 1 = %+v, thresholds %+v", acc, acc.Thresholds)
	}
	if names, all := acc.Receivers.For("warning"); all || !slices.Equal(names, []string{"slack-ml"}) {
		t.Errorf("accuracy warning receivers = %v, %t", names, all)
	}
	quiet := p.Rules[2]
	if names, all := quiet.Receivers.For("critical"); all || len(names) != 0 || quiet.BudgetLevel != "" ||
		quiet.Thresholds != nil || quiet.For != DefaultFor || quiet.KeepFiringFor != DefaultKeepFiringFor {
		t.Errorf("rule 2 = %+v (receivers %v, all %t)", quiet, names, all)
	}
	b := p.Budgets[0]
	if b.Name != "fraud" || b.Share != 0.02 || b.Period != 30*24*time.Hour || !slices.Equal(b.Alerts, DefaultBurnAlerts) {
		t.Errorf("budget 0 = %+v", b)
	}
	b = p.Budgets[1]
	wantAlerts := []BurnAlert{
		{Name: "fast", Long: time.Hour, Short: 5 * time.Minute, Rate: 14.4, Severity: BurnPage},
		{Name: "daily", Long: 24 * time.Hour, Short: 2 * time.Hour, Rate: 3, Severity: BurnTicket},
	}
	if b.Share != 0.05 || b.Period != 7*24*time.Hour || !slices.Equal(b.Alerts, wantAlerts) || !b.Receivers.All {
		t.Errorf("budget 1 = %+v", b)
	}
	if got := p.Receivers(); !slices.Equal(got, []string{"pagerduty-ml", "slack-ml"}) {
		t.Errorf("Receivers = %v", got)
	}
	err = p.CheckReceivers(func(n string) bool { return n == "slack-ml" })
	want2 := "testdata/full.good.yml:29: rules[0].receivers.critical[1]: unknown receiver \"pagerduty-ml\"\n" +
		"testdata/full.good.yml:51: budgets[0].receivers.page[0]: unknown receiver \"pagerduty-ml\""
	if err == nil || err.Error() != want2 {
		t.Errorf("CheckReceivers = %v, want\n%s", err, want2)
	}
}

// TestParseEmpty: an empty or comment-only file is a policy without rules.
func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		p, err := Parse("e.yml", []byte(text))
		if err != nil || len(p.Rules) != 0 || len(p.Budgets) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", text, p, err)
		}
		if r := p.Match(Key{"m", "1", "psi", "x"}); r != DefaultRule() {
			t.Errorf("Parse(%q): key matched %s, want the default rule", text, r.Name)
		}
	}
	if _, err := Parse("two.yml", []byte("rules: []\n---\nrules: []\n")); err == nil ||
		err.Error() != "two.yml:2: a second YAML document: the file must hold one" {
		t.Errorf("two documents: %v", err)
	}
}

// TestFirstMatchWins: rules are tried in file order, the first match
// decides, and keys no rule matches get the default rule.
func TestFirstMatchWins(t *testing.T) {
	p := mustParse(t, `
rules:
  - name: fraud-amount
    match: {models: ["fraud-*"], subjects: [amount]}
  - name: fraud
    match: {models: ["fraud-*"]}
  - name: shadow
    match: {versions: ["shadow-?"]}
  - name: psi-anywhere
    match: {signals: [psi, "k[s]"]}
  - name: model-itself
    match: {subjects: ['\*']}
`)
	cases := []struct {
		key  Key
		want string
	}{
		{Key{"fraud-eu", "3", "psi", "amount"}, "fraud-amount"},
		{Key{"fraud-eu", "3", "psi", "merchant"}, "fraud"},
		{Key{"fraud-eu", "shadow-1", "psi", "merchant"}, "fraud"},
		{Key{"pricing", "shadow-1", "psi", "x"}, "shadow"},
		{Key{"pricing", "shadow-12", "psi", "x"}, "psi-anywhere"},
		{Key{"pricing", "2", "ks", "x"}, "psi-anywhere"},
		{Key{"pricing", "2", "error_rate", "*"}, "model-itself"},
		{Key{"pricing", "2", "error_rate", "caller-7"}, DefaultRuleName},
		{Key{"fraud", "2", "chi2", "x"}, DefaultRuleName},
	}
	for _, c := range cases {
		if got := p.Match(c.key).Name; got != c.want {
			t.Errorf("Match(%s) = %s, want %s", c.key, got, c.want)
		}
	}
}

// TestParseShares: budgets take a fraction or a percentage.
func TestParseShares(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		err  bool
	}{
		{"2%", 0.02, false}, {"0.02", 0.02, false}, {"0.5 %", 0.005, false}, {"12.5%", 0.125, false},
		{"0", 0, true}, {"100%", 0, true}, {"2", 0, true}, {"-1%", 0, true}, {"two", 0, true}, {"NaN", 0, true},
	}
	for _, c := range cases {
		got, err := parseShare(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("parseShare(%q) = %v, %v", c.in, got, err)
		}
	}
}
