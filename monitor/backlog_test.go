package monitor

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// metricByLabel sums the samples of metric name in reg by the value of
// their label: a counter's value, a histogram's count of observations.
func metricByLabel(tb testing.TB, reg prometheus.Gatherer, name, label string) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return out
}

// insertCounts returns the ClickHouse inserts made per table.
func insertCounts(tb testing.TB, reg prometheus.Gatherer) map[string]float64 {
	return metricByLabel(tb, reg, "driftwatch_clickhouse_insert_duration_seconds", "table")
}

// TestBacklogIsStoredInFewInserts: a monitor that starts behind a backlog
// of many short windows decides them all, each once, in far fewer
// ClickHouse inserts than windows (decideEvery, and the partition writer
// storing its rows storeEvery apart): on ClickHouse 18.16 an insert costs
// the server 7–36 ms of CPU whatever its rows.
func TestBacklogIsStoredInFewInserts(t *testing.T) {
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 2 models × 40 windows of a second, about 500 events each, produced
	// before the monitor starts.
	const n = 40_000
	sc := generator.DefaultScenario(2, 5)
	sc.Start = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	sc.EventStep = time.Millisecond
	g, err := generator.New(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	if sent, err := generator.Produce(ctx, e.Brokers(), "telemetry", g, n, nil); err != nil || sent != n {
		t.Fatalf("produced %d of %d: %v", sent, n, err)
	}

	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = e.Brokers(), "telemetry", "backlog"
	kc.HeartbeatInterval, kc.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
	kc.MaxWait, kc.CommitInterval = 100*time.Millisecond, 200*time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = time.Second
	cfg.Analysis.AllowedLateness = 0
	cfg.Analysis.IdleFlush = time.Second
	reg := prometheus.NewRegistry()
	m, err := New(ctx, cfg, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	store := m.Store()
	deadline := time.Now().Add(time.Minute)
	for queryUint(t, store, "SELECT sum(events) FROM inference_windows FINAL") != n {
		if time.Now().After(deadline) {
			t.Fatal("not every event was stored in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitDecided(t, store, deadline)
	took := time.Since(start)
	windows := queryUint(t, store, "SELECT count() FROM model_windows FINAL")
	if windows < 70 {
		t.Fatalf("%d windows decided, want about 80", windows)
	}
	if dup := queryUint(t, store, "SELECT toUInt64(count() - uniqExact(model_id, model_version, window_start)) FROM model_windows"); dup != 0 {
		t.Fatalf("%d windows decided twice", dup)
	}
	ins := insertCounts(t, reg)
	t.Logf("%d windows decided in %s; inserts %v", windows, took, ins)
	// The decider's decisions are decideEvery apart, each one insert per
	// table: deciding on every batch of partials took 8 inserts per table
	// here, in 1–2 s.
	most := float64(took/decideEvery) + 1
	for _, table := range []string{"model_windows", "drift_scores", "feature_windows"} {
		if ins[table] == 0 || ins[table] > most {
			t.Errorf("%v inserts into %s for %d windows in %s, want at most %v", ins[table], table, windows, took, most)
		}
	}
	// The partition stores its rows storeEvery apart, or every storeHeld
	// flushes (a write per window flush, three at most joined, took 12–15
	// inserts here).
	if most := float64(took/storeEvery) + 1 + float64(windows/storeHeld); ins["inference_windows"] == 0 || ins["inference_windows"] > most {
		t.Errorf("%v inserts into inference_windows for %d windows in %s, want at most %v", ins["inference_windows"], windows, took, most)
	}
}

// writerTestMonitor returns a monitor of one partition over a migrated
// test database, for the tests of a partition's writer.
func writerTestMonitor(t *testing.T, ctx context.Context) *Monitor {
	t.Helper()
	addr, db := testClickHouse(t)
	m := partitionTestMonitor(t, ctx, addr, db, DefaultConfig(), 1)
	if err := m.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// windowFlush returns the flush of a one-minute window of model m starting
// at start with events events: its progress as its partial, its
// inference_windows row.
func windowFlush(start time.Time, events uint64) *pendingWrite {
	pw := &pendingWrite{progress: start.Add(time.Minute).UnixMilli(), windows: 1,
		partials: []ingest.Record{{Key: []byte("m"), Value: partial.EncodeProgress(partial.Source{Topic: "telemetry"}, start.UnixMilli(), false), Partition: 0}}}
	pw.batch.Windows = []storage.WindowRow{{ModelID: "m", ModelVersion: "1", WindowStart: start, WindowEnd: start.Add(time.Minute), Events: events, KafkaTopic: "telemetry"}}
	return pw
}

// TestWriterJoinsQueuedFlushes: the flushes the writer finds queued
// together are published together and their rows held, then stored in one
// insert per table (one new part in ClickHouse), every row of them,
// predictions included, releasing their commits; the counters count every
// window; the progress published is the last window flush's.
func TestWriterJoinsQueuedFlushes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := writerTestMonitor(t, ctx)
	p := &partition{m: m, topic: "telemetry", partition: 0, ctx: ctx}
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var group []*pendingWrite
	for i := range 3 {
		group = append(group, windowFlush(t0.Add(time.Duration(i)*time.Minute), uint64(10+i)))
	}
	// A batch of predictions queued after them (labels.prediction_batch).
	group = append(group, &pendingWrite{predictionsOnly: true, predictions: []storage.PredictionRow{
		{ModelID: "m", ModelVersion: "1", WindowStart: t0, PredictionID: "p1", EventTime: t0, PredictedClass: "a"}}})
	if j := joined(group); j.progress != group[2].progress || j.windows != 3 || len(j.partials) != 3 || len(j.predictions) != 1 || j.predictionsOnly {
		t.Fatalf("joined: progress %d (want %d), %d windows, %d partials, %d predictions, predictions only %v",
			j.progress, group[2].progress, j.windows, len(j.partials), len(j.predictions), j.predictionsOnly)
	}
	p.inflight = make([]int64, len(group))
	var held heldRows
	p.publish(group, &held)
	if n := queryUint(t, m.store, "SELECT count() FROM inference_windows"); n != 0 || len(held.batch.Windows) != 3 || held.flushes != 4 {
		t.Fatalf("published: %d rows stored, %d windows and %d flushes held; want 0, 3 and 4", n, len(held.batch.Windows), held.flushes)
	}
	p.store(&held)
	if len(p.inflight) != 0 {
		t.Fatalf("%d flushes still in flight after the store", len(p.inflight))
	}
	if err := p.failed(); err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, m.store, "SELECT sum(events) FROM inference_windows FINAL"); n != 33 {
		t.Fatalf("%d events stored, want 33 (10+11+12)", n)
	}
	// Parts of level 0 are the inserted ones (merged parts have a higher level).
	if parts := queryUint(t, m.store, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'inference_windows' AND level = 0"); parts != 1 {
		t.Fatalf("%d inserts into inference_windows for one group of 3 flushes, want 1", parts)
	}
	if n := queryUint(t, m.store, "SELECT count() FROM predictions"); n != 1 {
		t.Fatalf("%d predictions stored, want 1", n)
	}
	if w := m.Stats().Windows; w != 3 {
		t.Fatalf("%d windows counted, want 3", w)
	}
}

// TestWriterHoldsBoundedRows: a partition's writer fed flushes back to back
// holds the rows of at most storeHeld of them before it stores them, within
// the second (a producer whose event times close a window with every event
// cannot make it hold more), every row stored in the end and every flush
// released.
func TestWriterHoldsBoundedRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := writerTestMonitor(t, ctx)
	p := &partition{m: m, topic: "telemetry", partition: 0, ctx: ctx,
		writes: make(chan *pendingWrite, writeQueue), writerDone: make(chan struct{})}
	go p.writer()
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	const n = 4 * storeHeld
	most := 0
	start := time.Now()
	for i := range n {
		if err := p.queue(ctx, windowFlush(t0.Add(time.Duration(i)*time.Minute), 1), int64(i)); err != nil {
			t.Fatal(err)
		}
		p.state.Lock()
		most = max(most, len(p.inflight))
		p.state.Unlock()
	}
	fed := time.Since(start)
	// In flight: those held, those published together (writeQueue+1) and
	// those queued (writeQueue), and the one queue appended.
	if limit := storeHeld + 2*writeQueue + 2; most > limit {
		t.Errorf("%d flushes in flight at most, want at most %d", most, limit)
	}
	close(p.writes)
	<-p.writerDone
	if err := p.failed(); err != nil {
		t.Fatal(err)
	}
	if stored := queryUint(t, m.store, "SELECT count() FROM inference_windows"); stored != n {
		t.Fatalf("%d rows stored, want %d", stored, n)
	}
	if len(p.inflight) != 0 {
		t.Fatalf("%d flushes still in flight", len(p.inflight))
	}
	parts := queryUint(t, m.store, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'inference_windows' AND level = 0")
	t.Logf("%d flushes fed in %s, %d in flight at most, %d inserts", n, fed, most, parts)
	if fed < storeEvery && parts < n/storeHeld {
		t.Errorf("%d inserts for %d flushes fed in %s, want at least %d", parts, n, fed, n/storeHeld)
	}
}

// TestClosingWriterStoresHeldRows: a partition closed after its generation
// ended (its context cancelled before its queue is closed, as the consumer
// does) still stores the rows its writer holds, so that the next owner
// skips their windows, and releases their flushes.
func TestClosingWriterStoresHeldRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := writerTestMonitor(t, ctx)
	inflight := func(p *partition) int {
		p.state.Lock()
		defer p.state.Unlock()
		return len(p.inflight)
	}
	// The rows are held only while the writer's last store is less than a
	// second old: on a slow machine an attempt may miss that, and another
	// is made.
	for attempt := range 5 {
		gctx, end := context.WithCancel(ctx)
		groups := make(chan int, 8)
		p := &partition{m: m, topic: "telemetry", partition: 0, ctx: gctx,
			writes: make(chan *pendingWrite, writeQueue), writerDone: make(chan struct{}),
			afterPublish: func(n int) { groups <- n }}
		go p.writer()
		t0 := time.Date(2026, 11, 30, 10+attempt, 0, 0, 0, time.UTC)
		if err := p.queue(ctx, windowFlush(t0, 1), 0); err != nil {
			t.Fatal(err)
		}
		<-groups
		for inflight(p) != 0 { // the first is stored at once
			time.Sleep(time.Millisecond)
		}
		first := time.Now()
		for i := 1; i < 3; i++ {
			if err := p.queue(ctx, windowFlush(t0.Add(time.Duration(i)*time.Minute), 1), int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		for n := 0; n < 2; n += <-groups { // the two, published
		}
		held := inflight(p) == 2 && time.Since(first) < storeEvery*3/4
		end()
		close(p.writes)
		<-p.writerDone
		stored := queryUint(t, m.store, "SELECT count() FROM inference_windows WHERE window_start >= ? AND window_start < ?", t0, t0.Add(time.Hour))
		if !held {
			t.Logf("attempt %d: the rows were not held when the generation ended (%d stored)", attempt, stored)
			continue
		}
		if stored != 3 || inflight(p) != 0 {
			t.Fatalf("%d of 3 rows stored after the close, %d flushes in flight: %v", stored, inflight(p), p.failed())
		}
		return
	}
	t.Fatal("no attempt held rows when its generation ended")
}
