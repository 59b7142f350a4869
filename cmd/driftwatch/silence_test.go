package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// silence runs 'driftwatch silence args...' and returns its exit code and output.
func silence(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, append([]string{"silence"}, args...), &out, &errb, env)
	return code, out.String(), errb.String()
}

func mustSilence(t *testing.T, env []string, args ...string) string {
	t.Helper()
	code, out, errs := silence(t, env, args...)
	if code != 0 {
		t.Fatalf("silence %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errs)
	}
	return out
}

// silenceLine returns the fields of the list line of silence id, or nil.
func silenceLine(list, id string) []string {
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == id {
			return f
		}
	}
	return nil
}

func TestSilenceAddListExpire(t *testing.T) {
	s, env := baselineStore(t)
	out := mustSilence(t, env, "add", "--matcher", "model_id=fraud-*", "--matcher", "severity!=warning", "--duration", "2h",
		"--by", "ana", "--comment", "retraining fraud models")
	f := strings.Fields(out)
	if len(f) < 3 || f[0] != "silence" || f[2] != "added:" || len(f[1]) != 16 {
		t.Fatalf("add printed %q", out)
	}
	id := f[1]
	until := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	later := mustSilence(t, env, "add", "--matcher", "model_id=churn", "--starts", time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"--until", until, "--by", "bo", "--comment", "maintenance")
	laterID := strings.Fields(later)[1]

	list := mustSilence(t, env, "list")
	if l := silenceLine(list, id); len(l) < 7 || l[1] != "active" || l[4] != "ana" || l[5] != "model_id=fraud-*,severity!=warning" ||
		strings.Join(l[6:], " ") != "retraining fraud models" {
		t.Fatalf("list line of %s: %v\n%s", id, l, list)
	}
	if l := silenceLine(list, laterID); len(l) < 4 || l[1] != "pending" || l[3] != until {
		t.Fatalf("list line of %s: %v\n%s", laterID, l, list)
	}

	out = mustSilence(t, env, "expire", id, "--by", "cy")
	if !strings.HasPrefix(out, "silence "+id+" expired at ") {
		t.Fatalf("expire printed %q", out)
	}
	list = mustSilence(t, env, "list")
	if silenceLine(list, id) != nil || silenceLine(list, laterID) == nil {
		t.Fatalf("after expiry, list shows:\n%s", list)
	}
	all := mustSilence(t, env, "list", "--all")
	if l := silenceLine(all, id); len(l) < 2 || l[1] != "expired" {
		t.Fatalf("list --all line of %s: %v\n%s", id, l, all)
	}
	rows, err := s.Query(context.Background(), "SELECT expired_by FROM silences WHERE id = ? AND expired = 1", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal("no expired version stored")
	}
	var by string
	if err := rows.Scan(&by); err != nil || by != "cy" {
		t.Fatalf("expired_by = %q, %v", by, err)
	}

	if code, _, errs := silence(t, env, "expire", "0000000000000000"); code != 1 || !strings.Contains(errs, "no such silence") {
		t.Fatalf("expiring an unknown silence: exit %d, %s", code, errs)
	}
}

func TestSilenceUsage(t *testing.T) {
	env := []string{"DRIFTWATCH_CLICKHOUSE_ADDR=127.0.0.1:1"} // never reached: the command line is refused first
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--duration", "1h", "--by", "a", "--comment", "c"}, "no matcher"},
		{[]string{"add", "--matcher", "model_id=~fraud.*", "--duration", "1h", "--by", "a", "--comment", "c"}, "regular expressions"},
		{[]string{"add", "--matcher", "model-id=fraud", "--duration", "1h", "--by", "a", "--comment", "c"}, "not a label name"},
		{[]string{"add", "--matcher", "model_id", "--duration", "1h", "--by", "a", "--comment", "c"}, "want name=pattern"},
		{[]string{"add", "--matcher", "model_id=[fraud", "--duration", "1h", "--by", "a", "--comment", "c"}, "not a valid glob"},
		{[]string{"add", "--matcher", "model_id=*", "--duration", "1h", "--by", "a", "--comment", "c"}, "silence every alert"},
		{[]string{"add", "--matcher", "model_id=fraud", "--by", "a", "--comment", "c"}, "one of --duration and --until"},
		{[]string{"add", "--matcher", "model_id=fraud", "--duration", "1h", "--until", "2099-01-01T00:00:00Z", "--by", "a", "--comment", "c"}, "one of --duration and --until"},
		{[]string{"add", "--matcher", "model_id=fraud", "--until", "tomorrow", "--by", "a", "--comment", "c"}, "RFC 3339"},
		{[]string{"add", "--matcher", "model_id=fraud", "--until", "2001-01-01T00:00:00Z", "--by", "a", "--comment", "c"}, "before it starts"},
		{[]string{"add", "--matcher", "model_id=fraud", "--duration", "1h", "--comment", "c"}, "--by is required"},
		{[]string{"add", "--matcher", "model_id=fraud", "--duration", "1h", "--by", "a"}, "--comment is required"},
		{[]string{"expire"}, "id of the silence is required"},
		{[]string{"expire", "a", "b"}, "unexpected arguments"},
		{[]string{"mute"}, "unknown subcommand"},
	} {
		code, _, errs := silence(t, env, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("silence %v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	for _, sub := range []string{"add", "list", "expire"} {
		code, out, _ := silence(t, env, sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:\n  driftwatch silence "+sub) {
			t.Errorf("silence %s --help: exit %d\n%s", sub, code, out)
		}
	}
	if code, out, _ := silence(t, env, "--help"); code != 0 || !strings.Contains(out, "Subcommands:") {
		t.Errorf("silence --help: exit %d\n%s", code, out)
	}
}
