package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/ingest"
)

// TestCallerVolumeEndToEnd sends, over 3 partitions keyed by prediction id,
// six windows of 10 callers making 100 calls each; from the fourth window a
// new caller makes 600 calls per window. caller_volume names it (a warning,
// never critical, saying it was not among the reference period's callers)
// in each of those windows and names no one else; its calls crowd the
// decision boundary, which caller_probing finds critical, for it alone.
func TestCallerVolumeEndToEnd(t *testing.T) {
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Analysis.WarmupWindows = 2
	cfg.Signals.Access.Enabled = true
	m := runHostile(t, ctx, cfg)

	const windows, from = 6, 3
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var msgs []kafka.Message
	n := 0
	event := func(caller string, at time.Time, score float64) {
		b, err := json.Marshal(map[string]any{"prediction_id": fmt.Sprint("p-", n), "event_time": at.Format(time.RFC3339Nano),
			"model": map[string]any{"id": "api", "version": "1"}, "principal": map[string]any{"enduser.id": caller},
			"features":   map[string]any{"numeric": map[string]any{"x": float64(n % 7)}},
			"prediction": map[string]any{"score": score, "threshold": 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("p-", n)), Value: b})
		n++
	}
	for w := range windows + 1 { // the last one closes the others
		ws := start.Add(time.Duration(w) * cfg.Analysis.WindowSize)
		for i := range 1000 {
			// About 5% of the ordinary calls land near the threshold.
			score := 0.9 - 0.7*float64(i%2) // 0.9 or 0.2, far from the threshold
			if (i/10)%20 == 7 {
				score = 0.52
			}
			event(fmt.Sprint("user-", i%10), ws.Add(time.Duration(i)*time.Millisecond), score)
		}
		if w >= from && w < windows {
			// The harvester probes the decision boundary.
			for i := range 600 {
				event("harvester", ws.Add(time.Duration(i)*time.Millisecond+500*time.Microsecond), 0.49+0.02*float64(i%2))
			}
		}
	}
	wr := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", Balancer: &kafka.Murmur2Balancer{}, BatchSize: 1000,
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer wr.Close()
	if err := wr.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	s := m.Store()
	deadline := time.Now().Add(90 * time.Second)
	for queryUint(t, s, "SELECT count() FROM model_windows FINAL") < windows {
		if time.Now().After(deadline) {
			t.Fatalf("%d windows decided, want %d", queryUint(t, s, "SELECT count() FROM model_windows FINAL"), windows)
		}
		time.Sleep(300 * time.Millisecond)
	}
	named := queryRows(t, s, `SELECT concat(toString(intDiv(toUInt32(window_start) - ?, 2)), ' ', subject, ' ', severity, ' ', evidence) FROM signals FINAL
WHERE signal = 'caller_volume' AND subject != '*' ORDER BY window_start, subject`, uint64(start.Unix()))
	t.Logf("named: %v", named)
	if len(named) != windows-from {
		t.Fatalf("%d callers named, want the harvester in %d windows: %v", len(named), windows-from, named)
	}
	for i, v := range named {
		if !strings.HasPrefix(v, fmt.Sprintf("%d harvester warning 600 calls", from+i)) || !strings.Contains(v, "not among the reference period's callers") {
			t.Errorf("window %d: %q", from+i, v)
		}
	}
	// It also probes the decision boundary: caller_probing is critical for
	// it in each of those windows, and for no one else in any.
	probing := queryRows(t, s, `SELECT concat(toString(intDiv(toUInt32(window_start) - ?, 2)), ' ', subject, ' ', severity) FROM signals FINAL
WHERE signal = 'caller_probing' AND subject != '*' AND severity != 'ok' ORDER BY window_start, subject`, uint64(start.Unix()))
	want := []string{}
	for w := from; w < windows; w++ {
		want = append(want, fmt.Sprintf("%d harvester critical", w))
	}
	if fmt.Sprint(probing) != fmt.Sprint(want) {
		t.Errorf("caller_probing fired %v, want %v", probing, want)
	}
	// caller_windows holds what every caller did in every decided window,
	// exactly (fewer callers than max_callers).
	if got := queryUint(t, s, "SELECT sum(calls) FROM caller_windows FINAL WHERE toUInt32(window_start) < ?",
		uint64(start.Add(windows*cfg.Analysis.WindowSize).Unix())); got != windows*1000+(windows-from)*600 {
		t.Errorf("caller_windows counts %d calls, want %d", got, windows*1000+(windows-from)*600)
	}
	rows := queryRows(t, s, `SELECT concat(toString(intDiv(toUInt32(window_start) - ?, 2)), ' ', toString(calls), ' ', toString(scored_calls), ' ',
toString(probes), ' ', toString(calls_overcount)) FROM caller_windows FINAL WHERE caller = 'harvester' ORDER BY window_start`, uint64(start.Unix()))
	if fmt.Sprint(rows) != "[3 600 600 600 0 4 600 600 600 0 5 600 600 600 0]" {
		t.Errorf("the harvester's caller_windows rows: %v", rows)
	}
}
