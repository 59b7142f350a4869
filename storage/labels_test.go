package storage

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestComputePerformanceByHand joins a hand-made window of binary predictions with labels
// (revised, duplicated, late, missing, of another window and of another model) and checks every
// count against values worked out by hand.
func TestComputePerformanceByHand(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	w := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	other := w.Add(time.Minute)
	pred := func(id, class string, score float64, at time.Time) PredictionRow {
		return PredictionRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: at.Truncate(time.Minute), PredictionID: id, EventTime: at,
			PredictedClass: class, Score: score, HasScore: true, Threshold: 0.5, HasThreshold: true}
	}
	preds := []PredictionRow{
		pred("p1", "pos", 0.9, w), pred("p2", "pos", 0.6, w), pred("p3", "neg", 0.2, w), pred("p4", "neg", 0.4, w),
		pred("p5", "pos", 0.8, w), pred("p6", "neg", 0.1, w), pred("p7", "pos", 0.7, other),
		// A shadow version scoring the same prediction id keeps a row of its own.
		{ModelID: "fraud", ModelVersion: "v2", WindowStart: w, PredictionID: "p1", EventTime: w, PredictedClass: "neg", Score: 0.1, HasScore: true, Threshold: 0.5, HasThreshold: true},
		// Regression: a score and no class.
		{ModelID: "price", ModelVersion: "1", WindowStart: w, PredictionID: "r1", EventTime: w, Score: 10, HasScore: true},
		{ModelID: "price", ModelVersion: "1", WindowStart: w, PredictionID: "r2", EventTime: w, Score: 20, HasScore: true},
	}
	// Written twice, as a replay after a crash would.
	for range 2 {
		if err := s.WritePredictions(ctx, preds); err != nil {
			t.Fatal(err)
		}
	}
	label := func(model, id, class string, rev uint64, after time.Duration) LabelRow {
		return LabelRow{ModelID: model, PredictionID: id, Revision: rev, TruthClass: class, LabelTime: w.Add(after), LabelSource: "test"}
	}
	labels := []LabelRow{
		label("fraud", "p1", "pos", 0, time.Minute),
		label("fraud", "p2", "neg", 0, 2*time.Minute),
		label("fraud", "p3", "neg", 0, 3*time.Minute),
		label("fraud", "p4", "pos", 0, 30*time.Second),
		label("fraud", "p4", "neg", 1, 4*time.Minute), // the correction wins
		label("fraud", "p4", "neg", 1, 4*time.Minute), // and a replay of it collapses
		label("fraud", "p5", "pos", 0, 2*time.Hour),   // later than the allowed hour
		label("fraud", "p7", "neg", 0, time.Minute),   // another window
		label("other", "p6", "pos", 0, time.Minute),   // another model's prediction id
		{ModelID: "price", PredictionID: "r1", TruthValue: 12, HasValue: true, LabelTime: w.Add(time.Minute)},
		{ModelID: "price", PredictionID: "r2", TruthValue: 17, HasValue: true, LabelTime: w.Add(time.Minute)},
	}
	if err := s.WriteLabels(ctx, labels[:5]); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLabels(ctx, labels[5:]); err != nil {
		t.Fatal(err)
	}

	got, err := s.LabeledWindows(ctx, "fraud", []string{"p1", "p7", "p2", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool {
		if !got[i].WindowStart.Equal(got[j].WindowStart) {
			return got[i].WindowStart.Before(got[j].WindowStart)
		}
		return got[i].ModelVersion < got[j].ModelVersion
	})
	want := []LabeledWindow{{"fraud", "v1", w}, {"fraud", "v2", w}, {"fraud", "v1", other}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LabeledWindows = %v, want %v", got, want)
	}

	r, err := s.ComputePerformance(ctx, LabeledWindow{"fraud", "v1", w}, w.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// p1 right (y=1), p2 wrong above the threshold (y=0), p3 and p4 right below it (y=0).
	counts := [][2]uint64{
		{r.Predictions, 6}, {r.Labeled, 4}, {r.LateLabels, 1}, {r.Classified, 4}, {r.Correct, 3},
		{r.Scored, 4}, {r.Positives, 1}, {r.ConfusionOther, 0}, {r.Regressed, 0},
	}
	for i, c := range counts {
		if c[0] != c[1] {
			t.Errorf("count %d = %d, want %d (%+v)", i, c[0], c[1], r)
		}
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %.12g, want %.12g", name, got, want)
		}
	}
	near("brier_sum", r.BrierSum, 0.01+0.36+0.04+0.16)
	near("log_loss_sum", r.LogLossSum, -math.Log(0.9*0.4*0.8*0.6))
	// ClickHouse's quantileExact: the value at rank ⌊q·n⌋ of the sorted delays 60, 120, 180, 240.
	near("delay_p50", r.DelayP50, 180)
	near("delay_p90", r.DelayP90, 240)
	near("delay_p99", r.DelayP99, 240)
	if !reflect.DeepEqual(r.ConfusionTruth, []string{"neg", "neg", "pos"}) || !reflect.DeepEqual(r.ConfusionPredicted, []string{"neg", "pos", "pos"}) ||
		!reflect.DeepEqual(r.ConfusionCount, []uint64{2, 1, 1}) {
		t.Errorf("confusion = %v %v %v", r.ConfusionTruth, r.ConfusionPredicted, r.ConfusionCount)
	}
	wantPos, wantNeg := make([]uint64, ScoreBins), make([]uint64, ScoreBins)
	wantPos[90], wantNeg[60], wantNeg[20], wantNeg[40] = 1, 1, 1, 1
	if !reflect.DeepEqual(r.BinsPositive, wantPos) || !reflect.DeepEqual(r.BinsNegative, wantNeg) {
		t.Errorf("bins: positive %v negative %v", r.BinsPositive, r.BinsNegative)
	}
	near("bin 60 score sum", r.BinsScoreSum[60], 0.6)

	shadow, err := s.ComputePerformance(ctx, LabeledWindow{"fraud", "v2", w}, w.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if shadow.Predictions != 1 || shadow.Labeled != 1 || shadow.Correct != 0 {
		t.Errorf("the shadow version: %+v", shadow)
	}
	reg, err := s.ComputePerformance(ctx, LabeledWindow{"price", "1", w}, w.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Regressed != 2 || reg.Classified != 0 || reg.Labeled != 2 {
		t.Errorf("regression counts: %+v", reg)
	}
	near("abs_error_sum", reg.AbsErrorSum, 2+3)
	near("squared_error_sum", reg.SquaredErrSum, 4+9)

	// The newest computation of a window wins.
	old := r
	old.Version, old.Correct = r.Version-1, 0
	if err := s.WritePerformance(ctx, []PerformanceRow{r, old}); err != nil {
		t.Fatal(err)
	}
	back, err := s.PerformanceBetween(ctx, "fraud", "v1", w, w.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 {
		t.Fatalf("PerformanceBetween: %d rows, want 1", len(back))
	}
	b := back[0]
	b.ComputedAt = r.ComputedAt
	if !reflect.DeepEqual(b, r) {
		t.Errorf("read back\n%+v\nwant\n%+v", b, r)
	}
}

// TestCalibratedAccuracyByHand: two predictions scored 0.95 (positive at
// threshold 0.5) in a bin calibrated to 0.6, and one scored 0.15 in a bin
// without calibration (its score is taken: right with probability 0.85):
// accuracy (0.6 + 0.6 + 0.85)/3, variance (0.24 + 0.24 + 0.1275)/9.
func TestCalibratedAccuracyByHand(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	w := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var preds []PredictionRow
	for i, sc := range []float64{0.95, 0.95, 0.15} {
		preds = append(preds, PredictionRow{ModelID: "cal", ModelVersion: "1", WindowStart: w, PredictionID: fmt.Sprint("p", i), EventTime: w,
			PredictedClass: "x", Score: sc, HasScore: true, Threshold: 0.5, HasThreshold: true})
	}
	// Neither a prediction without a threshold nor one of another window counts.
	preds = append(preds, PredictionRow{ModelID: "cal", ModelVersion: "1", WindowStart: w, PredictionID: "p9", EventTime: w, Score: 0.5, HasScore: true},
		PredictionRow{ModelID: "cal", ModelVersion: "1", WindowStart: w.Add(time.Minute), PredictionID: "p8", EventTime: w, Score: 0.5, HasScore: true, HasThreshold: true})
	if err := s.WritePredictions(ctx, preds); err != nil {
		t.Fatal(err)
	}
	cal := make([]float64, ScoreBins)
	for i := range cal {
		cal[i] = -1
	}
	cal[95] = 0.6
	n, acc, v, err := s.CalibratedAccuracy(ctx, LabeledWindow{"cal", "1", w}, cal)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || math.Abs(acc-2.05/3) > 1e-12 || math.Abs(v-0.6075/9) > 1e-12 {
		t.Errorf("n %d accuracy %.12g variance %.12g, want 3, %.12g, %.12g", n, acc, v, 2.05/3, 0.6075/9)
	}
	if _, _, _, err := s.CalibratedAccuracy(ctx, LabeledWindow{"cal", "1", w}, cal[:10]); err == nil {
		t.Error("a calibration of 10 bins was accepted")
	}
}

// TestRecentErrors reads the error counts of the last windows, oldest first, newest computation each.
func TestRecentErrors(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	w := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range 4 {
		start := w.Add(time.Duration(i) * time.Minute)
		row := PerformanceRow{ModelID: "m", ModelVersion: "1", WindowStart: start, WindowEnd: start.Add(time.Minute), Classified: 10, Correct: uint64(9 - i), Version: 2}
		stale := row
		stale.Correct, stale.Version = 0, 1
		if err := s.WritePerformance(ctx, []PerformanceRow{row, stale}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RecentErrors(ctx, "m", "1", w.Add(2*time.Minute), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []WindowErrors{{w.Add(time.Minute), 2, 10}, {w.Add(2 * time.Minute), 3, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecentErrors = %v, want %v", got, want)
	}
}
