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
	SignalCallerVolumeHistory    = "caller_volume_history"
	SignalCallerProbingHistory   = "caller_probing_history"
	SignalCallerDiversityHistory = "caller_diversity_history"
	SignalCallerOODHistory       = "caller_ood_history"
	SignalCallerHarvestHistory   = "caller_harvest_history"
	SignalCallerNewHeavy         = "caller_new_heavy"
)

// callerStat is one figure of a caller's window kept in its history.
type callerStat int

const (
	statCalls    callerStat = iota // calls counted under its own counter
	statProbes                     // share of probes among its scored calls
	statDistinct                   // share of distinct inputs among its calls with inputs
	statOOD                        // share of its sampled inputs out of the central range
	statEntropy                    // normalised entropy of its predicted classes
	nCallerStats
)

// callerStats names, per figure, its history signal and the access signal
// whose verdicts name callers for it.
var callerStats = [nCallerStats]struct{ signal, named string }{
	statCalls:    {SignalCallerVolumeHistory, "caller_volume"},
	statProbes:   {SignalCallerProbingHistory, "caller_probing"},
	statDistinct: {SignalCallerDiversityHistory, "caller_diversity"},
	statOOD:      {SignalCallerOODHistory, "caller_ood"},
	statEntropy:  {SignalCallerHarvestHistory, "caller_harvest"},
}

// namesCallers reports whether sig is an access signal whose verdicts name
// callers for a figure of the history.
func namesCallers(sig string) bool {
	for _, s := range callerStats {
		if s.named == sig {
			return true
		}
	}
	return false
}

// callerFigures are a caller's figures in one window: x, NaN when not
// measured (too few calls of the kind), and the observations n it rests on.
type callerFigures struct {
	x [nCallerStats]float64
	n [nCallerStats]uint64
}

// figures returns c's figures; minCalls is the fewest calls of a kind
// under the caller's own counter for a share to be measured.
func figures(c access.CallerSummary, minCalls uint64) callerFigures {
	var f callerFigures
	for i := range f.x {
		f.x[i] = math.NaN()
	}
	exact := func(n, over uint64) uint64 { return n - min(over, n) }
	calls := exact(c.Calls, c.CallsOvercount)
	f.x[statCalls], f.n[statCalls] = float64(calls), calls
	if scored := exact(c.ScoredCalls, c.ScoredOvercount); scored >= minCalls {
		f.x[statProbes], f.n[statProbes] = float64(min(c.Probes, scored))/float64(scored), scored
	}
	if in := exact(c.InputCalls, c.InputOvercount); in >= minCalls {
		f.x[statDistinct], f.n[statDistinct] = math.Min(c.DistinctInputs/float64(in), 1), in
		if c.OODSampled > 0 {
			f.x[statOOD], f.n[statOOD] = float64(min(c.OODOutside, c.OODSampled))/float64(c.OODSampled), c.OODSampled
		}
	}
	if c.ClassCalls >= minCalls {
		f.x[statEntropy], f.n[statEntropy] = c.ClassEntropy, c.ClassCalls
	}
	return f
}

// scaleFloor returns the least scale of figure st's robust z at the
// history's median med, for a window of n observations: the spread that
// sampling alone gives the figure, so that a caller with the same figure in
// every window (MAD 0) is not infinitely surprising. Calls: the Poisson
// spread √median. A share: the binomial spread √(p(1 − p)/n) at the median
// p clamped to [1/n, 1 − 1/n]; for the distinct share with the
// HyperLogLog's relative error (1.04/√m) added in quadrature. The entropy
// of the classes, which is no proportion: the binomial spread at its
// largest, ½/√n.
func scaleFloor(st callerStat, med float64, n uint64) float64 {
	fn := float64(n)
	switch st {
	case statCalls:
		return math.Sqrt(med)
	case statEntropy:
		return 0.5 / math.Sqrt(fn)
	}
	p := math.Min(math.Max(med, 1/fn), 1-1/fn)
	v := p * (1 - p) / fn
	if st == statDistinct {
		v += math.Pow(hllRelError*med, 2)
	}
	return math.Sqrt(v)
}

// hllRelError is the relative standard error of a caller's distinct
// inputs (caller_diversity's 1 KiB HyperLogLog, 1.04/√1024).
const hllRelError = 1.04 / 32

// callerBook is the caller history of one model version.
type callerBook struct {
	callers map[string]*callerEntry
	windows uint64    // windows fed
	lastEnd time.Time // end of the last window fed
	rows    []SignalVerdict
	scratch []float64
}

// callerEntry is one caller's history: per figure (callerStat), its values
// in the last HistoryWindows windows in which it was tracked and the
// figure was measured, oldest first: its exact calls in every such window,
// a share only in windows with at least MinCalls calls of the kind.
type callerEntry struct {
	hist [nCallerStats][]float32
	seen uint64 // the book's window count when it was last tracked
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
//     [1/n, 1 − 1/n]);
//   - "caller_diversity_history", "caller_ood_history" and
//     "caller_harvest_history": the same for its share of distinct inputs,
//     its share of sampled inputs out of distribution and the entropy of its
//     classes (windows with at least MinCalls calls of the kind under its
//     own counter), the scale at least scaleFloor.
//
// Only increases warn (a caller that calls less, or spreads less, is no
// risk). A row is written for a caller that warns or that the window's
// access signal of the figure (caller_volume, caller_probing, ...) names,
// at most MaxSubjects per signal, the largest z first. And "caller_new_heavy", for a caller that caller_volume names as a
// warning (an outlier of the window's callers) but that has no history while
// the version's caller history is established (HistoryWindows windows fed):
// a warning, never critical (volume alone is not abuse; a new batch service
// is heavy and benign).
//
// Memory is bounded by CallerHistoryConfig: MaxCallers callers per version
// (a new caller replaces the caller seen least recently among those whose
// history is not full, else among all, never one tracked in the same
// window), at most MaxNew new ones per window (the heaviest first; the rest
// are refused and counted), MaxVersions versions. After a restart, or a
// move of the model to another decider, RestoreCallers gives it back from
// the stored windows. A window
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

// CallerWindow is the tracked callers of one decided window of a model
// version, as they are stored: caller_windows' rows, and the light callers'
// calls and overcount that the window's model_windows row keeps.
type CallerWindow struct {
	End     time.Time
	Callers []access.CallerSummary
}

// NeedsCallers reports whether model version m has no caller history here:
// neither fed nor restored since this Evidence was made (or since m was
// forgotten to make room). False when the caller history is off.
func (e *Evidence) NeedsCallers(m analysis.ModelKey) bool {
	if e == nil || e.cfg.Disabled || e.cfg.HistoryWindows == 0 || e.cfg.CallerHistory.MaxCallers == 0 {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.callers[m] == nil
}

// RestoreCallers gives model version m, which has no caller history here,
// the history its stored windows make, oldest first, as if it had decided
// them: after a restart, or a move of the model to another decider, its
// callers keep their history and caller_new_heavy does not wait
// HistoryWindows windows. Windows not in increasing order of End are
// skipped. It does nothing when m has a history already, and takes m's
// place among MaxVersions even without windows, so that NeedsCallers turns
// false.
func (e *Evidence) RestoreCallers(m analysis.ModelKey, windows []CallerWindow) {
	if !e.NeedsCallers(m) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.callers[m] != nil {
		return
	}
	e.boundCallerBooks()
	b := &callerBook{callers: make(map[string]*callerEntry)}
	e.callers[m] = b
	for _, w := range windows {
		if !b.lastEnd.IsZero() && !w.End.After(b.lastEnd) {
			continue
		}
		b.lastEnd = w.End
		b.rows = nil // the stored window's rows are its own; not served again
		e.feedCallers(b, w.Callers, nil)
	}
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
		if v := &vs[i]; v.Subject != "*" && namesCallers(v.Signal) {
			named[v.Signal+"\x00"+v.Subject] = v
		}
	}
	// The kept callers' last calls, which a new heavy caller is set against.
	var keptMed, keptMAD float64
	if established && len(named) > 0 {
		b.scratch = b.scratch[:0]
		for _, ce := range b.callers {
			calls := ce.hist[statCalls]
			b.scratch = append(b.scratch, float64(calls[len(calls)-1]))
		}
		keptMed, keptMAD = stat.MedianMAD(b.scratch)
	}
	var rows [nCallerStats][]callerRow
	var newHeavy []SignalVerdict
	var fresh []access.CallerSummary
	for _, c := range callers {
		f := figures(c, uint64(cfg.MinCalls))
		ce := b.callers[c.Caller]
		if ce == nil {
			if v := named["caller_volume\x00"+c.Caller]; established && v != nil && v.Severity == verdict.SeverityWarning {
				newHeavy = append(newHeavy, e.newHeavyRow(b, c.Caller, f.x[statCalls], v, keptMed, keptMAD))
			}
			fresh = append(fresh, c)
			continue
		}
		for st := range nCallerStats {
			x := f.x[st]
			if math.IsNaN(x) {
				continue
			}
			if len(ce.hist[st]) == h {
				// Calls are measured in every window but judged from
				// MinCalls; a share is measured from MinCalls.
				judged := st != statCalls || f.n[st] >= uint64(cfg.MinCalls)
				r := e.callerZ(b, st, c.Caller, x, ce.hist[st], f.n[st], judged)
				if r.row.Severity == verdict.SeverityWarning || named[callerStats[st].named+"\x00"+c.Caller] != nil {
					rows[st] = append(rows[st], r)
				}
			}
			ce.hist[st] = push(ce.hist[st], float32(x), h)
		}
		ce.seen = b.windows
	}
	e.admitCallers(b, fresh)
	var out []SignalVerdict
	for st := range nCallerStats {
		out = append(out, topCallerRows(rows[st], cfg.MaxSubjects)...)
	}
	return append(out, newHeavy...)
}

// callerZ returns the robust z of figure st, x over n observations,
// against a caller's history, its scale at least scaleFloor; judged says
// whether x may warn.
func (e *Evidence) callerZ(b *callerBook, st callerStat, caller string, x float64, hist []float32, n uint64, judged bool) callerRow {
	b.scratch = b.scratch[:0]
	for _, v := range hist {
		b.scratch = append(b.scratch, float64(v))
	}
	med, mad := stat.MedianMAD(b.scratch)
	scale := math.Max(stat.MADScale*mad, scaleFloor(st, med, n))
	z := (x - med) / scale
	row := SignalVerdict{Signal: callerStats[st].signal, Verdict: signal.Info(caller, x, z, n,
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
			ac, cc := a.hist[statCalls], c.hist[statCalls]
			return cmp.Or(cmp.Compare(boolRank(len(ac) == h), boolRank(len(cc) == h)),
				cmp.Compare(a.seen, c.seen), cmp.Compare(len(ac), len(cc)), cmp.Compare(x, y))
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
		ce := &callerEntry{seen: b.windows}
		f := figures(c, uint64(cfg.MinCalls))
		for st, x := range f.x {
			if !math.IsNaN(x) {
				ce.hist[st] = append(make([]float32, 0, h), float32(x))
			}
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
func push[T any](r []T, x T, h int) []T {
	if r == nil {
		r = make([]T, 0, h)
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
