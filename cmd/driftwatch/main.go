// Command driftwatch is a streaming monitor for the behaviour of machine-learning
// models in production: it reads inference telemetry from Kafka, scores drift
// per model version over event-time windows, stores aggregates, scores and
// alert history in ClickHouse and sends alerts to Slack, PagerDuty,
// Alertmanager or a webhook.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `driftwatch — streaming drift and behaviour monitor for ML models

Usage:
  driftwatch <command> [flags]

Commands:
  run        consume telemetry from Kafka, score drift, store and alert
  demo       everything on one machine: embedded broker, generator with injected drift, monitor, alert sink
  generate   produce synthetic telemetry (with an optional injected shift) to a Kafka topic
  migrate    create or upgrade the ClickHouse schema (idempotent)
  compare    drift report of a current data set against a reference (CSV, JSON Lines, Parquet)
  baseline   import, pin, list and show the stored references drift is scored against
  policy     check an alert policy file, and test it on series of verdicts
  silence    add, list and expire silences and maintenance windows of alerts
  budget     show each model's risk budget, its burn rates and the burn alerts that fired

Run 'driftwatch <command> --help' for a command's flags and examples.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// command runs a command or subcommand on its arguments.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error

// dispatch runs the subcommand args[0] of command name among subs: usage
// on stdout for help, on stderr (a usage error) without one or for an
// unknown one.
func dispatch(ctx context.Context, name, usage string, subs map[string]command, args []string, stdout, stderr io.Writer, env []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	sub, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "driftwatch %s: unknown subcommand %q\n\n%s", name, args[0], usage)
		return errUsage
	}
	return sub(ctx, args[1:], stdout, stderr, env)
}

// run dispatches a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]command{
		"run":      cmdRun,
		"demo":     cmdDemo,
		"generate": cmdGenerate,
		"migrate":  cmdMigrate,
		"compare":  cmdCompare,
		"baseline": cmdBaseline,
		"policy":   cmdPolicy,
		"silence":  cmdSilence,
		"budget":   cmdBudget,
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "driftwatch: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errDrift):
		fmt.Fprintf(stderr, "driftwatch %s: %v\n", name, err)
		return exitDrift
	default:
		fmt.Fprintf(stderr, "driftwatch %s: %v\n", name, err)
		return 1
	}
}

// errUsage marks a command-line error already reported by the flag set.
var errUsage = errors.New("usage")

// newFlagSet returns a flag set that prints help with examples to stdout.
func newFlagSet(name, summary, examples string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: driftwatch %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprintf(stdout, "\nExamples:\n%s", examples)
	}
	return fs
}

// parse parses flags, mapping usage errors to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

// newLogger returns a text logger at level on w.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
