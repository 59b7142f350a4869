package evaluate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// Signals of the per-caller history: the access signals' callers against
// their own previous windows, and new callers that arrive heavy.
const (
	SignalCallerVolumeHistory  = "caller_volume_history"
	SignalCallerProbingHistory = "caller_probing_history"
	SignalCallerNewHeavy       = "caller_new_heavy"
)

// callerBook is the caller history of one model version.
type callerBook struct {
	callers map[string]*callerEntry
	windows uint64    // windows fed
	lastEnd time.Time // end of the last window fed
	rows    []SignalVerdict
	scratch []float64
}

// callerEntry is one caller's history: its exact calls in the last
// HistoryWindows windows in which it was tracked, and its share of probes
// in the last HistoryWindows of them with at least MinCalls scored calls,
// oldest first.
type callerEntry struct {
	calls, probes []float32
	seen          uint64 // the book's window count when it was last tracked
}

// callerRow is a candidate row of a caller's history verdict.
type callerRow struct {
	z   float64
	row SignalVerdict
}

// CallerHistory returns, for one window of model m ending at end (as
// decided), what the tracked callers' own histories say of them. callers
// are the window's tracked callers (access.Summaries of its merged
// partials) and vs its signal verdicts. Per caller with a full history
// (HistoryWindows windows in which it was tracked):
//
//   - "caller_volume_history": the robust z of its calls counted under its
//     own counter (Count − overcount) against the median and MAD of its
//     previous windows', z = (x − median)/max(1.4826·MAD, √median) (the
//     scale at least the Poisson spread, so that a caller with the same
//     count in every window is not infinitely surprising); warning when
//     z ≥ HistoryLevel and the caller made at least MinCalls calls;
//   - "caller_probing_history": the same for its share of probes among its
//     scored calls (windows with at least MinCalls of them), the scale at
//     least the binomial spread √(p(1 − p)/n) at the median p (clamped to
//     [1/n, 1 − 1/n]).
//
// Only increases warn (a caller that calls less is no risk). A row is
// written for a caller that warns or that the window's caller_volume
// (caller_probing) names, at most MaxSubjects per signal, the largest z
// first. And "caller_new_heavy", for a caller that caller_volume names as a
// warning (an outlier of the window's callers) but that has no history while
// the version's caller history is established (HistoryWindows windows fed):
// a warning, never critical (volume alone is not abuse; a new batch service
// is heavy and benign).
//
// Memory is bounded by CallerHistoryConfig: MaxCallers callers per version
// (a new caller replaces the caller seen least recently among those whose
// history is not full, else among all, never one tracked in the same
// window), at most MaxNew new ones per window (the heaviest first; the rest
// are refused and counted), MaxVersions versions. The history survives
// neither a restart nor a move of the model to another decider. A window
// that does not end after the version's last one is not fed again (a
// re-read window gets the same rows).
func (e *Evidence) CallerHistory(m analysis.ModelKey, end time.Time, callers []access.CallerSummary, vs []SignalVerdict) []SignalVerdict {
	if e == nil || e.cfg.Disabled || e.cfg.HistoryWindows == 0 || e.cfg.CallerHistory.MaxCallers == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.callers[m]
	if b == nil {
		if len(callers) == 0 {
			return nil // no access signals, or no caller yet: nothing to keep
		}
		e.boundCallerBooks()
		b = &callerBook{callers: make(map[string]*callerEntry)}
		e.callers[m] = b
	}
	if !b.lastEnd.IsZero() {
		if end.Equal(b.lastEnd) {
			return slices.Clone(b.rows)
		}
		if end.Before(b.lastEnd) {
			return nil
		}
	}
	b.lastEnd = end
	b.rows = e.feedCallers(b, callers, vs)
	return slices.Clone(b.rows)
}

// feedCallers adds one window's callers to b and returns its rows. Called
// with mu held.
func (e *Evidence) feedCallers(b *callerBook, callers []access.CallerSummary, vs []SignalVerdict) []SignalVerdict {
	cfg := e.cfg.CallerHistory
	h := e.cfg.HistoryWindows
	established := b.windows >= uint64(h)
	b.windows++
	named := map[string]*SignalVerdict{} // the window's verdicts naming a caller, by signal and caller
	for i := range vs {
		if v := &vs[i]; v.Subject != "*" && (v.Signal == "caller_volume" || v.Signal == "caller_probing") {
			named[v.Signal+"\x00"+v.Subject] = v
		}
	}
	// The kept callers' last calls, which a new heavy caller is set against.
	var keptMed, keptMAD float64
	if established && len(named) > 0 {
		b.scratch = b.scratch[:0]
		for _, ce := range b.callers {
			b.scratch = append(b.scratch, float64(ce.calls[len(ce.calls)-1]))
		}
		keptMed, keptMAD = stat.MedianMAD(b.scratch)
	}
	var volume, probing []callerRow
	var newHeavy []SignalVerdict
	var fresh []access.CallerSummary
	for _, c := range callers {
		calls := float64(c.Calls - min(c.CallsOvercount, c.Calls))
		scored := c.ScoredCalls - min(c.ScoredOvercount, c.ScoredCalls)
		share := math.NaN()
		if scored >= uint64(cfg.MinCalls) {
			share = float64(min(c.Probes, scored)) / float64(scored)
		}
		ce := b.callers[c.Caller]
		if ce == nil {
			if v := named["caller_volume\x00"+c.Caller]; established && v != nil && v.Severity == verdict.SeverityWarning {
				newHeavy = append(newHeavy, e.newHeavyRow(b, c.Caller, calls, v, keptMed, keptMAD))
			}
			fresh = append(fresh, c)
			continue
		}
		if len(ce.calls) == h {
			r := e.callerZ(b, SignalCallerVolumeHistory, c.Caller, calls, ce.calls, uint64(calls), calls >= float64(cfg.MinCalls),
				func(med float64) float64 { return math.Sqrt(med) })
			if r.row.Severity == verdict.SeverityWarning || named["caller_volume\x00"+c.Caller] != nil {
				volume = append(volume, r)
			}
		}
		if !math.IsNaN(share) && len(ce.probes) == h {
			n := float64(scored)
			r := e.callerZ(b, SignalCallerProbingHistory, c.Caller, share, ce.probes, scored, true, func(med float64) float64 {
				p := math.Min(math.Max(med, 1/n), 1-1/n)
				return math.Sqrt(p * (1 - p) / n)
			})
			if r.row.Severity == verdict.SeverityWarning || named["caller_probing\x00"+c.Caller] != nil {
				probing = append(probing, r)
			}
		}
		ce.calls = push(ce.calls, float32(calls), h)
		if !math.IsNaN(share) {
			ce.probes = push(ce.probes, float32(share), h)
		}
		ce.seen = b.windows
	}
	e.admitCallers(b, fresh)
	out := append(topCallerRows(volume, cfg.MaxSubjects), topCallerRows(probing, cfg.MaxSubjects)...)
	return append(out, newHeavy...)
}

// callerZ returns the robust z of x against a caller's history, its scale at
// least floor(median); judged says whether x may warn.
func (e *Evidence) callerZ(b *callerBook, sig, caller string, x float64, hist []float32, n uint64, judged bool, floor func(float64) float64) callerRow {
	b.scratch = b.scratch[:0]
	for _, v := range hist {
		b.scratch = append(b.scratch, float64(v))
	}
	med, mad := stat.MedianMAD(b.scratch)
	scale := math.Max(stat.MADScale*mad, floor(med))
	z := (x - med) / scale
	row := SignalVerdict{Signal: sig, Verdict: signal.Info(caller, x, z, n,
		fmt.Sprintf("%.4g against the caller's own median of %.4g (MAD %.3g, scale %.3g) over its previous %d windows: robust z %.2f",
			x, med, mad, scale, len(hist), z))}
	row.Threshold = e.cfg.HistoryLevel
	if judged && z >= e.cfg.HistoryLevel {
		row.Severity = verdict.SeverityWarning
	}
	return callerRow{z: z, row: row}
}

// newHeavyRow returns the caller_new_heavy warning of caller, which has
// calls and the caller_volume warning v, and no history in b, whose kept
// callers' last calls have median med and MAD mad.
func (e *Evidence) newHeavyRow(b *callerBook, caller string, calls float64, v *SignalVerdict, med, mad float64) SignalVerdict {
	row := SignalVerdict{Signal: SignalCallerNewHeavy, Verdict: signal.Info(caller, calls, v.Effect, v.N,
		fmt.Sprintf("%.0f calls (robust z %.1f against the window's callers) from a caller without a history (new, or forgotten to make room) after %d windows of the version's caller history; the %d callers with one last made a median of %.0f calls (MAD %.3g)",
			calls, v.Effect, b.windows-1, len(b.callers), med, mad))}
	row.Threshold, row.Severity = v.Threshold, verdict.SeverityWarning
	return row
}

// admitCallers gives a history to the new callers of a window, the heaviest
// first and at most MaxNew of them; when MaxCallers are kept, each takes the
// place of the caller seen least recently among those without a full
// history, else among all, but never of a caller seen in this window. The
// others are refused and counted.
func (e *Evidence) admitCallers(b *callerBook, fresh []access.CallerSummary) {
	if len(fresh) == 0 {
		return
	}
	cfg := e.cfg.CallerHistory
	h := e.cfg.HistoryWindows
	slices.SortFunc(fresh, func(x, y access.CallerSummary) int {
		return cmp.Compare(y.Calls-min(y.CallsOvercount, y.Calls), x.Calls-min(x.CallsOvercount, x.Calls))
	})
	var victims []string // the callers that may be replaced, the first replaced first
	if free := cfg.MaxCallers - len(b.callers); free < min(len(fresh), cfg.MaxNew) {
		for k, ce := range b.callers {
			if ce.seen < b.windows {
				victims = append(victims, k)
			}
		}
		slices.SortFunc(victims, func(x, y string) int {
			a, c := b.callers[x], b.callers[y]
			return cmp.Or(cmp.Compare(boolRank(len(a.calls) == h), boolRank(len(c.calls) == h)),
				cmp.Compare(a.seen, c.seen), cmp.Compare(len(a.calls), len(c.calls)), cmp.Compare(x, y))
		})
	}
	admitted := 0
	for _, c := range fresh {
		if admitted == cfg.MaxNew {
			break
		}
		if len(b.callers) >= cfg.MaxCallers {
			if len(victims) == 0 {
				break
			}
			delete(b.callers, victims[0])
			victims = victims[1:]
			e.callersEvicted++
		}
		calls := float32(c.Calls - min(c.CallsOvercount, c.Calls))
		ce := &callerEntry{calls: make([]float32, 0, h), seen: b.windows}
		ce.calls = append(ce.calls, calls)
		scored := c.ScoredCalls - min(c.ScoredOvercount, c.ScoredCalls)
		if scored >= uint64(cfg.MinCalls) {
			ce.probes = append(make([]float32, 0, h), float32(float64(min(c.Probes, scored))/float64(scored)))
		}
		// A copy: the name may share the memory of a decoded partial.
		b.callers[strings.Clone(c.Caller)] = ce
		admitted++
	}
	e.callersRefused += len(fresh) - admitted
}

// boundCallerBooks forgets, when MaxVersions versions have a caller history,
// the one whose last window ended first. Called with mu held.
func (e *Evidence) boundCallerBooks() {
	for len(e.callers) >= e.cfg.CallerHistory.MaxVersions {
		var oldest analysis.ModelKey
		var end time.Time
		first := true
		for m, b := range e.callers {
			if first || b.lastEnd.Before(end) {
				oldest, end, first = m, b.lastEnd, false
			}
		}
		e.callersEvicted += len(e.callers[oldest].callers)
		delete(e.callers, oldest)
	}
}

// CallersRefused returns how many new callers got no history: beyond
// caller_history.max_new in their window, or with every kept caller seen in
// the same window.
func (e *Evidence) CallersRefused() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.callersRefused
}

// CallersEvicted returns how many callers' histories were forgotten to make
// room (caller_history.max_callers and max_versions).
func (e *Evidence) CallersEvicted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.callersEvicted
}

// CallersHeld returns how many callers have a history, over all versions.
func (e *Evidence) CallersHeld() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, b := range e.callers {
		n += len(b.callers)
	}
	return n
}

// push appends x to the ring r of at most h values, dropping the oldest.
func push(r []float32, x float32, h int) []float32 {
	if r == nil {
		r = make([]float32, 0, h)
	}
	if len(r) == h {
		copy(r, r[1:])
		r = r[:h-1]
	}
	return append(r, x)
}

// topCallerRows returns the rows of rs with the largest z first, at most n.
func topCallerRows(rs []callerRow, n int) []SignalVerdict {
	slices.SortStableFunc(rs, func(a, b callerRow) int { return cmp.Compare(b.z, a.z) })
	out := make([]SignalVerdict, 0, min(len(rs), n))
	for _, r := range rs[:min(len(rs), n)] {
		out = append(out, r.row)
	}
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
