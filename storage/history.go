package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What a decider reads back after a restart, or a move of a model to it, so
// that the histories its evaluation keeps in memory do not start over: the
// tracked callers' windows (caller_windows, and model_windows' light
// callers) and the signals' verdicts
// (signals) of a model version's last windows.

// CallerHistory returns the tracked callers of the last windows decided
// windows (model_windows) of a model version that end before before,
// deduplicated (FINAL), oldest window first and by caller, at most maxRows
// of each kind (the oldest windows' rows are the ones left out): the
// caller_windows rows (stored), and the light callers those windows'
// model_windows rows keep instead (signals.access.store_callers), with their
// calls and overcount alone. Both read the same windows, even where one
// stored no caller_windows row: together, every caller each window tracked.
func (s *Store) CallerHistory(ctx context.Context, modelID, modelVersion string, before time.Time, windows, maxRows int) (stored, light []CallerRow, err error) {
	first, ok, err := s.firstOfLastWindows(ctx, "model_windows", modelID, modelVersion, before, windows)
	if err != nil || !ok {
		return nil, nil, wrapHistory("caller history", modelID, modelVersion, err)
	}
	set := func(r *CallerRow, model, version string, start, end time.Time) {
		r.ModelID, r.ModelVersion, r.WindowStart, r.WindowEnd = model, version, start, end
	}
	stored, err = windowRows(ctx, s, "caller history", "caller_windows", "", modelID, modelVersion, first, before, maxRows,
		`caller, calls, calls_overcount, scored_calls, scored_overcount, probes, input_calls, input_overcount, distinct_inputs,
    ood_sampled, ood_outside, class_calls, classes, class_entropy`, "", "caller",
		func(r *CallerRow) []any {
			return []any{&r.Caller, &r.Calls, &r.CallsOvercount, &r.ScoredCalls, &r.ScoredOvercount, &r.Probes, &r.InputCalls,
				&r.InputOvercount, &r.DistinctInputs, &r.OODSampled, &r.OODOutside, &r.ClassCalls, &r.Classes, &r.ClassEntropy}
		}, set)
	if err != nil {
		return nil, nil, err
	}
	light, err = windowRows(ctx, s, "light callers", "model_windows",
		"ARRAY JOIN light_callers AS caller, light_calls AS calls, light_calls_overcount AS calls_overcount",
		modelID, modelVersion, first, before, maxRows, "caller, calls, calls_overcount", "", "caller",
		func(r *CallerRow) []any { return []any{&r.Caller, &r.Calls, &r.CallsOvercount} }, set)
	if err != nil {
		return nil, nil, err
	}
	return stored, light, nil
}

// wrapHistory names the read of what of a model version in err (nil: nil).
func wrapHistory(what, modelID, modelVersion string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("reading the %s of model %s version %s: %w", what, modelID, modelVersion, err)
}

// SignalHistory returns the signals rows of the last windows windows of a
// model version that end before before and that fed its history: of the
// windows scored against a reference, the verdicts that decide (a p-value
// and a threshold) and the "*" verdicts of bitSignals (their DDM's
// counts), deduplicated (FINAL), oldest window first, at most maxRows of
// them (the oldest windows' rows are the ones left out). The history's own
// rows (<signal>_history, <signal>_ddm) are not among them.
func (s *Store) SignalHistory(ctx context.Context, modelID, modelVersion string, before time.Time, windows, maxRows int, bitSignals []string) ([]SignalRow, error) {
	bits := "''"
	if len(bitSignals) > 0 {
		quoted := make([]string, len(bitSignals))
		for i, b := range bitSignals {
			quoted[i] = "'" + b + "'" // the evaluation's own names: lower-case letters and underscores
		}
		bits = strings.Join(quoted, ", ")
	}
	return lastWindows(ctx, s, "signal history", "signals", modelID, modelVersion, before, windows, maxRows,
		"signal, subject, statistic, p_value, threshold, n",
		`AND reference_id != ''
  AND ((NOT isNaN(p_value) AND NOT isNaN(threshold)) OR (signal IN (`+bits+`) AND subject = '*'))
  AND NOT endsWith(signal, '_history') AND NOT endsWith(signal, '_ddm')`, "signal, subject",
		func(r *SignalRow) []any {
			return []any{&r.Signal, &r.Subject, &r.Statistic, &r.PValue, &r.Threshold, &r.N}
		},
		func(r *SignalRow, model, version string, start, end time.Time) {
			r.ModelID, r.ModelVersion, r.WindowStart, r.WindowEnd = model, version, start, end
		})
}

// lastWindows reads, from table, deduplicated (FINAL), the rows of the last
// windows windows of a model version in table that end before before and
// match where (an AND clause, or ""), as windowRows does.
func lastWindows[T any](ctx context.Context, s *Store, what, table, modelID, modelVersion string, before time.Time, windows, maxRows int,
	cols, where, order string, fields func(*T) []any, set func(r *T, model, version string, start, end time.Time)) ([]T, error) {
	first, ok, err := s.firstOfLastWindows(ctx, table, modelID, modelVersion, before, windows)
	if err != nil || !ok {
		return nil, wrapHistory(what, modelID, modelVersion, err)
	}
	return windowRows(ctx, s, what, table, "", modelID, modelVersion, first, before, maxRows, cols, where, order, fields, set)
}

// windowRows reads, from table, deduplicated (FINAL), joined with join (an
// ARRAY JOIN clause, or ""), the rows of a model version's windows that end
// in [first, before) (first in Unix seconds, firstOfLastWindows') and match
// where (an AND clause, or ""): columns cols scanned into fields(r), set(r)
// giving a row its model version and window; oldest window first, each
// window's rows by order, at most maxRows of them (the oldest windows' rows
// are the ones left out). what names the read in errors.
func windowRows[T any](ctx context.Context, s *Store, what, table, join, modelID, modelVersion string, first uint32, before time.Time, maxRows int,
	cols, where, order string, fields func(*T) []any, set func(r *T, model, version string, start, end time.Time)) ([]T, error) {
	type dated struct {
		end time.Time
		r   T
	}
	var out []dated
	err := s.queryRows(ctx, `SELECT toUInt32(window_start), toUInt32(window_end), `+cols+`
FROM `+table+` FINAL `+join+`
WHERE model_id = ? AND model_version = ? AND window_end >= toDateTime(?) AND window_end < toDateTime(?) `+where+`
ORDER BY window_end DESC, `+order+` LIMIT `+fmt.Sprint(maxRows), []any{modelID, modelVersion, first, before.Unix()},
		func(scan func(...any) error) error {
			var d dated
			var start, end uint32
			if err := scan(append([]any{&start, &end}, fields(&d.r)...)...); err != nil {
				return err
			}
			d.end = time.Unix(int64(end), 0).UTC()
			set(&d.r, modelID, modelVersion, time.Unix(int64(start), 0).UTC(), d.end)
			out = append(out, d)
			return nil
		})
	if err != nil {
		return nil, wrapHistory(what, modelID, modelVersion, err)
	}
	rows := make([]T, 0, len(out))
	for _, d := range oldestFirst(out, maxRows, func(d dated) time.Time { return d.end }) {
		rows = append(rows, d.r)
	}
	return rows, nil
}

// firstOfLastWindows returns the end, in Unix seconds, of the oldest of the
// last n windows of a model version in table that end before before; ok
// false when it has none.
func (s *Store) firstOfLastWindows(ctx context.Context, table, modelID, modelVersion string, before time.Time, n int) (first uint32, ok bool, err error) {
	err = s.queryRows(ctx, `SELECT toUInt32(window_end) AS e FROM `+table+`
WHERE model_id = ? AND model_version = ? AND window_end < toDateTime(?)
GROUP BY e ORDER BY e DESC LIMIT `+fmt.Sprint(n), []any{modelID, modelVersion, before.Unix()}, func(scan func(...any) error) error {
		ok = true
		return scan(&first) // the last row is the oldest of the windows
	})
	return first, ok, err
}

// oldestFirst turns rows read newest window first around, window by
// window, keeping each window's rows in order; when maxRows of them were
// read, the oldest window may have been cut short and is left out whole.
func oldestFirst[T any](rows []T, maxRows int, end func(T) time.Time) []T {
	slices.SortStableFunc(rows, func(a, b T) int { return end(a).Compare(end(b)) })
	if len(rows) == maxRows && len(rows) > 0 {
		oldest := end(rows[0])
		i := 0
		for i < len(rows) && end(rows[i]).Equal(oldest) {
			i++
		}
		rows = rows[i:]
	}
	return rows
}
