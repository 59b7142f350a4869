package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// partitionTestMonitor returns a monitor with just what a partition needs:
// a ClickHouse store, a partials publisher to an embedded broker whose
// partials topic has the given partitions, metrics and references.
func partitionTestMonitor(t *testing.T, ctx context.Context, addr, db string, cfg Config, partitions int) *Monitor {
	t.Helper()
	cfg = cfg.WithDerived()
	if err := cfg.Analysis.Validate(); err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(ctx, clickHouseConfig(addr, db), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.partials", "telemetry.dlq"}, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	m := &Monitor{cfg: cfg, log: slog.New(slog.DiscardHandler), store: store, open: map[*partition]int{}, merging: map[*decider]int{}}
	m.kafka = ingest.Plaintext(e.Brokers())
	m.partials = ingest.NewPublisher(m.kafka, "telemetry.partials", nil, nil)
	t.Cleanup(func() { m.partials.Close() })
	m.dlq = ingest.NewDeadLetterWriter(m.kafka, "telemetry.dlq", "test", nil, nil)
	t.Cleanup(func() { m.dlq.Close() })
	m.met = newMetrics(nil, 10)
	m.refs = reference.NewStore(&m.cfg.Analysis, nil)
	m.versions = window.NewOpenVersions(m.cfg.Analysis.MaxOpenVersions)
	return m
}

// TestFailedFlushCommitsNothing: once a flush could not store its closed
// windows, the partition must report nothing committable, so that the
// consumer never commits past windows that are not in ClickHouse.
func TestFailedFlushCommitsNothing(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness = 2*time.Second, time.Second
	m := partitionTestMonitor(t, ctx, addr, db, cfg, 1)
	if err := m.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	m.evidence = evaluate.NewEvidence(m.cfg.Analysis.Sequential)
	genCtx, endGeneration := context.WithCancel(ctx)
	h, err := m.openPartition(genCtx, "telemetry", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	msg := func(off int64, at time.Duration) ingest.Message {
		v := fmt.Sprintf(`{"prediction_id":"p%d","event_time":%d,"model":{"id":"m"},"features":{"numeric":{"x":%d}}}`,
			off, t0.Add(at).UnixMilli(), off%7)
		return ingest.Message{Topic: "telemetry", Offset: off, Key: []byte("m"), Value: []byte(v)}
	}
	// Window [0s, 2s) closes when the watermark passes 3s: while it is being
	// written it holds commits at its first offset, once stored the commit
	// moves to the open window's first offset.
	if err := h.Handle(ctx, []ingest.Message{msg(0, 0), msg(1, time.Second), msg(2, 2500*time.Millisecond), msg(3, 3500*time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Committable(); got != 0 && got != 2 {
		t.Fatalf("committable %d while the first window is written, want 0 (in flight) or 2 (stored)", got)
	}
	waitCommittable(t, h, 2)
	// The next window closes while its write cannot succeed (the generation ended).
	endGeneration()
	failed, stop := context.WithCancel(ctx)
	stop()
	_ = h.Handle(failed, []ingest.Message{msg(4, 6*time.Second)})
	for deadline := time.Now().Add(10 * time.Second); ; {
		got := h.Committable()
		if got == -1 {
			break
		}
		if got > 2 {
			t.Fatalf("committable %d past a window that was never stored", got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("committable still %d after the write failed, want -1 (commit nothing more)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.Handle(ctx, []ingest.Message{msg(5, 7*time.Second)}); err == nil {
		t.Fatal("Handle accepted messages after a failed write: the handler must be restarted")
	}
}

func waitCommittable(t *testing.T, h interface{ Committable() int64 }, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Committable() != want {
		if time.Now().After(deadline) {
			t.Fatalf("committable %d, want %d", h.Committable(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdlePartitionSaysSoAgain: a partition with nothing to read says it is
// idle after idle_flush, and says it again once a window size has passed, so
// that a decider that takes over a partials partition later (and did not
// read what was said before its committed offset) does not wait for it.
func TestIdlePartitionSaysSoAgain(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness, cfg.Analysis.IdleFlush = 2*time.Second, time.Second, time.Second
	m := partitionTestMonitor(t, ctx, addr, db, cfg, 2)
	brokers := m.partials.Brokers()
	h, err := m.openPartition(ctx, "telemetry", 3, -1)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5500 * time.Millisecond) // idle after 1 s, said again every 2 s
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for part := range 2 {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], "telemetry.partials", part)
		if err != nil {
			t.Fatal(err)
		}
		last, _ := conn.ReadLastOffset()
		idle := 0
		for i := int64(0); i < last; i++ {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			msg, err := conn.ReadMessage(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			r, err := partial.Parse(msg.Value)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != partial.KindProgress || r.Source != (partial.Source{Topic: "telemetry", Partition: 3}) {
				t.Fatalf("unexpected record %+v", r)
			}
			if r.Idle {
				idle++
			}
		}
		conn.Close()
		if idle < 2 || idle > 3 {
			t.Errorf("partials partition %d: the idle partition said so %d times in 5.5 s, want 2 or 3 (idle after 1 s, again every 2 s)", part, idle)
		}
	}
}

// TestDeciderRetriesAReferenceLookupThatFailed: a partial naming a reference
// the decider does not hold is looked up in ClickHouse; when that read
// fails, the batch fails (to be read again) instead of dead-lettering a
// partial that may be fine; once ClickHouse answers and the reference truly
// is unknown, the partial is dead-lettered.
func TestDeciderRetriesAReferenceLookupThatFailed(t *testing.T) {
	addr, db := testClickHouse(t)
	px := newProxy(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := deciderTestMonitor(t, ctx, px.lis.Addr().String(), db)
	h := openTestDecider(t, ctx, m)
	defer h.Close(context.Background())

	// A window opened against a reference no one stored.
	mv := analysis.ModelKey{ID: "fraud", Version: "1"}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	warm := window.NewWindow(&m.cfg.Analysis, mv, t0, nil)
	observeX(warm, mv, t0, 50)
	ref := reference.Build(warm.Sketches(), 10, 100, "warmup", 1, t0)
	ref.ID = ref.Hash()
	w := window.NewWindow(&m.cfg.Analysis, mv, t0.Add(time.Minute), ref)
	w.Observe(&telemetry.Event{PredictionID: "q", EventTime: t0.Add(time.Minute), Model: telemetry.Model{ID: mv.ID, Version: mv.Version},
		Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": 1})}}, 100)
	batch := partialMessages(w)

	px.setDown(true)
	if err := h.Handle(ctx, batch); err == nil {
		t.Fatal("a partial whose reference could not be looked up was taken (dead-lettered or merged)")
	}
	px.setDown(false)
	h2 := openTestDecider(t, ctx, m)
	defer h2.Close(context.Background())
	if err := h2.Handle(ctx, batch); err != nil {
		t.Fatalf("with ClickHouse back: %v", err)
	}
	if got := testutilCount(t, m.kafka.Brokers, "telemetry.dlq"); got != 1 {
		t.Fatalf("%d dead letters, want the one partial naming a reference that really is unknown, once", got)
	}
}

// testutilCount returns the number of records in partition 0 of topic.
func testutilCount(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	return int64(len(readTopic(t, context.Background(), brokers, topic)))
}

// TestDeciderLooksUpTheDecisionsOfAVersionItForgot: a partial of a version
// the decider's merger holds nothing of (first seen, or forgotten at its
// bound) is checked against the stored decisions: a replay of a window
// decided long ago is counted as already decided, not decided again.
func TestDeciderLooksUpTheDecisionsOfAVersionItForgot(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := deciderTestMonitor(t, ctx, addr, db)
	h := openTestDecider(t, ctx, m)
	defer h.Close(context.Background())
	// Decided (by another decider, or long ago) after this one opened.
	mv := analysis.ModelKey{ID: "fraud", Version: "1"}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	if err := m.store.WriteWindows(ctx, storage.WindowBatch{Models: []storage.ModelWindowRow{{ModelID: mv.ID, ModelVersion: mv.Version,
		WindowStart: t0, WindowEnd: t0.Add(2 * time.Second), Events: 1, Partitions: 1}}}); err != nil {
		t.Fatal(err)
	}
	w := window.NewWindow(&m.cfg.Analysis, mv, t0, nil)
	w.Observe(&telemetry.Event{PredictionID: "p", EventTime: t0, Model: telemetry.Model{ID: mv.ID, Version: mv.Version},
		Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": 1})}}, 7)
	batch := partialMessages(w)
	if err := h.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var got dto.Metric
	if err := m.met.partialsIn.WithLabelValues("already_decided").Write(&got); err != nil {
		t.Fatal(err)
	}
	if got.GetCounter().GetValue() != 1 {
		t.Fatalf("a replayed partial of a decided window: already_decided = %v, want 1", got.GetCounter().GetValue())
	}
}

// TestPerformanceVerdictsCountOnce: the realized performance of a labeled
// window whose verdicts cannot be stored is computed again at the next call;
// its verdicts count once in driftwatch_signal_verdicts_total, as many as
// the rows stored, not once per attempt.
func TestPerformanceVerdictsCountOnce(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := deciderTestMonitor(t, ctx, addr, db)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var preds []storage.PredictionRow
	var labels []storage.LabelRow
	for i := range 40 {
		id := fmt.Sprint("p", i)
		class, truth := []string{"fraud", "ok"}[i%2], []string{"fraud", "ok"}[i%3%2]
		preds = append(preds, storage.PredictionRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, PredictionID: id, EventTime: t0,
			PredictedClass: class, Score: float64(i%10) / 10, HasScore: true, Threshold: 0.5, HasThreshold: true})
		labels = append(labels, storage.LabelRow{ModelID: "fraud", PredictionID: id, TruthClass: truth, LabelTime: t0.Add(time.Minute)})
	}
	if err := m.store.WritePredictions(ctx, preds); err != nil {
		t.Fatal(err)
	}
	if err := m.store.WriteLabels(ctx, labels); err != nil {
		t.Fatal(err)
	}
	verdicts := func() float64 {
		var sum float64
		ch := make(chan prometheus.Metric, 100)
		m.met.signals.Collect(ch)
		close(ch)
		for c := range ch {
			var got dto.Metric
			if err := c.Write(&got); err != nil {
				t.Fatal(err)
			}
			sum += got.GetCounter().GetValue()
		}
		return sum
	}
	d := &decider{m: m, labeled: map[storage.LabeledWindow]bool{{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0}: true}}
	// The verdicts cannot be stored (their evidence has no column), all
	// else can: the call fails after the window's verdicts were taken.
	if err := m.store.Exec(ctx, "ALTER TABLE "+db+".signals DROP COLUMN evidence"); err != nil {
		t.Fatal(err)
	}
	if err := d.perform(ctx); err == nil || !strings.Contains(err.Error(), "realized performance verdicts") {
		t.Fatalf("computing the performance with verdicts that cannot be stored: %v, want their insert's error", err)
	}
	if got := verdicts(); got != 0 {
		t.Fatalf("%v verdicts counted by a decision that was not stored", got)
	}
	if err := m.store.Exec(ctx, "ALTER TABLE "+db+".signals ADD COLUMN evidence String"); err != nil {
		t.Fatal(err)
	}
	if err := d.perform(ctx); err != nil {
		t.Fatal(err)
	}
	stored := queryUint(t, m.store, "SELECT count() FROM signals WHERE model_id = 'fraud'")
	if got := verdicts(); stored == 0 || got != float64(stored) {
		t.Fatalf("%v verdicts counted, %d stored: want as many, at least one", got, stored)
	}
}

// TestDecisionMetricsCountOnce: a decision whose write fails is decided
// again by the decider reopened at the committed offset, as the consumer
// reopens it; its windows count once in the metrics, not once per attempt.
func TestDecisionMetricsCountOnce(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := deciderTestMonitor(t, ctx, addr, db)
	mv := analysis.ModelKey{ID: "fraud", Version: "1"}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	w := window.NewWindow(&m.cfg.Analysis, mv, t0, nil)
	observeX(w, mv, t0, 20)
	// The partial, then the partition's progress past the window's end and
	// lateness: the window is complete.
	batch := partialMessages(w)
	batch = append(batch, ingest.Message{Topic: "telemetry.partials", Offset: int64(len(batch)), Key: []byte(mv.ID),
		Value: partial.EncodeProgress(partial.Source{Topic: "telemetry", Partition: 0}, t0.Add(time.Minute).UnixMilli(), false)})
	decided := func() float64 {
		var sum float64
		for _, c := range []string{"complete", "waited_out"} {
			var got dto.Metric
			if err := m.met.decided.WithLabelValues(c).Write(&got); err != nil {
				t.Fatal(err)
			}
			sum += got.GetCounter().GetValue()
		}
		return sum
	}
	// The window's feature summaries cannot be written: the decision fails
	// after the window was decided.
	if err := m.store.Exec(ctx, "RENAME TABLE "+db+".feature_windows TO "+db+".feature_windows_away"); err != nil {
		t.Fatal(err)
	}
	h := openTestDecider(t, ctx, m)
	if err := h.Handle(ctx, batch); err == nil || !strings.Contains(err.Error(), "feature_windows") {
		t.Fatalf("deciding without feature_windows: %v, want its insert's error", err)
	}
	h.Close(context.Background())
	if got := decided(); got != 0 {
		t.Fatalf("%v windows counted as decided by a decision that was not stored", got)
	}
	if err := m.store.Exec(ctx, "RENAME TABLE "+db+".feature_windows_away TO "+db+".feature_windows"); err != nil {
		t.Fatal(err)
	}
	h2 := openTestDecider(t, ctx, m)
	defer h2.Close(context.Background())
	if err := h2.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got, stored := decided(), queryUint(t, m.store, "SELECT count() FROM model_windows FINAL"); got != 1 || stored != 1 {
		t.Fatalf("%v windows counted as decided, %d stored: want 1 and 1", got, stored)
	}
}

// observeX observes n events of model version mv at t0 into w, their
// numeric feature x 0, 1, ..., n−1 (prediction ids and offsets the same).
func observeX(w *window.Window, mv analysis.ModelKey, t0 time.Time, n int) {
	for i := range n {
		w.Observe(&telemetry.Event{PredictionID: fmt.Sprint(i), EventTime: t0, Model: telemetry.Model{ID: mv.ID, Version: mv.Version},
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": float64(i)})}}, int64(i))
	}
}

// openTestDecider opens m's decider of partition 0 of the partials topic,
// reading from offset 0; the caller closes it.
func openTestDecider(t *testing.T, ctx context.Context, m *Monitor) ingest.PartitionHandler {
	t.Helper()
	h, err := m.openDecider(ctx, "telemetry.partials", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deciderTestMonitor is partitionTestMonitor for the deciders' tests: 2 s
// windows of topic telemetry, a migrated schema and sequential evidence.
func deciderTestMonitor(t *testing.T, ctx context.Context, addr, db string) *Monitor {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness = 2*time.Second, time.Second
	cfg.Kafka.Consumer.Topic = "telemetry"
	m := partitionTestMonitor(t, ctx, addr, db, cfg, 1)
	if err := m.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	m.evidence = evaluate.NewEvidence(m.cfg.Analysis.Sequential)
	return m
}

// partialMessages returns w's partial as partition 0 of telemetry would
// publish it, as the records a decider reads.
func partialMessages(w *window.Window) []ingest.Message {
	var batch []ingest.Message
	for i, c := range partial.EncodePartial(partial.Source{Topic: "telemetry", Partition: 0}, w, 0) {
		batch = append(batch, ingest.Message{Topic: "telemetry.partials", Offset: int64(i), Key: []byte(w.Model.ID), Value: c})
	}
	return batch
}

// TestStringArenaCopies checks the copies kept for prediction rows: equal to
// the originals, sharing none of their bytes, a repeated model id copied
// once, and a buffer allocated per 4 KiB of strings, not per string.
func TestStringArenaCopies(t *testing.T) {
	var a stringArena
	var last string
	msg := []byte("fraud-scorer pred-000001")
	id := unsafe.String(&msg[0], 12)
	first := a.keepAgain(id, &last)
	if again := a.keepAgain(id, &last); unsafe.StringData(again) != unsafe.StringData(first) {
		t.Error("a repeated model id was copied again")
	}
	pred := a.keep(unsafe.String(&msg[13], 11))
	copy(msg, "XXXXXXXXXXXXXXXXXXXXXXXX")
	if first != "fraud-scorer" || pred != "pred-000001" {
		t.Errorf("copies changed with the message: %q %q", first, pred)
	}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("%036d", i)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, id := range ids {
			_ = a.keep(id)
		}
	})
	// 3,600 bytes: at most one new 4 KiB buffer per run.
	if allocs > 1 {
		t.Errorf("%v allocations for 100 strings kept", allocs)
	}
}
