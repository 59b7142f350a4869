package evaluate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/detect"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// BitSignals are the signals whose "*" statistic is the share of a
// window's calls with a 0/1 outcome (a failure, a refusal): their counts
// feed a DDM across windows.
var BitSignals = []string{"error_rate", "refusal_rate"}

// signalSeries is the history of one statistic (model version, signal,
// subject) across windows: its last HistoryWindows values, or a DDM on its
// counts.
type signalSeries struct {
	values  []float64 // ring of the last values, oldest first
	ddm     *detect.DDM
	last    time.Time
	lastRow SignalVerdict
}

// History returns, for the signal verdicts of one window of model m ending
// at end (as decided), what the model's own recent history says of them:
//
//   - "<signal>_history" (same subject), for every verdict that decides
//     (but those of a caller of the access signals, whose history is
//     CallerHistory's, fed every tracked caller of every window): the
//     robust z of the statistic against the median and the median absolute
//     deviation of the same statistic in the series' previous
//     HistoryWindows windows, z = (x − median)/(1.4826·MAD) (Iglewicz and
//     Hoaglin's modified z-score); warning when |z| ≥ HistoryLevel; it only
//     informs until the series holds HistoryWindows values, and when their
//     MAD is 0 (z is then not defined);
//   - "<signal>_ddm" (subject "*"), for the BitSignals: a DDM (River's
//     semantics, detect.DDM) fed the window's counts (failures among calls,
//     detect.DDM.UpdateCounts), whose running rate since its last detection
//     is the statistic; warning when it detects a change.
//
// Both are per model version. After a restart, or a move of the model to
// another decider, RestoreHistory feeds them the stored verdicts of the
// version's last windows. A window that does not end after a series' last
// one is not fed again (a re-read window gets the same verdict).
func (e *Evidence) History(m analysis.ModelKey, end time.Time, vs []SignalVerdict) []SignalVerdict {
	if e == nil || e.cfg.Disabled || e.cfg.HistoryWindows == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.markHistory(m)
	var out []SignalVerdict
	for _, v := range vs {
		// A caller's verdicts are only written when it stands out, so a
		// series of them would be a biased sample, and producers name
		// callers: the access signals' callers have CallerHistory instead
		// (caller_history.go), and their "*" a history here.
		perCaller := strings.HasPrefix(v.Signal, "caller_") && v.Subject != "*"
		if v.Decides() && !perCaller && !math.IsNaN(v.Statistic) && !math.IsInf(v.Statistic, 0) {
			if row, ok := e.feed(m, end, v, "_history"); ok {
				out = append(out, row)
			}
		}
		if v.Subject == "*" && slices.Contains(BitSignals, v.Signal) && v.N > 0 && v.Statistic >= 0 && v.Statistic <= 1 {
			if row, ok := e.feed(m, end, v, "_ddm"); ok {
				out = append(out, row)
			}
		}
	}
	return out
}

// feed adds v to its series of the given kind and returns the series' verdict.
func (e *Evidence) feed(m analysis.ModelKey, end time.Time, v SignalVerdict, kind string) (SignalVerdict, bool) {
	k := seriesKey{m, "signal:" + v.Signal + kind, v.Subject}
	se := e.signals[k]
	if se == nil {
		if len(e.series)+len(e.signals) >= e.cfg.MaxSeries {
			e.sweep(end)
		}
		if len(e.series)+len(e.signals) >= e.cfg.MaxSeries {
			e.dropped++
			return SignalVerdict{}, false
		}
		se = &signalSeries{}
		if kind == "_ddm" {
			d, err := detect.NewDDM(detect.DefaultDDMConfig())
			if err != nil {
				panic("BUG: DDM defaults rejected: " + err.Error())
			}
			se.ddm = d
		}
		e.signals[k] = se
	}
	if end.Equal(se.last) {
		return se.lastRow, true
	}
	if end.Before(se.last) {
		return SignalVerdict{}, false
	}
	se.last = end
	var row SignalVerdict
	if se.ddm != nil {
		row = e.ddmVerdict(se, v)
	} else {
		row = e.historyVerdict(se, v)
	}
	se.lastRow = row
	return row, true
}

func (e *Evidence) historyVerdict(se *signalSeries, v SignalVerdict) SignalVerdict {
	nan := math.NaN()
	row := SignalVerdict{Signal: v.Signal + "_history", Verdict: signal.Info(v.Subject, nan, nan, v.N, "")}
	row.AdjustedP = nan
	if len(se.values) == e.cfg.HistoryWindows {
		med, mad := stat.MedianMAD(se.values)
		row.Evidence = fmt.Sprintf("%.4g against a median of %.4g (MAD %.3g) over the previous %d windows", v.Statistic, med, mad, len(se.values))
		if mad > 0 {
			z := (v.Statistic - med) / (stat.MADScale * mad)
			row.Statistic, row.Effect, row.Threshold = z, math.Abs(z), e.cfg.HistoryLevel
			if math.Abs(z) >= e.cfg.HistoryLevel {
				row.Severity = verdict.SeverityWarning
			}
		}
	}
	se.values = push(se.values, v.Statistic, e.cfg.HistoryWindows)
	return row
}

func (e *Evidence) ddmVerdict(se *signalSeries, v SignalVerdict) SignalVerdict {
	k := uint64(math.Round(v.Statistic * float64(v.N)))
	se.ddm.UpdateCounts(min(k, v.N), v.N)
	nan := math.NaN()
	row := SignalVerdict{Signal: v.Signal + "_ddm", Verdict: signal.Info(v.Subject, se.ddm.ErrorRate(), nan, v.N, "")}
	switch {
	case se.ddm.DriftDetected():
		row.Severity = verdict.SeverityWarning
		row.Evidence = fmt.Sprintf("DDM detected a change: rate %.4g since its last change", se.ddm.ErrorRate())
	case se.ddm.WarningDetected():
		row.Evidence = fmt.Sprintf("DDM warning zone: rate %.4g since its last change", se.ddm.ErrorRate())
	}
	return row
}

// maxHistoryVersions bounds the model versions NeedsHistory remembers as
// fed; beyond it they are forgotten together, and a version's stored
// verdicts may be read again (RestoreHistory skips the windows its series
// have seen).
const maxHistoryVersions = 10000

// markHistory records that m's history is fed. Called with mu held.
func (e *Evidence) markHistory(m analysis.ModelKey) {
	if !e.histories[m] {
		if len(e.histories) >= maxHistoryVersions {
			clear(e.histories)
		}
		e.histories[m] = true
	}
}

// NeedsHistory reports whether model version m's History has been neither
// fed nor restored since this Evidence was made: the first window of m
// here, after a restart or a move of the model. False when the history is
// off.
func (e *Evidence) NeedsHistory(m analysis.ModelKey) bool {
	if e == nil || e.cfg.Disabled || e.cfg.HistoryWindows == 0 {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.histories[m]
}

// HistoryWindow is the verdicts of one decided window of a model version
// that fed its history, as the signals table stores them.
type HistoryWindow struct {
	End      time.Time
	Verdicts []SignalVerdict
}

// RestoreHistory feeds model version m's History the stored verdicts of
// its windows, oldest first, as if it had decided them (their rows are
// dropped), so that "<signal>_history" and the DDMs go on where the
// decider that stored them stopped; a series that has seen a window does
// not see it again. It marks m fed, with or without windows.
func (e *Evidence) RestoreHistory(m analysis.ModelKey, windows []HistoryWindow) {
	for _, w := range windows {
		e.History(m, w.End, w.Verdicts)
	}
	if e != nil && e.cfg.HistoryWindows > 0 && !e.cfg.Disabled {
		e.mu.Lock()
		e.markHistory(m)
		e.mu.Unlock()
	}
}
