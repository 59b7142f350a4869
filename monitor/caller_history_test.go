package monitor

import (
	"strings"
	"testing"
	"time"
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
	s, start, size := runAccessScenarios(t, func(cfg *Config) { cfg.Analysis.Sequential.HistoryWindows = 3 })
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
