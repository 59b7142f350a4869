package policy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// State is an alert's state, as the alerting package names it.
type State string

// The states. An alert is inactive, pending or firing; resolved is only a
// transition's target: a resolved alert is inactive afterwards.
const (
	StateInactive State = "inactive"
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Verdict is what the analysis decided about one key in one window.
type Verdict struct {
	// WindowStart and WindowEnd bound the window in event time.
	WindowStart, WindowEnd time.Time
	// Value is the statistic or effect value the rule's thresholds are
	// compared with; NaN when the window has none (a rule with thresholds
	// then skips the window).
	Value float64
	// Severity is the severity the analysis proposed.
	Severity Severity
	// Samples is the window's sample size; negative when unknown, which
	// passes any min_samples.
	Samples int
}

// Outcome says how a window counted.
type Outcome string

// The outcomes.
const (
	// OutcomeBreach: the window's level is warning or critical.
	OutcomeBreach Outcome = "breach"
	// OutcomeClean: the window's level is ok.
	OutcomeClean Outcome = "clean"
	// OutcomeSkipped: too few samples, or no value for a rule with
	// thresholds. The window is no evidence: nothing changes, and it does
	// not break a run of breaching or clean windows.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeOutOfOrder: the window does not end after the last window seen
	// for the key; it is ignored.
	OutcomeOutOfOrder Outcome = "out_of_order"
)

// SeriesState is the alert state of one key between windows. It is plain
// data (JSON-encodable) so that it can be stored and restored; its zero
// value is an inactive key that has seen no window.
type SeriesState struct {
	// State is inactive, pending or firing.
	State State `json:"state,omitempty"`
	// Level is the hysteresis level of the last counted window.
	Level Severity `json:"level,omitempty"`
	// Severity is the alert's severity while pending or firing.
	Severity Severity `json:"severity,omitempty"`
	// Breaching counts the consecutive breaching windows while pending.
	Breaching int `json:"breaching,omitempty"`
	// Clean counts the consecutive clean windows while firing.
	Clean int `json:"clean,omitempty"`
	// Lower counts the breaching windows below Severity while firing: the
	// severity comes down after more than keep_firing_for of them.
	Lower int `json:"lower,omitempty"`
	// StartsAt is the start of the alert's first breaching window.
	StartsAt time.Time `json:"starts_at,omitzero"`
	// FiredAt is the end of the window that made the alert fire.
	FiredAt time.Time `json:"fired_at,omitzero"`
	// LastWindowEnd is the end of the last window seen (counted or skipped).
	LastWindowEnd time.Time `json:"last_window_end,omitzero"`
}

// state returns the state, inactive for the zero value.
func (s *SeriesState) state() State {
	if s.State == "" {
		return StateInactive
	}
	return s.State
}

// Transition is one change of an alert's state, or of a firing alert's
// severity (From and To both firing).
type Transition struct {
	// Key is the alert's key.
	Key Key
	// Rule names the rule that decided it.
	Rule string
	// From and To are the states before and after the window.
	From, To State
	// Severity is the alert's severity after the window; for a resolved or
	// dropped alert, the last one it had.
	Severity Severity
	// Value, Samples, WindowStart and WindowEnd are the window's.
	Value                  float64
	Samples                int
	WindowStart, WindowEnd time.Time
	// Threshold is the enter level of Severity under the rule's
	// thresholds; NaN when the rule takes the analysis's severity.
	Threshold float64
	// StartsAt is the start of the alert's first breaching window.
	StartsAt time.Time
	// Labels and Annotations are the alert's, rendered for this window.
	Labels, Annotations map[string]string
	// Receivers are the receivers of Severity; AllReceivers says every
	// configured receiver (the rule names none).
	Receivers    []string
	AllReceivers bool
}

// Result is what one window did to one key.
type Result struct {
	// Rule is the rule that decided the window.
	Rule *Rule
	// Outcome says how the window counted.
	Outcome Outcome
	// Level is the window's severity under the rule (hysteresis applied);
	// ok for a skipped or out-of-order window.
	Level Severity
	// Severity is the alert's severity after the window while it is
	// pending or firing: a firing alert escalates at once and comes down
	// only after more than keep_firing_for breaching windows below it, so
	// that a statistic wavering around the critical level does not notify
	// every window. Empty when inactive.
	Severity Severity
	// Breach says whether the window counts as in breach for the model's
	// risk budget: Level reaches the rule's BudgetLevel.
	Breach bool
	// State is the key's state after the window.
	State State
	// Transition is the state change the window caused, nil for none.
	Transition *Transition
}

// Step advances the state st of key k by the verdict v under rule r, and
// returns what happened. It is pure: the same state and verdict give the
// same result and the same next state.
func (r *Rule) Step(k Key, st *SeriesState, v *Verdict) Result {
	res := Result{Rule: r, Level: SeverityOK, State: st.state()}
	if !st.LastWindowEnd.IsZero() && !v.WindowEnd.After(st.LastWindowEnd) {
		res.Outcome = OutcomeOutOfOrder
		return res
	}
	st.LastWindowEnd = v.WindowEnd
	if (r.MinSamples > 0 && v.Samples >= 0 && v.Samples < r.MinSamples) ||
		(r.Thresholds != nil && math.IsNaN(v.Value)) {
		res.Outcome = OutcomeSkipped
		return res
	}
	prev := st.Level
	if prev == "" {
		prev = SeverityOK
	}
	level := r.Level(prev, v)
	st.Level = level
	res.Level = level
	breach := level.Rank() > 0
	res.Outcome = OutcomeClean
	if breach {
		res.Outcome = OutcomeBreach
	}
	res.Breach = r.BudgetLevel != "" && level.Rank() >= r.BudgetLevel.Rank()

	from := st.state()
	switch from {
	case StateInactive:
		if !breach {
			break
		}
		st.StartsAt, st.Severity, st.Breaching, st.Clean = v.WindowStart, level, 1, 0
		st.State = StatePending
		if st.Breaching > r.For {
			st.State, st.FiredAt, st.Breaching = StateFiring, v.WindowEnd, 0
		}
		res.Transition = r.transition(k, st, v, from, st.State)
	case StatePending:
		if !breach {
			res.Transition = r.transition(k, st, v, from, StateInactive)
			*st = SeriesState{LastWindowEnd: st.LastWindowEnd}
			break
		}
		st.Severity = level
		st.Breaching++
		if st.Breaching > r.For {
			st.State, st.FiredAt, st.Breaching = StateFiring, v.WindowEnd, 0
			res.Transition = r.transition(k, st, v, from, StateFiring)
		}
	case StateFiring:
		if breach {
			st.Clean = 0
			switch {
			case level.Rank() > st.Severity.Rank():
				st.Severity, st.Lower = level, 0
				res.Transition = r.transition(k, st, v, from, StateFiring)
			case level.Rank() < st.Severity.Rank():
				st.Lower++
				if st.Lower > r.KeepFiringFor {
					st.Severity, st.Lower = level, 0
					res.Transition = r.transition(k, st, v, from, StateFiring)
				}
			default:
				st.Lower = 0
			}
			break
		}
		st.Clean++
		if st.Clean > r.KeepFiringFor {
			res.Transition = r.transition(k, st, v, from, StateResolved)
			*st = SeriesState{LastWindowEnd: st.LastWindowEnd}
		}
	}
	res.State = st.state()
	if res.State != StateInactive {
		res.Severity = st.Severity
	}
	return res
}

// transition builds the transition of k from one state to another.
func (r *Rule) transition(k Key, st *SeriesState, v *Verdict, from, to State) *Transition {
	t := &Transition{
		Key: k, Rule: r.Name, From: from, To: to, Severity: st.Severity,
		Value: v.Value, Samples: v.Samples, WindowStart: v.WindowStart, WindowEnd: v.WindowEnd,
		Threshold: math.NaN(), StartsAt: st.StartsAt,
	}
	if r.Thresholds != nil {
		t.Threshold = r.Thresholds.Enter(st.Severity)
	}
	t.Labels, t.Annotations = r.Render(k, to, st.Severity, v, st.StartsAt)
	t.Receivers, t.AllReceivers = r.Receivers.For(string(st.Severity))
	return t
}

// Evaluator keeps the alert state of every key with a pending or firing
// alert and advances it by verdicts under a policy. Keys that are inactive
// keep no state. It is not safe for concurrent use.
type Evaluator struct {
	pol *Policy
	// models holds each model's keys with a pending or firing alert, so
	// that one model's state is taken or put back at the cost of its own
	// keys (SnapshotModel, RestoreModel); a model with none has no entry.
	models map[string]map[Key]*SeriesState
}

// NewEvaluator returns an Evaluator of p with no alert state.
func NewEvaluator(p *Policy) *Evaluator {
	return &Evaluator{pol: p, models: map[string]map[Key]*SeriesState{}}
}

// SetPolicy replaces the policy (a reload), keeping every key's state: the
// next verdict of a key is decided by the new policy's matching rule.
func (e *Evaluator) SetPolicy(p *Policy) { e.pol = p }

// Observe advances key k by its verdict for the next window. Verdicts of
// one key must come in window order; one that does not end after the
// previous is ignored (OutcomeOutOfOrder).
func (e *Evaluator) Observe(k Key, v Verdict) Result {
	return e.ObserveRule(k, e.pol.Match(k), v)
}

// ObserveRule is Observe with the rule chosen by the caller instead of the
// one the policy matches for k: the alerting manager decides the drift
// tests of a feature that no rule of the file matches together, as one
// key, under the policy's Fallback rule.
func (e *Evaluator) ObserveRule(k Key, r *Rule, v Verdict) Result {
	series := e.models[k.Model]
	st := series[k]
	if st == nil {
		// Most keys are inactive and stay so: their window costs no allocation.
		var fresh SeriesState
		res := r.Step(k, &fresh, &v)
		if fresh.state() != StateInactive {
			if series == nil {
				series = map[Key]*SeriesState{}
				e.models[k.Model] = series
			}
			keep := fresh
			series[k] = &keep
		}
		return res
	}
	res := r.Step(k, st, &v)
	if st.state() == StateInactive {
		e.Forget(k)
	}
	return res
}

// Forget drops the state of key k, which becomes inactive without a
// transition: the alerting manager forgets an alert it does not track (at
// its max_alerts bound), that went stale or that another instance took over.
func (e *Evaluator) Forget(k Key) {
	series := e.models[k.Model]
	if series == nil {
		return
	}
	delete(series, k)
	if len(series) == 0 {
		delete(e.models, k.Model)
	}
}

// Alert is one pending or firing alert of an Evaluator.
type Alert struct {
	// Key is the alert's key.
	Key Key
	// State is its state.
	State SeriesState
}

// Alerts returns the pending and firing alerts, sorted by key.
func (e *Evaluator) Alerts() []Alert {
	n := 0
	for _, series := range e.models {
		n += len(series)
	}
	out := make([]Alert, 0, n)
	for _, series := range e.models {
		for k, st := range series {
			out = append(out, Alert{Key: k, State: *st})
		}
	}
	slices.SortFunc(out, func(a, b Alert) int { return compareKeys(a.Key, b.Key) })
	return out
}

// compareKeys orders keys field by field.
func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Model, b.Model), cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Signal, b.Signal), cmp.Compare(a.Subject, b.Subject))
}

// EvaluatorState is an Evaluator's state as plain data (JSON-encodable),
// to store across restarts.
type EvaluatorState struct {
	// Series are the keys with a pending or firing alert, sorted by key.
	Series []SeriesSnapshot `json:"series"`
}

// SeriesSnapshot is one key's state.
type SeriesSnapshot struct {
	// Key is the series' key.
	Key Key `json:"key"`
	// State is its alert state.
	State SeriesState `json:"state"`
}

// Snapshot returns the Evaluator's state: every model's. To store one
// model, use SnapshotModel.
func (e *Evaluator) Snapshot() EvaluatorState {
	alerts := e.Alerts()
	s := EvaluatorState{Series: make([]SeriesSnapshot, 0, len(alerts))}
	for _, a := range alerts {
		s.Series = append(s.Series, SeriesSnapshot{Key: a.Key, State: a.State})
	}
	return s
}

// SnapshotModel returns the state of the keys of one model with a pending
// or firing alert, sorted by key (nil when it has none): the series of
// Snapshot whose key names the model, at a cost in proportion to the
// model's keys only.
func (e *Evaluator) SnapshotModel(model string) []SeriesSnapshot {
	series := e.models[model]
	if len(series) == 0 {
		return nil
	}
	out := make([]SeriesSnapshot, 0, len(series))
	for k, st := range series {
		out = append(out, SeriesSnapshot{Key: k, State: *st})
	}
	slices.SortFunc(out, func(a, b SeriesSnapshot) int { return compareKeys(a.Key, b.Key) })
	return out
}

// Restore replaces the Evaluator's state by s. It refuses, changing
// nothing, a state with an unknown state name or severity, or a key twice.
func (e *Evaluator) Restore(s EvaluatorState) error {
	models := map[string]map[Key]*SeriesState{}
	for i := range s.Series {
		ss := &s.Series[i]
		if err := checkSeries(ss); err != nil {
			return fmt.Errorf("restoring alert state: series[%d] (%s): %w", i, ss.Key, err)
		}
		if _, dup := models[ss.Key.Model][ss.Key]; dup {
			return fmt.Errorf("restoring alert state: series[%d] (%s): key listed twice", i, ss.Key)
		}
		if ss.State.state() == StateInactive {
			continue
		}
		series := models[ss.Key.Model]
		if series == nil {
			series = map[Key]*SeriesState{}
			models[ss.Key.Model] = series
		}
		st := ss.State
		series[ss.Key] = &st
	}
	e.models = models
	return nil
}

// RestoreModel replaces the state of one model's keys by series, leaving
// the other models as they are, at a cost in proportion to the model's
// keys only; series may be empty, which drops the model's state. As
// Restore, it refuses, changing nothing, a state with an unknown state
// name or severity, or a key twice; and a key of another model.
func (e *Evaluator) RestoreModel(model string, series []SeriesSnapshot) error {
	var keep map[Key]*SeriesState
	for i := range series {
		ss := &series[i]
		if ss.Key.Model != model {
			return fmt.Errorf("restoring the alert state of %s: series[%d] (%s): key of another model", model, i, ss.Key)
		}
		if err := checkSeries(ss); err != nil {
			return fmt.Errorf("restoring the alert state of %s: series[%d] (%s): %w", model, i, ss.Key, err)
		}
		if _, dup := keep[ss.Key]; dup {
			return fmt.Errorf("restoring the alert state of %s: series[%d] (%s): key listed twice", model, i, ss.Key)
		}
		if keep == nil {
			keep = make(map[Key]*SeriesState, len(series))
		}
		st := ss.State
		keep[ss.Key] = &st
	}
	for k, st := range keep {
		if st.state() == StateInactive {
			delete(keep, k)
		}
	}
	if len(keep) == 0 {
		delete(e.models, model)
		return nil
	}
	e.models[model] = keep
	return nil
}

// checkSeries checks the state names and severities of one key's state.
func checkSeries(ss *SeriesSnapshot) error {
	st := &ss.State
	switch st.state() {
	case StateInactive, StatePending, StateFiring:
	default:
		return fmt.Errorf("unknown state %q", st.State)
	}
	for _, sev := range []Severity{st.Level, st.Severity} {
		if sev != "" && !sev.Valid() {
			return fmt.Errorf("unknown severity %q", sev)
		}
	}
	return nil
}
