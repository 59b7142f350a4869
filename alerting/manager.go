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
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// Manager runs the alert lifecycle of every drift series (model, version,
// feature) and signal series (model, version, signal, subject) and delivers
// its notifications. Observe is cheap and never blocks on delivery;
// Run delivers; Close drains.
type Manager struct {
	cfg   Config
	lanes []*lane
	rec   Recorder
	log   *slog.Logger
	met   *metrics
	now   func() time.Time

	mu     sync.Mutex
	alerts map[string]*state // pending and firing alerts only
	closed bool
	swept  time.Time // when stale alerts were last looked for

	records   recordBuffer
	ok, fail  atomic.Int64
	closeOnce sync.Once
}

// state is one pending or firing alert.
type state struct {
	alert   Alert
	drifted int           // consecutive drifted windows while pending
	clean   int           // consecutive clean windows while firing
	notice  *Notification // last firing notification, re-sent to receivers that need refreshes
	sent    []mark        // per lane: what was last queued
	seen    time.Time     // wall clock of the last observation, for StaleAfter
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
// at that interval while they fire.
func NewWithNotifiers(cfg Config, notifiers map[string]Notifier, rec Recorder, reg prometheus.Registerer, log *slog.Logger) (*Manager, error) {
	if err := cfg.validateCore(); err != nil {
		return nil, fmt.Errorf("validating alerting config: %w", err)
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
		cfg: cfg, rec: rec, log: log, met: met, now: time.Now,
		alerts:  make(map[string]*state),
		records: recordBuffer{max: 10 * cfg.QueueSize, full: make(chan struct{}, 1)},
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
	}
	return m, nil
}

// Observe advances the lifecycle of each observation's alert and queues the
// resulting notifications. It is safe for concurrent use and never blocks on
// delivery. Observations of a key whose window does not end after the last
// window seen for that key are ignored; after Close, Observe does nothing.
func (m *Manager) Observe(ctx context.Context, obs []Observation) {
	now := m.now()
	var recs []Record
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	for i := range obs {
		recs = m.observe(&obs[i], now, recs)
	}
	recs = m.sweep(now, recs)
	m.updateActive()
	m.mu.Unlock()
	m.record(recs...)
}

// observe applies one observation; m.mu is held.
func (m *Manager) observe(o *Observation, now time.Time, recs []Record) []Record {
	key := o.key()
	drifted := o.Severity.Rank() > 0
	st := m.alerts[key]
	if st == nil {
		if !drifted {
			return recs // inactive stays inactive and keeps no state
		}
		if len(m.alerts) >= m.cfg.MaxAlerts {
			m.met.untracked.Inc()
			m.log.Warn("alert not tracked: max_alerts alerts are pending or firing", "key", key, "max_alerts", m.cfg.MaxAlerts)
			return recs
		}
		st = &state{
			alert: Alert{Key: key, ModelID: o.ModelID, ModelVersion: o.ModelVersion, Feature: o.Feature,
				Signal: o.Signal, Subject: o.Subject, State: StatePending, StartsAt: o.WindowStart},
			sent: make([]mark, len(m.lanes)), seen: now,
		}
		m.alerts[key] = st
		st.update(o)
		st.drifted = 1
		recs = append(recs, m.stateRecord(st, StatePending, now))
		if st.drifted >= m.cfg.PendingWindows {
			recs = m.fire(st, o, now, recs)
		}
		return recs
	}
	if !o.WindowEnd.After(st.alert.LastWindowEnd) {
		m.met.ignored.Inc()
		return recs
	}
	st.seen = now
	switch st.alert.State {
	case StatePending:
		if !drifted {
			st.alert.LastWindowEnd = o.WindowEnd
			delete(m.alerts, key)
			return append(recs, m.stateRecord(st, StateInactive, now))
		}
		st.update(o)
		st.drifted++
		if st.drifted >= m.cfg.PendingWindows {
			recs = m.fire(st, o, now, recs)
		}
	case StateFiring:
		if drifted {
			st.clean = 0
			prev := st.alert.Severity
			st.update(o)
			if st.alert.Severity != prev {
				recs = append(recs, m.stateRecord(st, StateFiring, now))
				m.enqueueAll(st, m.firingNotice(st, o), now)
			}
			return recs
		}
		st.alert.LastWindowEnd = o.WindowEnd
		st.clean++
		if st.clean >= m.cfg.ResolveWindows {
			delete(m.alerts, key)
			n := m.notice(st, o, StatusResolved)
			n.EndsAt = o.WindowEnd
			n.Summary = resolvedSummary(o)
			st.alert.Summary = n.Summary
			if i := alert.Worst(o.Tests); i >= 0 {
				st.alert.Statistic, st.alert.Threshold = o.Tests[i].Statistic, o.Tests[i].Threshold
			}
			recs = append(recs, m.stateRecord(st, StateResolved, now))
			m.enqueueAll(st, n, now)
		}
	}
	return recs
}

// HandOver stops tracking, without any notification, the pending and firing
// alerts of the models owns says this instance no longer decides (their
// decider moved to another instance): the instance that decides them now
// observes their windows and notifies under the same keys, and this one
// must not end them as stale behind its back. Each is recorded as
// StateHandedOver and counted. It returns how many were handed over.
func (m *Manager) HandOver(owns func(modelID string) bool) int {
	now := m.now()
	var recs []Record
	m.mu.Lock()
	for key, st := range m.alerts {
		if !owns(st.alert.ModelID) {
			continue
		}
		delete(m.alerts, key)
		m.met.handedOver.Inc()
		recs = append(recs, m.stateRecord(st, StateHandedOver, now))
	}
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
	m.updateActive()
	m.mu.Unlock()
	m.record(recs...)
}

// sweep ends the alerts of series silent for StaleAfter: a pending one is
// dropped, a firing one resolved with a notification saying it went stale.
// It looks at most every StaleAfter/10, so that a full map is not scanned
// for every observation; m.mu is held.
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
		m.met.stale.WithLabelValues(st.alert.State).Inc()
		n := &Notification{
			Key: st.alert.Key, Status: StatusResolved, Stale: true, Severity: st.alert.Severity,
			ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion, Feature: st.alert.Feature,
			Signal: st.alert.Signal, Subject: st.alert.Subject,
			StartsAt: st.alert.StartsAt, EndsAt: st.alert.LastWindowEnd, WindowEnd: st.alert.LastWindowEnd,
			DashboardURL: m.cfg.DashboardURL,
		}
		n.Summary = alert.Summary(alert.WhatOf(n), alert.SeriesOf(n), time.Time{}, n.WindowEnd, nil)
		st.alert.Summary = n.Summary
		m.log.Info("alert series silent", "key", key, "state", st.alert.State, "silent", silent.Round(time.Second))
		if st.alert.State == StatePending {
			recs = append(recs, m.stateRecord(st, StateInactive, now))
			continue
		}
		recs = append(recs, m.stateRecord(st, StateResolved, now))
		m.enqueueAll(st, n, now)
	}
	return recs
}

// update takes the severity, summary and worst test of a drifted window.
func (st *state) update(o *Observation) {
	st.alert.Severity = o.Severity
	st.alert.LastWindowEnd = o.WindowEnd
	st.alert.Summary = summary(o)
	st.alert.Statistic, st.alert.Threshold = math.NaN(), math.NaN()
	if i := alert.Worst(o.Tests); i >= 0 {
		st.alert.Statistic, st.alert.Threshold = o.Tests[i].Statistic, o.Tests[i].Threshold
	}
}

// fire moves a pending alert to firing and queues its notification.
func (m *Manager) fire(st *state, o *Observation, now time.Time, recs []Record) []Record {
	st.alert.State = StateFiring
	st.alert.FiredAt = o.WindowEnd
	st.drifted, st.clean = 0, 0
	m.enqueueAll(st, m.firingNotice(st, o), now)
	return append(recs, m.stateRecord(st, StateFiring, now))
}

func (m *Manager) firingNotice(st *state, o *Observation) *Notification {
	n := m.notice(st, o, StatusFiring)
	st.notice = n
	return n
}

func (m *Manager) notice(st *state, o *Observation, status string) *Notification {
	return &Notification{
		Key: st.alert.Key, Status: status, Severity: st.alert.Severity,
		ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion, Feature: st.alert.Feature,
		Signal: st.alert.Signal, Subject: st.alert.Subject, Summary: st.alert.Summary, Tests: slices.Clone(o.Tests),
		StartsAt: st.alert.StartsAt, WindowStart: o.WindowStart, WindowEnd: o.WindowEnd, DashboardURL: m.cfg.DashboardURL,
	}
}

// enqueueAll queues n to every receiver, skipping receivers whose last queued
// notification for this alert had the same status and severity.
func (m *Manager) enqueueAll(st *state, n *Notification, now time.Time) {
	for i, l := range m.lanes {
		if st.sent[i].status == n.Status && st.sent[i].sev == n.Severity {
			continue
		}
		if m.enqueue(l, n) {
			st.sent[i] = mark{status: n.Status, sev: n.Severity, at: now}
		}
	}
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

// refresh re-queues every firing alert to lane l when it was last queued there
// at least one interval ago (Alertmanager forgets alerts that are not re-sent).
func (m *Manager) refresh(l *lane, interval time.Duration) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, st := range m.alerts {
		if st.alert.State != StateFiring || st.notice == nil {
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

func (m *Manager) updateActive() {
	var n [2][3]int
	for _, st := range m.alerts {
		s := 0
		if st.alert.State == StateFiring {
			s = 1
		}
		n[s][st.alert.Severity.Rank()]++
	}
	for s, state := range []string{StatePending, StateFiring} {
		m.met.active.WithLabelValues(state, string(SeverityWarning)).Set(float64(n[s][1]))
		m.met.active.WithLabelValues(state, string(SeverityCritical)).Set(float64(n[s][2]))
	}
}

func (m *Manager) stateRecord(st *state, to string, now time.Time) Record {
	m.met.stateChanges.WithLabelValues(to).Inc()
	m.log.Info("alert state changed", "key", st.alert.Key, "state", to, "severity", st.alert.Severity)
	return Record{
		Time: now, Key: st.alert.Key, ModelID: st.alert.ModelID, ModelVersion: st.alert.ModelVersion,
		Feature: st.alert.Feature, Signal: st.alert.Signal, Subject: st.alert.Subject,
		Kind: KindState, State: to, Severity: st.alert.Severity,
		Statistic: st.alert.Statistic, Threshold: st.alert.Threshold, Summary: st.alert.Summary,
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
