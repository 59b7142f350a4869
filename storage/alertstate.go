package storage

import (
	"context"
	"fmt"
	"time"
)

// AlertStateRow is one snapshot of the alert manager's state of one model
// in alert_state: its pending and firing alerts, firing burn alerts and
// risk-budget history (State, JSON the alerting package writes and reads),
// and its risk budget as numbers to query. Rows are appended; the newest
// snapshot of a model (largest Version) is its state, and the table's
// ReplacingMergeTree(version) keeps only that one after merges.
type AlertStateRow struct {
	ModelID  string
	Instance string    // the monitor instance that wrote it (host/pid)
	SavedAt  time.Time // when it was written (DateTime precision)
	Version  uint64    // the snapshot's order: nanoseconds since the epoch at the write, increasing per model
	State    string    // the alerting package's JSON snapshot; "" never written
	// Budget names the model's risk budget, "" when it has none; the
	// fields below are then zero.
	Budget string
	// Period is the budget's period, e.g. "30d"; WindowEnd the end of the
	// newest analysis window counted.
	Period    string
	WindowEnd time.Time
	// Windows is the period in analysis windows; Observed how many had a
	// verdict, Breached how many were in breach; Allowed how many may be.
	Windows, Observed, Breached uint32
	// Consumed is Breached / Allowed (above 1 when overspent); Remaining
	// is 1 − Consumed.
	Allowed, Consumed, Remaining float64
	// The budget's burn alerts, one element each in the same order: name,
	// severity (page, ticket), burn rate threshold, long and short windows
	// (e.g. "1h", "5m") with the burn rate over each, and whether it fires.
	BurnAlerts       []string
	BurnSeverities   []string
	BurnThresholds   []float64
	BurnLongWindows  []string
	BurnLongRates    []float64
	BurnShortWindows []string
	BurnShortRates   []float64
	BurnFiring       []uint8
}

var alertStateFields = []field[AlertStateRow]{
	fieldOf("model_id", func(r *AlertStateRow) string { return r.ModelID }),
	fieldOf("instance", func(r *AlertStateRow) string { return r.Instance }),
	fieldOf("saved_at", func(r *AlertStateRow) time.Time { return r.SavedAt }),
	fieldOf("version", func(r *AlertStateRow) uint64 { return r.Version }),
	fieldOf("state", func(r *AlertStateRow) string { return r.State }),
	fieldOf("budget", func(r *AlertStateRow) string { return r.Budget }),
	fieldOf("period", func(r *AlertStateRow) string { return r.Period }),
	fieldOf("window_end", func(r *AlertStateRow) time.Time { return r.WindowEnd }),
	fieldOf("windows", func(r *AlertStateRow) uint32 { return r.Windows }),
	fieldOf("observed", func(r *AlertStateRow) uint32 { return r.Observed }),
	fieldOf("breached", func(r *AlertStateRow) uint32 { return r.Breached }),
	fieldOf("allowed", func(r *AlertStateRow) float64 { return r.Allowed }),
	fieldOf("consumed", func(r *AlertStateRow) float64 { return r.Consumed }),
	fieldOf("remaining", func(r *AlertStateRow) float64 { return r.Remaining }),
	fieldOf("burn_alerts", func(r *AlertStateRow) []string { return nonNil(r.BurnAlerts) }),
	fieldOf("burn_severities", func(r *AlertStateRow) []string { return nonNil(r.BurnSeverities) }),
	fieldOf("burn_thresholds", func(r *AlertStateRow) []float64 { return nonNil(r.BurnThresholds) }),
	fieldOf("burn_long_windows", func(r *AlertStateRow) []string { return nonNil(r.BurnLongWindows) }),
	fieldOf("burn_long_rates", func(r *AlertStateRow) []float64 { return nonNil(r.BurnLongRates) }),
	fieldOf("burn_short_windows", func(r *AlertStateRow) []string { return nonNil(r.BurnShortWindows) }),
	fieldOf("burn_short_rates", func(r *AlertStateRow) []float64 { return nonNil(r.BurnShortRates) }),
	fieldOf("burn_firing", func(r *AlertStateRow) []uint8 { return nonNil(r.BurnFiring) }),
}

// SaveAlertState appends snapshots of the alert manager's state, one per
// model, retrying like RecordAlerts until it succeeds or ctx ends. Rows with
// a zero SavedAt get the time of the call.
func (s *Store) SaveAlertState(ctx context.Context, rows []AlertStateRow) error {
	rows = stamp(rows, now(), func(r *AlertStateRow) *time.Time { return &r.SavedAt })
	if err := insert(ctx, s, alertStateTable.name, alertStateFields, rows); err != nil {
		return fmt.Errorf("saving alert state: %w", err)
	}
	return nil
}

// alertStateQuery reads the newest snapshot of each model (argMax over
// version, exact whether or not the table's parts are merged), of the
// models listed or, with the flag 1, of every model; docs/clickhouse.md
// shows it.
const alertStateQuery = `SELECT model_id, argMax(instance, version), argMax(saved_at, version), max(version), argMax(state, version),
       argMax(budget, version), argMax(period, version), argMax(window_end, version),
       argMax(windows, version), argMax(observed, version), argMax(breached, version),
       argMax(allowed, version), argMax(consumed, version), argMax(remaining, version),
       argMax(burn_alerts, version), argMax(burn_severities, version), argMax(burn_thresholds, version),
       argMax(burn_long_windows, version), argMax(burn_long_rates, version),
       argMax(burn_short_windows, version), argMax(burn_short_rates, version), argMax(burn_firing, version)
FROM alert_state
WHERE has(?, model_id) OR ? = 1
GROUP BY model_id
ORDER BY model_id`

// AlertState returns the newest snapshot of each of the given models that
// has one, by model; with no model, of every model.
func (s *Store) AlertState(ctx context.Context, models []string) ([]AlertStateRow, error) {
	all := uint8(0)
	if len(models) == 0 {
		all, models = 1, []string{""}
	}
	q, err := s.conn.Query(ctx, alertStateQuery, models, all)
	if err != nil {
		return nil, fmt.Errorf("reading alert state: %w", err)
	}
	defer q.Close()
	var out []AlertStateRow
	for q.Next() {
		var r AlertStateRow
		if err := q.Scan(&r.ModelID, &r.Instance, &r.SavedAt, &r.Version, &r.State, &r.Budget, &r.Period, &r.WindowEnd,
			&r.Windows, &r.Observed, &r.Breached, &r.Allowed, &r.Consumed, &r.Remaining,
			&r.BurnAlerts, &r.BurnSeverities, &r.BurnThresholds, &r.BurnLongWindows, &r.BurnLongRates,
			&r.BurnShortWindows, &r.BurnShortRates, &r.BurnFiring); err != nil {
			return nil, fmt.Errorf("reading alert state: %w", err)
		}
		r.SavedAt, r.WindowEnd = r.SavedAt.UTC(), r.WindowEnd.UTC()
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("reading alert state: %w", err)
	}
	return out, nil
}

// budgetPagesQuery reads the state changes of the burn alerts of risk
// budgets (signal 'risk_budget', subject '<budget>/<burn alert>') since a
// time, of one model (or of every model when the model given is empty),
// newest first, at most 1000;
// docs/clickhouse.md shows it.
const budgetPagesQuery = `SELECT event_time, alert_key, model_id, subject, state, severity, statistic, threshold, summary, outcome
FROM alerts
WHERE record = 'state' AND signal = 'risk_budget' AND event_time >= ? AND (model_id = ? OR ? = '')
ORDER BY event_time DESC, alert_key, indexOf(['resolved', 'handed_over', 'firing'], state)
LIMIT 1000`

// BudgetPages returns the state changes (firing, resolved, handed_over) of
// the burn alerts of risk budgets recorded since since, of model or, when
// it is empty, of every model, newest first (at most 1000).
func (s *Store) BudgetPages(ctx context.Context, model string, since time.Time) ([]AlertRow, error) {
	q, err := s.conn.Query(ctx, budgetPagesQuery, since.UTC().Truncate(time.Second), model, model)
	if err != nil {
		return nil, fmt.Errorf("reading budget pages: %w", err)
	}
	defer q.Close()
	var out []AlertRow
	for q.Next() {
		r := AlertRow{Record: "state", Signal: "risk_budget"}
		if err := q.Scan(&r.EventTime, &r.AlertKey, &r.ModelID, &r.Subject, &r.State, &r.Severity, &r.Statistic, &r.Threshold,
			&r.Summary, &r.Outcome); err != nil {
			return nil, fmt.Errorf("reading budget pages: %w", err)
		}
		r.EventTime = r.EventTime.UTC()
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("reading budget pages: %w", err)
	}
	return out, nil
}
