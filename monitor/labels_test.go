package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// labelFor is one label event of the test.
func labelFor(t *testing.T, model, predictionID, class string, at time.Time, revision int) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"prediction_id": predictionID, "model_id": model, "label": map[string]any{"class": class},
		"label_source": "test", "label_time": at.Format(time.RFC3339Nano), "revision": revision})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealizedPerformanceFromDelayedLabels sends a binary classifier's
// events (keyed by prediction id over 3 partitions) and then, as if days
// later, their labels (keyed by model id): calibrated truths for
// the first windows, then 30% of them flipped (concept drift: the inputs and
// scores do not move). The labels stream carries what a real one does:
// predictions never labeled, labels sent twice, a corrected label (a higher
// revision), labels later than labels.max_delay, and a label that is not
// one. Every window's performance_windows row must hold exactly the counts
// the test computes from the truths it drew; the realized accuracy must stay
// ok before the drift and fire in the drifted windows, with the estimated
// accuracy shown next to it.
func TestRealizedPerformanceFromDelayedLabels(t *testing.T) {
	e, cfg, ctx := pipelineTest(t, 3*time.Minute, true)
	cfg.Labels.MaxDelay = 10 * time.Minute
	cfg.Labels.PredictionBatch = 700 // some batches written before their window closes
	m := runHostile(t, ctx, cfg)

	const model, windows, shiftAt, perWindow = "fraud", 8, 4, 1000
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc := generator.DefaultScenario(1, 6)
	sc.Models[0].ID = model
	sc.Start, sc.EventStep, sc.KeyByPrediction = start, 2*time.Millisecond, true
	g, err := generator.New(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ predictions, labeled, late, correct uint64 }
	wants := make([]want, windows)
	dec := telemetry.NewDecoder(telemetry.DefaultLimits(), time.Now)
	rng := rand.New(rand.NewPCG(5, 8))
	var events, labels []kafka.Message
	// Past the last window's end plus the lateness, so that it closes.
	for i := range windows*perWindow + 600 {
		key, value := g.NextMessage(nil)
		events = append(events, kafka.Message{Key: []byte(key), Value: value})
		var ev telemetry.Event
		if err := dec.Decode(value, &ev); err != nil {
			t.Fatal(err)
		}
		win := int(ev.EventTime.Sub(start) / cfg.Analysis.WindowSize)
		if win >= windows {
			continue
		}
		wn := &wants[win]
		wn.predictions++
		truth := generator.ClassNegative
		if rng.Float64() < *ev.Prediction.Score {
			truth = generator.ClassPositive
		}
		if win >= shiftAt && rng.Float64() < 0.3 {
			truth = map[string]string{generator.ClassPositive: generator.ClassNegative, generator.ClassNegative: generator.ClassPositive}[truth]
		}
		at := ev.EventTime.Add(5 * time.Minute)
		switch {
		case i%10 == 9: // never labeled
			continue
		case i%97 == 0: // later than max_delay
			at = ev.EventTime.Add(20 * time.Minute)
			wn.late++
		default:
			wn.labeled++
			if truth == ev.Prediction.Class {
				wn.correct++
			}
		}
		// Keyed by model id, as docs/telemetry.md asks: a model's labels
		// are read in the order they were sent.
		lb := labelFor(t, model, ev.PredictionID, truth, at, 1)
		switch {
		case i%50 == 1: // sent twice
			labels = append(labels, kafka.Message{Key: []byte(model), Value: lb})
		case i%50 == 2: // first wrong, then corrected with a higher revision
			wrong := map[string]string{generator.ClassPositive: generator.ClassNegative, generator.ClassNegative: generator.ClassPositive}[truth]
			labels = append(labels, kafka.Message{Key: []byte(model), Value: labelFor(t, model, ev.PredictionID, wrong, at, 0)})
		}
		labels = append(labels, kafka.Message{Key: []byte(model), Value: lb,
			Headers: []kafka.Header{{Key: "ce_type", Value: []byte("ai.driftwatch.label.v1")}}})
	}
	labels = append(labels, kafka.Message{Key: []byte("bad"), Value: []byte(`{"model_id": "fraud", "label": {"class": "x"}, "label_time": "2026-01-01T00:00:00Z"}`)})
	writeMessages(t, ctx, e.Brokers(), "telemetry", events)
	s := m.Store()
	deadline := time.Now().Add(2 * time.Minute)
	for queryUint(t, s, "SELECT count() FROM model_windows FINAL") < windows {
		if time.Now().After(deadline) {
			t.Fatalf("%d model windows decided, want %d", queryUint(t, s, "SELECT count() FROM model_windows FINAL"), windows)
		}
		time.Sleep(300 * time.Millisecond)
	}
	writeMessages(t, ctx, e.Brokers(), "labels", labels)

	var wantLabeled uint64
	for _, w := range wants {
		wantLabeled += w.labeled
	}
	for queryUint(t, s, "SELECT sum(labeled) FROM performance_windows FINAL WHERE model_id = ?", model) < wantLabeled {
		if time.Now().After(deadline) {
			t.Fatalf("%d predictions labeled in performance_windows, want %d", queryUint(t, s, "SELECT sum(labeled) FROM performance_windows FINAL WHERE model_id = ?", model), wantLabeled)
		}
		time.Sleep(300 * time.Millisecond)
	}
	rows, err := s.PerformanceBetween(ctx, model, sc.Models[0].Version, start, start.Add(windows*cfg.Analysis.WindowSize))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != windows {
		t.Fatalf("%d performance rows, want %d", len(rows), windows)
	}
	for i, r := range rows {
		got := want{r.Predictions, r.Labeled, r.LateLabels, r.Correct}
		if got != wants[i] || r.Classified != r.Labeled || r.Scored != r.Labeled {
			t.Errorf("window %d: predictions, labeled, late, correct = %+v (classified %d, scored %d), want %+v", i, got, r.Classified, r.Scored, wants[i])
		}
	}
	// The label that is not one, dead-lettered once with its reason.
	var dead []string
	for part := range 3 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.Brokers(), Topic: "telemetry.dlq", Partition: part, MaxWait: 100 * time.Millisecond})
		for {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			msg, err := r.ReadMessage(rctx)
			rcancel()
			if err != nil {
				break
			}
			dead = append(dead, header(msg, "x-orig-topic")+"/"+header(msg, "x-error-reason")+"/"+header(msg, "x-error"))
		}
		r.Close()
	}
	if len(dead) != 1 || dead[0] != "labels/missing_field/prediction_id: required" {
		t.Errorf("dead letters %q, want the label without prediction_id", dead)
	}

	// Realized accuracy: informative in the reference period (the first two
	// windows), ok until the drift, then fired.
	verdicts := queryRows(t, s, `SELECT concat(toString(intDiv(toUInt32(window_start) - ?, 2)), ':', severity, ':', evidence) FROM signals FINAL
WHERE model_id = ? AND signal = 'realized_performance' AND subject = 'accuracy' ORDER BY window_start`, uint64(start.Unix()), model)
	t.Logf("realized accuracy: %v", verdicts)
	if len(verdicts) != windows {
		t.Fatalf("%d realized accuracy verdicts, want %d", len(verdicts), windows)
	}
	fired := 0
	for i, v := range verdicts {
		parts := strings.SplitN(v, ":", 3)
		if parts[0] != fmt.Sprint(i) {
			t.Fatalf("verdict %d is of window %s", i, parts[0])
		}
		if !strings.Contains(parts[2], "estimated before labels") {
			t.Errorf("window %d: no estimated accuracy in the evidence %q", i, parts[2])
		}
		switch {
		case i < shiftAt && parts[1] != "ok":
			t.Errorf("window %d, before the drift: %s", i, parts[1])
		case i >= shiftAt && parts[1] != "ok":
			fired++
		}
		// The first two windows are the reference period; the others are
		// graded against it.
		if i >= 2 && !strings.Contains(parts[2], "reference period") {
			t.Errorf("window %d decided without the reference period: %q", i, parts[2])
		}
	}
	// Before the drift the labels follow the scores: the accuracy estimated
	// from the scores alone (CBPE) agrees with the realized one within
	// three standard errors of a proportion.
	for i, r := range rows[:shiftAt] {
		est := queryFloat(t, s, `SELECT argMax(statistic, decided_at) FROM signals WHERE model_id = ? AND window_start = ?
AND signal = 'estimated_performance' AND subject = 'accuracy'`, model, r.WindowStart)
		realized := float64(r.Correct) / float64(r.Classified)
		if se := math.Sqrt(est * (1 - est) / float64(r.Classified)); math.Abs(est-realized) > 3*se {
			t.Errorf("window %d: estimated accuracy %.4f, realized %.4f: more than 3 standard errors (%.4f) apart", i, est, realized, se)
		}
	}
	// Calibrated on the reference period's labels (the first two windows),
	// the estimate of the windows after it agrees with the realized accuracy
	// too until the drift, and is shown next to it.
	for i := 2; i < windows; i++ {
		r := rows[i]
		cal := queryFloat(t, s, `SELECT argMax(statistic, decided_at) FROM signals WHERE model_id = ? AND window_start = ?
AND signal = 'estimated_performance' AND subject = 'accuracy_calibrated'`, model, r.WindowStart)
		realized := float64(r.Correct) / float64(r.Classified)
		if se := math.Sqrt(cal * (1 - cal) / float64(r.Classified)); i < shiftAt && math.Abs(cal-realized) > 3*se {
			t.Errorf("window %d: calibrated estimate %.4f, realized %.4f: more than 3 standard errors (%.4f) apart", i, cal, realized, se)
		}
		if !strings.Contains(verdicts[i], "calibrated on the reference period's labels") {
			t.Errorf("window %d: no calibrated estimate in %q", i, verdicts[i])
		}
	}
	// The per-window error counts feed a DDM: it detects the drift in the
	// drifted windows and nothing before.
	ddm := queryRows(t, s, `SELECT toString(intDiv(toUInt32(window_start) - ?, 2)) FROM signals FINAL
WHERE model_id = ? AND signal = 'realized_error_ddm' AND severity != 'ok' ORDER BY window_start`, uint64(start.Unix()), model)
	if len(ddm) == 0 || ddm[0] < fmt.Sprint(shiftAt) {
		t.Errorf("the realized error DDM detected changes in windows %v, want from window %d on", ddm, shiftAt)
	}
	if fired < windows-shiftAt-1 {
		t.Errorf("the realized accuracy fired in %d of the %d drifted windows", fired, windows-shiftAt)
	}
}

// queryFloat returns the single Float64 result of sql.
func queryFloat(t *testing.T, s *storage.Store, sql string, args ...any) float64 {
	t.Helper()
	rows, err := s.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var v float64
	if !rows.Next() {
		t.Fatalf("%s: no rows", sql)
	}
	if err := rows.Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConceptDriftScenario runs the generator's concept-drift scenario
// through Kafka, the monitor and ClickHouse: two models whose labels come 3 s
// of event time after their predictions, interleaved with the telemetry as
// `driftwatch generate --labels-topic` sends them; from the sixth window on,
// 30% of the first model's truths turn while its inputs and scores do not
// move. Its realized accuracy fires in the first shifted window already and
// in at least 3 of the 4 shifted windows, never before; the clean model
// raises no realized-performance verdict at all.
func TestConceptDriftScenario(t *testing.T) {
	e, cfg, ctx := pipelineTest(t, 3*time.Minute, true)
	m := runHostile(t, ctx, cfg)

	const windows, shiftAt = 10, 5
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc := generator.DefaultScenario(2, 6)
	sc.Start, sc.EventStep, sc.KeyByPrediction = start, time.Millisecond, true
	sc.Labels = &generator.Labels{Delay: 3 * time.Second}
	drifted, clean := sc.Models[0].ID, sc.Models[1].ID
	sh, err := generator.ShiftFor(generator.ScenarioConceptDrift, drifted, shiftAt*cfg.Analysis.WindowSize, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc.Shift = sh
	g, err := generator.New(sc, 21)
	if err != nil {
		t.Fatal(err)
	}
	// Past the last window's end plus the lateness, so that it closes.
	n := windows*2000 + 1500
	p, err := generator.ProduceWith(ctx, e.Brokers(), "telemetry", g, n, generator.ProduceOptions{LabelsTopic: "labels"}, nil)
	if err != nil || p.Events != n || p.Labels == 0 {
		t.Fatalf("produced %+v: %v", p, err)
	}
	s := m.Store()
	verdicts := func() uint64 {
		return queryUint(t, s, `SELECT count() FROM signals FINAL WHERE signal = 'realized_performance' AND subject = 'accuracy'
AND toUInt32(window_start) < ?`, uint64(start.Add(windows*cfg.Analysis.WindowSize).Unix()))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for verdicts() < 2*windows {
		if time.Now().After(deadline) {
			t.Fatalf("%d realized accuracy verdicts, want %d", verdicts(), 2*windows)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Every label stored, and the computations they caused done: the
	// labeled counts stop moving.
	for queryUint(t, s, "SELECT count() FROM labels FINAL") < uint64(p.Labels) {
		if time.Now().After(deadline) {
			t.Fatalf("%d labels stored, want %d", queryUint(t, s, "SELECT count() FROM labels FINAL"), p.Labels)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for last := uint64(0); ; {
		time.Sleep(time.Second)
		n := queryUint(t, s, "SELECT sum(labeled) FROM performance_windows FINAL")
		if n == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the realized counts did not settle")
		}
		last = n
	}
	shiftStart := uint64(start.Add(shiftAt * cfg.Analysis.WindowSize).Unix())
	fired := queryRows(t, s, `SELECT concat(model_id, ' ', signal, ' ', severity, '@', toString(intDiv(toUInt32(window_start) - ?, 2))) FROM signals FINAL
WHERE signal IN ('realized_performance', 'realized_error_ddm') AND severity != 'ok' ORDER BY model_id, window_start`, uint64(start.Unix()))
	t.Logf("fired: %v", fired)
	for _, f := range fired {
		if strings.HasPrefix(f, clean+" ") {
			t.Errorf("the clean model fired: %s", f)
		}
	}
	if n := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = 'realized_performance' AND severity != 'ok'
AND toUInt32(window_start) < ?`, drifted, shiftStart); n != 0 {
		t.Errorf("%s: the realized accuracy fired %d times before the drift", drifted, n)
	}
	right := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = 'realized_performance' AND subject = 'accuracy'
AND severity != 'ok' AND toUInt32(window_start) >= ? AND toUInt32(window_start) < ?`, drifted, shiftStart, uint64(start.Add(windows*cfg.Analysis.WindowSize).Unix()))
	first := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = ? AND signal = 'realized_performance' AND subject = 'accuracy'
AND severity != 'ok' AND toUInt32(window_start) = ?`, drifted, shiftStart)
	if right < windows-shiftAt-1 || first != 1 {
		t.Errorf("%s: the realized accuracy fired in %d of the %d shifted windows (first: %d)", drifted, right, windows-shiftAt, first)
	}
}
