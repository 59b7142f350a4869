package alerting

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/driftwatch/driftwatch/alerting/policy"
)

// BurnSignal is the Signal of a risk budget's burn-alert notifications and
// records; their Subject is "<budget>/<burn alert>", their ModelVersion
// empty (a budget is per model) and their key BurnKey.
const BurnSignal = "risk_budget"

// budgets tracks the risk budgets of the policy for the manager: it feeds
// the policy's Tracker with each model's breach per window, bounds the
// models tracked and exports their budgets as metrics. m.mu guards it.
type budgets struct {
	tr      *policy.Tracker
	window  time.Duration
	max     int
	tracked map[string]string     // model → the budget its gauges are exported under
	windows map[budgetWindow]bool // breach of each model window of the current Observe call
	newest  time.Time             // end of the newest window counted
	warned  bool                  // the bound of tracked models was logged
}

// budgetWindow is one window of one model.
type budgetWindow struct {
	model string
	end   int64 // Unix nanoseconds
}

// burnID names a burn alert.
type burnID struct{ model, budget, alert string }

// newBudgets returns the budget tracking of p for cfg's window length.
func newBudgets(p *policy.Policy, cfg Config) (*budgets, error) {
	tr, err := policy.NewTracker(p, cfg.WindowSize)
	if err != nil {
		return nil, err
	}
	limit := cfg.MaxBudgetModels
	if limit == 0 {
		limit = DefaultMaxBudgetModels
	}
	return &budgets{tr: tr, window: cfg.WindowSize, max: limit, tracked: map[string]string{}, windows: map[budgetWindow]bool{}}, nil
}

// countWindow notes a counted window (breaching or clean, not skipped) of
// a model for its budget; m.mu is held.
func (m *Manager) countWindow(model string, end time.Time, res *policy.Result) {
	if m.bud == nil || len(m.pol.Budgets) == 0 || (res.Outcome != policy.OutcomeBreach && res.Outcome != policy.OutcomeClean) {
		return
	}
	m.touch(model, false)
	k := budgetWindow{model: model, end: end.UnixNano()}
	m.bud.windows[k] = m.bud.windows[k] || res.Breach
	if end.After(m.bud.newest) {
		m.bud.newest = end
	}
}

// budgetWindows hands the model windows counted during one Observe call to
// the tracker, in window order, notifies the burn alerts that fire or
// resolve and exports the models' budgets. A model with a budget beyond
// max_budget_models tracked models is not tracked: counted, and the first
// one logged. m.mu is held.
func (m *Manager) budgetWindows(now time.Time, recs []Record) []Record {
	b := m.bud
	if b == nil || len(b.windows) == 0 {
		return recs
	}
	keys := make([]budgetWindow, 0, len(b.windows))
	for k := range b.windows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y budgetWindow) int { return cmp.Or(cmp.Compare(x.end, y.end), cmp.Compare(x.model, y.model)) })
	var touched []string
	for _, k := range keys {
		if _, ok := b.tracked[k.model]; !ok {
			bu := m.pol.MatchBudget(k.model)
			if bu == nil {
				continue
			}
			if len(b.tracked) >= b.max {
				m.met.budgetUntracked.Inc()
				if !b.warned {
					b.warned = true
					m.log.Warn("risk budget not tracked: max_budget_models models are tracked (further ones are counted in driftwatch_alerts_budget_untracked_windows_total, not logged)",
						"model", k.model, "budget", bu.Name, "max_budget_models", b.max)
				}
				continue
			}
			b.tracked[k.model] = bu.Name
		}
		for _, bt := range b.tr.Observe(k.model, time.Unix(0, k.end).UTC(), b.windows[k]) {
			recs = m.burn(bt, now, recs)
		}
		if !slices.Contains(touched, k.model) {
			touched = append(touched, k.model)
		}
	}
	clear(b.windows)
	for _, model := range touched {
		m.exportBudget(model)
	}
	return recs
}

// advanceBudgets moves the budgets of models whose newest window is more
// than stale_after (in event time) behind the newest window of any model
// on, counting the windows in between as not in breach, so that the burn
// alerts of a model that went silent resolve; m.mu is held.
func (m *Manager) advanceBudgets(now time.Time, recs []Record) []Record {
	b := m.bud
	if b == nil || b.newest.IsZero() {
		return recs
	}
	for _, bt := range b.tr.Advance(b.newest.Add(-m.cfg.StaleAfter)) {
		recs = m.burn(bt, now, recs)
	}
	for model := range b.tracked {
		m.exportBudget(model)
	}
	return recs
}

// exportBudget sets a tracked model's gauges: its remaining budget and the
// burn rate over each window of its burn alerts.
func (m *Manager) exportBudget(model string) {
	s, ok := m.bud.tr.Status(model)
	if !ok {
		return
	}
	if m.bud.tracked[model] != s.Budget {
		m.deleteBudgetSeries(model)
		m.bud.tracked[model] = s.Budget
	}
	m.met.budgetRemaining.WithLabelValues(s.Budget, model).Set(s.Remaining)
	for _, bs := range s.Burns {
		m.met.burnRate.WithLabelValues(s.Budget, model, durationLabel(bs.Long)).Set(bs.LongRate)
		m.met.burnRate.WithLabelValues(s.Budget, model, durationLabel(bs.Short)).Set(bs.ShortRate)
	}
}

// deleteBudgetSeries deletes a model's budget gauges.
func (m *Manager) deleteBudgetSeries(model string) {
	m.met.budgetRemaining.DeletePartialMatch(map[string]string{"model": model})
	m.met.burnRate.DeletePartialMatch(map[string]string{"model": model})
}

// durationLabel writes a burn window as the policy file does: "1h", "5m", "3d".
func durationLabel(d time.Duration) string { return model.Duration(d).String() }

// handOverBudgets drops, without notification, the firing burn alerts and
// the budget state of the models owns says another instance decides now;
// m.mu is held.
func (m *Manager) handOverBudgets(owns func(modelID string) bool, now time.Time, recs []Record) []Record {
	if m.bud == nil {
		return recs
	}
	for key, st := range m.burns {
		if !owns(st.burn.model) {
			continue
		}
		delete(m.burns, key)
		m.met.handedOver.Inc()
		recs = append(recs, m.stateRecord(st, StateHandedOver, now))
	}
	for model := range m.bud.tracked {
		if owns(model) {
			m.bud.tr.Forget(model)
			m.deleteBudgetSeries(model)
			delete(m.bud.tracked, model)
		}
	}
	return recs
}

// reconcileBudgets brings the burn alerts and gauges in line with the
// tracker after a policy reload: burn alerts the tracker no longer fires
// (their budget or alert left the policy) are resolved, those it fires
// under a new name are notified, and the gauges are exported anew; m.mu is
// held.
func (m *Manager) reconcileBudgets(now time.Time, recs []Record) []Record {
	b := m.bud
	if b == nil {
		return recs
	}
	m.met.budgetRemaining.Reset()
	m.met.burnRate.Reset()
	clear(b.tracked)
	want := map[string]policy.BurnTransition{}
	for _, model := range b.tr.Models() {
		s, _ := b.tr.Status(model)
		b.tracked[model] = s.Budget
		m.exportBudget(model)
		bu := m.pol.MatchBudget(model)
		for _, bs := range s.Burns {
			if !bs.Firing || bu == nil {
				continue
			}
			bt := policy.BurnTransition{Model: model, Budget: s.Budget, Alert: bs.Name, Severity: bs.Severity, State: policy.StateFiring,
				WindowEnd: s.WindowEnd, LongRate: bs.LongRate, ShortRate: bs.ShortRate, Rate: bs.Rate, Consumed: s.Consumed}
			bt.Receivers, bt.AllReceivers = bu.Receivers.For(string(bs.Severity))
			want[BurnKey(model, s.Budget, bs.Name)] = bt
		}
	}
	for key, st := range m.burns {
		if _, ok := want[key]; ok {
			continue
		}
		delete(m.burns, key)
		n := m.burnNotice(st, StatusResolved)
		n.EndsAt = st.alert.LastWindowEnd
		n.Summary = fmt.Sprintf("risk budget %s of %s: burn alert %s ended by a policy reload (no longer in the policy)",
			st.burn.budget, st.burn.model, st.burn.alert)
		st.alert.Summary = n.Summary
		recs = append(recs, m.stateRecord(st, StateResolved, now))
		m.notify(st, n, now)
	}
	keys := make([]string, 0, len(want))
	for key := range want {
		if m.burns[key] == nil {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		recs = m.burn(want[key], now, recs)
	}
	return recs
}

// burn turns a burn alert's transition into a state record and a
// notification to the budget's receivers of its severity (page: critical,
// ticket: warning); m.mu is held.
func (m *Manager) burn(bt policy.BurnTransition, now time.Time, recs []Record) []Record {
	key := BurnKey(bt.Model, bt.Budget, bt.Alert)
	st := m.burns[key]
	m.touch(bt.Model, true)
	if bt.State == policy.StateResolved && st == nil {
		return recs
	}
	if st == nil {
		st = &state{
			alert: Alert{Key: key, ModelID: bt.Model, Signal: BurnSignal, Subject: bt.Budget + "/" + bt.Alert,
				State: StateFiring, StartsAt: bt.WindowEnd.Add(-m.bud.window), FiredAt: bt.WindowEnd},
			burn: &burnID{model: bt.Model, budget: bt.Budget, alert: bt.Alert},
			sent: make([]mark, len(m.lanes)), routed: make([]bool, len(m.lanes)),
		}
		m.burns[key] = st
	}
	st.alert.Severity = SeverityWarning
	if bt.Severity == policy.BurnPage {
		st.alert.Severity = SeverityCritical
	}
	st.alert.LastWindowEnd = bt.WindowEnd
	st.alert.Statistic, st.alert.Threshold = bt.LongRate, bt.Rate
	st.alert.Summary = m.burnSummary(&bt)
	st.routed = m.route(bt.Receivers, bt.AllReceivers)
	if bt.State == policy.StateFiring {
		m.met.burnAlerts.WithLabelValues(bt.Budget, bt.Alert).Inc()
		n := m.burnNotice(st, StatusFiring)
		n.Tests = m.burnTests(&bt, st.alert.Severity)
		st.notice = n
		m.notify(st, n, now)
		return append(recs, m.stateRecord(st, StateFiring, now))
	}
	delete(m.burns, key)
	n := m.burnNotice(st, StatusResolved)
	n.Tests = m.burnTests(&bt, st.alert.Severity)
	n.EndsAt = bt.WindowEnd
	recs = append(recs, m.stateRecord(st, StateResolved, now))
	m.notify(st, n, now)
	return recs
}

// burnNotice builds a burn alert's notification.
func (m *Manager) burnNotice(st *state, status string) *Notification {
	a := &st.alert
	return &Notification{
		Key: a.Key, Status: status, Severity: a.Severity, ModelID: a.ModelID, Signal: a.Signal, Subject: a.Subject,
		Summary: a.Summary, StartsAt: a.StartsAt, WindowStart: a.LastWindowEnd.Add(-m.bud.window), WindowEnd: a.LastWindowEnd,
		DashboardURL: m.cfg.DashboardURL,
		Labels:       map[string]string{"budget": st.burn.budget, "burn_alert": st.burn.alert},
		Annotations:  map[string]string{AnnotationSummary: a.Summary},
	}
}

// burnAlert returns the burn alert of a transition as the policy defines it.
func (m *Manager) burnAlert(bt *policy.BurnTransition) (policy.BurnAlert, *policy.Budget) {
	bu := m.pol.MatchBudget(bt.Model)
	if bu != nil {
		for _, a := range bu.Alerts {
			if a.Name == bt.Alert {
				return a, bu
			}
		}
	}
	return policy.BurnAlert{Name: bt.Alert, Rate: bt.Rate, Severity: bt.Severity}, bu
}

// burnTests are a burn alert's "tests": its burn rate over its long and
// short windows against its rate.
func (m *Manager) burnTests(bt *policy.BurnTransition, sev Severity) []TestResult {
	a, _ := m.burnAlert(bt)
	test := func(d time.Duration, rate float64) TestResult {
		t := TestResult{Test: "burn_rate_" + durationLabel(d), Statistic: rate, PValue: math.NaN(), Threshold: bt.Rate, Severity: SeverityOK}
		if rate >= bt.Rate {
			t.Severity = sev
		}
		return t
	}
	return []TestResult{test(a.Long, bt.LongRate), test(a.Short, bt.ShortRate)}
}

// burnSummary is a burn alert's one-line text, e.g. "risk budget fraud of
// fraud-eu: fast burn 20× over 1h and 24× over 5m (page at 14.4×), 3.1% of
// 30d spent".
func (m *Manager) burnSummary(bt *policy.BurnTransition) string {
	a, bu := m.burnAlert(bt)
	what := "burn"
	if bt.State == policy.StateResolved {
		what = "burn ended:"
	}
	period := "its period"
	if bu != nil {
		period = durationLabel(bu.Period)
	}
	return fmt.Sprintf("risk budget %s of %s: %s %s %s× over %s and %s× over %s (%s at %s×), %s%% of %s spent",
		bt.Budget, bt.Model, bt.Alert, what, formatRate(bt.LongRate), durationLabel(a.Long), formatRate(bt.ShortRate), durationLabel(a.Short),
		bt.Severity, formatRate(bt.Rate), formatRate(bt.Consumed*100), period)
}

// formatRate writes a rate or percentage with three significant digits.
func formatRate(v float64) string { return fmt.Sprintf("%.3g", v) }
