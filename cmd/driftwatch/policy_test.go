package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// policyTestdata is the policy package's testdata directory.
const policyTestdata = "../../alerting/policy/testdata"

func TestPolicyHelp(t *testing.T) {
	for _, cmd := range []string{"policy check", "policy test"} {
		var out, errb bytes.Buffer
		args := append(strings.Fields(cmd), "--help")
		if code := run(context.Background(), args, &out, &errb, nil); code != 0 {
			t.Errorf("%s --help: exit %d, stderr %s", cmd, code, errb.String())
		}
		if s := out.String(); !strings.Contains(s, "Usage: driftwatch "+cmd+" [flags] ") || !strings.Contains(s, "Examples:\n  driftwatch "+cmd) {
			t.Errorf("%s --help lacks usage or examples:\n%s", cmd, s)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"policy", "--help"}, &out, &out, nil); code != 0 || !strings.Contains(out.String(), "Subcommands:") {
		t.Errorf("policy --help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, &out, &out, nil); code != 0 || !strings.Contains(out.String(), "\n  policy ") {
		t.Errorf("driftwatch --help does not list policy:\n%s", out.String())
	}
}

func TestPolicyCommand(t *testing.T) {
	td := policyTestdata
	cases := []struct {
		name        string
		args        []string
		code        int
		stdout      []string
		stderr      []string
		stderrExact string
	}{
		{"check valid", []string{"policy", "check", td + "/full.good.yml"}, 0,
			[]string{td + "/full.good.yml: valid", "  1. fraud-psi: models=fraud-*", "  4. default: every series; severity from the analysis; for 1, keep_firing_for 1",
				"Budgets at 1m0s windows", "    fast     page   burn ≥ 14.4× over 1h (60 windows) and 5m (5 windows)", "Receivers named: pagerduty-ml, slack-ml"}, nil, ""},
		{"check lists no inhibit rules", []string{"policy", "check", td + "/full.good.yml"}, 0, []string{"\nInhibit rules: none\n"}, nil, ""},
		{"check lists inhibit rules", []string{"policy", "check", td + "/inhibit.good.yml"}, 0,
			[]string{"Inhibit rules (a firing source holds back its targets' notifications):",
				"  multivariate-mutes-features: while ", " with the same model_id, model_version  (line 6)",
				"  budget-page-mutes-model: while "}, nil, ""},
		{"check flags after the file", []string{"policy", "check", td + "/full.good.yml", "--window", "10m"}, 0,
			[]string{"Budgets at 10m0s windows", "over 1h (6 windows) and 5m (1 windows)"}, nil, ""},
		{"check invalid", []string{"policy", "check", td + "/several.bad.yml"}, 1, nil, nil,
			"driftwatch policy: " + td + "/several.bad.yml is invalid:\n" +
				td + "/several.bad.yml:4: rules[0].for: must be at least 0, got -1\n" +
				td + `/several.bad.yml:5: rules[0].min_samples: must be a whole number, got "many"` + "\n" +
				td + `/several.bad.yml:6: rules[0].receivers[1]: receiver "slack" is listed twice` + "\n" +
				td + "/several.bad.yml:7: rules[1].name: required\n" +
				td + `/several.bad.yml:10: budgets[0].budget: must be strictly between 0 and 100%, got "200%"` + "\n"},
		{"check unknown receiver", []string{"policy", "check", "--receivers", "slack-ml", td + "/full.good.yml"}, 1, nil,
			[]string{`full.good.yml:29: rules[0].receivers.critical[1]: unknown receiver "pagerduty-ml"`}, ""},
		{"check budget at too long a window", []string{"policy", "check", "--window", "720h", td + "/full.good.yml"}, 1, nil,
			[]string{"budgets cannot be evaluated at 720h0m0s windows", "full.good.yml:46: budgets[0]: 2% of 1 windows of 720h0m0s is 0.02 windows"}, ""},
		{"check without a file", []string{"policy", "check"}, 2, nil, []string{"want one policy FILE, got 0 argument(s)"}, ""},
		{"check missing file", []string{"policy", "check", td + "/nope.yml"}, 1, nil, []string{"reading policy: open "}, ""},
		{"test passes", []string{"policy", "test", td + "/cases/policy.yml", td + "/cases/pass.yml"}, 0,
			[]string{"PASS  psi pages on the second window", "3 tests, 0 failed"}, nil, ""},
		{"test --run", []string{"policy", "test", "--run", "default rule", td + "/cases/policy.yml", td + "/cases/pass.yml"}, 0,
			[]string{"PASS  the default rule takes the analysis's severity", "1 test, 0 failed"}, nil, ""},
		{"test fails", []string{"policy", "test", td + "/cases/policy.yml", td + "/cases/fail.yml"}, 1,
			[]string{"FAIL  a wrong guess about the lifecycle",
				"fail.yml:14: tests[0].expect[0].alerts[0].state: window 1 (ending 1970-01-01T00:20:00Z): alert fraud-eu/3/psi/amount: got pending, want firing",
				"1 test, 1 failed"}, nil, "driftwatch policy: 1 of 1 tests failed\n"},
		{"test invalid cases", []string{"policy", "test", td + "/cases/policy.yml", td + "/full.good.yml"}, 1, nil,
			[]string{"full.good.yml is invalid:", "full.good.yml:3: rules: unknown key (allowed: tests)"}, ""},
		{"test one operand", []string{"policy", "test", td + "/cases/policy.yml"}, 2, nil, []string{"want a policy FILE and a CASES file, got 1 argument(s)"}, ""},
		{"unknown subcommand", []string{"policy", "lint"}, 2, nil, []string{`unknown subcommand "lint"`}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb, nil)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out.String(), errb.String())
			}
			for _, s := range c.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range c.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if c.stderrExact != "" && errb.String() != c.stderrExact {
				t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), c.stderrExact)
			}
		})
	}
}

// TestPolicyDocExamples checks that the policy and cases files shown in
// docs/policy.md are valid and that the cases pass.
func TestPolicyDocExamples(t *testing.T) {
	b, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blocks := map[string]string{}
	for _, name := range []string{"policy.yml", "cases.yml"} {
		marker := "```yaml\n# " + name + "\n"
		i := strings.Index(string(b), marker)
		if i < 0 {
			t.Fatalf("docs/policy.md has no block starting %q", marker)
		}
		rest := string(b)[i+len("```yaml\n"):]
		blocks[name] = filepath.Join(dir, name)
		if err := os.WriteFile(blocks[name], []byte(rest[:strings.Index(rest, "```")]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"policy", "check", "--window", "10m", blocks["policy.yml"]}, &out, &errb, nil); code != 0 {
		t.Errorf("policy check of the documented policy: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"policy", "test", blocks["policy.yml"], blocks["cases.yml"]}, &out, &errb, nil); code != 0 {
		t.Errorf("policy test of the documented cases: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
