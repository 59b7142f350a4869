package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// TestOutputSignalScenarios runs each behaviour scenario (GenAI ones
// included) through Kafka (3
// partitions, events keyed by prediction id so that every model window is
// merged across partitions), the monitor and ClickHouse: one model per
// scenario, 1% of calls failing everywhere, 2 s windows of 1,000 calls, two
// warm-up windows, the shift from the fourth window on. Each shifted
// model's signal fires, naming the right signal and subject, in the first
// shifted window already, and in at least 4 of its 5; nothing fires before
// the shift, and the clean model raises no signal at all.
func TestOutputSignalScenarios(t *testing.T) {
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Analysis.WarmupWindows = 2
	sink := newAlertSink(t)
	hook := webhook.DefaultConfig()
	hook.Name, hook.URL = "sink", sink.srv.URL
	cfg.Alerting.Webhook = []webhook.Config{hook}
	m := runHostile(t, ctx, cfg)

	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	const windows, shiftAt = 8, 3 // windows of each model; the first shifted one
	cases := []struct {
		model, scenario string
		signal, subject string // what must fire
	}{
		{"latency-model", generator.ScenarioLatencySpike, "latency", "*"},
		{"error-model", generator.ScenarioErrorBurst, "error_rate", "upstream_timeout"},
		{"class-model", generator.ScenarioClassShift, "class_share", generator.ClassPositive},
		{"unsure-model", generator.ScenarioConfidenceCollapse, "confidence", "*"},
		{"chat-refusing", generator.ScenarioRefusalSpike, "refusal_rate", "*"},
		{"chat-verbose", generator.ScenarioTokenInflation, "tokens", "output"},
		{"clean-model", "", "", ""},
	}
	// The models' events interleaved in event time, as producers send them:
	// a partition's watermark is shared by its models.
	var gens []*generator.Generator
	for i, c := range cases {
		sc := generator.DefaultScenario(1, 8)
		sc.Models[0].ID = c.model
		// The GenAI models and the clean one send GenAI usage.
		sc.Models[0].GenAI = strings.HasPrefix(c.model, "chat-") || c.scenario == ""
		sc.Start, sc.EventStep, sc.ErrorRate, sc.KeyByPrediction = start, 2*time.Millisecond, 0.01, true
		if c.scenario != "" {
			sh, err := generator.ShiftFor(c.scenario, c.model, shiftAt*2*time.Second, 1)
			if err != nil {
				t.Fatal(err)
			}
			sc.Shift = sh
		}
		g, err := generator.New(sc, int64(10+i))
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, g)
	}
	// Past the last window's end plus the lateness, so that it closes.
	const perModel = windows*1000 + 600
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", Balancer: &kafka.Murmur2Balancer{},
		BatchSize: 1000, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var batch []kafka.Message
	for range perModel {
		for _, g := range gens {
			key, value := g.NextMessage(nil)
			batch = append(batch, kafka.Message{Key: []byte(key), Value: value})
		}
		if len(batch) >= 2000 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := w.WriteMessages(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	total := perModel * len(cases)
	s := m.Store()
	deadline := time.Now().Add(2 * time.Minute)
	for queryUint(t, s, "SELECT count() FROM model_windows FINAL") < uint64(len(cases)*windows) {
		if time.Now().After(deadline) {
			t.Fatalf("%d model windows decided, want %d", queryUint(t, s, "SELECT count() FROM model_windows FINAL"), len(cases)*windows)
		}
		time.Sleep(300 * time.Millisecond)
	}
	shiftStart := uint64(start.Add(shiftAt * 2 * time.Second).Unix())
	for _, c := range cases {
		fired := queryRows(t, s, `SELECT concat(signal, '/', subject, '/', severity, '@', toString(toUInt32(window_start) - ?)) FROM signals FINAL
WHERE model_id = ? AND severity != 'ok' ORDER BY window_start, signal, subject`, uint64(start.Unix()), c.model)
		t.Logf("%s: %v", c.model, fired)
		if c.scenario == "" {
			if len(fired) != 0 {
				t.Errorf("%s: signals fired without any shift: %v", c.model, fired)
			}
			continue
		}
		var before []string
		for _, f := range fired {
			if !strings.Contains(f, c.signal+"/") {
				continue
			}
			var at uint64
			fmt.Sscanf(f[strings.LastIndex(f, "@")+1:], "%d", &at)
			if at+uint64(start.Unix()) < shiftStart {
				before = append(before, f)
			}
		}
		if len(before) > 0 {
			t.Errorf("%s: %s fired before the shift: %v", c.model, c.signal, before)
		}
		right := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = ? AND subject = ?
AND severity != 'ok' AND toUInt32(window_start) >= ?`, c.model, c.signal, c.subject, shiftStart)
		first := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = ? AND subject = ?
AND severity != 'ok' AND toUInt32(window_start) = ?`, c.model, c.signal, c.subject, shiftStart)
		if right < windows-shiftAt-1 || first != 1 {
			t.Errorf("%s: %s about %q fired in %d of the %d shifted windows (first shifted window: %d); fired: %v",
				c.model, c.signal, c.subject, right, windows-shiftAt, first, fired)
		}
	}
	// The per-call failures and refusals also feed a DDM across windows
	// (counts per window): it detects the burst and the refusals within two
	// shifted windows, and nothing elsewhere.
	for _, c := range []struct{ model, signal string }{{"error-model", "error_rate_ddm"}, {"chat-refusing", "refusal_rate_ddm"}} {
		if n := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = ? AND severity != 'ok'
AND toUInt32(window_start) >= ? AND toUInt32(window_start) < ?`, c.model, c.signal, shiftStart, shiftStart+4); n == 0 {
			t.Errorf("%s: %s detected nothing in the first two shifted windows", c.model, c.signal)
		}
	}
	if fired := queryRows(t, s, `SELECT concat(model_id, ' ', signal, '@', toString(toUInt32(window_start) - ?)) FROM signals FINAL
WHERE endsWith(signal, '_ddm') AND severity != 'ok' AND (model_id NOT IN ('error-model', 'chat-refusing') OR toUInt32(window_start) < ?)`,
		uint64(start.Unix()), shiftStart); len(fired) != 0 {
		t.Errorf("DDM detections where nothing changed: %v", fired)
	}
	// The collapsed confidence also shows as a drop of the estimated accuracy.
	if n := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = 'unsure-model' AND signal = 'estimated_performance'
AND subject = 'accuracy' AND severity != 'ok' AND toUInt32(window_start) >= ?`, shiftStart); n < windows-shiftAt-1 {
		t.Errorf("unsure-model: the estimated accuracy dropped in %d of the %d shifted windows", n, windows-shiftAt)
	}
	if n := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE signal = 'estimated_performance' AND severity != 'ok'
AND (model_id != 'unsure-model' OR toUInt32(window_start) < ?)`, shiftStart); n != 0 {
		t.Errorf("%d estimated-performance verdicts fired where the scores did not change", n)
	}
	// Each shifted model pages once, naming the signal and subject (two
	// shifted windows in a row fire; the alert stays firing after).
	deadline = time.Now().Add(30 * time.Second)
	for {
		firing := map[string]bool{}
		for _, p := range sink.payloads() {
			if p.Status == "firing" {
				firing[p.ModelID+" "+p.Signal+" "+p.Subject] = true
				// The class and confidence shifts move prediction.* too,
				// which the drift tests see; the others change no input.
				if p.ModelID == "clean-model" || p.Feature != "" && (p.ModelID == "latency-model" || p.ModelID == "error-model") {
					t.Errorf("unexpected alert: %s", p.Summary)
				}
			}
		}
		missing := []string{}
		for _, c := range cases {
			if c.scenario != "" && !firing[c.model+" "+c.signal+" "+c.subject] {
				missing = append(missing, c.model+" "+c.signal+" "+c.subject)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firing alert for %v; got %v", missing, firing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := m.Stats(); st.Rejected != 0 {
		t.Errorf("%d of %d events rejected", st.Rejected, total)
	}
}

// queryRows returns the single String column of every row sql selects.
func queryRows(t *testing.T, s *storage.Store, sql string, args ...any) []string {
	t.Helper()
	rows, err := s.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out = append(out, v)
	}
	return out
}
