package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/storage"
)

const silenceUsage = `Usage: driftwatch silence <subcommand> [flags]

Silences and maintenance windows, stored in ClickHouse's silences table with who added them
and why (docs/alerting.md, Silences). While a silence matches an alert, the monitor records
the alert's transitions but sends no notification; when the silence ends while the alert
still fires, the firing notification is sent then. The monitor reads the silences every
alerting.silence_refresh (default 30s).

Subcommands:
  add      add a silence: matchers, and a duration or an end time
  list     the silences in force or starting later (--all: every silence ever added)
  expire   end a silence now

Matchers: name=glob or name!=glob on the labels model_id, model_version, feature, test,
signal, subject, rule, severity or a label of a policy rule; several are ANDed.

Exit status: 0 done, 1 runtime error (ClickHouse, unknown silence), 2 bad command line.

Run 'driftwatch silence <subcommand> --help' for its flags and examples.
`

// cmdSilence dispatches the silence subcommands.
func cmdSilence(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	return dispatch(ctx, "silence", silenceUsage, map[string]command{
		"add":    silenceAdd,
		"list":   silenceList,
		"expire": silenceExpire,
	}, args, stdout, stderr, env)
}

// silenceUsageError reports a bad command line of silence subcommand sub.
func silenceUsageError(stderr io.Writer, sub, format string, a ...any) error {
	fmt.Fprintf(stderr, "driftwatch silence %s: %s\n", sub, fmt.Sprintf(format, a...))
	return errUsage
}

const silenceAddExamples = `  driftwatch silence add --matcher 'model_id=fraud-*' --duration 2h --by ana --comment 'retraining fraud models'
  driftwatch silence add --matcher model_id=churn --matcher 'severity!=critical' --until 2026-12-24T08:00:00Z \
      --by ops --comment 'holiday maintenance window' --config driftwatch.yaml
  driftwatch silence add --matcher model_id=fraud-eu --starts 2026-12-05T22:00:00Z --duration 4h --by ana --comment 'planned migration'
`

// silenceAdd adds a silence.
func silenceAdd(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("silence add", "Add a silence: alerts that every --matcher matches are recorded but not notified from\n"+
		"--starts (default now) for --duration or until --until. It prints the silence's id.", silenceAddExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	var matchers []string
	var duration time.Duration
	var until, starts, by, comment string
	fs.Func("matcher", "name=glob or name!=glob, e.g. 'model_id=fraud-*' (repeat for several; all must match; required)",
		func(s string) error { matchers = append(matchers, s); return nil })
	fs.DurationVar(&duration, "duration", 0, "how long the silence lasts, e.g. 2h (this or --until)")
	fs.StringVar(&until, "until", "", "when the silence ends, RFC 3339, e.g. 2026-12-24T08:00:00Z (this or --duration)")
	fs.StringVar(&starts, "starts", "", "when the silence starts, RFC 3339 (default now)")
	fs.StringVar(&by, "by", "", "who adds the silence (required)")
	fs.StringVar(&comment, "comment", "", "why (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := alerting.ParseMatchers(matchers); err != nil {
		return silenceUsageError(stderr, "add", "%v", err)
	}
	start := time.Now().UTC().Truncate(time.Second)
	if starts != "" {
		t, err := time.Parse(time.RFC3339, starts)
		if err != nil {
			return silenceUsageError(stderr, "add", "--starts %q is not an RFC 3339 time such as 2026-12-05T22:00:00Z", starts)
		}
		start = t.UTC()
	}
	var end time.Time
	switch {
	case (duration != 0) == (until != ""):
		return silenceUsageError(stderr, "add", "give one of --duration and --until")
	case duration < 0:
		return silenceUsageError(stderr, "add", "--duration must be positive, got %s", duration)
	case duration > 0:
		end = start.Add(duration)
	default:
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return silenceUsageError(stderr, "add", "--until %q is not an RFC 3339 time such as 2026-12-24T08:00:00Z", until)
		}
		end = t.UTC()
	}
	switch {
	case !end.After(start):
		return silenceUsageError(stderr, "add", "the silence would end (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	case !end.After(time.Now()):
		return silenceUsageError(stderr, "add", "the silence would end in the past (%s)", end.Format(time.RFC3339))
	case strings.TrimSpace(by) == "":
		return silenceUsageError(stderr, "add", "--by is required: who adds the silence")
	case strings.TrimSpace(comment) == "":
		return silenceUsageError(stderr, "add", "--comment is required: why the alerts are silenced")
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.AddSilence(ctx, storage.SilenceRow{Matchers: matchers, StartsAt: start, EndsAt: end, CreatedBy: by, Comment: comment})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "silence %s added: %s from %s until %s\n", r.ID, strings.Join(r.Matchers, ", "),
		r.StartsAt.Format(time.RFC3339), r.EndsAt.Format(time.RFC3339))
	return nil
}

const silenceListExamples = `  driftwatch silence list
  driftwatch silence list --all --config driftwatch.yaml
`

// silenceList lists silences.
func silenceList(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("silence list", "List the silences in force or starting later, one a line: id, state (active, pending,\n"+
		"expired, ended), start, end, who, matchers and comment.", silenceListExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	all := fs.Bool("all", false, "list every silence ever added, the expired and ended ones too")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	rows, err := s.Silences(ctx, now, *all)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tBY\tMATCHERS\tCOMMENT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, silenceState(&r, now), r.StartsAt.Format(time.RFC3339),
			r.EndsAt.Format(time.RFC3339), r.CreatedBy, strings.Join(r.Matchers, ","), strings.ReplaceAll(r.Comment, "\n", " "))
	}
	return tw.Flush()
}

// silenceState is "active", "pending" (starts later), "expired" (ended early) or "ended".
func silenceState(r *storage.SilenceRow, now time.Time) string {
	switch {
	case r.Expired:
		return "expired"
	case r.ActiveAt(now):
		return "active"
	case now.Before(r.StartsAt):
		return "pending"
	}
	return "ended"
}

const silenceExpireExamples = `  driftwatch silence expire 5f1c0e9a7b3d2468
  driftwatch silence expire 5f1c0e9a7b3d2468 --by ana --config driftwatch.yaml
`

// silenceExpire ends a silence now.
func silenceExpire(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("silence expire ID", "End silence ID now (its alerts notify again at the monitor's next silence read;\n"+
		"a firing one sends its firing notification then). Expiring an ended silence changes nothing.",
		silenceExpireExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	by := fs.String("by", "", "who expires the silence")
	// The id may come before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if id == "" && len(rest) > 0 {
		id, rest = rest[0], rest[1:]
	}
	switch {
	case id == "":
		return silenceUsageError(stderr, "expire", "the id of the silence is required (see driftwatch silence list)")
	case len(rest) > 0:
		return silenceUsageError(stderr, "expire", "unexpected arguments: %v", rest)
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.ExpireSilence(ctx, id, *by)
	if err != nil {
		return err
	}
	if !r.Expired {
		fmt.Fprintf(stdout, "silence %s had ended already at %s\n", r.ID, r.EndsAt.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(stdout, "silence %s expired at %s\n", r.ID, r.EndsAt.Format(time.RFC3339))
	return nil
}
