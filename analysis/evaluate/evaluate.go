package evaluate

import (
	"math"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
)

// Evaluator turns the model windows a decider merged into decisions: it
// feeds the warm-up and pins the reference, rebinds windows opened before
// the reference reached their partitions, chooses what each window is scored
// against (pinned, previous window, or a seasonal window read by the
// caller), scores it and adds the sequential evidence. It does no I/O. One
// decider owns an Evaluator; the References and Evidence it is given may be
// shared.
type Evaluator struct {
	cfg      *analysis.Config
	refs     *reference.Store
	evidence *Evidence
	prev     map[analysis.ModelKey]*window.Window // previous window, for previous_window references
	now      func() time.Time
}

// NewEvaluator returns an evaluator over refs and evidence (nil: no
// sequential evidence).
func NewEvaluator(cfg *analysis.Config, refs *reference.Store, evidence *Evidence) *Evaluator {
	return &Evaluator{cfg: cfg, refs: refs, evidence: evidence, prev: make(map[analysis.ModelKey]*window.Window), now: time.Now}
}

// Decision is what Evaluate decided for one window.
type Decision struct {
	// Scores are the window's test results and sequential evidence; empty
	// during warm-up and for a window that could not be scored.
	Scores []Score
	// Against is the reference the scores were taken against; nil when
	// nothing was scored.
	Against *reference.Reference
	// Pinned is the reference this window completed the warm-up of: the
	// caller stores it before the window's rows.
	Pinned *reference.Reference
	// Signals are the verdicts of the registered signals, scored for every
	// window (signal partials do not depend on the reference), against the
	// signal partials of what the window is scored against when it has them.
	Signals []SignalVerdict
	// Callers are the callers the window's access signals track
	// (access.Summaries of its merged partials), summarised once for the
	// callers' histories and the caller_windows rows (and the light callers
	// model_windows keeps).
	Callers []access.CallerSummary
}

// SignalVerdict is a verdict of the named signal.
type SignalVerdict struct {
	// Signal is the signal's name.
	Signal string
	signal.Verdict
}

// SeasonalStart returns the start of the earlier window whose stored
// summary the model's reference mode scores w against (previous_day,
// previous_week), and whether there is one to read: not before the model
// version has a reference.
func (e *Evaluator) SeasonalStart(w *window.Window) (time.Time, bool) {
	if w.Ref == nil && e.refs.Get(w.Model) == nil {
		return time.Time{}, false
	}
	switch mode := e.cfg.Mode(w.Model.ID); mode {
	case analysis.ModePreviousDay, analysis.ModePreviousWeek:
		return w.Start.Add(-analysis.Lookback(mode)), true
	}
	return time.Time{}, false
}

// Evaluate decides merged window w, taken in window order per model
// version. mixed says that its partials were opened against different
// references (only its counts are complete): it is not scored. seasonal is
// the reference built from the window at SeasonalStart, or nil.
func (e *Evaluator) Evaluate(w *window.Window, mixed bool, seasonal *reference.Reference) Decision {
	d := Decision{Callers: access.Summaries(w.Signals)}
	if mixed {
		d.Signals = e.withCallers(w, d.Callers, e.scoreSignals(w, nil))
		return d
	}
	if w.Ref == nil {
		// The warm-up reads the window's rows: its numeric samples need
		// not be filled from them (Rebind and ScoreAgainst read the rows
		// too).
		if d.Pinned = e.refs.Contribute(w.RowSketches()); d.Pinned == nil {
			// Opened before the reference reached its partitions.
			w.Rebind(e.refs.Get(w.Model))
		}
	}
	if w.Ref == nil {
		d.Signals = e.withCallers(w, d.Callers, e.scoreSignals(w, nil))
		return d
	}
	ref := e.against(w, seasonal)
	d.Scores = ScoreAgainst(e.cfg, w, ref)
	if len(d.Scores) == 0 && ref != w.Ref {
		// The earlier window was not comparable (other bins).
		ref = w.Ref
		d.Scores = ScoreAgainst(e.cfg, w, ref)
	}
	d.Scores = append(d.Scores, e.evidence.AddAgainst(w.Model, w.Ref.ID, w.End, d.Scores)...)
	d.Against = ref
	if ref.Signals == nil {
		ref = w.Ref
	}
	d.Signals = e.scoreSignals(w, ref)
	d.Signals = e.withCallers(w, d.Callers, append(d.Signals, e.evidence.History(w.Model, w.End, d.Signals)...))
	if e.cfg.Mode(w.Model.ID) == analysis.ModePreviousWindow {
		e.prev[w.Model] = w
		e.boundPrev()
	}
	return d
}

// withCallers appends to vs, the signal verdicts of w, what the tracked
// callers, cs, say of their own histories (Evidence.CallerHistory). The
// callers' counts do not depend on the reference: every window feeds them,
// warm-up and mixed ones included.
func (e *Evaluator) withCallers(w *window.Window, cs []access.CallerSummary, vs []SignalVerdict) []SignalVerdict {
	if e.evidence == nil || len(w.Signals) == 0 {
		return vs
	}
	return append(vs, e.evidence.CallerHistory(w.Model, w.End, cs, vs)...)
}

// against returns what w is scored against: its pinned reference, or the
// rolling reference its model's mode asks for when the earlier window
// exists.
func (e *Evaluator) against(w *window.Window, seasonal *reference.Reference) *reference.Reference {
	switch e.cfg.Mode(w.Model.ID) {
	case analysis.ModePreviousWindow:
		if prev := e.prev[w.Model]; prev != nil && prev.End.Equal(w.Start) && prev.Ref == w.Ref {
			return reference.Rolling(prev.Sketches(), prev.Ref, prev.SampleSize(), e.now())
		}
	case analysis.ModePreviousDay, analysis.ModePreviousWeek:
		if seasonal != nil {
			return seasonal
		}
	}
	return w.Ref
}

// scoreSignals scores every signal partial of w against the matching partial
// of against (none when against is nil or has none).
func (e *Evaluator) scoreSignals(w *window.Window, against *reference.Reference) []SignalVerdict {
	set := e.cfg.Signals
	if set.Len() == 0 || len(w.Signals) != set.Len() {
		return nil
	}
	var refs []signal.Partial
	if against != nil && len(against.Signals) == set.Len() {
		refs = against.Signals
	}
	var out []SignalVerdict
	for i, p := range w.Signals {
		var ref signal.Partial
		if refs != nil {
			ref = refs[i]
		}
		sig := set.At(i)
		for _, v := range sig.Score(p, ref) {
			out = append(out, SignalVerdict{Signal: sig.Name(), Verdict: v})
		}
	}
	DecideSignals(e.cfg.FDR, out)
	return out
}

// DecideSignals takes the decisions of a window's signal verdicts:
// Benjamini–Hochberg at fdr over the p-values of every verdict that decides,
// whatever its signal, then the effect levels. Verdicts that only inform
// keep the severity their signal gave them.
func DecideSignals(fdr float64, vs []SignalVerdict) {
	var idx []int
	var p []float64
	for i := range vs {
		v := &vs[i].Verdict
		v.AdjustedP, v.Threshold = math.NaN(), math.NaN()
		if !v.Decides() {
			if v.Severity == "" {
				v.Severity = verdict.SeverityOK
			}
			continue
		}
		v.Severity, v.Threshold = verdict.SeverityOK, v.Warning
		idx = append(idx, i)
		p = append(p, v.PValue)
	}
	if len(idx) == 0 {
		return
	}
	rejected, adjusted := stat.BenjaminiHochberg(p, fdr)
	for j, i := range idx {
		v := &vs[i].Verdict
		v.AdjustedP = adjusted[j]
		if !rejected[j] || !(v.Effect >= v.Warning) {
			continue
		}
		v.Severity = verdict.SeverityWarning
		if v.Effect >= v.Critical {
			v.Severity, v.Threshold = verdict.SeverityCritical, v.Critical
		}
	}
}

// boundPrev keeps the previous windows of at most MaxVersions model
// versions, dropping those of the versions silent the longest.
func (e *Evaluator) boundPrev() {
	for len(e.prev) > max(e.cfg.MaxVersions, 1) {
		var oldest analysis.ModelKey
		var end time.Time
		first := true
		for m, w := range e.prev {
			if first || w.End.Before(end) {
				oldest, end, first = m, w.End, false
			}
		}
		delete(e.prev, oldest)
	}
}
