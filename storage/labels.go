package storage

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Tables of delayed labels: the predictions that may receive a label, the labels, and the realized
// performance of each prediction window computed from their join.
var (
	predictionsTable = table{
		name: "predictions",
		columns: []column{
			dim("model_id"),
			dim("model_version"),
			packed("window_start", "DateTime", codecTime),
			col("prediction_id", "String"),
			packed("event_time", "DateTime", codecTime),
			col("predicted_class", "String"),
			packed("score", "Float64", codecFloat),
			col("has_score", "UInt8"),
			packed("threshold", "Float64", codecFloat),
			col("has_threshold", "UInt8"),
			packed("written_at", "DateTime", codecTime),
		},
		// A prediction written twice (a replay after a crash) has the same window, hence the same
		// partition: it collapses. Two versions (shadow, canary) or two windows that score the same
		// prediction id stay apart. Day partitions let a window's query read one day; the key's
		// prefix finds a batch of labels' predictions in each.
		engine:      "ReplacingMergeTree(written_at)",
		partitionBy: "toYYYYMMDD(window_start)",
		orderBy:     "model_id, prediction_id, model_version, window_start",
	}
	labelsTable = table{
		name: "labels",
		columns: []column{
			dim("model_id"),
			col("prediction_id", "String"),
			col("revision", "UInt64"),
			col("truth_class", "String"),
			packed("truth_value", "Float64", codecFloat),
			col("has_value", "UInt8"),
			dim("label_source"),
			packed("label_time", "DateTime", codecTime),
			dim("kafka_topic"),
			col("kafka_partition", "Int32"),
			col("kafka_offset", "Int64"),
			packed("written_at", "DateTime", codecTime),
		},
		// One partition: revisions of a label arriving months apart must collapse together.
		engine:  "ReplacingMergeTree(revision)",
		orderBy: "model_id, prediction_id",
	}
	performanceTable = table{
		name: "performance_windows",
		columns: concat(windowKey(), []column{
			col("predictions", "UInt64"),
			col("labeled", "UInt64"),
			col("late_labels", "UInt64"),
			col("classified", "UInt64"),
			col("correct", "UInt64"),
			packed("confusion_truth", "Array(String)", codecBlob),
			packed("confusion_predicted", "Array(String)", codecBlob),
			packed("confusion_count", "Array(UInt64)", codecBlob),
			col("confusion_other", "UInt64"),
			col("scored", "UInt64"),
			col("positives", "UInt64"),
			packed("brier_sum", "Float64", codecFloat),
			packed("log_loss_sum", "Float64", codecFloat),
			packed("score_bins_positive", "Array(UInt64)", codecBlob),
			packed("score_bins_negative", "Array(UInt64)", codecBlob),
			packed("score_bins_sum", "Array(Float64)", codecBlob),
			col("regressed", "UInt64"),
			packed("abs_error_sum", "Float64", codecFloat),
			packed("squared_error_sum", "Float64", codecFloat),
			packed("delay_p50", "Float64", codecFloat),
			packed("delay_p90", "Float64", codecFloat),
			packed("delay_p99", "Float64", codecFloat),
			packed("computed_at", "DateTime", codecTime),
			col("version", "UInt64"),
		}),
		engine:      "ReplacingMergeTree(version)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, window_start",
	}
)

// ScoreBins is the number of equal bins of [0, 1] the scores of labeled binary predictions are
// counted in (performance_windows.score_bins_*): ROC AUC and calibration come from them.
const ScoreBins = 100

// PredictionRow is one row of predictions: an inference that may later receive a label.
type PredictionRow struct {
	ModelID        string
	ModelVersion   string
	WindowStart    time.Time
	PredictionID   string
	EventTime      time.Time
	PredictedClass string
	Score          float64
	HasScore       bool
	Threshold      float64
	HasThreshold   bool
	WrittenAt      time.Time // zero means the time of the write
}

// LabelRow is one row of labels: the truth for one prediction, one revision of it.
type LabelRow struct {
	ModelID        string
	PredictionID   string
	Revision       uint64
	TruthClass     string
	TruthValue     float64
	HasValue       bool
	LabelSource    string
	LabelTime      time.Time
	KafkaTopic     string
	KafkaPartition int32
	KafkaOffset    int64
	WrittenAt      time.Time // zero means the time of the write
}

// PerformanceRow is one row of performance_windows: the counts realized performance is computed
// from, for the predictions of one model version's window and the labels joined to them so far.
// Every field but the delay quantiles adds up over windows.
type PerformanceRow struct {
	ModelID      string
	ModelVersion string
	WindowStart  time.Time
	WindowEnd    time.Time
	Predictions  uint64 // predictions of the window
	Labeled      uint64 // of them, labeled within the allowed delay
	LateLabels   uint64 // of them, labeled later than the allowed delay (not counted anywhere else)
	Classified   uint64 // labeled with a true class, predicting a class
	Correct      uint64 // of them, predicting the true class
	// The confusion matrix of the classified predictions: count[i] predictions of class
	// predicted[i] whose truth is truth[i]; at most MaxConfusionCells cells, the rest in
	// ConfusionOther.
	ConfusionTruth     []string
	ConfusionPredicted []string
	ConfusionCount     []uint64
	ConfusionOther     uint64
	// Binary classifiers (a score in [0, 1] and a threshold): the classified predictions with a
	// score, how many of them were truly positive, Σ (score − y)², Σ −ln P(truth), and per
	// score bin the positives, negatives and Σ score.
	Scored        uint64
	Positives     uint64
	BrierSum      float64
	LogLossSum    float64
	BinsPositive  []uint64
	BinsNegative  []uint64
	BinsScoreSum  []float64
	Regressed     uint64  // labeled with a value, predicting a score and no class
	AbsErrorSum   float64 // Σ |score − value|
	SquaredErrSum float64 // Σ (score − value)²
	DelayP50      float64 // label delay quantiles of the labeled predictions, seconds
	DelayP90      float64
	DelayP99      float64
	ComputedAt    time.Time // zero means the time of the write
	Version       uint64    // the computation's start, Unix milliseconds: the newest wins
}

// MaxConfusionCells bounds the confusion matrix stored per window (classes come from producers).
const MaxConfusionCells = 256

var predictionFields = []field[PredictionRow]{
	fieldOf("model_id", func(r *PredictionRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *PredictionRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *PredictionRow) time.Time { return r.WindowStart }),
	fieldOf("prediction_id", func(r *PredictionRow) string { return r.PredictionID }),
	fieldOf("event_time", func(r *PredictionRow) time.Time { return r.EventTime }),
	fieldOf("predicted_class", func(r *PredictionRow) string { return r.PredictedClass }),
	fieldOf("score", func(r *PredictionRow) float64 { return r.Score }),
	fieldOf("has_score", func(r *PredictionRow) uint8 { return boolToUInt8(r.HasScore) }),
	fieldOf("threshold", func(r *PredictionRow) float64 { return r.Threshold }),
	fieldOf("has_threshold", func(r *PredictionRow) uint8 { return boolToUInt8(r.HasThreshold) }),
	fieldOf("written_at", func(r *PredictionRow) time.Time { return r.WrittenAt }),
}

var labelFields = []field[LabelRow]{
	fieldOf("model_id", func(r *LabelRow) string { return r.ModelID }),
	fieldOf("prediction_id", func(r *LabelRow) string { return r.PredictionID }),
	fieldOf("revision", func(r *LabelRow) uint64 { return r.Revision }),
	fieldOf("truth_class", func(r *LabelRow) string { return r.TruthClass }),
	fieldOf("truth_value", func(r *LabelRow) float64 { return r.TruthValue }),
	fieldOf("has_value", func(r *LabelRow) uint8 { return boolToUInt8(r.HasValue) }),
	fieldOf("label_source", func(r *LabelRow) string { return r.LabelSource }),
	fieldOf("label_time", func(r *LabelRow) time.Time { return r.LabelTime }),
	fieldOf("kafka_topic", func(r *LabelRow) string { return r.KafkaTopic }),
	fieldOf("kafka_partition", func(r *LabelRow) int32 { return r.KafkaPartition }),
	fieldOf("kafka_offset", func(r *LabelRow) int64 { return r.KafkaOffset }),
	fieldOf("written_at", func(r *LabelRow) time.Time { return r.WrittenAt }),
}

var performanceFields = []field[PerformanceRow]{
	fieldOf("model_id", func(r *PerformanceRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *PerformanceRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *PerformanceRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *PerformanceRow) time.Time { return r.WindowEnd }),
	fieldOf("predictions", func(r *PerformanceRow) uint64 { return r.Predictions }),
	fieldOf("labeled", func(r *PerformanceRow) uint64 { return r.Labeled }),
	fieldOf("late_labels", func(r *PerformanceRow) uint64 { return r.LateLabels }),
	fieldOf("classified", func(r *PerformanceRow) uint64 { return r.Classified }),
	fieldOf("correct", func(r *PerformanceRow) uint64 { return r.Correct }),
	fieldOf("confusion_truth", func(r *PerformanceRow) []string { return nonNil(r.ConfusionTruth) }),
	fieldOf("confusion_predicted", func(r *PerformanceRow) []string { return nonNil(r.ConfusionPredicted) }),
	fieldOf("confusion_count", func(r *PerformanceRow) []uint64 { return nonNil(r.ConfusionCount) }),
	fieldOf("confusion_other", func(r *PerformanceRow) uint64 { return r.ConfusionOther }),
	fieldOf("scored", func(r *PerformanceRow) uint64 { return r.Scored }),
	fieldOf("positives", func(r *PerformanceRow) uint64 { return r.Positives }),
	fieldOf("brier_sum", func(r *PerformanceRow) float64 { return r.BrierSum }),
	fieldOf("log_loss_sum", func(r *PerformanceRow) float64 { return r.LogLossSum }),
	fieldOf("score_bins_positive", func(r *PerformanceRow) []uint64 { return nonNil(r.BinsPositive) }),
	fieldOf("score_bins_negative", func(r *PerformanceRow) []uint64 { return nonNil(r.BinsNegative) }),
	fieldOf("score_bins_sum", func(r *PerformanceRow) []float64 { return nonNil(r.BinsScoreSum) }),
	fieldOf("regressed", func(r *PerformanceRow) uint64 { return r.Regressed }),
	fieldOf("abs_error_sum", func(r *PerformanceRow) float64 { return r.AbsErrorSum }),
	fieldOf("squared_error_sum", func(r *PerformanceRow) float64 { return r.SquaredErrSum }),
	fieldOf("delay_p50", func(r *PerformanceRow) float64 { return r.DelayP50 }),
	fieldOf("delay_p90", func(r *PerformanceRow) float64 { return r.DelayP90 }),
	fieldOf("delay_p99", func(r *PerformanceRow) float64 { return r.DelayP99 }),
	fieldOf("computed_at", func(r *PerformanceRow) time.Time { return r.ComputedAt }),
	fieldOf("version", func(r *PerformanceRow) uint64 { return r.Version }),
}

// WritePredictions stores predictions that may receive labels. Written twice, a prediction
// collapses to one row (ReplacingMergeTree on model and prediction id, per day of its window).
func (s *Store) WritePredictions(ctx context.Context, rows []PredictionRow) error {
	return insert(ctx, s, predictionsTable.name, predictionFields,
		stamp(rows, now(), func(r *PredictionRow) *time.Time { return &r.WrittenAt }))
}

// WriteLabels stores labels. A label written twice, or revised, collapses to its highest
// revision (equal revisions: the last written).
func (s *Store) WriteLabels(ctx context.Context, rows []LabelRow) error {
	return insert(ctx, s, labelsTable.name, labelFields,
		stamp(rows, now(), func(r *LabelRow) *time.Time { return &r.WrittenAt }))
}

// WritePerformance stores realized performance rows; the row with the highest Version of a window
// wins.
func (s *Store) WritePerformance(ctx context.Context, rows []PerformanceRow) error {
	return insert(ctx, s, performanceTable.name, performanceFields,
		stamp(rows, now(), func(r *PerformanceRow) *time.Time { return &r.ComputedAt }))
}

// LabeledWindow names the window of a prediction that received a label.
type LabeledWindow struct {
	ModelID      string
	ModelVersion string
	WindowStart  time.Time
}

// LabeledWindows returns the windows of the stored predictions of modelID with one of ids.
func (s *Store) LabeledWindows(ctx context.Context, modelID string, ids []string) ([]LabeledWindow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	set := clickhouse.GroupSet{Value: make([]any, len(ids))}
	for i, id := range ids {
		set.Value[i] = id
	}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT model_version, toUInt32(window_start) FROM predictions WHERE model_id = ? AND prediction_id IN ?", modelID, set)
	if err != nil {
		return nil, fmt.Errorf("finding the windows of %d labeled predictions of model %s: %w", len(ids), modelID, err)
	}
	defer rows.Close()
	var out []LabeledWindow
	for rows.Next() {
		var version string
		var start uint32
		if err := rows.Scan(&version, &start); err != nil {
			return nil, fmt.Errorf("finding the windows of labeled predictions of model %s: %w", modelID, err)
		}
		out = append(out, LabeledWindow{ModelID: modelID, ModelVersion: version, WindowStart: time.Unix(int64(start), 0).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding the windows of labeled predictions of model %s: %w", modelID, err)
	}
	return out, nil
}

// joinedSQL is the predictions of one window (model_id, model_version, window_start) with their
// labels (highest revision), and the flags the aggregates need: ok (labeled within the allowed
// delay, the last parameter, seconds), binary (a classified prediction with a score in [0, 1] and
// a threshold) with y (the truth is the class predicted at or above the threshold: a correct
// prediction above it, or a wrong one below), and regression (a value labeled, a score and no
// class predicted). ClickHouse 18.16 has no NULLs from an ANY LEFT JOIN: unmatched rows read
// labeled = 0.
const joinedSQL = `SELECT *,
    labeled = 1 AND label_time <= event_time + ? AS ok,
    ok AND predicted_class != '' AND truth_class != '' AS classified,
    classified AND has_score = 1 AND has_threshold = 1 AND score >= 0 AND score <= 1 AS binary,
    (score >= threshold) = (truth_class = predicted_class) AS y,
    ok AND predicted_class = '' AND has_score = 1 AND has_value = 1 AS regression
FROM (
    SELECT prediction_id, predicted_class, score, has_score, threshold, has_threshold, event_time
    FROM predictions FINAL WHERE model_id = ? AND model_version = ? AND window_start = ?
) AS p ANY LEFT JOIN (
    SELECT prediction_id, toUInt8(1) AS labeled, truth_class, truth_value, has_value, label_time
    FROM labels FINAL
    WHERE model_id = ? AND prediction_id IN (
        SELECT prediction_id FROM predictions WHERE model_id = ? AND model_version = ? AND window_start = ?)
) AS l USING prediction_id`

// performanceSQL is the scalar counts of a window's realized performance (docs/clickhouse.md shows it).
const performanceSQL = `SELECT count(), countIf(ok), countIf(labeled = 1 AND NOT ok),
    countIf(classified), countIf(classified AND truth_class = predicted_class),
    countIf(binary), countIf(binary AND y = 1),
    sumIf((score - y) * (score - y), binary),
    sumIf(-log(greatest(if(y = 1, score, 1 - score), 1e-15)), binary),
    countIf(regression), sumIf(abs(score - truth_value), regression), sumIf((score - truth_value) * (score - truth_value), regression),
    quantilesExactIf(0.5, 0.9, 0.99)(toFloat64(label_time) - toFloat64(event_time), ok)
FROM (` + joinedSQL + `)`

// ComputePerformance computes the realized performance of one window of a model version from the
// stored predictions and labels: labels later than maxDelay after their prediction count only in
// LateLabels. The row's Version is the time the computation started.
func (s *Store) ComputePerformance(ctx context.Context, w LabeledWindow, end time.Time, maxDelay time.Duration) (PerformanceRow, error) {
	r := PerformanceRow{ModelID: w.ModelID, ModelVersion: w.ModelVersion, WindowStart: w.WindowStart, WindowEnd: end,
		Version: uint64(time.Now().UnixMilli())}
	args := []any{int64(maxDelay / time.Second), w.ModelID, w.ModelVersion, w.WindowStart, w.ModelID, w.ModelID, w.ModelVersion, w.WindowStart}
	fail := func(err error) (PerformanceRow, error) {
		return PerformanceRow{}, fmt.Errorf("computing the performance of model %s version %s window %s: %w",
			w.ModelID, w.ModelVersion, w.WindowStart.Format(time.RFC3339), err)
	}
	var delays []float64
	err := s.queryRows(ctx, performanceSQL, args, func(scan func(...any) error) error {
		return scan(&r.Predictions, &r.Labeled, &r.LateLabels, &r.Classified, &r.Correct, &r.Scored, &r.Positives,
			&r.BrierSum, &r.LogLossSum, &r.Regressed, &r.AbsErrorSum, &r.SquaredErrSum, &delays)
	})
	if err != nil {
		return fail(err)
	}
	if len(delays) == 3 && r.Labeled > 0 {
		r.DelayP50, r.DelayP90, r.DelayP99 = delays[0], delays[1], delays[2]
	}
	var cells uint64
	err = s.queryRows(ctx, `SELECT truth_class, predicted_class, count() AS n FROM (`+joinedSQL+`)
WHERE classified GROUP BY truth_class, predicted_class ORDER BY n DESC, truth_class, predicted_class LIMIT `+fmt.Sprint(MaxConfusionCells),
		args, func(scan func(...any) error) error {
			var truth, pred string
			var n uint64
			if err := scan(&truth, &pred, &n); err != nil {
				return err
			}
			r.ConfusionTruth, r.ConfusionPredicted, r.ConfusionCount = append(r.ConfusionTruth, truth), append(r.ConfusionPredicted, pred), append(r.ConfusionCount, n)
			cells += n
			return nil
		})
	if err != nil {
		return fail(err)
	}
	r.ConfusionOther = r.Classified - min(cells, r.Classified)
	r.BinsPositive, r.BinsNegative, r.BinsScoreSum = make([]uint64, ScoreBins), make([]uint64, ScoreBins), make([]float64, ScoreBins)
	err = s.queryRows(ctx, `SELECT toUInt32(least(floor(score * `+fmt.Sprint(ScoreBins)+`), `+fmt.Sprint(ScoreBins-1)+`)) AS bin, y, count(), sum(score)
FROM (`+joinedSQL+`) WHERE binary GROUP BY bin, y`, args, func(scan func(...any) error) error {
		var bin uint32
		var y uint8
		var n uint64
		var sum float64
		if err := scan(&bin, &y, &n, &sum); err != nil {
			return err
		}
		if bin >= ScoreBins {
			return fmt.Errorf("score bin %d out of range", bin)
		}
		if y == 1 {
			r.BinsPositive[bin] += n
		} else {
			r.BinsNegative[bin] += n
		}
		r.BinsScoreSum[bin] += sum
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return r, nil
}

// calibratedSQL is the accuracy of a window's binary predictions expected from their scores mapped
// through a calibration (an array of ScoreBins probabilities that the truth is the class predicted at
// or above the threshold, −1 where the score itself is used): each prediction is right with
// probability q = c when it predicts that class, 1 − c otherwise.
var calibratedSQL = `SELECT count(), sum(q), sum(q * (1 - q)) FROM (
    SELECT if(score >= threshold, c, 1 - c) AS q FROM (
        SELECT score, threshold, if(cal < 0, score, cal) AS c FROM (
            SELECT score, threshold, arrayElement(?, toUInt32(least(floor(score * ` + fmt.Sprint(ScoreBins) + `), ` + fmt.Sprint(ScoreBins-1) + `)) + 1) AS cal
            FROM predictions FINAL
            WHERE model_id = ? AND model_version = ? AND window_start = ?
              AND has_score = 1 AND has_threshold = 1 AND score >= 0 AND score <= 1)))`

// CalibratedAccuracy returns the number of a window's binary predictions (a score in [0, 1] and a
// threshold), their expected accuracy through calibration (ScoreBins values, see calibratedSQL)
// and its variance Σ q(1 − q)/n²; the accuracy is NaN without predictions.
func (s *Store) CalibratedAccuracy(ctx context.Context, w LabeledWindow, calibration []float64) (n uint64, acc, variance float64, err error) {
	if len(calibration) != ScoreBins {
		return 0, math.NaN(), math.NaN(), fmt.Errorf("calibration of %d bins, want %d", len(calibration), ScoreBins)
	}
	var sum, v float64
	err = s.queryRows(ctx, calibratedSQL, []any{calibration, w.ModelID, w.ModelVersion, w.WindowStart}, func(scan func(...any) error) error {
		return scan(&n, &sum, &v)
	})
	if err != nil {
		return 0, math.NaN(), math.NaN(), fmt.Errorf("estimating the calibrated accuracy of model %s version %s window %s: %w",
			w.ModelID, w.ModelVersion, w.WindowStart.Format(time.RFC3339), err)
	}
	if n == 0 {
		return 0, math.NaN(), math.NaN(), nil
	}
	return n, sum / float64(n), v / (float64(n) * float64(n)), nil
}

// PerformanceBetween returns the newest performance row of every window of a model version that
// starts in [from, to).
func (s *Store) PerformanceBetween(ctx context.Context, modelID, modelVersion string, from, to time.Time) ([]PerformanceRow, error) {
	return s.performance(ctx, modelID, modelVersion, "window_start >= ? AND window_start < ? ORDER BY window_start", from, to)
}

// FirstPerformance returns the newest performance rows of the first n windows of a model version
// that start before before: the reference period of realized performance, with the labels landed
// so far.
func (s *Store) FirstPerformance(ctx context.Context, modelID, modelVersion string, before time.Time, n int) ([]PerformanceRow, error) {
	return s.performance(ctx, modelID, modelVersion, "window_start < ? ORDER BY window_start LIMIT "+fmt.Sprint(n), before)
}

func (s *Store) performance(ctx context.Context, modelID, modelVersion, where string, args ...any) ([]PerformanceRow, error) {
	var out []PerformanceRow
	err := s.queryRows(ctx, `SELECT toUInt32(window_start), toUInt32(window_end), predictions, labeled, late_labels, classified, correct,
    confusion_truth, confusion_predicted, confusion_count, confusion_other, scored, positives, brier_sum, log_loss_sum,
    score_bins_positive, score_bins_negative, score_bins_sum, regressed, abs_error_sum, squared_error_sum,
    delay_p50, delay_p90, delay_p99, version
FROM performance_windows FINAL
WHERE model_id = ? AND model_version = ? AND `+where, append([]any{modelID, modelVersion}, args...), func(scan func(...any) error) error {
		r := PerformanceRow{ModelID: modelID, ModelVersion: modelVersion}
		var start, end uint32
		if err := scan(&start, &end, &r.Predictions, &r.Labeled, &r.LateLabels, &r.Classified, &r.Correct,
			&r.ConfusionTruth, &r.ConfusionPredicted, &r.ConfusionCount, &r.ConfusionOther, &r.Scored, &r.Positives,
			&r.BrierSum, &r.LogLossSum, &r.BinsPositive, &r.BinsNegative, &r.BinsScoreSum, &r.Regressed, &r.AbsErrorSum,
			&r.SquaredErrSum, &r.DelayP50, &r.DelayP90, &r.DelayP99, &r.Version); err != nil {
			return err
		}
		r.WindowStart, r.WindowEnd = time.Unix(int64(start), 0).UTC(), time.Unix(int64(end), 0).UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the performance of model %s version %s: %w", modelID, modelVersion, err)
	}
	return out, nil
}

// WindowErrors is the count of classified labeled predictions of one window and how many of them
// were wrong.
type WindowErrors struct {
	WindowStart       time.Time
	Wrong, Classified uint64
}

// RecentErrors returns, oldest first, the error counts of the last n windows of a model version that
// start at or before upTo.
func (s *Store) RecentErrors(ctx context.Context, modelID, modelVersion string, upTo time.Time, n int) ([]WindowErrors, error) {
	var out []WindowErrors
	err := s.queryRows(ctx, `SELECT toUInt32(window_start), toUInt64(classified - correct), classified FROM performance_windows FINAL
WHERE model_id = ? AND model_version = ? AND window_start <= ?
ORDER BY window_start DESC LIMIT `+fmt.Sprint(n), []any{modelID, modelVersion, upTo}, func(scan func(...any) error) error {
		var start uint32
		var e WindowErrors
		if err := scan(&start, &e.Wrong, &e.Classified); err != nil {
			return err
		}
		e.WindowStart = time.Unix(int64(start), 0).UTC()
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the recent errors of model %s version %s: %w", modelID, modelVersion, err)
	}
	slices.Reverse(out)
	return out, nil
}

// SignalStatistic returns the newest statistic of one signal verdict of a window (NaN when none
// is stored).
func (s *Store) SignalStatistic(ctx context.Context, modelID, modelVersion string, windowStart time.Time, signal, subject string) (float64, error) {
	v, n := math.NaN(), uint64(0)
	err := s.queryRows(ctx, `SELECT argMax(statistic, decided_at), count() FROM signals
WHERE model_id = ? AND model_version = ? AND window_start = ? AND signal = ? AND subject = ?`,
		[]any{modelID, modelVersion, windowStart, signal, subject}, func(scan func(...any) error) error {
			var x float64
			if err := scan(&x, &n); err != nil {
				return err
			}
			if n > 0 {
				v = x
			}
			return nil
		})
	if err != nil {
		return math.NaN(), fmt.Errorf("reading signal %s/%s of model %s version %s: %w", signal, subject, modelID, modelVersion, err)
	}
	return v, nil
}

// queryRows runs sql and calls each for every row with the row's Scan.
func (s *Store) queryRows(ctx context.Context, sql string, args []any, each func(scan func(...any) error) error) error {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
