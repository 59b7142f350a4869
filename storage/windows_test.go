package storage

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func sampleBatch(topic string, partition int32, minute int, firstOffset, lastOffset int64, flushed time.Time) WindowBatch {
	start := t0.Add(time.Duration(minute) * time.Minute)
	end := start.Add(time.Minute)
	return WindowBatch{
		Windows: []WindowRow{{
			ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end,
			Events: uint64(lastOffset - firstOffset + 1), LateEvents: 2, RejectedEvents: 3,
			KafkaTopic: topic, KafkaPartition: partition, FirstOffset: firstOffset, LastOffset: lastOffset,
			ReferenceID: "ref-1", FlushedAt: flushed,
		}},
		Features: []FeatureRow{
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, KafkaPartition: partition,
				Feature: "amount", Kind: "numeric", Count: 100, Missing: 1, Mean: 12.5, Variance: 4.25,
				Min: -1.5, Max: 99.75, BinEdges: []float64{1, 2.5, 10}, BinCounts: []uint64{10, 20, 30, 40},
				ReferenceID: "ref-1", FlushedAt: flushed},
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, KafkaPartition: partition,
				Feature: "country", Kind: "categorical", Count: 100, Missing: 0,
				Categories: []string{"DE", "FR", "it's \"quoted\""}, CategoryCounts: []uint64{50, 30, 5},
				OtherCount: 10, UnseenCount: 5, ReferenceID: "ref-1", FlushedAt: flushed},
		},
		Scores: []ScoreRow{
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, KafkaPartition: partition,
				Feature: "amount", Kind: "numeric", Test: "psi", Statistic: 0.31, PValue: math.NaN(), Threshold: 0.25,
				Severity: "critical", Drifted: true, NReference: 1000, NCurrent: 100, ReferenceID: "ref-1", FlushedAt: flushed},
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, KafkaPartition: partition,
				Feature: "amount", Kind: "numeric", Test: "ks", Statistic: 0.05, PValue: 0.42, Threshold: 0.01,
				Severity: "ok", Drifted: false, NReference: 1000, NCurrent: 100, ReferenceID: "ref-1", FlushedAt: flushed},
		},
		Signals: []SignalRow{
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, Signal: "finish_reason", Subject: "content_filter",
				Statistic: 0.07, PValue: 1e-6, Effect: 0.06, Threshold: 0.05, Severity: "warning", N: 100, ReferenceID: "ref-1",
				Evidence: "7 of 100 GenAI calls (7.00%; reference 1.00%)", DecidedAt: flushed},
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, Signal: "error_rate", Subject: "*",
				Statistic: 0.12, PValue: 0.003, Effect: 0.08, Threshold: 0.05, Severity: "warning", N: 100,
				ReferenceID: "ref-1", Evidence: `12 of 100 failed ("timeout": 9)`, DecidedAt: flushed},
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end, Signal: "caller_volume", Subject: "svc'a\\b",
				Statistic: 3, PValue: math.NaN(), Effect: 1.5, Threshold: 2, Severity: "ok", N: 7, ReferenceID: "ref-1", DecidedAt: flushed},
		},
		Models: []ModelWindowRow{{
			ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end,
			Events: uint64(lastOffset - firstOffset + 1), LateEvents: 2, RejectedEvents: 3, Partitions: 1,
			ReferenceID: "ref-1", DecidedAt: flushed,
		}},
	}
}

func readWindows(t *testing.T, s *Store, where string) []WindowRow {
	t.Helper()
	rows, err := s.Query(testContext(t), `SELECT model_id, model_version, window_start, window_end, events, late_events,
		rejected_events, kafka_topic, kafka_partition, first_offset, last_offset, reference_id, flushed_at
		FROM inference_windows `+where+` ORDER BY window_start, kafka_topic, kafka_partition, flushed_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []WindowRow
	for rows.Next() {
		var r WindowRow
		if err := rows.Scan(&r.ModelID, &r.ModelVersion, &r.WindowStart, &r.WindowEnd, &r.Events, &r.LateEvents,
			&r.RejectedEvents, &r.KafkaTopic, &r.KafkaPartition, &r.FirstOffset, &r.LastOffset, &r.ReferenceID,
			&r.FlushedAt); err != nil {
			t.Fatal(err)
		}
		r.WindowStart, r.WindowEnd, r.FlushedAt = r.WindowStart.UTC(), r.WindowEnd.UTC(), r.FlushedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFeatures(t *testing.T, s *Store) []FeatureRow {
	t.Helper()
	rows, err := s.Query(testContext(t), `SELECT model_id, model_version, window_start, window_end, kafka_partition,
		feature, kind, count, missing, mean, variance, min, max, bin_edges, bin_counts, categories, category_counts,
		other_count, unseen_count, reference_id, flushed_at FROM feature_windows FINAL ORDER BY feature`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []FeatureRow
	for rows.Next() {
		var r FeatureRow
		if err := rows.Scan(&r.ModelID, &r.ModelVersion, &r.WindowStart, &r.WindowEnd, &r.KafkaPartition,
			&r.Feature, &r.Kind, &r.Count, &r.Missing, &r.Mean, &r.Variance, &r.Min, &r.Max, &r.BinEdges,
			&r.BinCounts, &r.Categories, &r.CategoryCounts, &r.OtherCount, &r.UnseenCount, &r.ReferenceID,
			&r.FlushedAt); err != nil {
			t.Fatal(err)
		}
		r.WindowStart, r.WindowEnd, r.FlushedAt = r.WindowStart.UTC(), r.WindowEnd.UTC(), r.FlushedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readScores(t *testing.T, s *Store) []ScoreRow {
	t.Helper()
	rows, err := s.Query(testContext(t), `SELECT model_id, model_version, window_start, window_end, kafka_partition,
		feature, kind, test, statistic, p_value, threshold, severity, drifted, n_reference, n_current,
		reference_id, flushed_at FROM drift_scores FINAL ORDER BY test DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ScoreRow
	for rows.Next() {
		var r ScoreRow
		var drifted uint8
		if err := rows.Scan(&r.ModelID, &r.ModelVersion, &r.WindowStart, &r.WindowEnd, &r.KafkaPartition,
			&r.Feature, &r.Kind, &r.Test, &r.Statistic, &r.PValue, &r.Threshold, &r.Severity, &drifted,
			&r.NReference, &r.NCurrent, &r.ReferenceID, &r.FlushedAt); err != nil {
			t.Fatal(err)
		}
		r.Drifted = drifted == 1
		r.WindowStart, r.WindowEnd, r.FlushedAt = r.WindowStart.UTC(), r.WindowEnd.UTC(), r.FlushedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutNaN replaces NaN p-values by -1 so that reflect.DeepEqual can compare rows; it fails the
// test if a NaN in want is not a NaN in got.
func withoutNaN(t *testing.T, got, want []ScoreRow) ([]ScoreRow, []ScoreRow) {
	t.Helper()
	g, w := append([]ScoreRow(nil), got...), append([]ScoreRow(nil), want...)
	for i := range w {
		if math.IsNaN(w[i].PValue) {
			if i >= len(g) || !math.IsNaN(g[i].PValue) {
				t.Fatalf("score %d: p_value NaN did not round-trip", i)
			}
			g[i].PValue, w[i].PValue = -1, -1
		}
	}
	return g, w
}

func TestWriteWindowsRoundTrip(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg)
	flushed := t0.Add(5 * time.Minute)
	b := sampleBatch("telemetry", 3, 0, 1000, 1099, flushed)
	if err := s.WriteWindows(testContext(t), b); err != nil {
		t.Fatalf("WriteWindows: %v", err)
	}
	if got := readWindows(t, s, ""); !reflect.DeepEqual(got, b.Windows) {
		t.Errorf("inference_windows:\n got %+v\nwant %+v", got, b.Windows)
	}
	// nil slices are written as empty arrays, which read back as empty slices.
	wantFeatures := append([]FeatureRow(nil), b.Features...)
	for i := range wantFeatures {
		r := &wantFeatures[i]
		r.BinEdges, r.BinCounts, r.Categories, r.CategoryCounts = nonNil(r.BinEdges), nonNil(r.BinCounts), nonNil(r.Categories), nonNil(r.CategoryCounts)
	}
	if got := readFeatures(t, s); !reflect.DeepEqual(got, wantFeatures) {
		t.Errorf("feature_windows:\n got %+v\nwant %+v", got, b.Features)
	}
	got, want := withoutNaN(t, readScores(t, s), b.Scores)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("drift_scores:\n got %+v\nwant %+v", got, want)
	}

	gotSignals, wantSignals := withoutNaNSignals(t, readSignals(t, s), b.Signals)
	if !reflect.DeepEqual(gotSignals, wantSignals) {
		t.Errorf("signals:\n got %+v\nwant %+v", gotSignals, wantSignals)
	}

	for table, n := range map[string]float64{"inference_windows": 1, "feature_windows": 2, "drift_scores": 2, "signals": 3, "model_windows": 1} {
		if got := metricValue(t, reg, "driftwatch_clickhouse_insert_rows_total", table); got != n {
			t.Errorf("driftwatch_clickhouse_insert_rows_total{table=%q} = %v, want %v", table, got, n)
		}
		if got := metricValue(t, reg, "driftwatch_clickhouse_insert_duration_seconds", table); got != 1 {
			t.Errorf("driftwatch_clickhouse_insert_duration_seconds_count{table=%q} = %v, want 1", table, got)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}

func TestWriteWindowsStampsFlushedAt(t *testing.T) {
	s := newTestStore(t, nil)
	b := sampleBatch("telemetry", 0, 0, 0, 9, time.Time{})
	before := time.Now().UTC().Truncate(time.Second)
	if err := s.WriteWindows(testContext(t), b); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	if !b.Windows[0].FlushedAt.IsZero() {
		t.Fatal("WriteWindows modified the caller's rows")
	}
	w := readWindows(t, s, "")
	if len(w) != 1 || w[0].FlushedAt.Before(before) || w[0].FlushedAt.After(after) {
		t.Fatalf("flushed_at = %v, want between %v and %v", w, before, after)
	}
	if n := queryInt(t, s, "SELECT count() FROM feature_windows WHERE flushed_at = ?", w[0].FlushedAt); n != 2 {
		t.Fatalf("%d feature rows share the window's flushed_at, want 2", n)
	}
}

func TestWriteWindowsEmpty(t *testing.T) {
	s := newTestStore(t, nil)
	if err := s.WriteWindows(testContext(t), WindowBatch{}); err != nil {
		t.Fatalf("WriteWindows(empty) = %v", err)
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != 0 {
		t.Fatalf("%d rows after an empty batch", n)
	}
}

func TestFlushedWindows(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	f1, f2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	for _, b := range []WindowBatch{
		sampleBatch("telemetry", 0, 0, 0, 99, f1),
		sampleBatch("telemetry", 0, 1, 100, 199, f1),
		sampleBatch("telemetry", 0, 2, 200, 299, f1),
		sampleBatch("telemetry", 0, 2, 200, 310, f2), // window 2 written again after a restart: newest wins
		sampleBatch("telemetry", 1, 1, 50, 500, f1),  // another partition
		sampleBatch("other", 0, 1, 100, 900, f1),     // another topic
	} {
		if err := s.WriteWindows(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A second model version in the same partition and window.
	v2 := sampleBatch("telemetry", 0, 1, 150, 250, f1)
	v2.Windows[0].ModelVersion = "v2"
	if err := s.WriteWindows(ctx, WindowBatch{Windows: v2.Windows}); err != nil {
		t.Fatal(err)
	}

	win := func(version string, minute int, last int64) FlushedWindow {
		return FlushedWindow{ModelID: "fraud", ModelVersion: version, WindowStart: t0.Add(time.Duration(minute) * time.Minute), LastOffset: last}
	}
	tests := []struct {
		name      string
		topic     string
		partition int32
		from      int64
		want      []FlushedWindow
	}{
		{"all of partition 0", "telemetry", 0, 0, []FlushedWindow{win("v1", 0, 99), win("v1", 1, 199), win("v2", 1, 250), win("v1", 2, 310)}},
		{"from inside window 1", "telemetry", 0, 150, []FlushedWindow{win("v1", 1, 199), win("v2", 1, 250), win("v1", 2, 310)}},
		{"exactly last offset", "telemetry", 0, 199, []FlushedWindow{win("v1", 1, 199), win("v2", 1, 250), win("v1", 2, 310)}},
		{"after window 1", "telemetry", 0, 200, []FlushedWindow{win("v2", 1, 250), win("v1", 2, 310)}},
		{"newest write decides", "telemetry", 0, 300, []FlushedWindow{win("v1", 2, 310)}},
		{"past everything", "telemetry", 0, 311, nil},
		{"other partition", "telemetry", 1, 0, []FlushedWindow{win("v1", 1, 500)}},
		{"other topic", "other", 0, 0, []FlushedWindow{win("v1", 1, 900)}},
		{"unknown partition", "telemetry", 7, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FlushedWindows(ctx, tt.topic, tt.partition, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].WindowStart = got[i].WindowStart.UTC()
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FlushedWindows(%s, %d, %d):\n got %+v\nwant %+v", tt.topic, tt.partition, tt.from, got, tt.want)
			}
		})
	}
}

// TestReplacingCollapse writes the same window twice (a crash between the inserts and the offset
// commit) and checks that FINAL and argMax read the newest write exactly once.
func TestReplacingCollapse(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	first := sampleBatch("telemetry", 0, 0, 0, 99, t0.Add(time.Hour))
	second := sampleBatch("telemetry", 0, 0, 0, 119, t0.Add(2*time.Hour))
	second.Features[0].Count = 120
	for _, b := range []WindowBatch{first, second} {
		if err := s.WriteWindows(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != 2 {
		t.Fatalf("raw inference_windows rows = %d, want 2 before any merge", n)
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows FINAL"); n != 1 {
		t.Fatalf("inference_windows FINAL rows = %d, want 1", n)
	}
	if got := readWindows(t, s, "FINAL"); len(got) != 1 || got[0].Events != 120 || got[0].LastOffset != 119 {
		t.Fatalf("inference_windows FINAL = %+v, want the second write (120 events, last offset 119)", got)
	}
	if n := queryInt(t, s, "SELECT sum(events) FROM inference_windows FINAL"); n != 120 {
		t.Fatalf("sum(events) FINAL = %d, want 120", n)
	}
	if n := queryInt(t, s, `SELECT sum(e) FROM (SELECT argMax(events, flushed_at) AS e FROM inference_windows
		GROUP BY model_id, model_version, window_start, kafka_topic, kafka_partition)`); n != 120 {
		t.Fatalf("sum of argMax(events) = %d, want 120", n)
	}
	if n := queryInt(t, s, "SELECT sum(count) FROM feature_windows FINAL WHERE feature = 'amount'"); n != 120 {
		t.Fatalf("feature_windows FINAL count = %d, want 120", n)
	}
	if n := queryInt(t, s, "SELECT count() FROM drift_scores FINAL"); n != 2 {
		t.Fatalf("drift_scores FINAL rows = %d, want 2 (psi and ks)", n)
	}
	// After a merge the duplicates are gone even without FINAL.
	for _, tb := range []string{"inference_windows", "feature_windows", "drift_scores"} {
		if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+tb+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != 1 {
		t.Fatalf("inference_windows rows after OPTIMIZE FINAL = %d, want 1", n)
	}
}

func readSignals(t *testing.T, s *Store) []SignalRow {
	t.Helper()
	rows, err := s.Query(testContext(t), `SELECT model_id, model_version, window_start, window_end, signal, subject, statistic,
		p_value, effect, threshold, severity, n, reference_id, evidence, decided_at FROM signals ORDER BY signal DESC, subject`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []SignalRow
	for rows.Next() {
		var r SignalRow
		if err := rows.Scan(&r.ModelID, &r.ModelVersion, &r.WindowStart, &r.WindowEnd, &r.Signal, &r.Subject, &r.Statistic,
			&r.PValue, &r.Effect, &r.Threshold, &r.Severity, &r.N, &r.ReferenceID, &r.Evidence, &r.DecidedAt); err != nil {
			t.Fatal(err)
		}
		r.WindowStart, r.WindowEnd, r.DecidedAt = r.WindowStart.UTC(), r.WindowEnd.UTC(), r.DecidedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutNaNSignals checks that NaN p-values read back as NaN and zeroes
// them in both, so that the rows compare with reflect.DeepEqual.
func withoutNaNSignals(t *testing.T, got, want []SignalRow) ([]SignalRow, []SignalRow) {
	t.Helper()
	got, want = append([]SignalRow(nil), got...), append([]SignalRow(nil), want...)
	for i := range want {
		if i < len(got) && math.IsNaN(want[i].PValue) {
			if !math.IsNaN(got[i].PValue) {
				t.Errorf("signals row %d: p_value %v, want NaN", i, got[i].PValue)
			}
			got[i].PValue, want[i].PValue = 0, 0
		}
	}
	return got, want
}
