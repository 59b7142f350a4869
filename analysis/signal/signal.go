// Package signal defines how a signal plugs into the analysis. A signal is
// one family of per-window statistics about a model version (its error
// rate, its latency, its callers, ...): a partial state per (model version,
// window, source partition) that observes events, merges with the partial of
// another partition and serialises itself, and a scorer that turns a merged
// partial, and the partial of the model's reference period, into verdicts.
//
// A new signal is a Signal registered once in a Set; the windows, the
// partials topic, the merge, the evaluation and the signals table carry it
// without other edits. The per-event path stays concrete: the windows
// collect their events of a Kafka batch and hand them to each partial in
// one call, so there is one interface call per window and batch, not per
// event.
//
// A partial never depends on the reference (it keeps raw counts and
// sketches), so partials opened before and after a reference was pinned
// merge exactly. Scorers do no I/O.
package signal

import (
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Partial is the state of one signal over the events of one model version
// and window read from one partition.
type Partial interface {
	// Observe adds events, all of the partial's model version and window.
	// The events are only valid during the call, and it must not allocate
	// per event once its state has grown to its bound.
	Observe(events []*telemetry.Event)
	// Merge adds o, a partial of the same signal over a disjoint set of
	// events of the same model version and window.
	Merge(o Partial)
	// AppendBinary appends the state to b.
	AppendBinary(b []byte) []byte
	// Decode reads what AppendBinary wrote into this empty partial,
	// failing d (sketch.ErrCorrupt) on input that does not fit the
	// signal's bounds; hostile input must not allocate beyond them.
	Decode(d *sketch.Decoder)
}

// Resetter is a Partial that can be emptied for reuse, keeping its memory:
// a partition resets the partials of a window it has encoded and reuses
// them for a later window, so that a partial that grew to its bounds does
// not allocate them again every window. Reset leaves the partial as
// NewPartial returns it; nothing read from it before stays valid.
type Resetter interface {
	Reset()
}

// Signal is one signal family: it makes empty partials and scores merged
// ones.
type Signal interface {
	// Name names the signal in the partials it encodes, in the signals
	// table and in alerts: lower-case letters, digits and underscores.
	Name() string
	// NewPartial returns an empty partial.
	NewPartial() Partial
	// Score returns the verdicts of a merged window's partial cur, against
	// ref, the merge of the model version's reference windows (nil when
	// the reference was loaded from storage or imported, not warmed up).
	Score(cur, ref Partial) []Verdict
}

// Verdict is a signal's decision about one subject in one window: one row of
// the signals table.
//
// A signal tests and measures; the evaluation decides. A verdict with a
// p-value and effect levels is a decision: the evaluation rejects it by
// Benjamini–Hochberg at the analysis FDR across every signal decision of the
// window, and grades it by its effect against Warning and Critical, as the
// drift decisions are graded. A verdict without a p-value or without levels
// (NaN) only informs: its Severity is what the signal set (ok unless the
// signal decides itself, e.g. a sequential detector's alarm).
type Verdict struct {
	// Subject is what the verdict is about: "*" for the model itself, or a
	// class, a finish reason, a caller, a feedback source.
	Subject string
	// Statistic is the signal's statistic, PValue its significance (NaN
	// when the test does not give one, or when there were too few
	// observations to test) and Effect its effect size, oriented so that
	// larger is worse.
	Statistic, PValue, Effect float64
	// Warning and Critical are the effect levels of a decision; NaN for a
	// verdict that only informs.
	Warning, Critical float64
	// AdjustedP is the Benjamini–Hochberg adjusted p-value, set by the
	// evaluation; NaN when not tested.
	AdjustedP float64
	// Threshold is the effect level the decision was taken against (the
	// critical level when reached, else the warning level), set by the
	// evaluation; NaN for a verdict that only informs.
	Threshold float64
	// Severity is the decision.
	Severity verdict.Severity
	// N is the number of observations the verdict rests on.
	N uint64
	// Evidence names, briefly and in bounded length, what drives the
	// verdict.
	Evidence string
}

// Decision returns a verdict that decides: p is its p-value (NaN when it
// could not be tested, e.g. too few observations), effect its effect size
// (larger is worse), warning and critical the effect levels.
func Decision(subject string, statistic, p, effect, warning, critical float64, n uint64, evidence string) Verdict {
	return Verdict{Subject: subject, Statistic: statistic, PValue: p, Effect: effect, Warning: warning, Critical: critical,
		AdjustedP: math.NaN(), Threshold: math.NaN(), N: n, Evidence: evidence}
}

// Info returns a verdict that only informs, with severity ok.
func Info(subject string, statistic, effect float64, n uint64, evidence string) Verdict {
	nan := math.NaN()
	return Verdict{Subject: subject, Statistic: statistic, PValue: nan, Effect: effect, Warning: nan, Critical: nan,
		AdjustedP: nan, Threshold: nan, Severity: verdict.SeverityOK, N: n, Evidence: evidence}
}

// Decides reports whether v is a decision (a p-value and effect levels).
func (v *Verdict) Decides() bool {
	return !math.IsNaN(v.PValue) && !math.IsNaN(v.Warning) && !math.IsNaN(v.Critical)
}

// Set is the signals of a monitor, in registration order: the order of the
// partials in every window.
type Set struct {
	signals []Signal
	index   map[string]int
}

// NewSet registers signals. Names must be valid and distinct.
func NewSet(signals ...Signal) (*Set, error) {
	s := &Set{index: make(map[string]int, len(signals))}
	for _, sig := range signals {
		name := sig.Name()
		if !validName(name) {
			return nil, fmt.Errorf("registering signal %q: a name is 1 to 64 lower-case letters, digits and underscores", name)
		}
		if _, dup := s.index[name]; dup {
			return nil, fmt.Errorf("registering signal %q: registered twice", name)
		}
		s.index[name] = len(s.signals)
		s.signals = append(s.signals, sig)
	}
	return s, nil
}

// Len returns the number of signals; 0 for a nil set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.signals)
}

// At returns the i-th signal.
func (s *Set) At(i int) Signal { return s.signals[i] }

// Index returns the position of the signal named name.
func (s *Set) Index(name string) (int, bool) {
	if s == nil {
		return 0, false
	}
	i, ok := s.index[name]
	return i, ok
}

// NewPartials returns an empty partial of every signal, in order; nil for
// an empty set.
func (s *Set) NewPartials() []Partial {
	if s.Len() == 0 {
		return nil
	}
	out := make([]Partial, len(s.signals))
	for i, sig := range s.signals {
		out[i] = sig.NewPartial()
	}
	return out
}

func validName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
