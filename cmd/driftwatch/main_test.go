package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpOfEveryCommandHasExamples(t *testing.T) {
	for _, cmd := range []string{"run", "demo", "generate", "migrate", "compare",
		"baseline import", "baseline pin", "baseline list", "baseline show"} {
		var out, errb bytes.Buffer
		args := append(strings.Fields(cmd), "--help")
		if code := run(context.Background(), args, &out, &errb, nil); code != 0 {
			t.Errorf("%s --help: exit %d, stderr %s", cmd, code, errb.String())
		}
		if s := out.String(); !strings.Contains(s, "Usage: driftwatch "+cmd) || !strings.Contains(s, "Examples:\n  driftwatch "+cmd) {
			t.Errorf("%s --help lacks usage or examples:\n%s", cmd, s)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &out, nil); code != 0 || !strings.Contains(out.String(), "Commands:") {
		t.Errorf("driftwatch --help: exit %d\n%s", code, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "Commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"run", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"run", "extra"}, 2, "unexpected arguments"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb, nil)
		if code != c.code || !strings.Contains(errb.String(), c.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errb.String(), c.code, c.says)
		}
	}
}

func TestRunRejectsUnknownConfigKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  brokers: [127.0.0.1:1]\n  topicc: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--config", path}, &out, &errb, nil)
	if code != 1 || !strings.Contains(errb.String(), "topicc") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming topicc", code, errb.String())
	}
}

// TestRunEnvironment: an unknown DRIFTWATCH_ variable stops `driftwatch run`
// with its name, while the variables of the scripts and tests that are
// exported in the same shell do not.
func TestRunEnvironment(t *testing.T) {
	base := []string{"DRIFTWATCH_KAFKA_BROKERS=127.0.0.1:1", "HOME=/root"}
	tests := []struct {
		name string
		env  []string
		says string
	}{
		{"unknown variable", []string{"DRIFTWATCH_ANALYSIS_WINDOW=5m"},
			"environment DRIFTWATCH_ANALYSIS_WINDOW: unknown configuration key (did you mean DRIFTWATCH_ANALYSIS_WINDOW_SIZE?)"},
		// The flag's bad listen address is then the first error: the variables were accepted.
		{"script and test variables", []string{"DRIFTWATCH_TEST_CLICKHOUSE=127.0.0.1:19000", "DRIFTWATCH_CLICKHOUSE_PORT=19000",
			"DRIFTWATCH_RUN_DIR=/tmp/driftwatch", "DRIFTWATCH_CLICKHOUSE_START_TIMEOUT=60"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"run", "--listen", "no-port"}, &out, &errb, append(base, tc.env...))
			if code != 1 || !strings.Contains(errb.String(), tc.says) || (tc.says == "listen" && strings.Contains(errb.String(), "environment")) {
				t.Errorf("exit %d, stderr %q; want exit 1 mentioning %q", code, errb.String(), tc.says)
			}
		})
	}
}

func TestRunFlagsOverrideConfigAndEnvironment(t *testing.T) {
	// An invalid listen address from the flag must win over the environment's valid one.
	var out, errb bytes.Buffer
	env := []string{"DRIFTWATCH_KAFKA_BROKERS=127.0.0.1:1", "DRIFTWATCH_LISTEN=127.0.0.1:0"}
	code := run(context.Background(), []string{"run", "--listen", "no-port"}, &out, &errb, env)
	if code != 1 || !strings.Contains(errb.String(), "listen") {
		t.Errorf("exit %d, stderr %q; want the flag's bad listen address reported", code, errb.String())
	}
}
