package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/policy"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// Manager runs the alert lifecycle of every drift series (model, version,
// feature, or a test of a feature a policy rule decides alone) and signal
// series (model, version, signal, subject) under its alert policy, tracks
// the policy's risk budgets, and delivers notifications. Observe is cheap
// and never blocks on delivery; Run delivers; Close drains.
type Manager struct {
	cfg     Config
	lanes   []*lane
	laneIdx map[string]int // lane index by receiver name
	rec     Recorder
	reg     prometheus.Registerer
	log     *slog.Logger
	met     *metrics
	now     func() time.Time

	mu       sync.Mutex
	alerts   map[string]*state // pending and firing alerts only
	pol      *policy.Policy
	ev       *policy.Evaluator  // in step with alerts: a key has state in both or in neither
	bud      *budgets           // nil without a window size (no budgets then)
	burns    map[string]*state  // firing burn alerts, by BurnKey
	groups   map[groupID]*group // notification groups (Config.GroupBy), per receiver
	silencer Silencer           // nil: no silences
	inh      inhibitor          // inhibit rules of the policy (inhibit.go)
	silences []silence          // as last read from silencer
	persist  *persistence       // nil: state is not stored (state.go)
	scratch  []series           // the series of the observation being observed
	closed   bool
	swept    time.Time // when stale alerts were last looked for

	records   recordBuffer
	ok, fail  atomic.Int64
	closeOnce sync.Once
}

// state is one pending or firing alert, or one firing burn alert.
type state struct {
	alert  Alert
	pkey   policy.Key        // the alert's policy key (zero for a burn alert)
	burn   *burnID           // set for a burn alert
	notice *Notification     // last firing notification, re-sent to receivers that need refreshes
	sent   []mark            // per lane: what was last queued
	routed []bool            // per lane: whether the alert's current severity routes there
	seen   time.Time         // wall clock of the last observation, for StaleAfter
	labels map[string]string // the labels of the alert's policy rule (nil for the default rule)
	muted  bool              // a silence kept a notification of the alert from a receiver
}

// mark is what was last queued to one receiver for one alert.
type mark struct {
	status string
	sev    Severity
	at     time.Time
}

// New completes cfg with its derived defaults (Config.WithDerived), validates
// it, builds its receivers and returns a Manager. rec may be nil; reg may be
// nil (metrics then go to a private registry).
func New(cfg Config, rec Recorder, reg prometheus.Registerer, log *slog.Logger) (*Manager, error) {
	cfg = cfg.WithDerived()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating alerting config: %w", err)
	}
	ns := map[string]Notifier{}
	for _, c := range cfg.Slack {
		n, err := slack.New(c)
		if err != nil {
			return nil, fmt.Errorf("building slack receiver %s: %w", c.Name, err)
		}
		ns[c.Name] = n
	}
	for _, c := range cfg.PagerDuty {
		n, err := pagerduty.New(c)
		if err != nil {
			return nil, fmt.Errorf("building pagerduty receiver %s: %w", c.Name, err)
		}
		ns[c.Name] = n
	}
	for _, c := range cfg.Webhook {
		n, err := webhook.New(c)
		if err != nil {
			return nil, fmt.Errorf("building webhook receiver %s: %w", c.Name, err)
		}
		ns[c.Name] = n
	}
	for _, c := range cfg.Alertmanager {
		n, err := alertmanager.New(c)
		if err != nil {
			return nil, fmt.Errorf("building alertmanager receiver %s: %w", c.Name, err)
		}
		ns[c.Name] = n
	}
	return NewWithNotifiers(cfg, ns, rec, reg, log)
}

// NewWithNotifiers returns a Manager delivering to the given notifiers, keyed
// by receiver name; the receiver lists of cfg are ignored. A notifier with a
// ResendInterval() time.Duration method (Alertmanager) gets firing alerts again
// at that interval while they fire. With Config.GroupBy, every notifier gets
// grouped notifications except one with a PerAlert() bool method that
// returns true (webhook, Alertmanager), which gets every alert on its own.
func NewWithNotifiers(cfg Config, notifiers map[string]Notifier, rec Recorder, reg prometheus.Registerer, log *slog.Logger) (*Manager, error) {
	if err := cfg.validateCore(); err != nil {
		return nil, fmt.Errorf("validating alerting config: %w", err)
	}
	pol, err := cfg.loadPolicy(func(name string) bool { _, ok := notifiers[name]; return ok })
	if err != nil {
		return nil, fmt.Errorf("validating alerting config: policy_file: %w", err)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, rec: rec, reg: reg, log: log, met: met, now: time.Now,
		alerts: make(map[string]*state), burns: make(map[string]*state), groups: make(map[groupID]*group),
		pol: pol, ev: policy.NewEvaluator(pol), laneIdx: make(map[string]int, len(notifiers)),
		records: recordBuffer{max: 10 * cfg.QueueSize, full: make(chan struct{}, 1)},
	}
	if m.inh, err = newInhibitor(reg); err != nil {
		return nil, err
	}
	if cfg.WindowSize > 0 {
		if m.bud, err = newBudgets(pol, cfg); err != nil {
			return nil, fmt.Errorf("validating alerting config: policy_file: %w", err)
		}
	}
	names := make([]string, 0, len(notifiers))
	for name := range notifiers {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		if notifiers[name] == nil {
			return nil, fmt.Errorf("receiver %s: nil notifier", name)
		}
		m.lanes = append(m.lanes, newLane(i, name, notifiers[name]))
		m.laneIdx[name] = i
	}
	if cfg.PolicyFile != "" {
		log.Info("alert policy loaded", "file", cfg.PolicyFile, "rules", len(pol.Rules), "budgets", len(pol.Budgets))
	}
	return m, nil
}

// Observe advances the lifecycle of each observation's alerts under the
// policy, counts the windows of models with a risk budget, and queues the
// resulting notifications. It is safe for concurrent use and never blocks on
// delivery. Observations of a key whose window does not end after the last
// window seen for that key are ignored; after Close, Observe does nothing.
func (m *Manager) Observe(ctx context.Context, obs []Observation) {
	if m.persist != nil {
		m.claim(ctx, obs) // a model observed here for the first time: its stored state first
	}
	now := m.now()
	var recs []Record
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.beginInhibitions()
	for i := range obs {
		recs = m.observe(&obs[i], now, recs)
	}
	recs = m.budgetWindows(now, recs)
	recs = m.sweep(now, recs)
	recs = m.settleInhibitions(now, recs)
	m.updateActive()
	m.mu.Unlock()
	m.record(recs...)
}

// observe applies one observation, series by series; m.mu is held.
func (m *Manager) observe(o *Observation, now time.Time, recs []Record) []Record {
	m.scratch = m.split(o, m.scratch[:0])
	for i := range m.scratch {
		recs = m.step(&m.scratch[i], now, recs)
	}
	clear(m.scratch) // drop the references to the observation's tests
	return recs
}

// step advances one series through the evaluator and turns the transition
// into state records and notifications; m.mu is held.
func (m *Manager) step(s *series, now time.Time, recs []Record) []Record {
	o := &s.obs
	var res policy.Result
	if s.fallback {
		res = m.ev.ObserveRule(s.pkey, m.pol.Fallback(), s.v)
	} else {
		res = m.ev.Observe(s.pkey, s.v)
	}
	st := m.alerts[s.key]
	if res.Outcome == policy.OutcomeOutOfOrder {
		if st != nil {
			m.met.ignored.Inc()
		}
		return recs
	}
	m.countWindow(o.ModelID, o.WindowEnd, &res)
	tr := res.Transition
	if st != nil || tr != nil {
		m.touch(o.ModelID, tr != nil && (tr.To == policy.StateFiring || tr.To == policy.StateResolved))
	}
	if st == nil {
		if res.State == policy.StateInactive {
			return recs // inactive stays inactive and keeps no state
		}
		if len(m.alerts) >= m.cfg.MaxAlerts {
			m.ev.Forget(s.pkey)
			m.met.untracked.Inc()
			m.log.Warn("alert not tracked: max_alerts alerts are pending or firing", "key", s.key, "max_alerts", m.cfg.MaxAlerts)
			return recs
		}
		st = &state{
			alert: Alert{Key: s.key, ModelID: o.ModelID, ModelVersion: o.ModelVersion, Feature: o.Feature, Test: s.test,
				Signal: o.Signal, Subject: o.Subject, Rule: ruleName(res.Rule), State: StatePending, StartsAt: o.WindowStart},
			pkey: s.pkey, sent: make([]mark, len(m.lanes)), routed: make([]bool, len(m.lanes)), seen: now,
		}
		m.alerts[s.key] = st
		st.update(o, &res)
		recs = append(recs, m.stateRecord(st, StatePending, now))
		if res.State == policy.StateFiring {
			recs = m.fire(st, o, &res, now, recs)
		}
		return recs
	}
	st.seen = now
	st.alert.LastWindowEnd = o.WindowEnd
	switch {
	case tr == nil:
		if res.Outcome == policy.OutcomeBreach {
			st.update(o, &res)
		}
		if st.alert.State == StateFiring {
			m.reroute(st, res.Rule, now)
		}
	case tr.To == policy.StateInactive:
		delete(m.alerts, s.key)
		recs = append(recs, m.stateRecord(st, StateInactive, now))
	case tr.To == policy.StateFiring && tr.From != policy.StateFiring:
		st.update(o, &res)
		recs = m.fire(st, o, &res, now, recs)
	case tr.To == policy.StateFiring: // a new severity while firing
		st.update(o, &res)
		recs = append(recs, m.stateRecord(st, StateFiring, now))
		st.routed = m.route(tr.Receivers, tr.AllReceivers)
		m.notify(st, m.firingNotice(st, o, &res), now)
	case tr.To == policy.StateResolved:
		delete(m.alerts, s.key)
		n := m.notice(st, o, StatusResolved, &res)
		n.EndsAt = o.WindowEnd
		n.Summary = resolvedSummary(o)
		st.alert.Summary = n.Summary
		if i := alert.Worst(o.Tests); i >= 0 {
			st.alert.Statistic, st.alert.Threshold = o.Tests[i].Statistic, o.Tests[i].Threshold
		}
		recs = append(recs, m.stateRecord(st, StateResolved, now))
		st.routed = m.route(tr.Receivers, tr.AllReceivers)
		m.notify(st, n, now)
	}
	return recs
}

// HandOver stops tracking, without any notification, the pending and firing
// alerts of the models owns says this instance no longer decides (their
// decider moved to another instance): the instance that decides them now
// observes their windows and notifies under the same keys, and this one
// must not end them as stale behind its back. Their firing burn alerts and
// budget state are dropped too. Each alert is recorded as StateHandedOver
// and counted. It returns how many alerts were handed over.
func (m *Manager) HandOver(owns func(modelID string) bool) int {
	if m.persist != nil {
		m.handOverState(owns)
	}
	now := m.now()
	var recs []Record
	m.mu.Lock()
	for key, st := range m.alerts {
		if !owns(st.alert.ModelID) {
			continue
		}
		delete(m.alerts, key)
		m.ev.Forget(st.pkey)
		m.forgetGrouped(key)
		m.met.handedOver.Inc()
		recs = append(recs, m.stateRecord(st, StateHandedOver, now))
	}
	recs = m.handOverBudgets(owns, now, recs)
	m.updateActive()
	m.mu.Unlock()
	m.record(recs...)
	return len(recs)
}

// sweepNow ends the alerts of silent series (see sweep) when no observation
// arrives to do it.
func (m *Manager) sweepNow() {
	now := m.now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	recs := m.sweep(now, nil)
	m.releaseInhibited(now)
	m.updateActive()
	m.mu.Unlock()
	m.record(recs...)
}

// sweep ends the alerts of series silent for StaleAfter: a pending one is
// dropped, a firing one resolved with a notification saying it went stale;
// and it moves the budgets of models silent for StaleAfter in event time
// on (advanceBudgets). It looks at most every StaleAfter/10, so that a full
// map is not scanned for every observation; m.mu is held.
func (m *Manager) sweep(now time.Time, recs []Record) []Record {
	if now.Sub(m.swept) < m.cfg.StaleAfter/10 {
		return recs
	}
	m.swept = now
	for key, st := range m.alerts {
		silent := now.Sub(st.seen)
		if silent < m.cfg.StaleAfter {
			continue
		}
		delete(m.alerts, key)
		m.ev.Forget(st.pkey)
		m.touch(st.alert.ModelID, true)
		m.met.stale.WithLabelValues(st.alert.State).Inc()
		n := &Notification{
			Key: st.alert.Key, Status: StatusResolved, Stale: true, Severity: st.alert.Severity,
			ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion, Feature: st.alert.Feature, Test: st.alert.Test,
			Signal: st.alert.Signal, Subject: st.alert.Subject,
			StartsAt: st.alert.StartsAt, EndsAt: st.alert.LastWindowEnd, WindowEnd: st.alert.LastWindowEnd,
			DashboardURL: m.cfg.DashboardURL,
		}
		if p := st.notice; p != nil {
			// The rule's links stay; its texts described the firing alert.
			n.Rule, n.Labels, n.DashboardURL = p.Rule, p.Labels, p.DashboardURL
			if u := p.Annotations[AnnotationRunbookURL]; u != "" {
				n.Annotations = map[string]string{AnnotationRunbookURL: u}
			}
		}
		n.Summary = alert.Summary(alert.WhatOf(n), alert.SeriesOf(n), time.Time{}, n.WindowEnd, nil)
		st.alert.Summary = n.Summary
		m.log.Info("alert series silent", "key", key, "state", st.alert.State, "silent", silent.Round(time.Second))
		if st.alert.State == StatePending {
			recs = append(recs, m.stateRecord(st, StateInactive, now))
			continue
		}
		recs = append(recs, m.stateRecord(st, StateResolved, now))
		m.notify(st, n, now)
	}
	return m.advanceBudgets(now, recs)
}

// update takes the severity (the alert's severity under its rule), summary and worst test of
// a breaching window. Under a rule with thresholds, Statistic is the value
// they compared and Threshold the enter level of the severity.
func (st *state) update(o *Observation, res *policy.Result) {
	sev := res.Severity
	if sev == "" {
		sev = res.Level
	}
	st.alert.Severity = sev
	st.alert.LastWindowEnd = o.WindowEnd
	st.alert.Summary = summary(o)
	st.alert.Statistic, st.alert.Threshold = math.NaN(), math.NaN()
	if i := alert.Worst(o.Tests); i >= 0 {
		st.alert.Statistic, st.alert.Threshold = o.Tests[i].Statistic, o.Tests[i].Threshold
	}
	if th := res.Rule.Thresholds; th != nil {
		st.alert.Threshold = th.Enter(sev)
	}
	st.alert.Rule = ruleName(res.Rule)
	st.labels = nil
	if r := res.Rule; r != nil && !r.IsDefault() {
		st.labels = r.Labels
	}
}

// fire moves a pending alert to firing and queues its notification to the
// receivers its rule routes its severity to.
func (m *Manager) fire(st *state, o *Observation, res *policy.Result, now time.Time, recs []Record) []Record {
	st.alert.State = StateFiring
	st.alert.FiredAt = o.WindowEnd
	st.routed = m.route(res.Transition.Receivers, res.Transition.AllReceivers)
	m.notify(st, m.firingNotice(st, o, res), now)
	return append(recs, m.stateRecord(st, StateFiring, now))
}

func (m *Manager) firingNotice(st *state, o *Observation, res *policy.Result) *Notification {
	n := m.notice(st, o, StatusFiring, res)
	st.notice = n
	return n
}

// notice builds the notification of a transition; a rule of the policy
// file adds its name, labels and rendered annotations.
func (m *Manager) notice(st *state, o *Observation, status string, res *policy.Result) *Notification {
	n := &Notification{
		Key: st.alert.Key, Status: status, Severity: st.alert.Severity,
		ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion, Feature: st.alert.Feature, Test: st.alert.Test,
		Signal: st.alert.Signal, Subject: st.alert.Subject, Summary: st.alert.Summary, Tests: slices.Clone(o.Tests),
		StartsAt: st.alert.StartsAt, WindowStart: o.WindowStart, WindowEnd: o.WindowEnd, DashboardURL: m.cfg.DashboardURL,
	}
	if r := res.Rule; r != nil && !r.IsDefault() {
		n.Rule, n.Labels = r.Name, r.Labels
		if res.Transition != nil {
			n.Annotations = m.annotations(st.alert.Key, res.Transition.Annotations)
		}
		if u := n.Annotations[AnnotationDashboardURL]; u != "" {
			n.DashboardURL = u
		}
	}
	return n
}

// notify queues n to the receivers st routes to, skipping those whose last
// queued notification for this alert had the same status and severity. A
// receiver the alert no longer routes to (its severity or rule changed)
// that was last sent it firing gets it resolved instead, so that no
// incident stays open there. While a silence or an inhibit rule holds the
// alert, firing notifications are recorded and counted, not queued; a
// resolve goes only to receivers that were sent the firing (silence.go,
// inhibit.go).
func (m *Manager) notify(st *state, n *Notification, now time.Time) {
	if m.deferFiring(st, n) {
		return // inhibition is decided at the end of the Observe call (inhibit.go)
	}
	silenced, outcome := m.silencedBy(st, now), OutcomeSilenced
	if silenced == "" && n.Status == StatusFiring {
		if r := m.inhibitedBy(st); r != nil {
			silenced, outcome = r.Name, OutcomeInhibited
		}
	}
	var withdrawn *Notification
	for i, l := range m.lanes {
		out := n
		if !st.routed[i] {
			if st.sent[i].status != StatusFiring {
				continue
			}
			if n.Status == StatusFiring {
				if withdrawn == nil {
					w := *n
					w.Status, w.EndsAt = StatusResolved, n.WindowEnd
					withdrawn = &w
				}
				out = withdrawn
			}
		}
		if st.sent[i].status == out.Status && st.sent[i].sev == out.Severity {
			continue
		}
		if out.Status == StatusResolved && st.sent[i].status != StatusFiring && (st.muted || silenced != "") {
			continue // the receiver was never told the alert fired: nothing to resolve there
		}
		if silenced != "" && out.Status == StatusFiring {
			st.muted = true
			m.holdBack(st, l, out, outcome)
			continue
		}
		if m.dispatch(l, out, now) {
			st.sent[i] = mark{status: out.Status, sev: out.Severity, at: now}
		}
	}
}

// dispatch hands n to receiver l: to its group when l's notifications are
// grouped, else to its queue.
func (m *Manager) dispatch(l *lane, n *Notification, now time.Time) bool {
	if m.grouped(l) {
		m.collect(l, n, now)
		return true
	}
	return m.enqueue(l, n)
}

// enqueue queues n to one receiver, or counts and records the refusal.
func (m *Manager) enqueue(l *lane, n *Notification) bool {
	if l.push(&job{n: n}, m.cfg.QueueSize) {
		return true
	}
	m.met.refused.Inc()
	m.met.notifications.WithLabelValues(l.name, OutcomeDropped).Inc()
	m.fail.Add(1)
	m.log.Warn("alert delivery queue full, notification dropped", "receiver", l.name, "key", n.Key, "status", n.Status)
	m.record(m.deliveryRecord(l, &job{n: n}, OutcomeDropped, nil))
	return false
}

// refresh re-queues every firing alert (burn alerts included) to lane l
// when it routes there and was last queued there at least one interval ago
// (Alertmanager forgets alerts that are not re-sent).
func (m *Manager) refresh(l *lane, interval time.Duration) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, alerts := range []map[string]*state{m.alerts, m.burns} {
		for _, st := range alerts {
			if st.alert.State != StateFiring || st.notice == nil || !st.routed[l.idx] || m.silencedBy(st, now) != "" || m.holds(st) {
				continue
			}
			// 10% slack so that a ticker firing a little early still refreshes.
			if now.Sub(st.sent[l.idx].at) < interval-interval/10 {
				continue
			}
			if m.enqueue(l, st.notice) {
				st.sent[l.idx] = mark{status: st.notice.Status, sev: st.notice.Severity, at: now}
			}
		}
	}
}

func (m *Manager) updateActive() {
	var n [2][3]int
	silenced := 0
	now := m.now()
	for _, st := range m.alerts {
		s := 0
		if st.alert.State == StateFiring {
			s = 1
			if len(m.silences) > 0 && m.silencedBy(st, now) != "" {
				silenced++
			}
		}
		n[s][st.alert.Severity.Rank()]++
	}
	active := 0
	for i := range m.silences {
		if m.silences[i].activeAt(now) {
			active++
		}
	}
	m.met.silencedAlerts.Set(float64(silenced))
	m.met.silencesActive.Set(float64(active))
	for s, state := range []string{StatePending, StateFiring} {
		m.met.active.WithLabelValues(state, string(SeverityWarning)).Set(float64(n[s][1]))
		m.met.active.WithLabelValues(state, string(SeverityCritical)).Set(float64(n[s][2]))
	}
}

func (m *Manager) stateRecord(st *state, to string, now time.Time) Record {
	m.met.stateChanges.WithLabelValues(to).Inc()
	outcome := ""
	if id := m.silencedBy(st, now); id != "" {
		outcome = OutcomeSilenced
		m.log.Info("alert state changed", "key", st.alert.Key, "state", to, "severity", st.alert.Severity, "silence", id)
	} else {
		m.log.Info("alert state changed", "key", st.alert.Key, "state", to, "severity", st.alert.Severity)
	}
	return Record{
		Time: now, Key: st.alert.Key, ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion,
		Feature: st.alert.Feature, Signal: st.alert.Signal, Subject: st.alert.Subject, Test: st.alert.Test, Rule: st.alert.Rule,
		Kind: KindState, State: to, Severity: st.alert.Severity,
		Statistic: st.alert.Statistic, Threshold: st.alert.Threshold, Summary: st.alert.Summary, Outcome: outcome,
	}
}

// Active returns the pending and firing alerts, sorted by key.
func (m *Manager) Active() []Alert {
	m.mu.Lock()
	out := make([]Alert, 0, len(m.alerts))
	for _, st := range m.alerts {
		out = append(out, st.alert)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Alert) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Delivered returns how many deliveries succeeded and how many ended without
// success (permanent error, attempts exhausted, or dropped).
func (m *Manager) Delivered() (ok, failed int) {
	return int(m.ok.Load()), int(m.fail.Load())
}

// summary is the one-line text of a drifted window, e.g.
// "psi 0.41 on feature amount of fraud-scorer v3 (window 14:00–14:01)" or
// "error_rate 0.12 for checkout-web of fraud-scorer v3 (window 14:00–14:01)".
func summary(o *Observation) string { return summaryAs(o, StatusFiring) }

// resolvedSummary is the one-line text of the window that resolved an alert.
func resolvedSummary(o *Observation) string { return summaryAs(o, StatusResolved) }

func summaryAs(o *Observation, status string) string {
	what := alert.What(status, o.Severity, o.Tests)
	if o.Signal != "" {
		what = alert.SignalWhat(status, o.Severity, o.Tests)
	}
	s := alert.Series{ModelID: o.ModelID, ModelVersion: o.ModelVersion, Feature: o.Feature, Signal: o.Signal, Subject: o.Subject}
	return alert.Summary(what, s, o.WindowStart, o.WindowEnd, nil)
}
