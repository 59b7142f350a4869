package alerting

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting/policy"
)

// Inhibition, as Alertmanager's inhibit/ has it, by the inhibit rules of
// the policy file (policy.InhibitRule): while a source alert fires (a
// model-level alert such as the multivariate score, the model's output
// drift or a budget's burn alert), the alerts a rule's target matchers
// select that agree with it on the rule's equal labels are inhibited. An
// inhibited alert's lifecycle goes on and every transition is recorded
// (state records made while it is inhibited say Outcome OutcomeInhibited),
// but its firing notifications are queued to no receiver: each one held
// back is recorded once per receiver and severity as a delivery record
// with Outcome OutcomeInhibited (Attempt 0) and counted. When the source
// resolves (or stops matching) while the target still fires, the target's
// firing notification goes out. A resolve goes only to receivers that were
// sent the firing, as under a silence.
//
// Inhibition is decided once per Observe call, after every observation of
// the call went through the lifecycle: the firing notifications of alerts
// that a target matches are held until then, so that a model-level alert
// that fires in the same window as its features inhibits them whatever
// the order of the observations. Labels are the silences' (SilenceLabels,
// a rule's labels; a burn alert's budget and burn_alert). The sources of
// each rule are indexed by their equal labels once per call, so a check
// costs one map lookup per rule; the policy bounds the rules
// (policy.MaxInhibitRules).

// OutcomeInhibited is the Outcome of the state records of an inhibited
// alert, and of the delivery records of the notifications an inhibit rule
// kept from a receiver (Attempt 0).
const OutcomeInhibited = "inhibited"

// inhibitor is the manager's inhibition state; m.mu guards it.
type inhibitor struct {
	batch    bool              // inside Observe: firing notifications of targets wait for settleInhibitions
	deferred map[string]*state // by key, the targets whose firing notification waits
	held     map[string]*held  // by key, firing alerts whose firing notification an inhibit rule holds back
	idx      *inhibitIndex     // nil: to build at the next check

	notifications *prometheus.CounterVec // receiver
	alerts        prometheus.Gauge
}

// held is a firing alert an inhibit rule holds back, with the receivers
// whose held-back notification of its severity was recorded.
type held struct {
	st       *state
	sev      Severity
	recorded []bool // per lane
}

// inhibitIndex holds, per inhibit rule, the firing alerts its source
// matchers select, by the values of its equal labels.
type inhibitIndex struct {
	pol     *policy.Policy
	sources []map[string][]*state
}

// newInhibitor registers the inhibition metrics with reg.
func newInhibitor(reg prometheus.Registerer) (inhibitor, error) {
	in := inhibitor{
		deferred: map[string]*state{}, held: map[string]*held{},
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_inhibited_notifications_total",
			Help: "Firing notifications not queued to a receiver because an inhibit rule of the policy muted their alert.",
		}, []string{"receiver"}),
		alerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_inhibited",
			Help: "Firing alerts an inhibit rule mutes now (their firing notifications are held back).",
		}),
	}
	for _, c := range []prometheus.Collector{in.notifications, in.alerts} {
		if err := reg.Register(c); err != nil {
			return inhibitor{}, fmt.Errorf("registering alerting metrics: %w", err)
		}
	}
	return in, nil
}

// beginInhibitions starts an Observe call: firing notifications of
// targets wait for settleInhibitions; m.mu is held.
func (m *Manager) beginInhibitions() { m.inh.batch = len(m.pol.Inhibit) > 0 }

// current reports whether st is still a tracked alert (not resolved,
// dropped or handed over).
func (m *Manager) current(st *state) bool {
	if st.burn != nil {
		return m.burns[st.alert.Key] == st
	}
	return m.alerts[st.alert.Key] == st
}

// deferFiring keeps a firing notification of an alert that an inhibit
// rule targets until settleInhibitions, during an Observe call. It marks
// the alert muted, so that a resolve in the same call goes only to
// receivers that were sent the firing before; m.mu is held.
func (m *Manager) deferFiring(st *state, n *Notification) bool {
	if !m.inh.batch || n.Status != StatusFiring || !m.inhibitTarget(st) {
		return false
	}
	m.inh.deferred[st.alert.Key] = st
	st.muted = true
	return true
}

// inhibitTarget reports whether the target matchers of an inhibit rule select st.
func (m *Manager) inhibitTarget(st *state) bool {
	for _, r := range m.pol.Inhibit {
		if r.Target.Matches(st.label) {
			return true
		}
	}
	return false
}

// inhibitedBy returns the inhibit rule by which a firing alert other than
// st inhibits st, or nil; m.mu is held.
func (m *Manager) inhibitedBy(st *state) *policy.InhibitRule {
	if len(m.pol.Inhibit) == 0 || !m.inhibitTarget(st) {
		return nil
	}
	idx := m.inhibitIndex()
	for i, r := range m.pol.Inhibit {
		if !r.Target.Matches(st.label) {
			continue
		}
		for _, src := range idx.sources[i][r.EqualKey(st.label)] {
			if src != st && src.alert.State == StateFiring && m.current(src) && r.Inhibits(src.label, st.label) {
				return r
			}
		}
	}
	return nil
}

// inhibitIndex returns the index of the sources of every inhibit rule,
// building it when it is stale; m.mu is held.
func (m *Manager) inhibitIndex() *inhibitIndex {
	if x := m.inh.idx; x != nil && x.pol == m.pol {
		return x
	}
	x := &inhibitIndex{pol: m.pol, sources: make([]map[string][]*state, len(m.pol.Inhibit))}
	for i := range x.sources {
		x.sources[i] = map[string][]*state{}
	}
	for _, alerts := range []map[string]*state{m.alerts, m.burns} {
		for _, st := range alerts {
			if st.alert.State != StateFiring {
				continue
			}
			for i, r := range m.pol.Inhibit {
				if r.Source.Matches(st.label) {
					k := r.EqualKey(st.label)
					x.sources[i][k] = append(x.sources[i][k], st)
				}
			}
		}
	}
	m.inh.idx = x
	return x
}

// holdBack records and counts a firing notification a silence (outcome
// OutcomeSilenced) or an inhibit rule (OutcomeInhibited) keeps from
// receiver l. An inhibited alert's notification is recorded once per
// receiver and severity, however often it is tried again; m.mu is held.
func (m *Manager) holdBack(st *state, l *lane, n *Notification, outcome string) {
	if outcome == OutcomeSilenced {
		m.met.silenced.WithLabelValues(l.name).Inc()
		m.record(m.deliveryRecord(l, &job{n: n}, OutcomeSilenced, nil))
		return
	}
	h := m.inh.held[st.alert.Key]
	if h == nil || h.st != st || h.sev != n.Severity {
		h = &held{st: st, sev: n.Severity, recorded: make([]bool, len(m.lanes))}
		m.inh.held[st.alert.Key] = h
	}
	if h.recorded[l.idx] {
		return
	}
	h.recorded[l.idx] = true
	m.inh.notifications.WithLabelValues(l.name).Inc()
	m.record(m.deliveryRecord(l, &job{n: n}, OutcomeInhibited, nil))
}

// holds reports whether an inhibit rule holds back the firing notification of st.
func (m *Manager) holds(st *state) bool {
	h := m.inh.held[st.alert.Key]
	return h != nil && h.st == st
}

// settleInhibitions ends an Observe call: the firing notifications kept
// by deferFiring go out unless an inhibit rule mutes their alert now, the
// alerts whose inhibition ended get their firing notification, and the
// state records of the call of inhibited alerts get Outcome
// OutcomeInhibited; m.mu is held.
func (m *Manager) settleInhibitions(now time.Time, recs []Record) []Record {
	m.inh.batch = false
	m.inh.idx = nil
	if len(m.inh.deferred) > 0 {
		keys := make([]string, 0, len(m.inh.deferred))
		for k := range m.inh.deferred {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			st := m.inh.deferred[k]
			if m.current(st) && st.alert.State == StateFiring && st.notice != nil {
				m.notify(st, st.notice, now)
			}
		}
		clear(m.inh.deferred)
	}
	if len(m.pol.Inhibit) > 0 || len(m.inh.held) > 0 {
		for i := range recs {
			r := &recs[i]
			if r.Kind != KindState || r.Outcome != "" {
				continue
			}
			st := m.alerts[r.Key]
			if st == nil {
				st = m.burns[r.Key]
			}
			if (st != nil && m.inhibitedBy(st) != nil) || (st == nil && m.inh.held[r.Key] != nil) {
				r.Outcome = OutcomeInhibited
			}
		}
	}
	m.releaseInhibited(now)
	return recs
}

// releaseInhibited sends the firing notification of every held alert that
// still fires and that no inhibit rule (nor silence) mutes any more, and
// forgets the held alerts that ended; m.mu is held.
func (m *Manager) releaseInhibited(now time.Time) {
	m.inh.idx = nil
	keys := make([]string, 0, len(m.inh.held))
	for k := range m.inh.held {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		st := m.inh.held[k].st
		if !m.current(st) || st.alert.State != StateFiring {
			delete(m.inh.held, k)
			continue
		}
		if r := m.inhibitedBy(st); r != nil {
			continue
		}
		delete(m.inh.held, k)
		m.log.Info("alert no longer inhibited", "key", k)
		if st.notice != nil && m.silencedBy(st, now) == "" {
			m.notify(st, st.notice, now)
		}
	}
	m.catchUpInhibited(now)
	m.inh.alerts.Set(float64(len(m.inh.held)))
}

// catchUpInhibited finds the firing alerts a target matches that some
// receiver they route to was never sent firing and that are not held: an
// alert restored after a restart (state.go) whose firing an inhibit rule
// held back before it. One still inhibited is held (and muted, so that its
// resolve goes only where its firing went); one no longer inhibited gets
// its firing notification. The matchers run only for such alerts; m.mu is
// held.
func (m *Manager) catchUpInhibited(now time.Time) {
	if len(m.pol.Inhibit) == 0 {
		return
	}
	for _, alerts := range []map[string]*state{m.alerts, m.burns} {
		for key, st := range alerts {
			if st.alert.State != StateFiring || st.notice == nil || m.holds(st) || !unsent(st) || !m.inhibitTarget(st) {
				continue
			}
			if m.inhibitedBy(st) != nil {
				all := make([]bool, len(m.lanes))
				for i := range all {
					all[i] = true // recorded before the restart
				}
				m.inh.held[key] = &held{st: st, sev: st.alert.Severity, recorded: all}
				st.muted = true
				continue
			}
			if m.silencedBy(st, now) == "" {
				m.notify(st, st.notice, now)
			}
		}
	}
}

// unsent reports whether a receiver st routes to was not last sent it firing.
func unsent(st *state) bool {
	for i, r := range st.routed {
		if r && st.sent[i].status != StatusFiring {
			return true
		}
	}
	return false
}
