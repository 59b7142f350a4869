package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/alerting/policy"
)

const policyUsage = `Usage: driftwatch policy <subcommand> [flags] FILE...

Check and test alert policy files (docs/policy.md): rules that turn the analysis's verdicts
into alerts (thresholds with hysteresis, for, keep_firing_for, minimum sample size, labels,
annotations, receivers; the first matching rule wins) and risk budgets per model with
multi-window burn-rate alerts.

Subcommands:
  check   validate a policy file and print its rules and budgets
  test    run the tests of a cases file (series of verdicts, expected alerts) against a policy

Exit status: 0 valid, every test passed; 1 invalid file or a failed test; 2 bad command line.

Run 'driftwatch policy <subcommand> --help' for its flags and examples.
`

// cmdPolicy dispatches the policy subcommands.
func cmdPolicy(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	return dispatch(ctx, "policy", policyUsage, map[string]command{
		"check": policyCheck,
		"test":  policyTest,
	}, args, stdout, stderr, env)
}

// newPolicyFlagSet returns a flag set whose help names its positional
// arguments and shows examples.
func newPolicyFlagSet(name, operands, summary, examples string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: driftwatch %s [flags] %s\n\n%s\n\nFlags:\n", name, operands, summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprintf(stdout, "\nExamples:\n%s", examples)
	}
	return fs
}

// parseOperands parses flags placed before, between or after the operands
// and returns exactly n operands.
func parseOperands(fs *flag.FlagSet, args []string, n int, operands string) ([]string, error) {
	var out []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		out = append(out, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(out) != n {
		fmt.Fprintf(fs.Output(), "driftwatch %s: want %s, got %d argument(s)\n", fs.Name(), operands, len(out))
		return nil, errUsage
	}
	return out, nil
}

// loadPolicy reads and parses a policy file.
func loadPolicy(file string) (*policy.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := policy.Parse(file, b)
	if err != nil {
		return nil, fmt.Errorf("%s is invalid:\n%w", file, err)
	}
	return p, nil
}

const policyCheckExamples = `  driftwatch policy check alert-policy.yml
  driftwatch policy check --window 10m alert-policy.yml
  driftwatch policy check --receivers slack-ml,pagerduty-ml alert-policy.yml
`

// policyCheck validates a policy file and prints a summary.
func policyCheck(_ context.Context, args []string, stdout, stderr io.Writer, _ []string) error {
	fs := newPolicyFlagSet("policy check", "FILE", "Validate a policy file: every key, threshold, template, glob and budget, each problem\n"+
		"reported as FILE:LINE: key.path: message. Budgets are planned for --window (the\n"+
		"analysis window length): burn windows and periods are counted in whole windows, rounded\n"+
		"up, and a budget that cannot be evaluated at that length is an error. Prints the rules in\n"+
		"the order they are tried (the first that matches a series decides it, the built-in\n"+
		"default last), the budgets and their burn alerts, and the receivers the policy names.", policyCheckExamples, stdout, stderr)
	window := fs.Duration("window", policy.DefaultCaseWindow, "analysis window length the budgets are planned for (analysis.window_size)")
	var receivers []string
	fs.Func("receivers", "comma-separated receiver names of the alerting configuration; others named by the policy are errors", listFlag(&receivers))
	files, err := parseOperands(fs, args, 1, "one policy FILE")
	if err != nil {
		return err
	}
	if *window <= 0 {
		fmt.Fprintf(stderr, "driftwatch policy check: --window must be positive, got %s\n", *window)
		return errUsage
	}
	p, err := loadPolicy(files[0])
	if err != nil {
		return err
	}
	plans, err := p.Plans(*window)
	if err != nil {
		return fmt.Errorf("%s: budgets cannot be evaluated at %s windows:\n%w", files[0], *window, err)
	}
	if receivers != nil {
		if err := p.CheckReceivers(func(n string) bool { return slices.Contains(receivers, n) }); err != nil {
			return fmt.Errorf("%s names receivers that --receivers does not list:\n%w", files[0], err)
		}
	}
	fmt.Fprintf(stdout, "%s: valid\n\n", files[0])
	fmt.Fprintf(stdout, "Rules, in the order they are tried (the first match decides a series):\n")
	for i, r := range p.Rules {
		fmt.Fprintf(stdout, "  %d. %s  (line %d)\n", i+1, r, r.Line)
	}
	fmt.Fprintf(stdout, "  %d. %s  (built in)\n", len(p.Rules)+1, policy.DefaultRule())
	if len(plans) == 0 {
		fmt.Fprintf(stdout, "\nBudgets: none\n")
	} else {
		fmt.Fprintf(stdout, "\nBudgets at %s windows (the first whose models match a model is its budget):\n", *window)
		for _, pl := range plans {
			for i, line := range strings.Split(strings.TrimSuffix(pl.String(), "\n"), "\n") {
				if i == 0 {
					line += fmt.Sprintf("  (line %d)", pl.Budget.Line)
				}
				fmt.Fprintf(stdout, "  %s\n", line)
			}
		}
	}
	if len(p.Inhibit) == 0 {
		fmt.Fprintf(stdout, "\nInhibit rules: none\n")
	} else {
		fmt.Fprintf(stdout, "\nInhibit rules (a firing source holds back its targets' notifications):\n")
		for _, r := range p.Inhibit {
			fmt.Fprintf(stdout, "  %s  (line %d)\n", r, r.Line)
		}
	}
	names := p.Receivers()
	if len(names) == 0 {
		fmt.Fprintf(stdout, "\nReceivers named: none (alerts go to every configured receiver unless a rule says [])\n")
	} else {
		fmt.Fprintf(stdout, "\nReceivers named: %s\n", strings.Join(names, ", "))
	}
	return nil
}

const policyTestExamples = `  driftwatch policy test alert-policy.yml alert-policy.cases.yml
  driftwatch policy test --run fraud alert-policy.yml alert-policy.cases.yml
`

// policyTest runs a cases file against a policy.
func policyTest(_ context.Context, args []string, stdout, stderr io.Writer, _ []string) error {
	fs := newPolicyFlagSet("policy test", "FILE CASES", "Run the tests of the cases file CASES against the policy FILE, as promtool test rules does:\n"+
		"each test feeds series of verdicts, window by window, through the policy's rules and\n"+
		"budgets and checks the alerts, burn alerts and budgets expected after given windows.\n"+
		"Series use a compact notation: \"0.1 0.3x3 _ 0+0.05x4\" is 0.1, three windows of 0.3,\n"+
		"a window without a verdict, then 0, 0.05, 0.1, 0.15 (docs/policy.md). Prints PASS or\n"+
		"FAIL per test and every mismatch as CASES:LINE: key.path: window N: message.", policyTestExamples, stdout, stderr)
	run := fs.String("run", "", "run only the tests whose name contains this text")
	files, err := parseOperands(fs, args, 2, "a policy FILE and a CASES file")
	if err != nil {
		return err
	}
	p, err := loadPolicy(files[0])
	if err != nil {
		return err
	}
	b, err := os.ReadFile(files[1])
	if err != nil {
		return fmt.Errorf("reading cases: %w", err)
	}
	cases, err := policy.ParseCases(files[1], b)
	if err != nil {
		return fmt.Errorf("%s is invalid:\n%w", files[1], err)
	}
	if *run != "" {
		cases.Tests = slices.DeleteFunc(cases.Tests, func(t *policy.CaseTest) bool { return !strings.Contains(t.Name, *run) })
		if len(cases.Tests) == 0 {
			return fmt.Errorf("no test of %s has %q in its name", files[1], *run)
		}
	}
	report := cases.Run(p)
	fmt.Fprint(stdout, report)
	if n := report.Failed(); n > 0 {
		return fmt.Errorf("%d of %d tests failed", n, len(report.Tests))
	}
	return nil
}
