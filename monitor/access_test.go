package monitor

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/storage"
)

// TestCallerVolumeEndToEnd sends, over 3 partitions keyed by prediction id,
// six windows of 10 callers making 100 calls each; from the fourth window a
// new caller makes 600 calls per window. caller_volume names it (a warning,
// never critical, saying it was not among the reference period's callers)
// in each of those windows and names no one else; its calls crowd the
// decision boundary, which caller_probing finds critical, for it alone.
func TestCallerVolumeEndToEnd(t *testing.T) {
	e, cfg, ctx := pipelineTest(t, 2*time.Minute, false)
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
			"prediction": map[string]any{"score": score, "threshold": 0.5, "class": fmt.Sprint("c", n%3)}})
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
	writeMessages(t, ctx, e.Brokers(), "telemetry", msgs)
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
	// exactly (fewer callers than max_callers, and every one judged: 100
	// calls or more).
	if got := queryUint(t, s, "SELECT sum(calls) FROM caller_windows FINAL WHERE toUInt32(window_start) < ?",
		uint64(start.Add(windows*cfg.Analysis.WindowSize).Unix())); got != windows*1000+(windows-from)*600 {
		t.Errorf("caller_windows counts %d calls, want %d", got, windows*1000+(windows-from)*600)
	}
	rows := queryRows(t, s, `SELECT concat(toString(intDiv(toUInt32(window_start) - ?, 2)), ' ', toString(calls), ' ', toString(scored_calls), ' ',
toString(probes), ' ', toString(calls_overcount)) FROM caller_windows FINAL WHERE caller = 'harvester' ORDER BY window_start`, uint64(start.Unix()))
	if fmt.Sprint(rows) != "[3 600 600 600 0 4 600 600 600 0 5 600 600 600 0]" {
		t.Errorf("the harvester's caller_windows rows: %v", rows)
	}
	// With the figures of the input and output signals: 600 calls with
	// inputs, 7 distinct ones (x = n mod 7), all 7 sampled (too few values
	// in the window for a central range: none outside), and three classes
	// predicted 200 times each (normalised entropy 1).
	rows = queryRows(t, s, `SELECT concat(toString(input_calls), ' ', toString(input_overcount), ' ', toString(round(distinct_inputs)), ' ',
toString(ood_sampled), ' ', toString(ood_outside), ' ', toString(class_calls), ' ', toString(classes), ' ', toString(round(class_entropy, 3)))
FROM caller_windows FINAL WHERE caller = 'harvester' ORDER BY window_start`)
	if fmt.Sprint(rows) != "[600 0 7 7 0 600 3 1 600 0 7 7 0 600 3 1 600 0 7 7 0 600 3 1]" {
		t.Errorf("the harvester's input and class figures in caller_windows: %v", rows)
	}
}

// The access scenarios' windows, and the window from which the attackers call.
const accessWindows, accessShiftAt = 8, 3

// runAccessScenarios writes accessWindows windows of the generator's
// probing and benign-heavy-user scenarios (two models, 2,000 ordinary users
// each, events keyed by prediction id over 3 partitions; prober-1 and
// batch-scorer from window accessShiftAt) to the telemetry topic, all of it
// before the monitor reads, runs a monitor with the access signals on (and
// tune's changes to its configuration), and waits until every window is
// decided. It returns the monitor, its store, the first window's start and
// the window size.
func runAccessScenarios(t *testing.T, tune func(*Config)) (*Monitor, *storage.Store, time.Time, time.Duration) {
	t.Helper()
	e, cfg, ctx := pipelineTest(t, 3*time.Minute, false)
	cfg.Signals.Access.Enabled = true
	if tune != nil {
		tune(&cfg)
	}
	m := runHostile(t, ctx, cfg)

	const windows, shiftAt = accessWindows, accessShiftAt
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var gens []*generator.Generator
	for i, c := range []struct{ model, scenario string }{{"probed-model", generator.ScenarioProbing}, {"busy-model", generator.ScenarioBenignHeavyUser}} {
		sc := generator.DefaultScenario(1, 6)
		sc.Models[0].ID = c.model
		sc.Start, sc.EventStep, sc.KeyByPrediction = start, 2*time.Millisecond, true
		sh, err := generator.ShiftFor(c.scenario, c.model, shiftAt*cfg.Analysis.WindowSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		sc.Shift = sh
		g, err := generator.New(sc, int64(30+i))
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, g)
	}
	var msgs []kafka.Message
	for range windows*1000 + 600 {
		for _, g := range gens {
			key, value := g.NextMessage(nil)
			msgs = append(msgs, kafka.Message{Key: []byte(key), Value: value})
		}
	}
	writeMessages(t, ctx, e.Brokers(), "telemetry", msgs)
	s := m.Store()
	waitDecidedBefore(t, s, start.Add(windows*cfg.Analysis.WindowSize), 2*windows, 2*time.Minute)
	return m, s, start, cfg.Analysis.WindowSize
}

// TestAccessScenarios runs the generator's probing and benign-heavy-user
// scenarios (two models, 2,000 ordinary users each, events keyed by
// prediction id over 3 partitions): from the fourth window, prober-1 makes
// 15% of one model's calls, all scored at the decision boundary, and
// batch-scorer 30% of the other's, ordinary ones. caller_probing is
// critical for prober-1 in the first shifted window already and in at least
// 4 of the 5; prober-1 and batch-scorer are at most volume warnings besides,
// and no verdict that is not ok names anyone else. caller_windows holds
// store_callers (100) rows per window of the hundreds of callers tracked,
// prober-1 and batch-scorer among them in every shifted window, the rest
// counted in driftwatch_analysis_callers_unstored_total.
func TestAccessScenarios(t *testing.T) {
	m, s, start, size := runAccessScenarios(t, nil)
	const windows, shiftAt = accessWindows, accessShiftAt
	end := uint64(start.Add(windows * size).Unix())
	shiftStart := uint64(start.Add(shiftAt * size).Unix())
	named := queryRows(t, s, `SELECT concat(model_id, ' ', signal, ' ', subject, ' ', severity, '@', toString(intDiv(toUInt32(window_start) - ?, 2)))
FROM signals FINAL WHERE signal IN ('caller_volume', 'caller_probing') AND subject != '*' AND severity != 'ok' AND toUInt32(window_start) < ?
ORDER BY model_id, window_start, signal`, uint64(start.Unix()), end)
	t.Logf("named: %v", named)
	probes := 0
	for _, v := range named {
		switch {
		case strings.HasPrefix(v, "probed-model caller_probing prober-1 critical@"):
			probes++
		case strings.HasPrefix(v, "busy-model caller_volume batch-scorer warning@"), strings.HasPrefix(v, "probed-model caller_volume prober-1 warning@"):
		default:
			t.Errorf("unexpected: %s", v)
		}
	}
	first := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = 'probed-model' AND signal = 'caller_probing'
AND subject = 'prober-1' AND severity = 'critical' AND toUInt32(window_start) = ?`, shiftStart)
	if probes < windows-shiftAt-1 || first != 1 {
		t.Errorf("prober-1 found critical in %d of the %d shifted windows (first: %d)", probes, windows-shiftAt, first)
	}
	if n := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE subject = 'batch-scorer' AND severity = 'critical'`); n != 0 {
		t.Errorf("the benign heavy user was critical %d times", n)
	}
	perWindow := queryRows(t, s, `SELECT toString(count()) FROM caller_windows FINAL WHERE toUInt32(window_start) < ?
GROUP BY model_id, window_start`, end)
	if len(perWindow) != 2*windows || strings.Join(slices.Compact(perWindow), " ") != "100" {
		t.Errorf("caller_windows rows per window: %v, want 100 in each of %d windows", perWindow, 2*windows)
	}
	for _, c := range []struct{ model, caller string }{{"probed-model", "prober-1"}, {"busy-model", "batch-scorer"}} {
		if n := queryUint(t, s, `SELECT count() FROM caller_windows FINAL WHERE model_id = ? AND caller = ? AND calls >= 100
AND toUInt32(window_start) >= ? AND toUInt32(window_start) < ?`, c.model, c.caller, shiftStart, end); n != windows-shiftAt {
			t.Errorf("%s has caller_windows rows in %d of the %d shifted windows", c.caller, n, windows-shiftAt)
		}
	}
	n := metricValue(t, m.reg, "driftwatch_analysis_callers_unstored_total")
	t.Logf("%v tracked callers unstored", n)
	if n < 2*windows*100 {
		t.Errorf("%v tracked callers counted as unstored, want hundreds per window", n)
	}
}

// waitDecidedBefore waits until want windows that start before end are
// decided (their model_windows rows written), failing after timeout. Tests
// wait for the windows they check, not for as many windows: the last part
// of a window that closes the others, closed by the idle flush, may be
// decided for one model before the last window checked is for another (on
// a loaded machine).
func waitDecidedBefore(t *testing.T, s *storage.Store, end time.Time, want uint64, timeout time.Duration) {
	t.Helper()
	const decided = "SELECT count() FROM model_windows FINAL WHERE toUInt32(window_start) < ?"
	deadline := time.Now().Add(timeout)
	for queryUint(t, s, decided, uint64(end.Unix())) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d windows before %s decided, want %d", queryUint(t, s, decided, uint64(end.Unix())), end.Format(time.RFC3339), want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
