package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// checkStarts asserts that every handler started at the broker's committed
// offset for its partition, or at noCommit when nothing was committed.
func checkStarts(t *testing.T, opens []open, noCommit int64) {
	t.Helper()
	for i, o := range opens {
		want := o.committed
		if want < 0 {
			want = noCommit
		}
		if o.start != want {
			t.Errorf("handler %d (%s, partition %d) started at %d, want %d (committed %d)", i, o.member, o.partition, o.start, want, o.committed)
		}
	}
}

func TestConsumerDeliversEachMessageOnceAndCommits(t *testing.T) {
	const topic, group, n = "telemetry", "g-once", 300
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, -1, n, "v")

	reg := prometheus.NewRegistry()
	rec := newRecorder(t, e.Brokers(), group)
	stop := runConsumer(t, testConfig(e.Brokers(), topic, group), rec.factory("a", handlerBehaviour{}), reg)
	waitFor(t, 20*time.Second, "all messages handled", func() bool { return rec.handled() == n })
	// Let a few more fetches and commits happen: nothing may be re-delivered.
	time.Sleep(300 * time.Millisecond)
	stop()

	opens, ds := rec.snapshot()
	if len(ds) != n {
		t.Errorf("got %d deliveries, want %d (each message exactly once)", len(ds), n)
	}
	perPartition := make(map[int]int64)
	values := make(map[string]bool)
	var size float64
	for _, d := range ds {
		perPartition[int(d.partition)]++
		values[d.value] = true
		size += float64(len(d.value) + len(fmt.Sprint("k", 0))) // keys are k<i>
	}
	if len(values) != n {
		t.Errorf("got %d distinct values, want %d", len(values), n)
	}
	if len(opens) != 3 {
		t.Errorf("got %d handlers, want 3 (one per partition)", len(opens))
	}
	for i, o := range opens {
		if !o.closed {
			t.Errorf("handler %d of partition %d not closed after stop", i, o.partition)
		}
	}
	checkStarts(t, opens, 0)

	committed := committedOffsets(t, e.Brokers(), group, topic, 0, 1, 2)
	for p := range 3 {
		if committed[p] != perPartition[p] || perPartition[p] == 0 {
			t.Errorf("partition %d: committed %d, want %d (next offset after the last handled)", p, committed[p], perPartition[p])
		}
	}
	if got := metricValue(t, reg, "driftwatch_ingest_messages_total", map[string]string{"topic": topic}); got != n {
		t.Errorf("messages_total = %v, want %d", got, n)
	}
	if got := metricValue(t, reg, "driftwatch_ingest_commits_total", nil); got < 3 {
		t.Errorf("commits_total = %v, want >= 3", got)
	}
	if got := metricValue(t, reg, "driftwatch_ingest_commit_errors_total", nil); got != 0 {
		t.Errorf("commit_errors_total = %v, want 0", got)
	}
	if got := metricValue(t, reg, "driftwatch_ingest_bytes_total", map[string]string{"topic": topic}); got <= 0 {
		t.Errorf("bytes_total = %v, want > 0", got)
	}
	// Per-partition series are removed when the partition is revoked.
	if got := metricValue(t, reg, "driftwatch_ingest_committed_offset", map[string]string{"topic": topic, "partition": "0"}); got != -1 {
		t.Errorf("committed_offset{partition=0} still exported after stop: %v", got)
	}
}

func TestConsumerExportsCommittedOffsetAndLag(t *testing.T) {
	const topic, group = "telemetry", "g-lag"
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 0, 100, "v")

	reg := prometheus.NewRegistry()
	rec := newRecorder(t, e.Brokers(), group)
	// Committable holds back 30 messages, so the lag settles at 30.
	runConsumer(t, testConfig(e.Brokers(), topic, group), rec.factory("a", handlerBehaviour{lag: 30}), reg)
	labels := map[string]string{"topic": topic, "partition": "0"}
	waitFor(t, 20*time.Second, "committed offset 70 exported", func() bool {
		return metricValue(t, reg, "driftwatch_ingest_committed_offset", labels) == 70
	})
	waitFor(t, 5*time.Second, "commit lag 30 exported", func() bool {
		return metricValue(t, reg, "driftwatch_ingest_commit_lag_messages", labels) == 30
	})
	if got := committedOffsets(t, e.Brokers(), group, topic, 0)[0]; got != 70 {
		t.Errorf("broker has committed %d, want 70", got)
	}
}

func TestConsumerResumesFromCommittedOffsets(t *testing.T) {
	const topic, group = "telemetry", "g-resume"
	e := startBroker(t, topic)
	cfg := testConfig(e.Brokers(), topic, group)
	produce(t, e.Brokers(), topic, -1, 150, "first")

	rec1 := newRecorder(t, e.Brokers(), group)
	stop := runConsumer(t, cfg, rec1.factory("a", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "first 150 handled", func() bool { return rec1.handled() == 150 })
	stop()
	before := committedOffsets(t, e.Brokers(), group, topic, 0, 1, 2)

	produce(t, e.Brokers(), topic, -1, 150, "second")
	rec2 := newRecorder(t, e.Brokers(), group)
	stop = runConsumer(t, cfg, rec2.factory("b", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "second 150 handled", func() bool { return rec2.handled() == 150 })
	time.Sleep(300 * time.Millisecond)
	stop()

	opens, ds := rec2.snapshot()
	if len(ds) != 150 {
		t.Errorf("after restart got %d deliveries, want 150", len(ds))
	}
	for _, d := range ds {
		if d.value[:len("second")] != "second" {
			t.Errorf("after restart got already committed message %q (partition %d offset %d)", d.value, d.partition, d.offset)
		}
	}
	for _, o := range opens {
		if o.start != before[int(o.partition)] {
			t.Errorf("partition %d resumed at %d, want committed %d", o.partition, o.start, before[int(o.partition)])
		}
	}
	checkStarts(t, opens, 0)
}

func TestConsumerStartsAtLatestWithoutCommit(t *testing.T) {
	const topic, group = "telemetry", "g-latest"
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 0, 10, "old")
	cfg := testConfig(e.Brokers(), topic, group)
	cfg.StartOffset = StartLatest
	rec := newRecorder(t, e.Brokers(), group)
	runConsumer(t, cfg, rec.factory("a", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "3 handlers open", func() bool { return len(rec.owned()["a"]) == 3 })
	produce(t, e.Brokers(), topic, 0, 5, "new")
	waitFor(t, 10*time.Second, "5 new messages", func() bool { return rec.handled() == 5 })
	time.Sleep(200 * time.Millisecond)
	opens, ds := rec.snapshot()
	for _, d := range ds {
		if d.partition != 0 || d.offset < 10 || d.value[:3] != "new" {
			t.Errorf("latest consumer got %q at partition %d offset %d", d.value, d.partition, d.offset)
		}
	}
	for _, o := range opens {
		if o.partition == 0 && o.start != 10 {
			t.Errorf("partition 0 started at %d, want 10 (the end)", o.start)
		}
	}
}

func TestConsumerGroupSplitsAndTakesOver(t *testing.T) {
	const topic, group = "telemetry", "g-split"
	e := startBroker(t, topic)
	cfg := testConfig(e.Brokers(), topic, group)
	rec := newRecorder(t, e.Brokers(), group)
	produce(t, e.Brokers(), topic, -1, 300, "p1")

	stopA := runConsumer(t, cfg, rec.factory("a", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "a owns all partitions", func() bool { return len(rec.owned()["a"]) == 3 })
	runConsumer(t, cfg, rec.factory("b", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "a and b split the partitions", func() bool {
		own := rec.owned()
		return len(own["a"]) > 0 && len(own["b"]) > 0 && len(own["a"])+len(own["b"]) == 3
	})
	split := rec.owned()
	t.Logf("split: a=%v b=%v", split["a"], split["b"])
	seen := make(map[int32]bool)
	for _, ps := range split {
		for _, p := range ps {
			if seen[p] {
				t.Fatalf("partition %d owned by two members: %v", p, split)
			}
			seen[p] = true
		}
	}
	produce(t, e.Brokers(), topic, -1, 300, "p2")
	waitFor(t, 20*time.Second, "600 handled", func() bool { return rec.handled() == 600 })

	stopA()
	waitFor(t, 20*time.Second, "b owns all partitions", func() bool {
		own := rec.owned()
		return len(own["a"]) == 0 && len(own["b"]) == 3
	})
	produce(t, e.Brokers(), topic, -1, 300, "p3")
	waitFor(t, 20*time.Second, "900 handled", func() bool { return rec.handled() == 900 })

	opens, ds := rec.snapshot()
	checkStarts(t, opens, 0)
	// A message delivered twice must be at or after the committed offset the
	// later handler started from: committed messages are never re-delivered.
	first := make(map[[2]int64]int)
	dups := 0
	for _, d := range ds {
		k := [2]int64{int64(d.partition), d.offset}
		if _, ok := first[k]; !ok {
			first[k] = d.handler
			continue
		}
		dups++
		if o := opens[d.handler]; o.committed >= 0 && d.offset < o.committed {
			t.Errorf("partition %d offset %d re-delivered to %s though committed offset was %d", d.partition, d.offset, o.member, o.committed)
		}
	}
	t.Logf("%d deliveries, %d duplicates (uncommitted at handover), %d handler opens", len(ds), dups, len(opens))
	values := make(map[string]bool)
	for _, d := range ds {
		values[d.value] = true
	}
	for _, prefix := range []string{"p1", "p2", "p3"} {
		for i := range 300 {
			if v := prefix + "-" + strconv.Itoa(i); !values[v] {
				t.Errorf("message %s lost", v)
			}
		}
	}
}

func TestConsumerRestartsPartitionAfterHandlerError(t *testing.T) {
	const topic, group = "telemetry", "g-error"
	e := startBroker(t, topic)
	reg := prometheus.NewRegistry()
	rec := newRecorder(t, e.Brokers(), group)
	var armed atomic.Bool
	fail := func(p int32, batch []Message) bool {
		// Fail once, on the first batch after arming.
		return p == 0 && armed.CompareAndSwap(true, false)
	}
	produce(t, e.Brokers(), topic, 0, 50, "before")
	runConsumer(t, testConfig(e.Brokers(), topic, group), rec.factory("a", handlerBehaviour{fail: fail}), reg)
	waitFor(t, 20*time.Second, "offset 50 committed", func() bool {
		offs, err := fetchCommitted(e.Brokers(), group, topic, 0)
		return err == nil && offs[0] == 50
	})
	armed.Store(true)
	produce(t, e.Brokers(), topic, 0, 50, "after")
	waitFor(t, 20*time.Second, "100 handled", func() bool { return rec.handled() == 100 })
	time.Sleep(200 * time.Millisecond)

	opens, ds := rec.snapshot()
	var p0 []open
	for _, o := range opens {
		if o.partition == 0 {
			p0 = append(p0, o)
		}
	}
	if len(p0) != 2 {
		t.Fatalf("partition 0 opened %d handlers, want 2 (one restart): %+v", len(p0), p0)
	}
	if !p0[0].closed {
		t.Errorf("failed handler was not closed")
	}
	if p0[1].start != 50 || p0[1].committed != 50 {
		t.Errorf("restarted at %d with committed %d, want 50 and 50", p0[1].start, p0[1].committed)
	}
	failed, redelivered := 0, 0
	for _, d := range ds {
		switch {
		case d.failed:
			failed++
			if d.offset < 50 {
				t.Errorf("failed batch held offset %d, below the committed 50", d.offset)
			}
		case d.partition == 0 && d.offset >= 50:
			redelivered++
		}
	}
	if failed == 0 || redelivered != 50 {
		t.Errorf("failed batch had %d messages, %d of offsets 50..99 handled after the restart; want > 0 and 50", failed, redelivered)
	}
	if got := metricValue(t, reg, "driftwatch_ingest_partition_errors_total", nil); got != 1 {
		t.Errorf("partition_errors_total = %v, want 1", got)
	}
}

func TestConsumerRedeliversWhatCommittableHeldBack(t *testing.T) {
	const topic, group = "telemetry", "g-held"
	e := startBroker(t, topic)
	cfg := testConfig(e.Brokers(), topic, group)
	produce(t, e.Brokers(), topic, 1, 100, "v")

	rec1 := newRecorder(t, e.Brokers(), group)
	stop := runConsumer(t, cfg, rec1.factory("a", handlerBehaviour{lag: 20}), nil)
	waitFor(t, 20*time.Second, "100 handled", func() bool { return rec1.handled() == 100 })
	stop()
	if got := committedOffsets(t, e.Brokers(), group, topic, 1)[1]; got != 80 {
		t.Fatalf("committed %d after stop, want 80 (Committable held back 20)", got)
	}

	rec2 := newRecorder(t, e.Brokers(), group)
	stop = runConsumer(t, cfg, rec2.factory("b", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "20 re-delivered", func() bool { return rec2.handled() == 20 })
	time.Sleep(200 * time.Millisecond)
	stop()
	_, ds := rec2.snapshot()
	if len(ds) != 20 {
		t.Errorf("got %d deliveries after restart, want 20", len(ds))
	}
	for i, d := range ds {
		if d.partition != 1 || d.offset != int64(80+i) {
			t.Errorf("delivery %d: partition %d offset %d, want partition 1 offset %d", i, d.partition, d.offset, 80+i)
		}
	}
	if got := committedOffsets(t, e.Brokers(), group, topic, 1)[1]; got != 100 {
		t.Errorf("committed %d after the second run, want 100", got)
	}
}

func TestConsumerCommitsWhenStopped(t *testing.T) {
	const topic, group = "telemetry", "g-final"
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 2, 40, "v")
	cfg := testConfig(e.Brokers(), topic, group)
	cfg.CommitInterval = time.Hour // only the final commit can happen
	rec := newRecorder(t, e.Brokers(), group)
	stop := runConsumer(t, cfg, rec.factory("a", handlerBehaviour{}), nil)
	waitFor(t, 20*time.Second, "40 handled", func() bool { return rec.handled() == 40 })
	if offs, err := fetchCommitted(e.Brokers(), group, topic, 2); err == nil && offs[2] >= 0 {
		t.Fatalf("committed %d before stop despite a one-hour commit interval", offs[2])
	}
	stop()
	if got := committedOffsets(t, e.Brokers(), group, topic, 2)[2]; got != 40 {
		t.Errorf("committed %d after stop, want 40", got)
	}
}

func TestConsumerWaitsForBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	const topic, group = "telemetry", "g-late-broker"
	rec := newRecorder(t, []string{addr}, group)
	stop := runConsumer(t, testConfig([]string{addr}, topic, group), rec.factory("a", handlerBehaviour{}), nil)
	time.Sleep(500 * time.Millisecond) // a few failed joins

	e, err := StartEmbedded(EmbeddedConfig{Addr: addr, Topics: []string{topic}})
	if err != nil {
		t.Fatalf("StartEmbedded(%s): %v", addr, err)
	}
	defer e.Close()
	produce(t, e.Brokers(), topic, -1, 30, "v")
	waitFor(t, 20*time.Second, "30 handled after the broker came up", func() bool { return rec.handled() == 30 })
	stop()
	offs := committedOffsets(t, e.Brokers(), group, topic, 0, 1, 2)
	if offs[0]+offs[1]+offs[2] != 30 {
		t.Errorf("committed %v, want offsets summing to 30", offs)
	}
}

func TestConsumerMetricsPassLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(minimalConfig("t"), nopFactory, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors without a series are not gathered: create one of each.
	c.metrics.messages.WithLabelValues("t")
	c.metrics.bytes.WithLabelValues("t")
	c.metrics.committedOffset.WithLabelValues("t", "0")
	c.metrics.commitLag.WithLabelValues("t", "0")
	// A second consumer on the same registry shares the series.
	if _, err := NewConsumer(minimalConfig("t"), nopFactory, reg, nil); err != nil {
		t.Fatalf("second consumer on one registry: %v", err)
	}
	w := NewDeadLetterWriter(Plaintext([]string{"k:9092"}), "t.dlq", "g", reg, nil)
	defer w.Close()
	w.rejected.WithLabelValues("invalid_json")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 10 {
		t.Errorf("gathered %d metric families, want 10", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func nopFactory(context.Context, string, int32, int64) (PartitionHandler, error) {
	return nil, errors.New("not used")
}

// TestConsumerSurvivesSlowHandler blocks the handler for longer than the
// fetch deadline in the middle of a fetched batch (as back-pressure from
// storage does): the rest of the batch must still be read, with no partition
// restart and no re-delivery.
func TestConsumerSurvivesSlowHandler(t *testing.T) {
	old := fetchGrace
	fetchGrace = 300 * time.Millisecond
	t.Cleanup(func() { fetchGrace = old })
	const topic, group, n = "telemetry", "g-slow", 300
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 0, n, "v")
	reg := prometheus.NewRegistry()
	rec := newRecorder(t, e.Brokers(), group)
	cfg := testConfig(e.Brokers(), topic, group)
	cfg.MaxBatch = 50
	var slowed sync.Once
	stop := runConsumer(t, cfg, rec.factory("a", handlerBehaviour{fail: func(_ int32, batch []Message) bool {
		if batch[0].Offset > 0 {
			slowed.Do(func() { time.Sleep(time.Second) })
		}
		return false
	}}), reg)
	waitFor(t, 20*time.Second, "all messages handled", func() bool { return rec.handled() == n })
	stop()
	if got := metricValue(t, reg, "driftwatch_ingest_partition_errors_total", nil); got != 0 {
		t.Errorf("partition_errors_total = %v after a slow handler, want 0", got)
	}
	if _, ds := rec.snapshot(); len(ds) != n {
		t.Errorf("%d deliveries, want %d", len(ds), n)
	}
}

// TestConsumerHealthFollowsHandedBatches checks the read position the
// readiness endpoint reports: while a handler blocks on a batch, the
// position is the offset after that batch (it was handed over) and, with
// messages left to read, the partition turns stalled after StallAfter; once
// the handler returns, the rest is read and the partition is caught up.
func TestConsumerHealthFollowsHandedBatches(t *testing.T) {
	const topic, group, n = "telemetry", "g-health", 300
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 0, n, "v")
	cfg := testConfig(e.Brokers(), topic, group)
	cfg.MaxBatch = 50
	cfg.StallAfter = 400 * time.Millisecond
	rec := newRecorder(t, e.Brokers(), group)
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	releaseOnce := sync.OnceFunc(func() { close(release) })
	c, err := NewConsumer(cfg, rec.factory("a", handlerBehaviour{fail: func(p int32, batch []Message) bool {
		if p == 0 && batch[0].Offset == 50 {
			once.Do(func() { close(blocked); <-release })
		}
		return false
	}}), nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		releaseOnce() // a failed check must not leave the handler blocked
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	partition0 := func() PartitionHealth {
		for _, p := range c.Health().Partitions {
			if p.Partition == 0 {
				return p
			}
		}
		return PartitionHealth{Position: -1}
	}
	select {
	case <-blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("the second batch never reached the handler")
	}
	if got := partition0().Position; got != 100 {
		t.Errorf("position while the handler holds offsets 50-99: %d, want 100", got)
	}
	waitFor(t, 10*time.Second, "partition 0 stalled behind the blocked handler", func() bool { return partition0().Stalled })
	releaseOnce()
	waitFor(t, 20*time.Second, "all messages handled", func() bool { return rec.handled() == n })
	waitFor(t, 5*time.Second, "partition 0 caught up", func() bool {
		h := partition0()
		return h.Position == n && !h.Stalled
	})
}
