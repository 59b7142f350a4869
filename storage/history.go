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
// tracked callers' windows (caller_windows) and the signals' verdicts
// (signals) of a model version's last windows.

// CallerHistory returns the caller_windows rows of the last windows windows
// of a model version that end before before, deduplicated (FINAL), oldest
// window first and by caller, at most maxRows of them (the oldest windows'
// rows are the ones left out).
func (s *Store) CallerHistory(ctx context.Context, modelID, modelVersion string, before time.Time, windows, maxRows int) ([]CallerRow, error) {
	wrap := func(err error) error {
		return fmt.Errorf("reading the caller history of model %s version %s: %w", modelID, modelVersion, err)
	}
	first, ok, err := s.firstOfLastWindows(ctx, "caller_windows", modelID, modelVersion, before, windows)
	if err != nil || !ok {
		return nil, wrapNil(err, wrap)
	}
	var out []CallerRow
	err = s.queryRows(ctx, `SELECT toUInt32(window_start), toUInt32(window_end), caller, calls, calls_overcount, scored_calls,
    scored_overcount, probes, input_calls, input_overcount, distinct_inputs, ood_sampled, ood_outside, class_calls, classes,
    class_entropy
FROM caller_windows FINAL
WHERE model_id = ? AND model_version = ? AND window_end >= toDateTime(?) AND window_end < toDateTime(?)
ORDER BY window_end DESC, caller LIMIT `+fmt.Sprint(maxRows), []any{modelID, modelVersion, first, before.Unix()},
		func(scan func(...any) error) error {
			r := CallerRow{ModelID: modelID, ModelVersion: modelVersion}
			var start, end uint32
			if err := scan(&start, &end, &r.Caller, &r.Calls, &r.CallsOvercount, &r.ScoredCalls, &r.ScoredOvercount, &r.Probes,
				&r.InputCalls, &r.InputOvercount, &r.DistinctInputs, &r.OODSampled, &r.OODOutside, &r.ClassCalls, &r.Classes,
				&r.ClassEntropy); err != nil {
				return err
			}
			r.WindowStart, r.WindowEnd = time.Unix(int64(start), 0).UTC(), time.Unix(int64(end), 0).UTC()
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, wrap(err)
	}
	return oldestFirst(out, maxRows, func(r CallerRow) time.Time { return r.WindowEnd }), nil
}

// SignalHistory returns the signals rows of the last windows windows of a
// model version that end before before and that fed its history: of the
// windows scored against a reference, the verdicts that decide (a p-value
// and a threshold) and the "*" verdicts of bitSignals (their DDM's
// counts), deduplicated (FINAL), oldest window first, at most maxRows of them (the oldest windows' rows are the ones
// left out). The history's own rows (<signal>_history, <signal>_ddm) are
// not among them.
func (s *Store) SignalHistory(ctx context.Context, modelID, modelVersion string, before time.Time, windows, maxRows int, bitSignals []string) ([]SignalRow, error) {
	wrap := func(err error) error {
		return fmt.Errorf("reading the signal history of model %s version %s: %w", modelID, modelVersion, err)
	}
	first, ok, err := s.firstOfLastWindows(ctx, "signals", modelID, modelVersion, before, windows)
	if err != nil || !ok {
		return nil, wrapNil(err, wrap)
	}
	bits := "''"
	if len(bitSignals) > 0 {
		quoted := make([]string, len(bitSignals))
		for i, b := range bitSignals {
			quoted[i] = "'" + b + "'" // the evaluation's own names: lower-case letters and underscores
		}
		bits = strings.Join(quoted, ", ")
	}
	var out []SignalRow
	err = s.queryRows(ctx, `SELECT toUInt32(window_start), toUInt32(window_end), signal, subject, statistic, p_value, threshold, n
FROM signals FINAL
WHERE model_id = ? AND model_version = ? AND window_end >= toDateTime(?) AND window_end < toDateTime(?)
  AND reference_id != ''
  AND ((NOT isNaN(p_value) AND NOT isNaN(threshold)) OR (signal IN (`+bits+`) AND subject = '*'))
  AND NOT endsWith(signal, '_history') AND NOT endsWith(signal, '_ddm')
ORDER BY window_end DESC, signal, subject LIMIT `+fmt.Sprint(maxRows), []any{modelID, modelVersion, first, before.Unix()},
		func(scan func(...any) error) error {
			r := SignalRow{ModelID: modelID, ModelVersion: modelVersion}
			var start, end uint32
			if err := scan(&start, &end, &r.Signal, &r.Subject, &r.Statistic, &r.PValue, &r.Threshold, &r.N); err != nil {
				return err
			}
			r.WindowStart, r.WindowEnd = time.Unix(int64(start), 0).UTC(), time.Unix(int64(end), 0).UTC()
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, wrap(err)
	}
	return oldestFirst(out, maxRows, func(r SignalRow) time.Time { return r.WindowEnd }), nil
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

// wrapNil returns wrap(err), nil for a nil err.
func wrapNil(err error, wrap func(error) error) error {
	if err == nil {
		return nil
	}
	return wrap(err)
}
