package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/internal/chtest"
	"github.com/driftwatch/driftwatch/storage"
)

// buildBinary compiles driftwatch into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "driftwatch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building driftwatch: %v\n%s", err, out)
	}
	return bin
}

func clickhouseForTest(t *testing.T) (*storage.Store, string, string) {
	t.Helper()
	return chtest.Open(t, "dw_restart", false)
}

func storedEvents(t *testing.T, s *storage.Store) (events, windows uint64) {
	t.Helper()
	rows, err := s.Query(context.Background(), "SELECT sum(events), count() FROM inference_windows FINAL")
	if err != nil {
		return 0, 0 // the table may not exist before the first start
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&events, &windows); err != nil {
			t.Fatal(err)
		}
	}
	return events, windows
}

// writeRunConfig writes the configuration of `driftwatch run` processes
// for tests into dir: fast group and window timings, 2 s windows, the given
// consumer group, and extraKafka lines added to the kafka section.
func writeRunConfig(t *testing.T, dir, broker, addr, db, group, extraKafka string) string {
	t.Helper()
	path := filepath.Join(dir, "driftwatch.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  topic: telemetry
  group_id: %s
  heartbeat_interval: 200ms
  join_group_backoff: 200ms
  max_wait: 100ms
  commit_interval: 200ms
%sclickhouse:
  addr: %s
  database: %s
analysis:
  window_size: 2s
  allowed_lateness: 500ms
  idle_flush: 1s
  warmup_windows: 2
listen: 127.0.0.1:0
`, broker, group, extraKafka, addr, db)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRun starts `driftwatch run` with the configuration at cfgPath,
// logging at info level to logPath.
func startRun(t *testing.T, bin, cfgPath, logPath string) (*exec.Cmd, *os.File) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, logf
}

// TestKillAndRestartCountsEveryEventOnce SIGKILLs the monitor in the middle
// of a window while telemetry flows, restarts it, and checks that every
// produced event is counted exactly once in inference_windows.
func TestKillAndRestartCountsEveryEventOnce(t *testing.T) {
	bin := buildBinary(t)
	s, addr, db := clickhouseForTest(t)
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, broker.Brokers()[0], addr, db, "restart-test", "")
	start := func(name string) (*exec.Cmd, *os.File) {
		return startRun(t, bin, cfgPath, filepath.Join(dir, name+".log"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Real-time telemetry: 4,000 events/s for 12 s, 3 models, event time = wall time.
	sc := generator.DefaultScenario(3, 8)
	sc.Rate = 4000
	sc.Start = time.Now().UTC()
	g, err := generator.New(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	produced := make(chan result, 1)
	go func() {
		n, err := generator.Produce(ctx, broker.Brokers(), "telemetry", g, 48000, slog.New(slog.DiscardHandler))
		produced <- result{n, err}
	}()

	first, firstLog := start("first")
	// Kill once some windows are stored and the deciders pinned the
	// references, half-way through a window.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, w := storedEvents(t, s); w >= 6 && queryCount(s, "SELECT count() FROM model_windows FINAL") >= 6 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(firstLog.Name())
			t.Fatalf("the first monitor stored no windows in time; its log:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	windowMs := int64(2000)
	for time.Now().UnixMilli()%windowMs < windowMs/3 || time.Now().UnixMilli()%windowMs > 2*windowMs/3 {
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	beforeRestart, _ := storedEvents(t, s)
	time.Sleep(time.Second)

	second, secondLog := start("second")
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
		if t.Failed() {
			for _, f := range []*os.File{firstLog, secondLog} {
				b, _ := os.ReadFile(f.Name())
				t.Logf("%s:\n%s", f.Name(), b)
			}
		}
	}()
	r := <-produced
	if r.err != nil || r.n != 48000 {
		t.Fatalf("produced %d events: %v", r.n, r.err)
	}
	var got uint64
	deadline = time.Now().Add(90 * time.Second)
	for {
		got, _ = storedEvents(t, s)
		if got >= uint64(r.n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Give a duplicate the time to show up, if there were one.
	time.Sleep(3 * time.Second)
	got, windows := storedEvents(t, s)
	if got != uint64(r.n) {
		t.Fatalf("inference_windows counts %d events in %d windows, want exactly the %d produced (%d were stored before the kill)", got, windows, r.n, beforeRestart)
	}
	if beforeRestart == 0 || beforeRestart >= uint64(r.n) {
		t.Fatalf("the kill did not happen mid-stream: %d of %d events stored before it", beforeRestart, r.n)
	}
	b, _ := os.ReadFile(secondLog.Name())
	if strings.Contains(string(b), "does not match its id") {
		t.Errorf("a stored reference failed its content-hash check after the restart; log:\n%s", b)
	}
	if !strings.Contains(string(b), "reference loaded") {
		t.Errorf("the restarted monitor did not load the pinned references; its log:\n%s", b)
	}
	if !strings.Contains(string(b), "resuming partition") {
		t.Errorf("the restarted monitor did not resume from stored windows; its log:\n%s", b)
	}
	t.Logf("%d events in %d windows; %d were stored before the SIGKILL", got, windows, beforeRestart)
}
