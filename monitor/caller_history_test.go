package monitor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/segmentio/kafka-go"
)

// TestCallerHistoryEndToEnd runs the probing and benign-heavy-user presets
// of TestAccessScenarios with a caller history of 3 windows
// (analysis.sequential.history_windows), through Kafka, the monitor and
// ClickHouse: prober-1 and batch-scorer arrive in window 3, once their
// model has 3 windows of caller history, with a caller_volume warning, so
// each is caller_new_heavy there (a warning) and in no later window (it
// has a history then); nothing else is named by caller_new_heavy, and the
// callers' history signals are never critical.
func TestCallerHistoryEndToEnd(t *testing.T) {
	_, s, start, size := runAccessScenarios(t, func(cfg *Config) { cfg.Analysis.Sequential.HistoryWindows = 3 })
	const windows = accessWindows
	end := uint64(start.Add(windows * size).Unix())
	step := uint64(size / time.Second)
	rows := queryRows(t, s, `SELECT concat(model_id, ' ', signal, ' ', subject, ' ', severity, '@', toString(intDiv(toUInt32(window_start) - ?, ?)))
FROM signals FINAL WHERE signal IN ('caller_new_heavy', 'caller_volume_history', 'caller_probing_history') AND toUInt32(window_start) < ?
ORDER BY model_id, window_start, signal, subject`, uint64(start.Unix()), step, end)
	t.Logf("caller history rows: %v", rows)
	var newHeavy []string
	for _, r := range rows {
		if strings.Contains(r, " critical@") {
			t.Errorf("critical: %s", r)
		}
		if strings.Contains(r, " caller_new_heavy ") {
			newHeavy = append(newHeavy, r)
		}
	}
	want := []string{"busy-model caller_new_heavy batch-scorer warning@3", "probed-model caller_new_heavy prober-1 warning@3"}
	if strings.Join(newHeavy, "|") != strings.Join(want, "|") {
		t.Errorf("caller_new_heavy rows %v, want %v", newHeavy, want)
	}
	evidence := queryRows(t, s, `SELECT evidence FROM signals FINAL WHERE signal = 'caller_new_heavy' AND subject = 'batch-scorer'`)
	if len(evidence) != 1 || !strings.Contains(evidence[0], "without a history (new, or forgotten to make room) after 3 windows") {
		t.Errorf("evidence %q", evidence)
	}
}

// TestHistoriesSurviveARestart: a monitor decides windows 0 to 5 of the
// benign-heavy-user preset (batch-scorer from window 3, the histories 3
// windows long) and stops; a second one, the same consumer group and
// database, decides windows 6 to 8. It reads the version's histories back
// from ClickHouse before its first window: batch-scorer, named by
// caller_volume in every window, has a caller_volume_history row in window
// 6 already (without the restore its history would start there, the rows
// in window 9), and is not caller_new_heavy again; and the model's signals
// are judged against their previous 3 windows in window 6 (without the
// restore their series would start there). The callers' history comes back
// with the light callers the windows' model_windows rows keep, besides the
// callers caller_windows stores (store_callers a window), each once.
func TestHistoriesSurviveARestart(t *testing.T) {
	e, cfg, ctx := pipelineTest(t, 3*time.Minute, false)
	cfg.Signals.Access.Enabled = true
	cfg.Analysis.Sequential.HistoryWindows = 3
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc := generator.DefaultScenario(1, 6)
	sc.Models[0].ID = "busy-model"
	sc.Start, sc.EventStep, sc.KeyByPrediction = start, 2*time.Millisecond, true
	sh, err := generator.ShiftFor(generator.ScenarioBenignHeavyUser, "busy-model", 3*cfg.Analysis.WindowSize, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc.Shift = sh
	g, err := generator.New(sc, 41)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n int) {
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			key, value := g.NextMessage(nil)
			msgs[i] = kafka.Message{Key: []byte(key), Value: value}
		}
		writeMessages(t, ctx, e.Brokers(), "telemetry", msgs)
	}
	decided := func(s *storage.Store, n uint64) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for queryUint(t, s, "SELECT count() FROM model_windows FINAL") < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d windows decided, want %d", queryUint(t, s, "SELECT count() FROM model_windows FINAL"), n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Windows 0 to 5, and 600 events of window 6 that close them.
	first, stop := startMonitor(t, ctx, cfg)
	write(6*1000 + 600)
	decided(first.Store(), 6)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// decided_at has a resolution of a second: the second monitor's
	// decisions are the rows written from restart on.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	restart := time.Now().Unix()
	second := runHostile(t, ctx, cfg)
	write(3*1000 - 600 + 600)
	s := second.Store()
	decided(s, 9)
	// The callers' history came back whole: at the second monitor's first
	// decision of the model, its last restoreWindowsFactor × history_windows
	// decided windows before it, every caller each tracked once: those
	// caller_windows stores (store_callers a window) and the light ones the
	// windows' model_windows rows keep. Which windows those are depends on
	// where the first monitor stopped deciding, so they are read back from
	// the decisions' times.
	n := restoreWindowsFactor * cfg.Analysis.Sequential.HistoryWindows
	firstNew := queryUint(t, s, "SELECT toUInt64(min(window_start)) FROM model_windows FINAL WHERE decided_at >= toDateTime(?)", restart)
	from := queryUint(t, s, `SELECT toUInt64(min(w)) FROM (SELECT DISTINCT window_start AS w FROM model_windows FINAL
WHERE toUInt32(window_start) < ? ORDER BY w DESC LIMIT ?)`, firstNew, n)
	const readWindows = " WHERE toUInt32(window_start) >= ? AND toUInt32(window_start) < ?"
	read := queryUint(t, s, "SELECT count() FROM model_windows FINAL"+readWindows, from, firstNew)
	stored := queryUint(t, s, "SELECT count() FROM caller_windows FINAL"+readWindows, from, firstNew)
	light := queryUint(t, s, "SELECT sum(length(light_callers)) FROM model_windows FINAL"+readWindows, from, firstNew)
	distinct := queryUint(t, s, `SELECT uniqExact(window_start, caller) FROM (
SELECT window_start, caller FROM caller_windows FINAL`+readWindows+`
UNION ALL SELECT window_start, arrayJoin(light_callers) AS caller FROM model_windows FINAL`+readWindows+`)`, from, firstNew, from, firstNew)
	restored := metricValue(t, second.reg, "driftwatch_analysis_caller_history_restored_total")
	size := uint64(cfg.Analysis.WindowSize / time.Second)
	t.Logf("restored %v callers' windows of windows %d to %d (%d windows): %d stored, %d light, %d distinct", restored,
		(from-uint64(start.Unix()))/size, int64((firstNew-uint64(start.Unix()))/size)-1, read, stored, light, distinct)
	if read != uint64(n) || light == 0 || restored != float64(distinct) {
		t.Errorf("restored %v callers' windows of %d windows, want the %d distinct of the %d windows before the first decided after the restart (%d stored, %d light)",
			restored, read, distinct, n, stored, light)
	}
	rows := queryRows(t, s, `SELECT concat(signal, ' ', subject, ' ', severity, '@', toString(intDiv(toUInt32(window_start) - ?, ?)))
FROM signals FINAL WHERE signal IN ('caller_new_heavy', 'caller_volume_history') ORDER BY window_start, signal, subject`,
		uint64(start.Unix()), uint64(cfg.Analysis.WindowSize/time.Second))
	t.Logf("caller history rows: %v", rows)
	has := func(r string) bool { return slices.Contains(rows, r) }
	if !has("caller_new_heavy batch-scorer warning@3") {
		t.Errorf("batch-scorer is not caller_new_heavy on arrival, before the restart")
	}
	for _, w := range []string{"6", "7", "8"} {
		if !slices.ContainsFunc(rows, func(r string) bool {
			return strings.HasPrefix(r, "caller_volume_history batch-scorer ") && strings.HasSuffix(r, "@"+w)
		}) {
			t.Errorf("no caller_volume_history row for batch-scorer in window %s after the restart", w)
		}
	}
	for _, r := range rows {
		if strings.HasPrefix(r, "caller_new_heavy") && !strings.HasSuffix(r, "@3") {
			t.Errorf("after the restart: %s", r)
		}
	}
	// The signals' history too: in window 6, the first after the restart,
	// the model's signals are judged against their previous 3 windows.
	judged := queryRows(t, s, `SELECT signal FROM signals FINAL
WHERE endsWith(signal, '_history') AND NOT startsWith(signal, 'caller_') AND intDiv(toUInt32(window_start) - ?, ?) = 6
  AND evidence LIKE '%over the previous 3 windows%' ORDER BY signal`, uint64(start.Unix()), uint64(cfg.Analysis.WindowSize/time.Second))
	t.Logf("signal history rows judged in window 6: %v", judged)
	if len(judged) == 0 {
		t.Error("no signal judged against its history in the first window after the restart")
	}
}

// TestCallerWindowsFromStoredAndLight: the callers' history restored from
// caller_windows and model_windows' light callers has each window once,
// oldest first, its callers by name (as a decision feeds them) whichever
// table each came from, and a caller once a window: one in both tables (a
// window decided twice, stored the first time, light the second) is fed as
// the light entry, the decision model_windows keeps.
func TestCallerWindowsFromStoredAndLight(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	row := func(w int, caller string, calls uint64, scored uint64) storage.CallerRow {
		end := t0.Add(time.Duration(w+1) * time.Minute)
		return storage.CallerRow{WindowEnd: end, Caller: caller, Calls: calls, ScoredCalls: scored}
	}
	stored := []storage.CallerRow{row(0, "b", 500, 500), row(0, "d", 300, 300), row(1, "a", 400, 400), row(1, "x", 9, 9)}
	light := []storage.CallerRow{row(0, "a", 3, 0), row(0, "c", 2, 0), row(1, "x", 5, 0), row(2, "z", 1, 0)}
	windows, n := callerWindows(stored, light)
	var got []string
	for _, w := range windows {
		var cs []string
		for _, c := range w.Callers {
			cs = append(cs, fmt.Sprintf("%s=%d/%d", c.Caller, c.Calls, c.ScoredCalls))
		}
		got = append(got, fmt.Sprintf("%d:%s", int(w.End.Sub(t0)/time.Minute)-1, strings.Join(cs, ",")))
	}
	want := "0:a=3/0,b=500/500,c=2/0,d=300/300 1:a=400/400,x=5/0 2:z=1/0"
	if strings.Join(got, " ") != want || n != 7 {
		t.Errorf("restored windows %v (%d callers), want %s (7)", got, n, want)
	}
}

// TestStoredCallersJudgedByEither: caller_windows stores every caller the
// signals or the callers' history judge, whichever needs fewer calls: with
// caller_history.min_calls below signals.access.min_count, a caller with
// scored calls between the two keeps its row (its probe share feeds the
// history), and it is light when min_calls is above them.
func TestStoredCallersJudgedByEither(t *testing.T) {
	cs := []access.CallerSummary{{Caller: "a", Calls: 60, ScoredCalls: 60}, {Caller: "b", Calls: 3}, {Caller: "c", Calls: 2}}
	for _, tt := range []struct {
		minCount, minCalls int
		want               string
	}{{100, 50, "a"}, {100, 200, ""}, {40, 200, "a"}} {
		cfg := DefaultConfig()
		cfg.Signals.Access.Config.MinCount, cfg.Signals.Access.Config.StoreCallers = tt.minCount, 0
		cfg.Analysis.Sequential.CallerHistory.MinCalls = tt.minCalls
		m := &Monitor{cfg: cfg}
		stored, light := m.storedCallers().Stored(cs, nil)
		var names []string
		for _, c := range stored {
			names = append(names, c.Caller)
		}
		if got := strings.Join(names, ","); got != tt.want || len(light) != len(cs)-len(stored) {
			t.Errorf("min_count %d, min_calls %d: stored %q (%d light), want %q", tt.minCount, tt.minCalls, got, len(light), tt.want)
		}
	}
}
