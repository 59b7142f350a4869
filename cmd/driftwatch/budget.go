package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftwatch/driftwatch/storage"
)

const budgetExamples = `  driftwatch budget
  driftwatch budget --model fraud-eu --since 72h
  driftwatch budget --model fraud-eu --since 2026-12-01T00:00:00Z --clickhouse-addr ch:9000
  driftwatch budget --config driftwatch.yaml
`

// budgetSummary is the help text of driftwatch budget.
const budgetSummary = `Show the risk budgets of the models (docs/policy.md, Risk budgets) as the monitor last stored
them in ClickHouse's alert_state table: per model its budget and period, the newest window
counted, the windows observed and in breach over the period, the share of the budget spent and
remaining, and per burn alert its burn rates over its long and short windows against its rate,
and whether it fires. Then the pages and tickets of the burn alerts (firing, resolved) recorded
in the alerts table since --since. A model without a budget is not listed.`

// cmdBudget shows the risk budgets, their burn rates and the burn alerts that fired.
func cmdBudget(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("budget", budgetSummary, budgetExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	model := fs.String("model", "", "show only this model id")
	since := fs.String("since", "168h", "list burn alerts recorded since: a duration back from now (e.g. 24h) or an RFC 3339 time")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, err := sinceTime(*since, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch budget: %v\n", err)
		return errUsage
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	var models []string
	if *model != "" {
		models = []string{*model}
	}
	rows, err := s.AlertState(ctx, models)
	if err != nil {
		return err
	}
	pages, err := s.BudgetPages(ctx, *model, from)
	if err != nil {
		return err
	}
	return writeBudgets(stdout, rows, pages, from)
}

// sinceTime reads --since: a positive duration back from now, or an RFC 3339 time.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %s: the duration must be positive", v)
		}
		return now.Add(-d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q is neither a duration such as 24h nor an RFC 3339 time such as 2026-12-01T00:00:00Z", v)
	}
	return t.UTC(), nil
}

// writeBudgets writes the budgets of rows (those with one) and the burn alerts of pages.
func writeBudgets(w io.Writer, rows []storage.AlertStateRow, pages []storage.AlertRow, since time.Time) error {
	var budgets []storage.AlertStateRow
	for _, r := range rows {
		if r.Budget != "" {
			budgets = append(budgets, r)
		}
	}
	if len(budgets) == 0 {
		fmt.Fprintln(w, "No risk budget stored: no model with a budget has been decided by a monitor with a policy that has budgets.")
	}
	for i, r := range budgets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: budget %s over %s, %s spent, %s remaining\n", r.ModelID, r.Budget, orDash(r.Period),
			percent(r.Consumed), percent(r.Remaining))
		fmt.Fprintf(w, "  windows: %d of %d observed, %d in breach, %s allowed; newest ends %s\n", r.Observed, r.Windows, r.Breached,
			strconv.FormatFloat(r.Allowed, 'f', -1, 64), r.WindowEnd.Format(time.RFC3339))
		fmt.Fprintf(w, "  stored %s by %s\n", r.SavedAt.Format(time.RFC3339), orDash(r.Instance))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  BURN ALERT\tSEVERITY\tRATE\tLONG\tBURN\tSHORT\tBURN\tFIRING")
		for j, name := range r.BurnAlerts {
			firing := "no"
			if at(r.BurnFiring, j) != 0 {
				firing = "yes"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s×\t%s\t%s×\t%s\t%s×\t%s\n", name, at(r.BurnSeverities, j), rate(at(r.BurnThresholds, j)),
				at(r.BurnLongWindows, j), rate(at(r.BurnLongRates, j)), at(r.BurnShortWindows, j), rate(at(r.BurnShortRates, j)), firing)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nBurn alerts since %s:\n", since.Format(time.RFC3339))
	if len(pages) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tMODEL\tBUDGET/ALERT\tSTATE\tSEVERITY\tSUMMARY")
	for _, p := range pages {
		state := p.State
		if p.Outcome != "" {
			state += " (" + p.Outcome + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", p.EventTime.Format(time.RFC3339), p.ModelID, p.Subject, state, p.Severity,
			strings.ReplaceAll(p.Summary, "\n", " "))
	}
	return tw.Flush()
}

// at returns s[i], or the zero value when s is too short (a row written by hand).
func at[T any](s []T, i int) T {
	var zero T
	if i < len(s) {
		return s[i]
	}
	return zero
}

func percent(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) + "%" }

func rate(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
