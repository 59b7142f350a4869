package monitor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
)

// TestRollingReferenceModes runs two models over two days of event time:
// one scored against its previous window, one against the same window a day
// earlier. Their scores must name those references, not the pinned one.
func TestRollingReferenceModes(t *testing.T) {
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sc := generator.DefaultScenario(2, 8)
	daily, rolling := sc.Models[0].ID, sc.Models[1].ID
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = e.Brokers(), "telemetry", "rolling"
	kc.HeartbeatInterval, kc.JoinGroupBackoff, kc.MaxWait = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = 2 * time.Second
	cfg.Analysis.AllowedLateness = 500 * time.Millisecond
	cfg.Analysis.IdleFlush = time.Second
	cfg.Analysis.WarmupWindows = 2
	cfg.Analysis.ReferenceModes = map[string]string{daily: analysis.ModePreviousDay, rolling: analysis.ModePreviousWindow}
	m, err := New(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()

	day1 := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Minute)
	produced := 0
	for _, start := range []time.Time{day1, day1.Add(24 * time.Hour)} {
		sc.Start, sc.EventStep = start, 500*time.Microsecond // 12 s of event time: 6 windows
		g, err := generator.New(sc, start.Unix())
		if err != nil {
			t.Fatal(err)
		}
		n, err := generator.Produce(ctx, e.Brokers(), "telemetry", g, 24000, nil)
		if err != nil {
			t.Fatal(err)
		}
		produced += n
	}
	s := m.Store()
	deadline := time.Now().Add(60 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL") != uint64(produced) {
		if time.Now().After(deadline) {
			t.Fatal("not every event was stored in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitDecided(t, s, deadline)
	stop()
	<-done

	pinned := map[string]string{}
	rows, err := s.Query(ctx, "SELECT model_id, reference_id FROM `references` WHERE source = 'warmup'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var model, id string
		if err := rows.Scan(&model, &id); err != nil {
			t.Fatal(err)
		}
		pinned[model] = id
	}
	rows.Close()
	if len(pinned) != 2 {
		t.Fatalf("pinned references %v", pinned)
	}
	// previous_window: after the first scored window, every score names a rolling reference.
	rollingScored := queryUint(t, s, "SELECT count() FROM drift_scores FINAL WHERE model_id = ? AND test = 'psi' AND reference_id != ?", rolling, pinned[rolling])
	if rollingScored < 4 {
		t.Errorf("%d PSI scores of %s against a previous-window reference, want at least 4", rollingScored, rolling)
	}
	// previous_day: day 2's windows whose day-1 twin was scored (after the warm-up) use it.
	dailyScored := queryUint(t, s, "SELECT count() FROM drift_scores FINAL WHERE model_id = ? AND test = 'psi' AND reference_id != ? AND window_start >= ?",
		daily, pinned[daily], day1.Add(24*time.Hour))
	if dailyScored < 3 {
		t.Errorf("%d PSI scores of %s on day 2 against the day-1 window, want at least 3", dailyScored, daily)
	}
	// Day 1 of the daily model has no earlier day: scored against the pinned reference.
	if n := queryUint(t, s, "SELECT count() FROM drift_scores FINAL WHERE model_id = ? AND window_start < ? AND reference_id != ?", daily, day1.Add(time.Hour), pinned[daily]); n != 0 {
		t.Errorf("%d day-1 scores of %s not against the pinned reference", n, daily)
	}
	// The seasonal reference's size is a day-1 window's event count, not the pinned sample's.
	seasonal := queryUint(t, s, "SELECT max(n_reference) FROM drift_scores FINAL WHERE model_id = ? AND test = 'psi' AND reference_id != ? AND window_start >= ?",
		daily, pinned[daily], day1.Add(24*time.Hour))
	day1Max := queryUint(t, s, "SELECT max(events) FROM inference_windows FINAL WHERE model_id = ? AND window_start < ?", daily, day1.Add(time.Hour))
	pinnedN := queryUint(t, s, "SELECT max(n_reference) FROM drift_scores FINAL WHERE model_id = ? AND test = 'psi' AND reference_id = ?", daily, pinned[daily])
	if seasonal == 0 || seasonal > day1Max || seasonal == pinnedN {
		t.Errorf("seasonal n_reference %d, want at most a day-1 window's %d events (pinned: %d)", seasonal, day1Max, pinnedN)
	}
}
