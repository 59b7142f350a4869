package policy

import (
	"fmt"
	"slices"
	"time"
)

// Tracker tracks the risk budget of every model a policy's budgets match,
// for one analysis window length. Windows are identified by their end;
// they are the analysis's tumbling windows, aligned on multiples of the
// window length since the Unix epoch. A window of a model for which no
// verdict arrived (no traffic, a restart gap, before tracking began) counts
// as not in breach: burn rates over a window of n analysis windows always
// divide by n, so that a single breached window just after a start does
// not stand for a whole long window. It is not safe for concurrent use.
type Tracker struct {
	pol    *Policy
	window time.Duration
	plans  map[*Budget]*Plan
	models map[string]*modelBudget
}

// modelBudget is one model's budget state.
type modelBudget struct {
	plan      *Plan // nil: no budget matches the model
	head      int64 // index of the newest window
	seen, bad bitRing
	firing    []time.Time // per plan alert: end of the window it fired in, zero when not firing
}

// BurnTransition is a burn-rate alert firing or resolving.
type BurnTransition struct {
	// Model and Budget name the model and its budget.
	Model, Budget string
	// Alert names the burn alert, e.g. "fast".
	Alert string
	// Severity is page or ticket.
	Severity BurnSeverity
	// State is firing or resolved.
	State State
	// WindowEnd is the end of the window that caused the change.
	WindowEnd time.Time
	// LongRate and ShortRate are the burn rates over the alert's windows;
	// Rate is the alert's threshold.
	LongRate, ShortRate, Rate float64
	// Consumed is the share of the budget spent over the period (above 1
	// when overspent).
	Consumed float64
	// Receivers are the receivers of Severity; AllReceivers says every
	// configured receiver (the budget names none).
	Receivers    []string
	AllReceivers bool
}

// BudgetStatus is a model's budget after its newest window.
type BudgetStatus struct {
	// Model and Budget name the model and its budget.
	Model, Budget string
	// WindowEnd is the end of the newest window.
	WindowEnd time.Time
	// Windows is the period in analysis windows; Observed how many of them
	// had a verdict, Breached how many were in breach.
	Windows, Observed, Breached int
	// Allowed is how many windows may be in breach over the period.
	Allowed float64
	// Consumed is Breached / Allowed, the share of the budget spent (above
	// 1 when overspent); Remaining is 1 − Consumed (negative when overspent).
	Consumed, Remaining float64
	// Burns are the burn alerts, in the budget's order.
	Burns []BurnStatus
}

// BurnStatus is one burn alert's rates and state.
type BurnStatus struct {
	PlannedAlert
	// LongRate and ShortRate are the burn rates over the long and short
	// windows: the share of their windows in breach divided by the budget's share.
	LongRate, ShortRate float64
	// Firing says whether the alert fires; Since is the end of the window
	// it fired in.
	Firing bool
	Since  time.Time
}

// NewTracker returns a Tracker of p's budgets for analysis windows of
// length window, refusing budgets that cannot be evaluated at that length
// (Budget.Plan).
func NewTracker(p *Policy, window time.Duration) (*Tracker, error) {
	t := &Tracker{window: window, models: map[string]*modelBudget{}}
	if err := t.setPolicy(p); err != nil {
		return nil, err
	}
	return t, nil
}

// setPolicy plans p's budgets.
func (t *Tracker) setPolicy(p *Policy) error {
	plans, err := p.Plans(t.window)
	if err != nil {
		return err
	}
	t.pol = p
	t.plans = make(map[*Budget]*Plan, len(plans))
	for _, pl := range plans {
		t.plans[pl.Budget] = pl
	}
	return nil
}

// SetPolicy replaces the policy (a reload). Every model's breach history
// is kept and re-counted under its new budget (the newest windows of the
// new period); a burn alert keeps firing when its budget has an alert of
// the same name. Burn alerts are evaluated again at each model's next
// window (Observe or Advance). On error nothing changes.
func (t *Tracker) SetPolicy(p *Policy) error {
	snap := t.Snapshot()
	old := *t
	if err := t.setPolicy(p); err != nil {
		return err
	}
	if err := t.Restore(snap); err != nil {
		*t = old
		return err
	}
	return nil
}

// index returns the index of the window ending at end.
func (t *Tracker) index(end time.Time) int64 {
	return floorDiv(end.UnixNano(), int64(t.window)) - 1
}

// end returns the end of window idx.
func (t *Tracker) end(idx int64) time.Time {
	return time.Unix(0, (idx+1)*int64(t.window)).UTC()
}

// model returns a model's state, creating it; its plan is nil when no
// budget matches the model.
func (t *Tracker) model(name string) *modelBudget {
	m := t.models[name]
	if m == nil {
		m = t.newModel(name)
		t.models[name] = m
	}
	return m
}

// newModel returns the empty state of a model under the budget that matches it.
func (t *Tracker) newModel(name string) *modelBudget {
	m := &modelBudget{head: -1 << 62}
	if b := t.pol.MatchBudget(name); b != nil {
		pl := t.plans[b]
		m.plan = pl
		m.seen, m.bad = newBitRing(pl.Windows), newBitRing(pl.Windows)
		m.firing = make([]time.Time, len(pl.Alerts))
	}
	return m
}

// Observe records whether a model's window ending at windowEnd was in
// breach, and returns the burn alerts that fire or resolve. Several calls
// for one window (one per key of the model) combine: the window is in
// breach when any says so. A window older than the budget's period
// behind the newest is ignored. A model no budget matches is ignored.
func (t *Tracker) Observe(model string, windowEnd time.Time, breach bool) []BurnTransition {
	m := t.model(model)
	if m.plan == nil {
		return nil
	}
	idx := t.index(windowEnd)
	if idx > m.head {
		m.advance(idx)
	} else if idx <= m.head-int64(m.plan.Windows) {
		return nil
	}
	m.seen.set(idx)
	if breach {
		m.bad.set(idx)
	}
	return t.evaluate(model, m)
}

// Advance moves every tracked model on to the window ending at windowEnd,
// counting the windows it skips as not in breach (no verdict arrived), and
// returns the burn alerts that fire or resolve: it lets alerts of models
// that went silent resolve.
func (t *Tracker) Advance(windowEnd time.Time) []BurnTransition {
	idx := t.index(windowEnd)
	var out []BurnTransition
	for _, name := range t.modelNames() {
		m := t.models[name]
		if m.plan == nil || idx <= m.head {
			continue
		}
		m.advance(idx)
		out = append(out, t.evaluate(name, m)...)
	}
	return out
}

// modelNames returns the tracked models, sorted.
func (t *Tracker) modelNames() []string {
	names := make([]string, 0, len(t.models))
	for n := range t.models {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// advance makes idx the newest window, clearing the windows it skips.
func (m *modelBudget) advance(idx int64) {
	n := int64(m.plan.Windows)
	if idx-m.head >= n {
		m.seen.reset()
		m.bad.reset()
	} else {
		for j := m.head + 1; j <= idx; j++ {
			m.seen.clear(j)
			m.bad.clear(j)
		}
	}
	m.head = idx
}

// rates returns the burn rates of a planned alert at the newest window,
// and whether both reach its rate.
func (m *modelBudget) rates(a *PlannedAlert) (long, short float64, fires bool) {
	share := m.plan.Budget.Share
	bl := m.bad.count(m.head-int64(a.LongWindows), m.head)
	bs := m.bad.count(m.head-int64(a.ShortWindows), m.head)
	long = float64(bl) / float64(a.LongWindows) / share
	short = float64(bs) / float64(a.ShortWindows) / share
	fires = float64(bl) >= a.need(share, a.LongWindows) && float64(bs) >= a.need(share, a.ShortWindows)
	return long, short, fires
}

// evaluate returns the burn alerts of a model that change state.
func (t *Tracker) evaluate(name string, m *modelBudget) []BurnTransition {
	var out []BurnTransition
	consumed := float64(m.bad.count(m.head-int64(m.plan.Windows), m.head)) / m.plan.Allowed
	for i := range m.plan.Alerts {
		a := &m.plan.Alerts[i]
		long, short, fires := m.rates(a)
		if fires == !m.firing[i].IsZero() {
			continue
		}
		state := StateFiring
		if fires {
			m.firing[i] = t.end(m.head)
		} else {
			m.firing[i] = time.Time{}
			state = StateResolved
		}
		tr := BurnTransition{
			Model: name, Budget: m.plan.Budget.Name, Alert: a.Name, Severity: a.Severity, State: state,
			WindowEnd: t.end(m.head), LongRate: long, ShortRate: short, Rate: a.Rate, Consumed: consumed,
		}
		tr.Receivers, tr.AllReceivers = m.plan.Budget.Receivers.For(string(a.Severity))
		out = append(out, tr)
	}
	return out
}

// Status returns a model's budget, and false when no budget matches the
// model or it has had no window yet.
func (t *Tracker) Status(model string) (BudgetStatus, bool) {
	m := t.models[model]
	if m == nil || m.plan == nil {
		return BudgetStatus{}, false
	}
	n := int64(m.plan.Windows)
	s := BudgetStatus{
		Model: model, Budget: m.plan.Budget.Name, WindowEnd: t.end(m.head), Windows: m.plan.Windows,
		Observed: m.seen.count(m.head-n, m.head), Breached: m.bad.count(m.head-n, m.head), Allowed: m.plan.Allowed,
	}
	s.Consumed = float64(s.Breached) / s.Allowed
	s.Remaining = 1 - s.Consumed
	for i := range m.plan.Alerts {
		a := &m.plan.Alerts[i]
		long, short, _ := m.rates(a)
		s.Burns = append(s.Burns, BurnStatus{PlannedAlert: *a, LongRate: long, ShortRate: short,
			Firing: !m.firing[i].IsZero(), Since: m.firing[i]})
	}
	return s, true
}

// Models returns the models with a budget that have had a window, sorted.
func (t *Tracker) Models() []string {
	var out []string
	for _, n := range t.modelNames() {
		if t.models[n].plan != nil {
			out = append(out, n)
		}
	}
	return out
}

// Forget drops a model's budget state (its breach history and firing burn
// alerts) without a transition, as if it had never had a window; it leaves
// the other models as they are.
func (t *Tracker) Forget(model string) { delete(t.models, model) }

// TrackerState is a Tracker's state as plain data (JSON-encodable), to
// store across restarts.
type TrackerState struct {
	// Window is the analysis window length the state counts in.
	Window time.Duration `json:"window"`
	// Models are the models with a budget, sorted.
	Models []BudgetState `json:"models"`
}

// BudgetState is one model's budget state. Windows are absolute indexes:
// window i ends at (i+1) × Window since the Unix epoch.
type BudgetState struct {
	// Model names the model.
	Model string `json:"model"`
	// Budget names the budget the state was counted under (for reading;
	// Restore matches the model again).
	Budget string `json:"budget"`
	// Head is the newest window.
	Head int64 `json:"head"`
	// Seen and Breached are the windows with a verdict and those in breach,
	// as inclusive runs [first, last].
	Seen     [][2]int64 `json:"seen"`
	Breached [][2]int64 `json:"breached"`
	// Firing are the burn alerts that fire, with the end of the window
	// each fired in.
	Firing []FiringBurn `json:"firing,omitempty"`
}

// FiringBurn is a firing burn alert in a BudgetState.
type FiringBurn struct {
	// Alert names the burn alert.
	Alert string `json:"alert"`
	// Since is the end of the window it fired in.
	Since time.Time `json:"since"`
}

// Snapshot returns the Tracker's state. It copies every model's history:
// to store one model, use SnapshotModel.
func (t *Tracker) Snapshot() TrackerState {
	s := TrackerState{Window: t.window, Models: []BudgetState{}}
	for _, name := range t.Models() {
		s.Models = append(s.Models, t.models[name].state(name))
	}
	return s
}

// SnapshotModel returns one model's state, at a cost in proportion to its
// budget's period only, and false when no budget matches the model or it
// has had no window yet (as Status). Its windows count in the Tracker's
// window length.
func (t *Tracker) SnapshotModel(model string) (BudgetState, bool) {
	m := t.models[model]
	if m == nil || m.plan == nil {
		return BudgetState{}, false
	}
	return m.state(model), true
}

// state returns the state of a model with a budget.
func (m *modelBudget) state(name string) BudgetState {
	n := int64(m.plan.Windows)
	bs := BudgetState{Model: name, Budget: m.plan.Budget.Name, Head: m.head,
		Seen: m.seen.runs(m.head-n, m.head), Breached: m.bad.runs(m.head-n, m.head)}
	for i, since := range m.firing {
		if !since.IsZero() {
			bs.Firing = append(bs.Firing, FiringBurn{Alert: m.plan.Alerts[i].Name, Since: since})
		}
	}
	return bs
}

// Restore replaces the Tracker's state by s, each model counted under the
// budget that matches it now: windows older than its period are dropped,
// firing alerts the budget no longer has are forgotten, and models no
// budget matches are dropped. It refuses, changing nothing, a state
// counted in another window length or with runs outside its period.
func (t *Tracker) Restore(s TrackerState) error {
	if s.Window != t.window {
		return fmt.Errorf("restoring budget state: it counts windows of %s, the tracker %s", s.Window, t.window)
	}
	models := map[string]*modelBudget{}
	for i, bs := range s.Models {
		if _, dup := models[bs.Model]; dup {
			return fmt.Errorf("restoring budget state: models[%d] (%s): listed twice", i, bs.Model)
		}
		m, err := t.restoredModel(bs)
		if err != nil {
			return fmt.Errorf("restoring budget state: models[%d] (%s): %w", i, bs.Model, err)
		}
		if m.plan != nil {
			models[bs.Model] = m
		}
	}
	t.models = models
	return nil
}

// RestoreModel replaces the state of the model s names by s, counted in the
// Tracker's window length, leaving the other models as they are; it costs
// in proportion to the model's budget's period only. As in Restore, the
// model is counted under the budget that matches it now: windows older
// than its period are dropped, firing alerts the budget no longer has are
// forgotten, and when no budget matches the model its state is dropped
// (Status then says false). It refuses, changing nothing, a state with
// runs outside its period.
func (t *Tracker) RestoreModel(s BudgetState) error {
	m, err := t.restoredModel(s)
	if err != nil {
		return fmt.Errorf("restoring the budget state of %s: %w", s.Model, err)
	}
	if m.plan == nil {
		delete(t.models, s.Model)
		return nil
	}
	t.models[s.Model] = m
	return nil
}

// restoredModel returns the model state bs stands for under the budget
// that matches the model now (with a nil plan when none does).
func (t *Tracker) restoredModel(bs BudgetState) (*modelBudget, error) {
	m := t.newModel(bs.Model)
	if m.plan == nil {
		return m, nil
	}
	m.head = bs.Head
	oldest := bs.Head - int64(m.plan.Windows)
	for _, r := range [...]struct {
		name string
		runs [][2]int64
		into *bitRing
	}{{"seen", bs.Seen, &m.seen}, {"breached", bs.Breached, &m.bad}} {
		for _, run := range r.runs {
			if run[0] > run[1] || run[1] > bs.Head {
				return nil, fmt.Errorf("%s run %v is not within its windows up to %d", r.name, run, bs.Head)
			}
			for j := max(run[0], oldest+1); j <= run[1]; j++ {
				r.into.set(j)
			}
		}
	}
	for _, f := range bs.Firing {
		for k := range m.plan.Alerts {
			if m.plan.Alerts[k].Name == f.Alert {
				m.firing[k] = f.Since
			}
		}
	}
	return m, nil
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
