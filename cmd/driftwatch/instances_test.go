package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// queryCount runs a query returning one UInt64 (0 when it fails, as before
// the tables exist).
func queryCount(s *storage.Store, sql string) uint64 {
	rows, err := s.Query(context.Background(), sql)
	if err != nil {
		return 0
	}
	defer rows.Close()
	var n uint64
	if rows.Next() && rows.Scan(&n) != nil {
		return 0
	}
	return n
}

// mustCount is queryCount for an assertion: a failed query fails the test.
func mustCount(t *testing.T, s *storage.Store, sql string, args ...any) uint64 {
	t.Helper()
	rows, err := s.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestThreeInstancesOneKilledMidWindow runs three `driftwatch run` processes
// in one consumer group over six partitions, with telemetry keyed by
// prediction id so that every model spreads over every partition. One
// instance is SIGKILLed mid-window while telemetry flows and started again.
// Every event must be counted exactly once, and every model window decided
// once, on the merged state of all six partitions: its model_windows row
// holds the sum of the partitions' counts, and drift_scores holds one row per
// (model, version, window, feature, test).
func TestThreeInstancesOneKilledMidWindow(t *testing.T) {
	bin := buildBinary(t)
	s, addr, db := clickhouseForTest(t)
	const partitions = 6
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, broker.Brokers()[0], addr, db, "three", "  session_timeout: 3s\n  rebalance_timeout: 3s\n")
	var logs []string
	start := func(name string) *exec.Cmd {
		path := filepath.Join(dir, name+".log")
		logs = append(logs, path)
		cmd, _ := startRun(t, bin, cfgPath, path)
		return cmd
	}
	procs := []*exec.Cmd{start("a"), start("b"), start("c")}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
		if t.Failed() {
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}
	}()
	time.Sleep(2 * time.Second) // let the three join before telemetry flows

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Real-time telemetry: 3,000 events/s for 16 s, 3 models, keyed by prediction id.
	const n = 48000
	sc := generator.DefaultScenario(3, 8)
	sc.Rate = 3000
	sc.Start = time.Now().UTC()
	sc.KeyByPrediction = true
	g, err := generator.New(sc, 11)
	if err != nil {
		t.Fatal(err)
	}
	produced := make(chan error, 1)
	go func() {
		sent, err := generator.Produce(ctx, broker.Brokers(), "telemetry", g, n, slog.New(slog.DiscardHandler))
		if err == nil && sent != n {
			err = fmt.Errorf("produced %d of %d", sent, n)
		}
		produced <- err
	}()

	// Kill instance b once decisions flow, half-way through a window.
	deadline := time.Now().Add(60 * time.Second)
	for queryCount(s, "SELECT count() FROM model_windows FINAL") < 6 {
		if time.Now().After(deadline) {
			t.Fatal("no model windows decided in time")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for ms := time.Now().UnixMilli() % 2000; ms < 700 || ms > 1300; ms = time.Now().UnixMilli() % 2000 {
		time.Sleep(20 * time.Millisecond)
	}
	// No background merge collapses a window decided twice before the
	// checks below read the tables without FINAL.
	for _, table := range []string{"model_windows", "drift_scores"} {
		if err := s.Exec(context.Background(), "SYSTEM STOP MERGES "+db+"."+table); err != nil {
			t.Fatal(err)
		}
	}
	killTime := time.Now()
	if err := procs[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[1].Wait()
	killedAt := queryCount(s, "SELECT sum(events) FROM inference_windows FINAL")
	time.Sleep(time.Second)
	procs[1] = start("b-restarted")
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	// Every event counted once, every window decided once all partitions passed it.
	windowsQuery := "SELECT count() FROM (SELECT DISTINCT model_id, model_version, window_start FROM inference_windows)"
	deadline = time.Now().Add(2 * time.Minute)
	for {
		stored := queryCount(s, "SELECT sum(events) FROM inference_windows FINAL")
		windows := queryCount(s, windowsQuery)
		decided := queryCount(s, "SELECT count() FROM model_windows FINAL")
		if stored >= n && decided >= windows {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events counted, %d of %d windows decided", stored, n, decided, windows)
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // give a duplicate the time to show up, if there were one
	if got := queryCount(s, "SELECT sum(events) FROM inference_windows FINAL"); got != n {
		t.Fatalf("inference_windows counts %d events, want exactly the %d produced", got, n)
	}
	if killedAt == 0 || killedAt >= n {
		t.Fatalf("the kill did not happen mid-stream: %d of %d events counted before it", killedAt, n)
	}
	// The decision of each window saw every partition's share.
	if bad := queryCount(s, `SELECT count() FROM model_windows AS d FINAL
ANY INNER JOIN (SELECT model_id, model_version, window_start, sum(events) AS events, count() AS parts
    FROM inference_windows FINAL GROUP BY model_id, model_version, window_start) AS p
USING (model_id, model_version, window_start)
WHERE d.events != p.events OR d.partitions != p.parts OR length(d.missing_partitions) > 0`); bad != 0 {
		t.Errorf("%d model windows were decided on less than every partition's share", bad)
	}
	if spread := queryCount(s, "SELECT toUInt64(min(partitions)) FROM model_windows FINAL"); spread < 2 {
		t.Errorf("a model window merged %d partitions: telemetry keyed by prediction id must spread", spread)
	}
	// Decided once: read without FINAL (which would collapse a second
	// decision into the first), a window has one model_windows row, the
	// decision's commit marker, which a restarted decider reads so as not to
	// decide it again. Its drift_scores rows, written before the marker, may
	// be written twice only when the kill came between the two writes: the
	// window's decision is then stored after the kill.
	if d := mustCount(t, s, `SELECT toUInt64(count() - uniqExact(model_id, model_version, window_start)) FROM model_windows`); d != 0 {
		t.Errorf("%d model windows decided more than once", d)
	}
	if d := mustCount(t, s, `SELECT count() FROM (
    SELECT model_id, model_version, window_start FROM drift_scores
    GROUP BY model_id, model_version, window_start, feature, test HAVING count() > 1)
ANY INNER JOIN (SELECT model_id, model_version, window_start, min(decided_at) AS decided FROM model_windows
    GROUP BY model_id, model_version, window_start) USING (model_id, model_version, window_start)
WHERE decided < toDateTime(?)`, uint64(killTime.Unix())); d != 0 {
		t.Errorf("%d drift_scores keys of windows decided before the kill written more than once", d)
	}
	if k := queryCount(s, "SELECT countIf(kafka_partition != -1) FROM drift_scores"); k != 0 {
		t.Errorf("%d drift_scores rows of a single partition", k)
	}
	if scored := queryCount(s, "SELECT count() FROM drift_scores FINAL"); scored == 0 {
		t.Error("no window was scored")
	}
	t.Logf("%d events, %d model windows decided, %d counted before the SIGKILL",
		n, queryCount(s, "SELECT count() FROM model_windows FINAL"), killedAt)
}
