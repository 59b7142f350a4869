package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/ingest"
)

// TestSighupReloadsThePolicy runs `driftwatch run` with an alert policy
// file and sends it SIGHUP three times: after the file was broken (the run
// logs every problem with its line and keeps the policy in force), after it
// was fixed (reloaded), and the process is still running at the end.
func TestSighupReloadsThePolicy(t *testing.T) {
	bin := buildBinary(t)
	_, addr, db := clickhouseForTest(t)
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yml")
	good := "rules:\n  - name: psi\n    match:\n      signals: [psi]\n    for: 2\n"
	if err := os.WriteFile(policy, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeRunConfig(t, dir, broker.Brokers()[0], addr, db, "reload", "")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte("alerting:\n  policy_file: "+policy+"\n")...)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "run.log")
	cmd, _ := startRun(t, bin, cfgPath, logPath)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("run log:\n%s", b)
		}
	}()
	waitLog := func(want string, count int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(logPath)
			if strings.Count(string(b), want) >= count {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the run log does not show %q %d times", want, count)
	}
	waitLog("driftwatch running", 1)

	if err := os.WriteFile(policy, []byte(good+"    keep_firing_for: -1\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("alert policy not reloaded; the previous policy stays", 1)
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "policy.yml:6") || !strings.Contains(string(b), "bogus") {
		t.Errorf("the rejection does not name the file, line and key:\n%s", b)
	}

	if err := os.WriteFile(policy, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("alert policy reloaded", 1)
	if cmd.ProcessState != nil {
		t.Fatal("the run ended after SIGHUP")
	}
}
