package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
)

// TestKillWhileLabelsFlowCountsEveryLabelOnce SIGKILLs the monitor while
// telemetry and its labels (1 s after each prediction) flow in real time,
// restarts it, and checks that every label is counted exactly once in the
// realized performance: performance_windows holds as many labeled
// predictions as labels were produced, and as many predictions as events,
// however many labels and predictions the killed run had stored and will
// be stored again.
func TestKillWhileLabelsFlowCountsEveryLabelOnce(t *testing.T) {
	bin := buildBinary(t)
	s, addr, db := clickhouseForTest(t)
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq", "labels"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, broker.Brokers()[0], addr, db, "labels-restart", "  labels_topic: labels\n")
	start := func(name string) (*exec.Cmd, *os.File) {
		return startRun(t, bin, cfgPath, filepath.Join(dir, name+".log"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Real time: 3,000 events/s for 10 s over 2 models, each labeled 1 s later.
	sc := generator.DefaultScenario(2, 6)
	sc.Rate, sc.Start, sc.BadFraction = 3000, time.Now().UTC(), 0
	sc.Labels = &generator.Labels{Delay: time.Second}
	g, err := generator.New(sc, 9)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   generator.Produced
		err error
	}
	produced := make(chan result, 1)
	go func() {
		p, err := generator.ProduceWith(ctx, broker.Brokers(), "telemetry", g, 30000, generator.ProduceOptions{LabelsTopic: "labels"}, slog.New(slog.DiscardHandler))
		produced <- result{p, err}
	}()

	first, firstLog := start("first")
	// Kill once labels are being stored and performance computed.
	deadline := time.Now().Add(60 * time.Second)
	for queryCount(s, "SELECT count() FROM labels") < 2000 || queryCount(s, "SELECT count() FROM performance_windows FINAL WHERE labeled > 0") < 2 {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(firstLog.Name())
			t.Fatalf("the first monitor stored no labels in time; its log:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	labeledBefore := queryCount(s, "SELECT toUInt64(sum(labeled)) FROM performance_windows FINAL")
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
	if r.err != nil || r.p.Events != 30000 || r.p.Labels != 30000 {
		t.Fatalf("produced %+v: %v", r.p, r.err)
	}
	want := uint64(r.p.Labels)
	labeled := func() uint64 { return queryCount(s, "SELECT toUInt64(sum(labeled)) FROM performance_windows FINAL") }
	deadline = time.Now().Add(90 * time.Second)
	for labeled() < want && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	// Give a double count the time to show up, if there were one.
	time.Sleep(3 * time.Second)
	got, predictions := labeled(), queryCount(s, "SELECT toUInt64(sum(predictions)) FROM performance_windows FINAL")
	stored := queryCount(s, "SELECT count() FROM labels")
	if got != want || predictions != uint64(r.p.Events) {
		t.Fatalf("performance_windows counts %d labeled of %d predictions, want exactly %d of %d (%d were labeled before the kill)",
			got, predictions, want, r.p.Events, labeledBefore)
	}
	if labeledBefore == 0 || labeledBefore >= want {
		t.Fatalf("the kill did not happen while labels flowed: %d of %d labels counted before it", labeledBefore, want)
	}
	t.Logf("%d labels counted once (%d label rows stored, replays included; %d counted before the SIGKILL)", got, stored, labeledBefore)
}
