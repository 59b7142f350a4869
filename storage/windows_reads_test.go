package storage

import (
	"context"
	"testing"
	"time"
)

func TestFeatureWindowsAndMaxWindowEnd(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	if end, err := s.MaxWindowEnd(ctx, "telemetry", 0); err != nil || !end.IsZero() {
		t.Fatalf("MaxWindowEnd on an empty table = %v, %v; want zero", end, err)
	}
	var b WindowBatch
	for i, start := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)} {
		end := start.Add(time.Minute)
		b.Windows = append(b.Windows, WindowRow{ModelID: "m", ModelVersion: "1", WindowStart: start, WindowEnd: end,
			Events: 10, KafkaTopic: "telemetry", KafkaPartition: int32(i % 2), FirstOffset: int64(i * 10), LastOffset: int64(i*10 + 9)})
		b.Features = append(b.Features, FeatureRow{ModelID: "m", ModelVersion: "1", WindowStart: start, WindowEnd: end,
			KafkaPartition: int32(i % 2), Feature: "x", Kind: "numeric", Count: uint64(10 + i), Mean: float64(i),
			BinEdges: []float64{0, 1}, BinCounts: []uint64{3, 3, uint64(4 + i)}})
	}
	if err := s.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}
	rows, err := s.FeatureWindows(ctx, "m", "1", t0.Add(time.Minute), t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !rows[0].WindowStart.Equal(t0.Add(time.Minute)) || rows[1].Count != 12 || rows[1].BinCounts[2] != 6 || rows[0].KafkaPartition != 1 {
		t.Fatalf("FeatureWindows = %+v", rows)
	}
	if rows, err := s.FeatureWindows(ctx, "m", "2", t0, t0.Add(time.Hour)); err != nil || len(rows) != 0 {
		t.Fatalf("other version: %d rows, %v", len(rows), err)
	}
	if end, err := s.MaxWindowEnd(ctx, "telemetry", 0); err != nil || !end.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("MaxWindowEnd partition 0 = %v, %v; want %v", end, err, t0.Add(3*time.Minute))
	}
	if end, err := s.MaxWindowEnd(ctx, "telemetry", 1); err != nil || !end.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("MaxWindowEnd partition 1 = %v, %v", end, err)
	}
}
