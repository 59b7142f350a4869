package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/internal/chtest"
	"github.com/driftwatch/driftwatch/storage"
)

// testClickHouse returns the address of the test ClickHouse server and a
// fresh database name that is dropped when the test ends.
func testClickHouse(t *testing.T) (addr, db string) {
	t.Helper()
	_, addr, db = chtest.Open(t, "dw_monitor", false)
	return addr, db
}

// clickHouseConfig is storage.DefaultConfig pointed at addr and db.
func clickHouseConfig(addr, db string) storage.Config {
	c := storage.DefaultConfig()
	c.Addr, c.Database = addr, db
	return c
}

func queryUint(t *testing.T, s *storage.Store, sql string, args ...any) uint64 {
	t.Helper()
	rows, err := s.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var v uint64
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return v
}

// waitDecided waits until every window counted in inference_windows is
// decided (model_windows), or fails at deadline.
func waitDecided(t *testing.T, s *storage.Store, deadline time.Time) {
	t.Helper()
	for {
		windows := queryUint(t, s, "SELECT count() FROM (SELECT DISTINCT model_id, model_version, window_start FROM inference_windows)")
		decided := queryUint(t, s, "SELECT count() FROM model_windows FINAL")
		if windows > 0 && decided == windows {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d windows decided in time", decided, windows)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alertSink is a webhook receiver that checks and keeps every payload.
type alertSink struct {
	t    *testing.T
	mu   sync.Mutex
	got  []webhook.Payload
	srv  *httptest.Server
	errs []string
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhook.Payload
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			s.errs = append(s.errs, "content type "+r.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, &p); err != nil {
			s.errs = append(s.errs, err.Error())
		} else if p.Key == "" || p.ModelID == "" || (p.Feature == "") == (p.Signal == "" || p.Subject == "") || p.Summary == "" || len(p.Tests) == 0 ||
			(p.Status != "firing" && p.Status != "resolved") || (p.Severity != "warning" && p.Severity != "critical") {
			s.errs = append(s.errs, "incomplete payload: "+string(body))
		}
		s.got = append(s.got, p)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *alertSink) payloads() []webhook.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		s.t.Errorf("bad alert payloads: %v", s.errs)
	}
	return append([]webhook.Payload(nil), s.got...)
}

// TestEndToEnd runs generator → embedded Kafka → monitor → ClickHouse →
// alert, and checks the rows and the alert that come out.
func TestEndToEnd(t *testing.T) {
	addr, db := testClickHouse(t)
	sink := newAlertSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Embedded = true
	cfg.Kafka.EmbeddedAddr = "127.0.0.1:0"
	cfg.Kafka.Consumer.Topic = "telemetry"
	cfg.Kafka.Consumer.HeartbeatInterval = 200 * time.Millisecond
	cfg.Kafka.Consumer.JoinGroupBackoff = 200 * time.Millisecond
	cfg.Kafka.Consumer.MaxWait = 100 * time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = 2 * time.Second
	cfg.Analysis.AllowedLateness = time.Second
	cfg.Analysis.IdleFlush = time.Second
	cfg.Analysis.WarmupWindows = 2
	cfg.Alerting.PendingWindows = 2
	hook := webhook.DefaultConfig()
	hook.Name, hook.URL = "sink", sink.srv.URL
	cfg.Alerting.Webhook = []webhook.Config{hook}
	// The embedded broker listens on a free port; Brokers follow it below.
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg.Kafka.Embedded = false
	cfg.Kafka.Consumer.Brokers = e.Brokers()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	m, err := New(ctx, cfg, Options{Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()

	// 2 models, 20 s of event time at 2,000 events/s of event time (10 windows),
	// fraud-scorer shifted by 1.5σ after 9 s, one malformed message in 200.
	sc := generator.DefaultScenario(2, 10)
	sc.Start = time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc.EventStep = 500 * time.Microsecond
	sc.BadFraction = 0.005
	sc.Shift = &generator.Shift{Model: sc.Models[0].ID, After: 9 * time.Second, MeanShift: 1.5, CategoryFlip: true}
	shifted := sc.Models[0].ID
	g, err := generator.New(sc, 42)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40000
	if sent, err := generator.Produce(ctx, e.Brokers(), "telemetry", g, n, log); err != nil || sent != n {
		t.Fatalf("produced %d of %d: %v", sent, n, err)
	}

	// Wait until every message is accounted for: counted in a stored window or dead-lettered.
	s := m.Store()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := m.Stats()
		stored := queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL")
		if stored+st.Rejected == n && m.alertsDelivered(sink) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d events stored, %d dead-lettered, %d alerts, of %d messages", stored, st.Rejected, len(sink.payloads()), n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	waitDecided(t, s, deadline)
	checkMetrics(t, m.Addr())
	stop()
	if err := <-done; err != nil {
		t.Fatalf("monitor: %v", err)
	}

	st := m.Stats()
	if st.Rejected == 0 || st.Rejected > n/50 {
		t.Errorf("%d messages dead-lettered; the generator makes about %d", st.Rejected, n/200)
	}
	if w := queryUint(t, s, "SELECT count() FROM inference_windows FINAL"); w < 16 {
		t.Errorf("%d windows stored, want at least 16 (2 models × 8+ windows)", w)
	}
	if r := queryUint(t, s, "SELECT uniqExact(model_id) FROM `references`"); r != 2 {
		t.Errorf("references of %d models stored, want 2", r)
	}
	if f := queryUint(t, s, "SELECT count() FROM feature_windows FINAL WHERE model_id = ? AND length(bin_counts) > 0", shifted); f == 0 {
		t.Error("no feature window with bin counts")
	}
	// The shifted model drifts on shifted features; the other model does not.
	if d := queryUint(t, s, "SELECT count() FROM drift_scores FINAL WHERE model_id = ? AND test = 'psi' AND severity = 'critical' AND window_start >= ?", shifted, sc.Start.Add(10*time.Second)); d < 5 {
		t.Errorf("%d critical PSI scores of %s after the shift, want at least 5", d, shifted)
	}
	if d := queryUint(t, s, "SELECT count() FROM drift_scores FINAL WHERE model_id = ? AND window_start < ? AND severity = 'critical'", shifted, sc.Start.Add(8*time.Second)); d != 0 {
		t.Errorf("%d critical scores of %s before the shift", d, shifted)
	}
	var firingShifted int
	for _, p := range sink.payloads() {
		if p.Status == "firing" && p.ModelID == shifted {
			firingShifted++
		}
		if p.Status == "firing" && p.ModelID != shifted && p.Severity == "critical" {
			t.Errorf("critical alert for the stable model: %s", p.Summary)
		}
	}
	if firingShifted == 0 {
		t.Fatal("no firing alert for the shifted model")
	}
	if a := queryUint(t, s, "SELECT count() FROM alerts WHERE record = 'delivery' AND outcome = 'success' AND model_id = ?", shifted); a == 0 {
		t.Error("no successful delivery recorded in the alerts table")
	}
	checkDeadLetters(t, e.Brokers(), "telemetry.dlq", int(st.Rejected))
}

// checkDeadLetters reads the dead-letter topic back and checks that every
// rejected message is there with its reason and origin.
func checkDeadLetters(t *testing.T, brokers []string, topic string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reasons := map[string]int{}
	origins := map[string]bool{}
	for part := 0; part < 3; part++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, part)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < last; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading dead letters: %v", err)
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			if h["x-orig-topic"] != "telemetry" || h["x-orig-offset"] == "" || h["x-orig-partition"] == "" || h["x-error"] == "" || h["x-consumer-group"] == "" {
				t.Errorf("dead letter with incomplete headers: %v", h)
			}
			reasons[h["x-error-reason"]]++
			origins[h["x-orig-partition"]+"/"+h["x-orig-offset"]] = true
			if len(m.Key) == 0 || len(m.Value) == 0 {
				t.Error("dead letter lost the original key or value")
			}
		}
		r.Close()
	}
	if len(origins) != want {
		t.Errorf("%d distinct dead letters on %s, want %d", len(origins), topic, want)
	}
	// The generator's malformed messages: invalid JSON, a "NaN" number, a missing prediction_id.
	for _, reason := range []string{"invalid_json", "invalid_value", "missing_field"} {
		if reasons[reason] == 0 {
			t.Errorf("no dead letter with reason %s (got %v)", reason, reasons)
		}
	}
}

// alertsDelivered reports whether the sink has received a firing alert.
func (m *Monitor) alertsDelivered(s *alertSink) bool {
	for _, p := range s.payloads() {
		if p.Status == "firing" {
			return true
		}
	}
	return false
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// checkMetrics scrapes /metrics and lints it with promtool (Debian's
// prometheus package), and checks that every stage reports.
func checkMetrics(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping /metrics: %d %v", resp.StatusCode, err)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus, or make deps): %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range []string{
		"driftwatch_ingest_messages_total", "driftwatch_ingest_rejected_total", "driftwatch_ingest_commit_lag_messages",
		"driftwatch_analysis_late_events_total", "driftwatch_analysis_windows_closed_total",
		"driftwatch_clickhouse_insert_duration_seconds", "driftwatch_clickhouse_insert_errors_total",
		"driftwatch_alerts_notifications_total", "driftwatch_drift_statistic{",
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
