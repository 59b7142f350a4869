package storage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// holdWriter makes s's WriteWindows writer wait before it takes each group until release is
// closed, and returns a function that reports how many calls wait in the next group.
func holdWriter(s *Store, release <-chan struct{}) (waiting func() int) {
	s.windows.beforeGroup = func() { <-release }
	return func() int {
		s.windows.mu.Lock()
		defer s.windows.mu.Unlock()
		if s.windows.next == nil {
			return 0
		}
		return len(s.windows.next.members)
	}
}

// writeAsync writes partition part's window of minute 0 in the background
// and returns the channel of WriteWindows' result.
func writeAsync(ctx context.Context, s *Store, part int32) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- s.WriteWindows(ctx, WindowBatch{Windows: sampleBatch("telemetry", part, 0, 0, 9, time.Time{}).Windows})
	}()
	return done
}

// wantLeft checks that a caller whose context was cancelled returned
// context.Canceled within 5 s.
func wantLeft(t *testing.T, left <-chan error) {
	t.Helper()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the leaver's WriteWindows = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the leaver did not return within 5s of its cancellation")
	}
}

// outageStore is a store of database db (a new one for "") reached through
// a proxy the test can make refuse connections, with its metrics in reg.
func outageStore(t *testing.T, db string) (*Store, *proxy, *prometheus.Registry) {
	t.Helper()
	p := startProxy(t, requireServer(t))
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg, func(c *Config) {
		c.Addr, c.DialTimeout, c.MaxRetryBackoff = p.addr, time.Second, 200*time.Millisecond
		if db != "" {
			c.Database = db
		}
	})
	return s, p, reg
}

// TestWriteWindowsJoinsOverlappingCalls writes the flushes of eight partitions and a decider
// that arrive together: one insert per table for them all, every row stored, every caller told.
func TestWriteWindowsJoinsOverlappingCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg)
	release := make(chan struct{})
	waiting := holdWriter(s, release)
	ctx := testContext(t)

	const partitions = 8
	errs := make(chan error, partitions+1)
	for p := range int32(partitions) {
		b := sampleBatch("telemetry", p, 0, int64(p)*100, int64(p)*100+99, time.Time{})
		go func() { errs <- s.WriteWindows(ctx, WindowBatch{Windows: b.Windows}) }()
	}
	decided := sampleBatch("telemetry", 0, 0, 0, 799, time.Time{})
	decided.Windows = nil
	go func() { errs <- s.WriteWindows(ctx, decided) }()
	waitFor(t, "nine calls waiting", 10*time.Second, func() bool { return waiting() == partitions+1 })
	close(release)
	for range partitions + 1 {
		if err := <-errs; err != nil {
			t.Fatalf("WriteWindows: %v", err)
		}
	}

	for table, rows := range map[string]uint64{"inference_windows": partitions, "feature_windows": 2, "drift_scores": 2, "signals": 3, "model_windows": 1} {
		if n := queryInt(t, s, "SELECT count() FROM "+table); n != rows {
			t.Errorf("%s has %d rows, want %d", table, n, rows)
		}
		if n := metricValue(t, reg, "driftwatch_clickhouse_insert_duration_seconds", table); n != 1 {
			t.Errorf("%s: %v inserts, want 1 for the nine calls", table, n)
		}
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows WHERE flushed_at = 0"); n != 0 {
		t.Errorf("%d inference_windows rows without the write's time", n)
	}
}

// TestWriteWindowsLoneCallAtOnce: a call that finds no write under way is written at once, alone.
func TestWriteWindowsLoneCallAtOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg)
	ctx := testContext(t)
	for i := range 3 {
		b := sampleBatch("telemetry", 0, i, int64(i)*10, int64(i)*10+9, time.Time{})
		if err := s.WriteWindows(ctx, WindowBatch{Windows: b.Windows}); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != uint64(i+1) {
			t.Fatalf("after call %d returned: %d rows stored, want %d", i+1, n, i+1)
		}
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_insert_duration_seconds", "inference_windows"); n != 3 {
		t.Errorf("%v inserts for three calls one after another, want 3", n)
	}
}

// TestWriteWindowsLeaverBeforeWrite: a caller whose context ends while it waits for its group
// returns at once, and its rows are not written; the others' are.
func TestWriteWindowsLeaverBeforeWrite(t *testing.T) {
	s := newTestStore(t, nil)
	release := make(chan struct{})
	waiting := holdWriter(s, release)
	ctx := testContext(t)

	stay := writeAsync(ctx, s, 0)
	lctx, leave := context.WithCancel(ctx)
	left := writeAsync(lctx, s, 1)
	waitFor(t, "two calls waiting", 10*time.Second, func() bool { return waiting() == 2 })
	leave()
	wantLeft(t, left)
	close(release)
	if err := <-stay; err != nil {
		t.Fatalf("the other caller's WriteWindows: %v", err)
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows WHERE kafka_partition = 0"); n != 1 {
		t.Errorf("the remaining caller's row: %d stored, want 1", n)
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows WHERE kafka_partition = 1"); n != 0 {
		t.Errorf("the leaver's row was written (%d) although it left before its group", n)
	}
}

// TestWriteWindowsGroupOutlivesALeaver: during an outage, a caller of a group under way leaves
// (its partition revoked); the write goes on for the other and lands once ClickHouse is back.
func TestWriteWindowsGroupOutlivesALeaver(t *testing.T) {
	db := randomDatabase(t)
	s, p, reg := outageStore(t, db)
	direct := newTestStore(t, nil, func(c *Config) { c.Database = db })
	release := make(chan struct{})
	waiting := holdWriter(s, release)
	ctx := testContext(t)

	p.refuse()
	stay := writeAsync(ctx, s, 0)
	lctx, leave := context.WithCancel(ctx)
	left := writeAsync(lctx, s, 1)
	waitFor(t, "two calls waiting", 10*time.Second, func() bool { return waiting() == 2 })
	close(release)
	// The group is taken and its write retries against the refusing proxy.
	waitFor(t, "the group's write retrying", 10*time.Second, func() bool {
		return waiting() == 0 && metricValue(t, reg, "driftwatch_clickhouse_retries_total", "") >= 1
	})
	leave()
	wantLeft(t, left)
	select {
	case err := <-stay:
		t.Fatalf("the remaining caller returned %v during the outage; want it to wait", err)
	case <-time.After(500 * time.Millisecond):
	}
	p.forward()
	select {
	case err := <-stay:
		if err != nil {
			t.Fatalf("the remaining caller after the outage: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the remaining caller did not return within 15s of the server coming back")
	}
	// The leaver's row was in the group under way: it lands too (a partition's replacement
	// would write the same row, which the ReplacingMergeTree collapses).
	if n := queryInt(t, direct, "SELECT count() FROM inference_windows"); n != 2 {
		t.Errorf("inference_windows has %d rows after the outage, want 2", n)
	}
}

// TestWriteWindowsGroupIsolatesAPermanentError: the group's write fails
// for good on one member's rows (drift_scores dropped: only the decider's
// batch has scores); the members are then written one by one, so the two
// partitions' rows are stored and reported written, and the decider alone
// gets the error, naming the table, with no commit marker stored for it.
func TestWriteWindowsGroupIsolatesAPermanentError(t *testing.T) {
	s := newTestStore(t, nil, func(c *Config) { c.MaxRetryBackoff = 100 * time.Millisecond })
	ctx := testContext(t)
	if err := s.conn.Exec(ctx, "DROP TABLE drift_scores"); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	waiting := holdWriter(s, release)
	decided := sampleBatch("telemetry", 0, 0, 0, 9, time.Time{})
	decided.Windows = nil
	batches := []WindowBatch{
		{Windows: sampleBatch("telemetry", 1, 0, 0, 9, time.Time{}).Windows},
		{Windows: sampleBatch("telemetry", 2, 0, 0, 9, time.Time{}).Windows},
		decided,
	}
	var wg sync.WaitGroup
	errs := make([]error, len(batches))
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.WriteWindows(ctx, b)
		}()
	}
	waitFor(t, "three calls waiting", 10*time.Second, func() bool { return waiting() == 3 })
	close(release)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("the partitions' writes: %v, %v; want both stored", errs[0], errs[1])
	}
	if err := errs[2]; err == nil || !strings.Contains(err.Error(), "inserting 2 rows into drift_scores") {
		t.Errorf("the decider's write = %v, want its drift_scores error", err)
	}
	if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != 2 {
		t.Errorf("inference_windows has %d rows, want the partitions' 2", n)
	}
	if n := queryInt(t, s, "SELECT count() FROM model_windows"); n != 0 {
		t.Errorf("model_windows has %d rows although the decider's drift_scores failed", n)
	}
}

// TestWriteWindowsWriterStopsWhenAllLeave: during an outage, every caller
// of the group under way leaves; the write stops retrying and the writer
// goroutine ends.
func TestWriteWindowsWriterStopsWhenAllLeave(t *testing.T) {
	s, p, reg := outageStore(t, "")
	release := make(chan struct{})
	waiting := holdWriter(s, release)
	p.refuse()
	lctx, leave := context.WithCancel(testContext(t))
	left := []<-chan error{writeAsync(lctx, s, 0), writeAsync(lctx, s, 1)}
	waitFor(t, "two calls waiting", 10*time.Second, func() bool { return waiting() == 2 })
	close(release)
	waitFor(t, "the group's write retrying", 10*time.Second, func() bool {
		return metricValue(t, reg, "driftwatch_clickhouse_retries_total", "") >= 1
	})
	leave()
	for _, l := range left {
		wantLeft(t, l)
	}
	waitFor(t, "the writer to stop", 10*time.Second, func() bool {
		s.windows.mu.Lock()
		defer s.windows.mu.Unlock()
		return !s.windows.running
	})
}
