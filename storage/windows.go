package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// WindowRow is one row of inference_windows: the counts and Kafka lineage of one closed window of
// one model version, read from one topic partition. It is the commit marker of the window.
type WindowRow struct {
	ModelID        string
	ModelVersion   string
	WindowStart    time.Time
	WindowEnd      time.Time
	Events         uint64 // events counted in the window
	LateEvents     uint64 // events that arrived after their own window had closed
	RejectedEvents uint64 // events of this model version refused by decoding
	KafkaTopic     string
	KafkaPartition int32
	FirstOffset    int64 // smallest offset counted in the window
	LastOffset     int64 // largest offset counted in the window
	ReferenceID    string
	FlushedAt      time.Time // zero means the time of the write
}

// FeatureRow is one row of feature_windows: the summary of one feature over one closed window.
type FeatureRow struct {
	ModelID        string
	ModelVersion   string
	WindowStart    time.Time
	WindowEnd      time.Time
	KafkaPartition int32
	Feature        string
	Kind           string // "numeric" or "categorical"
	Count          uint64
	Missing        uint64
	Mean           float64
	Variance       float64
	Min            float64
	Max            float64
	BinEdges       []float64
	BinCounts      []uint64
	Categories     []string
	CategoryCounts []uint64
	OtherCount     uint64
	UnseenCount    uint64
	ReferenceID    string
	FlushedAt      time.Time // zero means the time of the write
}

// ScoreRow is one row of drift_scores: the result of one drift test of one feature over one window.
type ScoreRow struct {
	ModelID        string
	ModelVersion   string
	WindowStart    time.Time
	WindowEnd      time.Time
	KafkaPartition int32
	Feature        string
	Kind           string
	Test           string // "psi", "js", "wasserstein", "wasserstein_norm", "ks" or "chi2"
	Statistic      float64
	PValue         float64 // NaN when the test has none
	Effect         float64 // the effect size the decision used; NaN for informational tests
	Threshold      float64
	Severity       string // "ok", "warning" or "critical"
	Drifted        bool   // stored as UInt8 0/1
	NReference     uint64
	NCurrent       uint64
	ReferenceID    string
	FlushedAt      time.Time // zero means the time of the write
}

// ModelWindowRow is one row of model_windows: one decided window of one model version, merged over
// every source partition. It is the commit marker of the decision: a window whose model_windows row
// exists has its feature_windows and drift_scores rows written.
type ModelWindowRow struct {
	ModelID           string
	ModelVersion      string
	WindowStart       time.Time
	WindowEnd         time.Time
	Events            uint64 // events counted in the window over all partitions
	LateEvents        uint64
	RejectedEvents    uint64
	Partitions        uint32  // source partitions whose partial state was merged
	MissingPartitions []int32 // source partitions not heard from when the window was decided (waited out)
	MixedReferences   bool    // partials opened against different references; the window is not scored
	ReferenceID       string
	// The tracked callers of the window that caller_windows does not hold
	// (signals.access.store_callers), by name, with their calls and
	// overcount, as in caller_windows.
	LightCallers        []string
	LightCalls          []uint64
	LightCallsOvercount []uint64
	DecidedAt           time.Time // zero means the time of the write
}

// WindowBatch is what one flush writes. A source partition writes Windows (its counts and offsets);
// the decider of a model writes Features, Scores and Models (the merged window and its verdicts).
type WindowBatch struct {
	Windows  []WindowRow
	Features []FeatureRow
	Scores   []ScoreRow
	Signals  []SignalRow
	Callers  []CallerRow
	Models   []ModelWindowRow
}

// rows says how many rows b holds per table ("2 feature_windows, 1 inference_windows rows").
func (b *WindowBatch) rows() string {
	var parts []string
	for _, t := range []struct {
		table string
		n     int
	}{{featureWindowsTable.name, len(b.Features)}, {driftScoresTable.name, len(b.Scores)}, {signalsTable.name, len(b.Signals)},
		{callerWindowsTable.name, len(b.Callers)}, {inferenceWindowsTable.name, len(b.Windows)}, {modelWindowsTable.name, len(b.Models)}} {
		if t.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", t.n, t.table))
		}
	}
	if len(parts) == 0 {
		return "no rows"
	}
	return strings.Join(parts, ", ") + " rows"
}

// Append adds o's rows after b's, so that the two are written in one insert per table.
func (b *WindowBatch) Append(o WindowBatch) {
	b.Windows = append(b.Windows, o.Windows...)
	b.Features = append(b.Features, o.Features...)
	b.Scores = append(b.Scores, o.Scores...)
	b.Signals = append(b.Signals, o.Signals...)
	b.Callers = append(b.Callers, o.Callers...)
	b.Models = append(b.Models, o.Models...)
}

// SignalRow is one row of signals: one verdict of a signal about one subject in one decided window
// of a model version.
type SignalRow struct {
	ModelID      string
	ModelVersion string
	WindowStart  time.Time
	WindowEnd    time.Time
	Signal       string
	Subject      string // "*" for the model itself
	Statistic    float64
	PValue       float64 // NaN when the test gives none
	Effect       float64
	Threshold    float64
	Severity     string // "ok", "warning" or "critical"
	N            uint64
	ReferenceID  string
	Evidence     string
	DecidedAt    time.Time // zero means the time of the write
}

var signalFields = []field[SignalRow]{
	fieldOf("model_id", func(r *SignalRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *SignalRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *SignalRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *SignalRow) time.Time { return r.WindowEnd }),
	fieldOf("signal", func(r *SignalRow) string { return r.Signal }),
	fieldOf("subject", func(r *SignalRow) string { return r.Subject }),
	fieldOf("statistic", func(r *SignalRow) float64 { return r.Statistic }),
	fieldOf("p_value", func(r *SignalRow) float64 { return r.PValue }),
	fieldOf("effect", func(r *SignalRow) float64 { return r.Effect }),
	fieldOf("threshold", func(r *SignalRow) float64 { return r.Threshold }),
	fieldOf("severity", func(r *SignalRow) string { return r.Severity }),
	fieldOf("n", func(r *SignalRow) uint64 { return r.N }),
	fieldOf("reference_id", func(r *SignalRow) string { return r.ReferenceID }),
	fieldOf("evidence", func(r *SignalRow) string { return r.Evidence }),
	fieldOf("decided_at", func(r *SignalRow) time.Time { return r.DecidedAt }),
}

var modelWindowFields = []field[ModelWindowRow]{
	fieldOf("model_id", func(r *ModelWindowRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *ModelWindowRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *ModelWindowRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *ModelWindowRow) time.Time { return r.WindowEnd }),
	fieldOf("events", func(r *ModelWindowRow) uint64 { return r.Events }),
	fieldOf("late_events", func(r *ModelWindowRow) uint64 { return r.LateEvents }),
	fieldOf("rejected_events", func(r *ModelWindowRow) uint64 { return r.RejectedEvents }),
	fieldOf("partitions", func(r *ModelWindowRow) uint32 { return r.Partitions }),
	fieldOf("missing_partitions", func(r *ModelWindowRow) []int32 { return nonNil(r.MissingPartitions) }),
	fieldOf("mixed_references", func(r *ModelWindowRow) uint8 { return boolToUInt8(r.MixedReferences) }),
	fieldOf("reference_id", func(r *ModelWindowRow) string { return r.ReferenceID }),
	fieldOf("light_callers", func(r *ModelWindowRow) []string { return nonNil(r.LightCallers) }),
	fieldOf("light_calls", func(r *ModelWindowRow) []uint64 { return nonNil(r.LightCalls) }),
	fieldOf("light_calls_overcount", func(r *ModelWindowRow) []uint64 { return nonNil(r.LightCallsOvercount) }),
	fieldOf("decided_at", func(r *ModelWindowRow) time.Time { return r.DecidedAt }),
}

var windowFields = []field[WindowRow]{
	fieldOf("model_id", func(r *WindowRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *WindowRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *WindowRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *WindowRow) time.Time { return r.WindowEnd }),
	fieldOf("events", func(r *WindowRow) uint64 { return r.Events }),
	fieldOf("late_events", func(r *WindowRow) uint64 { return r.LateEvents }),
	fieldOf("rejected_events", func(r *WindowRow) uint64 { return r.RejectedEvents }),
	fieldOf("kafka_topic", func(r *WindowRow) string { return r.KafkaTopic }),
	fieldOf("kafka_partition", func(r *WindowRow) int32 { return r.KafkaPartition }),
	fieldOf("first_offset", func(r *WindowRow) int64 { return r.FirstOffset }),
	fieldOf("last_offset", func(r *WindowRow) int64 { return r.LastOffset }),
	fieldOf("reference_id", func(r *WindowRow) string { return r.ReferenceID }),
	fieldOf("flushed_at", func(r *WindowRow) time.Time { return r.FlushedAt }),
}

var featureFields = []field[FeatureRow]{
	fieldOf("model_id", func(r *FeatureRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *FeatureRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *FeatureRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *FeatureRow) time.Time { return r.WindowEnd }),
	fieldOf("kafka_partition", func(r *FeatureRow) int32 { return r.KafkaPartition }),
	fieldOf("feature", func(r *FeatureRow) string { return r.Feature }),
	fieldOf("kind", func(r *FeatureRow) string { return r.Kind }),
	fieldOf("count", func(r *FeatureRow) uint64 { return r.Count }),
	fieldOf("missing", func(r *FeatureRow) uint64 { return r.Missing }),
	fieldOf("mean", func(r *FeatureRow) float64 { return r.Mean }),
	fieldOf("variance", func(r *FeatureRow) float64 { return r.Variance }),
	fieldOf("min", func(r *FeatureRow) float64 { return r.Min }),
	fieldOf("max", func(r *FeatureRow) float64 { return r.Max }),
	fieldOf("bin_edges", func(r *FeatureRow) []float64 { return nonNil(r.BinEdges) }),
	fieldOf("bin_counts", func(r *FeatureRow) []uint64 { return nonNil(r.BinCounts) }),
	fieldOf("categories", func(r *FeatureRow) []string { return nonNil(r.Categories) }),
	fieldOf("category_counts", func(r *FeatureRow) []uint64 { return nonNil(r.CategoryCounts) }),
	fieldOf("other_count", func(r *FeatureRow) uint64 { return r.OtherCount }),
	fieldOf("unseen_count", func(r *FeatureRow) uint64 { return r.UnseenCount }),
	fieldOf("reference_id", func(r *FeatureRow) string { return r.ReferenceID }),
	fieldOf("flushed_at", func(r *FeatureRow) time.Time { return r.FlushedAt }),
}

var scoreFields = []field[ScoreRow]{
	fieldOf("model_id", func(r *ScoreRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *ScoreRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *ScoreRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *ScoreRow) time.Time { return r.WindowEnd }),
	fieldOf("kafka_partition", func(r *ScoreRow) int32 { return r.KafkaPartition }),
	fieldOf("feature", func(r *ScoreRow) string { return r.Feature }),
	fieldOf("kind", func(r *ScoreRow) string { return r.Kind }),
	fieldOf("test", func(r *ScoreRow) string { return r.Test }),
	fieldOf("statistic", func(r *ScoreRow) float64 { return r.Statistic }),
	fieldOf("p_value", func(r *ScoreRow) float64 { return r.PValue }),
	fieldOf("effect", func(r *ScoreRow) float64 { return r.Effect }),
	fieldOf("threshold", func(r *ScoreRow) float64 { return r.Threshold }),
	fieldOf("severity", func(r *ScoreRow) string { return r.Severity }),
	fieldOf("drifted", func(r *ScoreRow) uint8 { return boolToUInt8(r.Drifted) }),
	fieldOf("n_reference", func(r *ScoreRow) uint64 { return r.NReference }),
	fieldOf("n_current", func(r *ScoreRow) uint64 { return r.NCurrent }),
	fieldOf("reference_id", func(r *ScoreRow) string { return r.ReferenceID }),
	fieldOf("flushed_at", func(r *ScoreRow) time.Time { return r.FlushedAt }),
}

// WriteWindows writes one flush: features and scores first, then the inference_windows rows (a source
// partition's commit marker), then the model_windows rows (a decision's commit marker: a window
// whose model_windows row exists has all its feature and score rows written). Each table's
// insert is retried with exponential backoff and jitter until it succeeds or ctx ends, so a caller
// blocks while ClickHouse is down (back-pressure); a table already written is not written again.
// Rows with a zero FlushedAt get the time of the write. Permanent errors (a schema mismatch) are
// returned at once; on cancellation the error wraps ctx.Err().
//
// Calls that overlap are written together: while one write is under way, the calls that arrive
// wait and are then written as one, one insert per table for all of them, in the order above (so
// every caller's commit markers still follow its own rows). An insert costs ClickHouse 18.16 7–36
// ms of CPU whatever its rows, and each becomes a part to merge, so a monitor with many partitions
// and models writes a few inserts per table and second however many flushes it has; a lone call
// is written at once. A caller whose ctx ends returns at once: its rows are dropped if their
// write has not started, otherwise they may still land, even after an outage (tables are
// ReplacingMergeTrees versioned by the time of the write, and a source partition's replacement
// rewrites the same rows). The write goes on while any caller still waits for it; after a
// permanent error the callers are written one by one, each getting its own outcome.
func (s *Store) WriteWindows(ctx context.Context, b WindowBatch) error {
	return s.windows.write(ctx, b)
}

// writeWindows writes b in one insert per table, in WriteWindows' order.
func (s *Store) writeWindows(ctx context.Context, b WindowBatch) error {
	at := now()
	if err := insert(ctx, s, featureWindowsTable.name, featureFields,
		stamp(b.Features, at, func(r *FeatureRow) *time.Time { return &r.FlushedAt })); err != nil {
		return err
	}
	if err := insert(ctx, s, driftScoresTable.name, scoreFields,
		stamp(b.Scores, at, func(r *ScoreRow) *time.Time { return &r.FlushedAt })); err != nil {
		return err
	}
	if err := insert(ctx, s, signalsTable.name, signalFields,
		stamp(b.Signals, at, func(r *SignalRow) *time.Time { return &r.DecidedAt })); err != nil {
		return err
	}
	if err := insert(ctx, s, callerWindowsTable.name, callerFields,
		stamp(b.Callers, at, func(r *CallerRow) *time.Time { return &r.DecidedAt })); err != nil {
		return err
	}
	if err := insert(ctx, s, inferenceWindowsTable.name, windowFields,
		stamp(b.Windows, at, func(r *WindowRow) *time.Time { return &r.FlushedAt })); err != nil {
		return err
	}
	return insert(ctx, s, modelWindowsTable.name, modelWindowFields,
		stamp(b.Models, at, func(r *ModelWindowRow) *time.Time { return &r.DecidedAt }))
}

// DecidedWindowEnd returns the end of the newest decided window of one model version (model_windows),
// the zero time when it has none.
func (s *Store) DecidedWindowEnd(ctx context.Context, modelID, modelVersion string) (time.Time, error) {
	rows, err := s.conn.Query(ctx, "SELECT toUInt32(max(window_end)) FROM model_windows WHERE model_id = ? AND model_version = ?", modelID, modelVersion)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the decided windows of model %s version %s: %w", modelID, modelVersion, err)
	}
	defer rows.Close()
	var end uint32
	if rows.Next() {
		if err := rows.Scan(&end); err != nil {
			return time.Time{}, fmt.Errorf("reading the decided windows of model %s version %s: %w", modelID, modelVersion, err)
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, fmt.Errorf("reading the decided windows of model %s version %s: %w", modelID, modelVersion, err)
	}
	if end == 0 {
		return time.Time{}, nil
	}
	return time.Unix(int64(end), 0).UTC(), nil
}

// DecidedWindows returns, per model version, the end of its newest decided window (model_windows).
// Windows are decided in order, so every earlier window of the version is decided too.
func (s *Store) DecidedWindows(ctx context.Context) (map[[2]string]time.Time, error) {
	rows, err := s.conn.Query(ctx, "SELECT model_id, model_version, toUInt32(max(window_end)) FROM model_windows GROUP BY model_id, model_version")
	if err != nil {
		return nil, fmt.Errorf("reading decided windows: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]time.Time{}
	for rows.Next() {
		var id, version string
		var end uint32
		if err := rows.Scan(&id, &version, &end); err != nil {
			return nil, fmt.Errorf("reading decided windows: %w", err)
		}
		out[[2]string{id, version}] = time.Unix(int64(end), 0).UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading decided windows: %w", err)
	}
	return out, nil
}

// stamp returns rows with every zero time at(r) set to t, copying rows only when one is zero.
func stamp[R any](rows []R, t time.Time, at func(*R) *time.Time) []R {
	copied := false
	for i := range rows {
		if !at(&rows[i]).IsZero() {
			continue
		}
		if !copied {
			rows = append([]R(nil), rows...)
			copied = true
		}
		*at(&rows[i]) = t
	}
	return rows
}

// FlushedWindow identifies a window already written for a topic partition, and the last offset it counted.
type FlushedWindow struct {
	ModelID      string
	ModelVersion string
	WindowStart  time.Time
	LastOffset   int64
}

// flushedWindowsQuery reads the flushed windows of one topic partition (docs/clickhouse.md shows it).
const flushedWindowsQuery = `SELECT model_id, model_version, window_start, argMax(last_offset, flushed_at) AS newest_last_offset
FROM inference_windows
WHERE kafka_topic = ? AND kafka_partition = ?
GROUP BY model_id, model_version, window_start
HAVING newest_last_offset >= ?
ORDER BY window_start, model_id, model_version`

// FlushedWindows returns, for one topic partition, the windows whose last_offset >= fromOffset,
// ordered by window start, model and version. A window written more than once is returned once,
// with the last_offset of its newest write.
func (s *Store) FlushedWindows(ctx context.Context, topic string, partition int32, fromOffset int64) ([]FlushedWindow, error) {
	rows, err := s.conn.Query(ctx, flushedWindowsQuery, topic, partition, fromOffset)
	if err != nil {
		return nil, fmt.Errorf("reading flushed windows of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	var out []FlushedWindow
	for rows.Next() {
		var w FlushedWindow
		if err := rows.Scan(&w.ModelID, &w.ModelVersion, &w.WindowStart, &w.LastOffset); err != nil {
			return nil, fmt.Errorf("reading flushed windows of %s/%d: %w", topic, partition, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading flushed windows of %s/%d: %w", topic, partition, err)
	}
	return out, nil
}

func boolToUInt8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// nonNil returns s, or an empty slice when s is nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// FeatureWindows returns the stored feature summaries of a model version
// whose window_start lies in [from, to), over all partitions, deduplicated
// (FINAL), ordered by window_start, feature and partition.
func (s *Store) FeatureWindows(ctx context.Context, modelID, modelVersion string, from, to time.Time) ([]FeatureRow, error) {
	rows, err := s.conn.Query(ctx, `SELECT window_start, window_end, kafka_partition, feature, kind, count, missing,
    mean, variance, min, max, bin_edges, bin_counts, categories, category_counts, other_count, unseen_count, reference_id
FROM feature_windows FINAL
WHERE model_id = ? AND model_version = ? AND window_start >= toDateTime(?) AND window_start < toDateTime(?)
ORDER BY window_start, feature, kafka_partition`, modelID, modelVersion, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading the windows of model %s version %s: %w", modelID, modelVersion, err)
	}
	defer rows.Close()
	var out []FeatureRow
	for rows.Next() {
		r := FeatureRow{ModelID: modelID, ModelVersion: modelVersion}
		if err := rows.Scan(&r.WindowStart, &r.WindowEnd, &r.KafkaPartition, &r.Feature, &r.Kind, &r.Count, &r.Missing,
			&r.Mean, &r.Variance, &r.Min, &r.Max, &r.BinEdges, &r.BinCounts, &r.Categories, &r.CategoryCounts,
			&r.OtherCount, &r.UnseenCount, &r.ReferenceID); err != nil {
			return nil, fmt.Errorf("reading the windows of model %s version %s: %w", modelID, modelVersion, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the windows of model %s version %s: %w", modelID, modelVersion, err)
	}
	return out, nil
}

// MaxWindowEnd returns the end of the newest stored window of a topic
// partition, or the zero time when none is stored. Every window ending
// earlier is closed: windows are stored in the order they close.
func (s *Store) MaxWindowEnd(ctx context.Context, topic string, partition int32) (time.Time, error) {
	rows, err := s.conn.Query(ctx, "SELECT toUInt32(max(window_end)), count() FROM inference_windows WHERE kafka_topic = ? AND kafka_partition = ?", topic, partition)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the newest stored window of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	var end uint32
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&end, &n); err != nil {
			return time.Time{}, fmt.Errorf("reading the newest stored window of %s/%d: %w", topic, partition, err)
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		return time.Time{}, err
	}
	return time.Unix(int64(end), 0).UTC(), nil
}
