package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Reads of the training-feedback stage: the model's own predictions that feedback refers to, and how
// far each model's feedback windows are decided (their signals rows have an empty model_version:
// feedback names a model, not a version).

// PredictedClasses returns the class the model predicted for each of ids that the predictions table
// holds (any of its versions' when several scored the same id). Ids it does not hold, and
// predictions without a class, are absent.
func (s *Store) PredictedClasses(ctx context.Context, modelID string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	set := clickhouse.GroupSet{Value: make([]any, len(ids))}
	for i, id := range ids {
		set.Value[i] = id
	}
	err := s.queryRows(ctx, `SELECT prediction_id, any(predicted_class) FROM predictions
WHERE model_id = ? AND prediction_id IN ? AND predicted_class != '' GROUP BY prediction_id`,
		[]any{modelID, set}, func(scan func(...any) error) error {
			var id, class string
			if err := scan(&id, &class); err != nil {
				return err
			}
			out[id] = class
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading the predictions of %d feedback events of model %s: %w", len(ids), modelID, err)
	}
	return out, nil
}

// FeedbackDecided returns, per model, the end of its newest decided feedback window: the newest
// signals row of signal (the row every decided feedback window has) with an empty model_version.
// Feedback windows are decided in order, so every earlier one is decided too.
func (s *Store) FeedbackDecided(ctx context.Context, signal string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.queryRows(ctx, `SELECT model_id, toUInt32(max(window_end)) FROM signals
WHERE model_version = '' AND signal = ? GROUP BY model_id`, []any{signal}, func(scan func(...any) error) error {
		var id string
		var end uint32
		if err := scan(&id, &end); err != nil {
			return err
		}
		out[id] = time.Unix(int64(end), 0).UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading decided feedback windows: %w", err)
	}
	return out, nil
}

// FeedbackDecidedEnd is FeedbackDecided for one model: the zero time when it has none.
func (s *Store) FeedbackDecidedEnd(ctx context.Context, signal, modelID string) (time.Time, error) {
	var end uint32
	err := s.queryRows(ctx, `SELECT toUInt32(max(window_end)) FROM signals
WHERE model_id = ? AND model_version = '' AND signal = ?`, []any{modelID, signal}, func(scan func(...any) error) error {
		return scan(&end)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the decided feedback windows of model %s: %w", modelID, err)
	}
	if end == 0 {
		return time.Time{}, nil
	}
	return time.Unix(int64(end), 0).UTC(), nil
}
