package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInsertStatement(t *testing.T) {
	got := insertStatement("inference_windows", windowFields)
	want := "INSERT INTO inference_windows (model_id, model_version, window_start, window_end, events, late_events, " +
		"rejected_events, kafka_topic, kafka_partition, first_offset, last_offset, reference_id, flushed_at)"
	if got != want {
		t.Fatalf("insertStatement = %q, want %q", got, want)
	}
	// Every table's field list names exactly its columns, in order.
	for _, tt := range []struct {
		table  table
		fields []string
	}{
		{inferenceWindowsTable, columnsOf(windowFields)},
		{featureWindowsTable, columnsOf(featureFields)},
		{driftScoresTable, columnsOf(scoreFields)},
		{alertsTable, columnsOf(alertFields)},
		{referencesTable, columnsOf(referenceFields)},
		{modelWindowsTable, columnsOf(modelWindowFields)},
		{signalsTable, columnsOf(signalFields)},
	} {
		var cols []string
		for _, c := range tt.table.columns {
			cols = append(cols, c.name)
		}
		if strings.Join(cols, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: table columns %v, written fields %v", tt.table.name, cols, tt.fields)
		}
	}
}

func columnsOf[R any](fields []field[R]) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.column()
	}
	return out
}

// featureRows returns n feature rows shaped like a numeric feature with 10 bins.
func featureRows(n int) []FeatureRow {
	rows := make([]FeatureRow, n)
	for i := range rows {
		rows[i] = FeatureRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, WindowEnd: t0.Add(time.Minute),
			Feature: fmt.Sprintf("f%03d", i%50), Kind: "numeric", Count: 1000, Mean: float64(i), Variance: 1,
			Min: 0, Max: 10, BinEdges: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9},
			BinCounts: []uint64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, ReferenceID: "ref", FlushedAt: t0}
	}
	return rows
}

// BenchmarkInsertFeatures compares columnar and row-wise appends of one flush of 1000 feature rows
// into a Null-engine copy of feature_windows (so that the server stores nothing).
func BenchmarkInsertFeatures(b *testing.B) {
	s := newTestStore(b, nil)
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "CREATE TABLE feature_windows_null AS feature_windows ENGINE = Null"); err != nil {
		b.Fatal(err)
	}
	rows := featureRows(1000)
	for _, bm := range []struct {
		name string
		fn   func(context.Context, *Store, string, []field[FeatureRow], []FeatureRow) error
	}{
		{"columnar", insertColumns[FeatureRow]},
		{"rowwise", insertRowwise[FeatureRow]},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bm.fn(ctx, s, "feature_windows_null", featureFields, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		})
	}
}

// TestInsertRowwise keeps the benchmark's row-wise path honest: it writes the same rows as the
// columnar path.
func TestInsertRowwise(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	rows := featureRows(10)
	if err := insertRowwise(ctx, s, "feature_windows", featureFields, rows); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, "SELECT sum(arraySum(bin_counts)) FROM feature_windows"); n != 10*1000 {
		t.Fatalf("sum of bin counts = %d, want %d", n, 10*1000)
	}
}
