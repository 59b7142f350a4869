package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting/policy"
)

// Alert, group and budget state across restarts (Manager.UseStateStore).
// The manager keeps one snapshot per model in a StateStore (the monitor's
// is ClickHouse's alert_state table): the model's pending and firing
// alerts with their policy state and what each receiver was last sent (so
// that a group's message is not sent again), its firing burn alerts, and
// its risk budget's breach history. A model's snapshot is written when its
// state changes: at once (within StateInterval's batching, in a
// background goroutine) after a transition that notifies, else every
// StateInterval; and at HandOver and Close. It is read when the manager
// first observes the model (the instance owns it now: after a start, or
// when its decider moved here), before that observation is applied. A
// model this instance never observes is never read, and its state stays
// stored for the instance that owns it. Snapshots do not hold what was
// queued and not yet delivered, nor resolves a group had not sent: a
// crash loses those, as it loses the notifications in flight.

// StateRow is one snapshot of one model's state, as a StateStore keeps it:
// State is the manager's JSON, the budget fields are the model's risk
// budget as numbers for queries and `driftwatch budget` (zero without a
// budget). Its fields are those of storage.AlertStateRow.
type StateRow struct {
	ModelID  string
	Instance string
	SavedAt  time.Time
	Version  uint64
	State    string

	Budget    string
	Period    string
	WindowEnd time.Time

	Windows, Observed, Breached  uint32
	Allowed, Consumed, Remaining float64

	BurnAlerts       []string
	BurnSeverities   []string
	BurnThresholds   []float64
	BurnLongWindows  []string
	BurnLongRates    []float64
	BurnShortWindows []string
	BurnShortRates   []float64
	BurnFiring       []uint8
}

// StateStore keeps the newest snapshot of each model's state.
type StateStore interface {
	// SaveAlertState stores snapshots; a later Version of a model replaces an earlier one.
	SaveAlertState(ctx context.Context, rows []StateRow) error
	// LoadAlertState returns the newest snapshot of each of the models that has one.
	LoadAlertState(ctx context.Context, models []string) ([]StateRow, error)
}

// StateStoreFuncs adapts two functions to StateStore.
type StateStoreFuncs struct {
	Save func(ctx context.Context, rows []StateRow) error
	Load func(ctx context.Context, models []string) ([]StateRow, error)
}

var _ StateStore = StateStoreFuncs{}

// SaveAlertState calls f.Save.
func (f StateStoreFuncs) SaveAlertState(ctx context.Context, rows []StateRow) error {
	return f.Save(ctx, rows)
}

// LoadAlertState calls f.Load.
func (f StateStoreFuncs) LoadAlertState(ctx context.Context, models []string) ([]StateRow, error) {
	return f.Load(ctx, models)
}

// stateTimeout bounds one read or write of the StateStore.
const stateTimeout = 10 * time.Second

// persistence is the manager's link to its StateStore; m.mu guards the
// maps and savedAt.
type persistence struct {
	store    StateStore
	instance string
	claimed  map[string]bool     // models whose stored state was read (or tried)
	dirty    map[string]struct{} // claimed models changed since their last save
	savedAt  time.Time           // when the last save took its snapshots
	version  uint64              // the last version written
	kick     chan struct{}       // a transition that notifies: save soon
	save     sync.Mutex          // one save at a time, so versions stay in order

	saves    *prometheus.CounterVec // outcome
	restored *prometheus.CounterVec // kind: alert, burn, budget
	loadErrs prometheus.Counter
}

// UseStateStore makes the manager keep its state per model in store,
// naming itself instance in the snapshots (empty: host/pid). Call it
// before the first Observe and before Run.
func (m *Manager) UseStateStore(store StateStore, instance string) error {
	if instance == "" {
		host, _ := os.Hostname()
		instance = host + "/" + strconv.Itoa(os.Getpid())
	}
	p := &persistence{store: store, instance: instance, claimed: map[string]bool{}, dirty: map[string]struct{}{},
		kick: make(chan struct{}, 1),
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_state_saves_total",
			Help: "Writes of alert state snapshots (alert_state) by outcome (success, failure).",
		}, []string{"outcome"}),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_state_restored_total",
			Help: "Alerts (alert), burn alerts (burn) and model budgets (budget) restored from stored state.",
		}, []string{"kind"}),
		loadErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_state_load_errors_total",
			Help: "Reads of stored alert state that failed (the model then starts with no alert state).",
		}),
	}
	for _, c := range []prometheus.Collector{p.saves, p.restored, p.loadErrs} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("registering alert state metrics: %w", err)
		}
	}
	m.persist = p
	return nil
}

// touch marks a claimed model's state as changed; kick asks for a save
// soon (a transition that notifies). m.mu is held.
func (m *Manager) touch(model string, kick bool) {
	p := m.persist
	if p == nil || !p.claimed[model] {
		return
	}
	if _, ok := p.dirty[model]; !ok {
		p.dirty[model] = struct{}{}
	}
	if kick {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// KeepState writes the state of the models whose state changed every
// StateInterval, and soon after a transition that notifies, until ctx
// ends. Without a StateStore it returns at once. Run it beside Run.
func (m *Manager) KeepState(ctx context.Context) {
	if m.persist == nil {
		return
	}
	t := time.NewTicker(m.cfg.stateInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.persist.kick:
			// Let the other transitions of the same window join the save.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		_ = m.saveState(ctx, nil)
	}
}

// SaveState writes the state of the models whose state changed since
// their last write; call it after Close, so that what Close sent is in
// it. Without a StateStore it does nothing. A failed write is logged,
// counted and returned; the models stay to be written.
func (m *Manager) SaveState(ctx context.Context) error {
	if m.persist == nil {
		return nil
	}
	return m.saveState(ctx, nil)
}

// handOverState writes the state of the models owns says another instance
// decides now, for that instance to read when it first observes them, and
// forgets that this one read them (it reads them again when they come
// back). The write is synchronous: the new owner must not read before it.
func (m *Manager) handOverState(owns func(model string) bool) {
	_ = m.saveState(context.Background(), owns)
	p := m.persist
	m.mu.Lock()
	for model := range p.claimed {
		if owns(model) {
			delete(p.claimed, model)
			delete(p.dirty, model)
		}
	}
	m.mu.Unlock()
}

// saveState writes the snapshots of the changed models, or of the claimed
// models only for which keep returns true (HandOver: those handed over,
// changed or not). Models whose write fails are changed still.
func (m *Manager) saveState(ctx context.Context, keep func(model string) bool) error {
	p := m.persist
	p.save.Lock()
	defer p.save.Unlock()
	now := m.now()
	m.mu.Lock()
	// Group messages sent since the last save changed what their members show.
	for _, g := range m.groups {
		if g.sentAt.After(p.savedAt) {
			for _, mb := range g.members {
				m.touch(mb.n.ModelID, false)
			}
		}
	}
	p.savedAt = now
	var models []string
	if keep != nil {
		for model := range p.claimed {
			if keep(model) {
				models = append(models, model)
			}
		}
	} else {
		for model := range p.dirty {
			models = append(models, model)
		}
	}
	if len(models) == 0 {
		m.mu.Unlock()
		return nil
	}
	slices.Sort(models)
	rows, err := m.snapshotRows(models, now)
	for _, model := range models {
		delete(p.dirty, model)
	}
	m.mu.Unlock()
	if err == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
		err = p.store.SaveAlertState(sctx, rows)
		cancel()
	}
	if err != nil {
		p.saves.WithLabelValues("failure").Inc()
		m.log.Error("saving alert state; it is tried again", "models", len(models), "err", err)
		m.mu.Lock()
		for _, model := range models {
			if p.claimed[model] {
				p.dirty[model] = struct{}{}
			}
		}
		m.mu.Unlock()
		return fmt.Errorf("saving the alert state of %d models: %w", len(models), err)
	}
	p.saves.WithLabelValues("success").Inc()
	return nil
}

// claim reads the stored state of the models of obs this manager has not
// observed before, and restores it: they are this instance's now.
func (m *Manager) claim(ctx context.Context, obs []Observation) {
	p := m.persist
	var models []string
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	for i := range obs {
		if id := obs[i].ModelID; !p.claimed[id] && !slices.Contains(models, id) {
			models = append(models, id)
		}
	}
	m.mu.Unlock()
	if len(models) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, stateTimeout)
	rows, err := p.store.LoadAlertState(lctx, models)
	cancel()
	if err != nil {
		p.loadErrs.Inc()
		m.log.Error("reading stored alert state; these models start with none", "models", models, "err", err)
		rows = nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range models {
		if p.claimed[id] {
			continue
		}
		p.claimed[id] = true
		for i := range rows {
			if rows[i].ModelID == id && rows[i].Version > 0 {
				// This instance's next snapshot of the model must win over the one
				// read, whatever the clocks of the two writers say.
				p.version = max(p.version, rows[i].Version)
				m.restoreModel(&rows[i], now)
			}
		}
	}
	m.updateActive()
}

// modelState is the JSON of one model's snapshot.
type modelState struct {
	Alerts []alertState        `json:"alerts"`
	Burns  []alertState        `json:"burns,omitempty"`
	Budget *policy.BudgetState `json:"budget,omitempty"`
}

// alertState is one alert of a snapshot.
type alertState struct {
	Key           string              `json:"key"`
	ModelVersion  string              `json:"model_version,omitempty"`
	Feature       string              `json:"feature,omitempty"`
	Test          string              `json:"test,omitempty"`
	Signal        string              `json:"signal,omitempty"`
	Subject       string              `json:"subject,omitempty"`
	Rule          string              `json:"rule,omitempty"`
	State         string              `json:"state"`
	Severity      Severity            `json:"severity"`
	Summary       string              `json:"summary"`
	Statistic     jsonFloat           `json:"statistic"`
	Threshold     jsonFloat           `json:"threshold"`
	StartsAt      time.Time           `json:"starts_at"`
	FiredAt       time.Time           `json:"fired_at,omitzero"`
	LastWindowEnd time.Time           `json:"last_window_end,omitzero"`
	PKey          *policy.Key         `json:"policy_key,omitempty"`
	Series        *policy.SeriesState `json:"series,omitempty"`
	Budget        string              `json:"budget,omitempty"`     // burn alert
	BurnAlert     string              `json:"burn_alert,omitempty"` // burn alert
	Labels        map[string]string   `json:"labels,omitempty"`
	Notice        *noticeState        `json:"notice,omitempty"`
	Sent          []sentState         `json:"sent,omitempty"`
	Routed        []string            `json:"routed,omitempty"`
	Muted         bool                `json:"muted,omitempty"`
}

// sentState is what one receiver was last queued for an alert.
type sentState struct {
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"`
	Severity Severity  `json:"severity"`
	At       time.Time `json:"at"`
	// Shown says a group message listed the alert firing (grouped receivers).
	Shown bool `json:"shown,omitempty"`
}

// noticeState is the last firing notification of an alert.
type noticeState struct {
	Summary      string            `json:"summary"`
	Tests        []testState       `json:"tests,omitempty"`
	WindowStart  time.Time         `json:"window_start"`
	WindowEnd    time.Time         `json:"window_end"`
	DashboardURL string            `json:"dashboard_url,omitempty"`
	Rule         string            `json:"rule,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type testState struct {
	Test      string    `json:"test"`
	Statistic jsonFloat `json:"statistic"`
	PValue    jsonFloat `json:"p_value"`
	Threshold jsonFloat `json:"threshold"`
	Severity  Severity  `json:"severity"`
	Samples   int       `json:"samples,omitempty"`
}

// jsonFloat is a float64 whose NaN and infinities are JSON null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// snapshotRows returns the snapshots of models (sorted); m.mu is held.
func (m *Manager) snapshotRows(models []string, now time.Time) ([]StateRow, error) {
	want := make(map[string]*modelState, len(models))
	for _, id := range models {
		want[id] = &modelState{Alerts: []alertState{}}
	}
	shown := m.shownMembers()
	// Only the alerts of the models saved are visited, not every model's:
	// the evaluator lists a model's series, and each has its alert (they
	// are in step) under the key alertKey derives from it.
	for _, id := range models {
		ms := want[id]
		for _, s := range m.ev.SnapshotModel(id) {
			st := m.alerts[alertKey(s.Key)]
			if st == nil || st.pkey != s.Key {
				continue
			}
			a := m.alertSnapshot(st, shown)
			pk, ss := s.Key, s.State
			a.PKey, a.Series = &pk, &ss
			ms.Alerts = append(ms.Alerts, a)
		}
	}
	for _, st := range m.burns {
		if ms := want[st.burn.model]; ms != nil {
			ms.Burns = append(ms.Burns, m.alertSnapshot(st, shown))
		}
	}
	// Only the budgets of the models saved are copied, not every model's history.
	if m.bud != nil {
		for _, id := range models {
			if bs, ok := m.bud.tr.SnapshotModel(id); ok {
				want[id].Budget = &bs
			}
		}
	}
	p := m.persist
	version := max(uint64(now.UnixNano()), p.version+1)
	p.version = version
	rows := make([]StateRow, 0, len(models))
	for _, id := range models {
		ms := want[id]
		byKey := func(a, b alertState) int { return strings.Compare(a.Key, b.Key) }
		slices.SortFunc(ms.Alerts, byKey)
		slices.SortFunc(ms.Burns, byKey)
		b, err := json.Marshal(ms)
		if err != nil {
			return nil, fmt.Errorf("encoding the alert state of %s: %w", id, err)
		}
		r := StateRow{ModelID: id, Instance: p.instance, SavedAt: now.UTC().Truncate(time.Second), Version: version, State: string(b)}
		m.budgetColumns(&r)
		rows = append(rows, r)
	}
	return rows, nil
}

// budgetColumns fills a row's budget fields from the tracker.
func (m *Manager) budgetColumns(r *StateRow) {
	if m.bud == nil {
		return
	}
	s, ok := m.bud.tr.Status(r.ModelID)
	if !ok {
		return
	}
	r.Budget, r.WindowEnd = s.Budget, s.WindowEnd
	if bu := m.pol.MatchBudget(r.ModelID); bu != nil && bu.Name == s.Budget {
		r.Period = durationLabel(bu.Period)
	}
	r.Windows, r.Observed, r.Breached = uint32(s.Windows), uint32(s.Observed), uint32(s.Breached)
	r.Allowed, r.Consumed, r.Remaining = s.Allowed, s.Consumed, s.Remaining
	for _, b := range s.Burns {
		r.BurnAlerts = append(r.BurnAlerts, b.Name)
		r.BurnSeverities = append(r.BurnSeverities, string(b.Severity))
		r.BurnThresholds = append(r.BurnThresholds, b.Rate)
		r.BurnLongWindows = append(r.BurnLongWindows, durationLabel(b.Long))
		r.BurnLongRates = append(r.BurnLongRates, b.LongRate)
		r.BurnShortWindows = append(r.BurnShortWindows, durationLabel(b.Short))
		r.BurnShortRates = append(r.BurnShortRates, b.ShortRate)
		f := uint8(0)
		if b.Firing {
			f = 1
		}
		r.BurnFiring = append(r.BurnFiring, f)
	}
}

// shownMembers returns, per lane and alert key, whether a group message
// listed the alert firing; m.mu is held.
func (m *Manager) shownMembers() map[groupMember]bool {
	out := map[groupMember]bool{}
	for id, g := range m.groups {
		for key, mb := range g.members {
			if mb.shown && mb.n.Status == StatusFiring {
				out[groupMember{lane: id.lane, key: key}] = true
			}
		}
	}
	return out
}

type groupMember struct {
	lane int
	key  string
}

// alertSnapshot returns the snapshot of one alert; m.mu is held.
func (m *Manager) alertSnapshot(st *state, shown map[groupMember]bool) alertState {
	a := &st.alert
	s := alertState{Key: a.Key, ModelVersion: a.ModelVersion, Feature: a.Feature, Test: a.Test, Signal: a.Signal, Subject: a.Subject,
		Rule: a.Rule, State: a.State, Severity: a.Severity, Summary: a.Summary, Statistic: jsonFloat(a.Statistic), Threshold: jsonFloat(a.Threshold),
		StartsAt: a.StartsAt, FiredAt: a.FiredAt, LastWindowEnd: a.LastWindowEnd, Labels: st.labels, Muted: st.muted}
	if st.burn != nil {
		s.Budget, s.BurnAlert = st.burn.budget, st.burn.alert
	}
	if n := st.notice; n != nil {
		ns := &noticeState{Summary: n.Summary, WindowStart: n.WindowStart, WindowEnd: n.WindowEnd, DashboardURL: n.DashboardURL,
			Rule: n.Rule, Labels: n.Labels, Annotations: n.Annotations}
		for _, t := range n.Tests {
			ns.Tests = append(ns.Tests, testState{Test: t.Test, Statistic: jsonFloat(t.Statistic), PValue: jsonFloat(t.PValue),
				Threshold: jsonFloat(t.Threshold), Severity: t.Severity, Samples: t.Samples})
		}
		s.Notice = ns
	}
	for i, l := range m.lanes {
		if st.routed[i] {
			s.Routed = append(s.Routed, l.name)
		}
		if mk := st.sent[i]; mk.status != "" {
			s.Sent = append(s.Sent, sentState{Receiver: l.name, Status: mk.status, Severity: mk.sev, At: mk.at,
				Shown: shown[groupMember{lane: i, key: a.Key}]})
		}
	}
	return s
}

// restoreModel puts a model's stored state in place: its alerts (each
// with its policy state), burn alerts and budget, and the group
// membership of alerts sent to grouped receivers. m.mu is held.
func (m *Manager) restoreModel(r *StateRow, now time.Time) {
	var ms modelState
	if err := json.Unmarshal([]byte(r.State), &ms); err != nil {
		m.persist.loadErrs.Inc()
		m.log.Error("stored alert state not readable; the model starts with none", "model", r.ModelID, "version", r.Version, "err", err)
		return
	}
	// Only this model's series are copied and put back, not every model's.
	series := m.ev.SnapshotModel(r.ModelID)
	known := make(map[policy.Key]bool, len(series))
	for _, s := range series {
		known[s.Key] = true
	}
	var added []string
	for i := range ms.Alerts {
		a := &ms.Alerts[i]
		// An alert whose keys do not match (the model's, as split makes
		// them) is not this model's or is corrupt: it is not restored.
		if a.PKey == nil || a.Series == nil || a.PKey.Model != r.ModelID || a.Key != alertKey(*a.PKey) ||
			m.alerts[a.Key] != nil || known[*a.PKey] || (a.State != StatePending && a.State != StateFiring) {
			continue
		}
		if len(m.alerts) >= m.cfg.MaxAlerts {
			m.met.untracked.Inc()
			m.log.Warn("stored alert not restored: max_alerts alerts are pending or firing", "key", a.Key, "max_alerts", m.cfg.MaxAlerts)
			continue
		}
		st := m.restoredState(r.ModelID, a, now)
		st.pkey = *a.PKey
		m.alerts[a.Key] = st
		series = append(series, policy.SeriesSnapshot{Key: *a.PKey, State: *a.Series})
		known[*a.PKey] = true
		added = append(added, a.Key)
	}
	restored := len(added)
	if err := m.ev.RestoreModel(r.ModelID, series); err != nil {
		// RestoreModel refuses bad stored data and keeps the state it had:
		// drop what was added, so that alerts and evaluator stay in step.
		for _, key := range added {
			delete(m.alerts, key)
		}
		m.persist.loadErrs.Inc()
		m.log.Error("stored alert state not restored", "model", r.ModelID, "err", err)
		return
	}
	m.persist.restored.WithLabelValues("alert").Add(float64(restored))
	if m.bud != nil && ms.Budget != nil && ms.Budget.Model == r.ModelID {
		// A budget the tracker counts already is kept; only this model's
		// budget is restored, the others are left as they are.
		if _, counted := m.bud.tr.Status(r.ModelID); !counted {
			if err := m.bud.tr.RestoreModel(*ms.Budget); err != nil {
				m.persist.loadErrs.Inc()
				m.log.Error("stored risk budget not restored", "model", r.ModelID, "err", err)
			} else if s, ok := m.bud.tr.Status(r.ModelID); ok {
				m.bud.tracked[r.ModelID] = s.Budget
				m.exportBudget(r.ModelID)
				m.persist.restored.WithLabelValues("budget").Inc()
				for i := range ms.Burns {
					a := &ms.Burns[i]
					key := BurnKey(r.ModelID, a.Budget, a.BurnAlert)
					if a.State != StateFiring || a.Budget != s.Budget || m.burns[key] != nil ||
						!slices.ContainsFunc(s.Burns, func(b policy.BurnStatus) bool { return b.Name == a.BurnAlert && b.Firing }) {
						continue
					}
					st := m.restoredState(r.ModelID, a, now)
					st.burn = &burnID{model: r.ModelID, budget: a.Budget, alert: a.BurnAlert}
					m.burns[key] = st
					m.persist.restored.WithLabelValues("burn").Inc()
				}
			}
		}
	}
	if restored == 0 && len(ms.Burns) == 0 && ms.Budget == nil {
		return
	}
	m.log.Info("alert state restored", "model", r.ModelID, "alerts", restored, "burn_alerts", len(ms.Burns),
		"budget", ms.Budget != nil, "saved_by", r.Instance, "saved_at", r.SavedAt)
}

// alertKey returns the key of the alert whose policy key is pk, as split
// makes them: a drift feature's (no signal), or a signal's or drift test's.
func alertKey(pk policy.Key) string {
	if pk.Signal == "" {
		return Key(pk.Model, pk.Version, pk.Subject)
	}
	return SignalKey(pk.Model, pk.Version, pk.Signal, pk.Subject)
}

// restoredState rebuilds an alert's state from its snapshot, and puts it
// back in the groups of its grouped receivers; m.mu is held.
func (m *Manager) restoredState(model string, a *alertState, now time.Time) *state {
	st := &state{
		alert: Alert{Key: a.Key, ModelID: model, ModelVersion: a.ModelVersion, Feature: a.Feature, Test: a.Test,
			Signal: a.Signal, Subject: a.Subject, Rule: a.Rule, State: a.State, Severity: a.Severity, Summary: a.Summary,
			Statistic: float64(a.Statistic), Threshold: float64(a.Threshold), StartsAt: a.StartsAt, FiredAt: a.FiredAt,
			LastWindowEnd: a.LastWindowEnd},
		sent: make([]mark, len(m.lanes)), seen: now, labels: a.Labels, muted: a.Muted,
	}
	st.routed = m.route(a.Routed, false)
	if ns := a.Notice; ns != nil {
		n := &Notification{Key: a.Key, Status: StatusFiring, Severity: a.Severity, ModelID: model, ModelVersion: a.ModelVersion,
			Feature: a.Feature, Signal: a.Signal, Subject: a.Subject, Test: a.Test, Summary: ns.Summary, StartsAt: a.StartsAt,
			WindowStart: ns.WindowStart, WindowEnd: ns.WindowEnd, DashboardURL: ns.DashboardURL, Rule: ns.Rule,
			Labels: ns.Labels, Annotations: ns.Annotations}
		for _, t := range ns.Tests {
			n.Tests = append(n.Tests, TestResult{Test: t.Test, Statistic: float64(t.Statistic), PValue: float64(t.PValue),
				Threshold: float64(t.Threshold), Severity: t.Severity, Samples: t.Samples})
		}
		st.notice = n
	}
	wait, _, _ := m.cfg.groupTimes()
	for _, s := range a.Sent {
		i, ok := m.laneIdx[s.Receiver]
		if !ok {
			continue
		}
		st.sent[i] = mark{status: s.Status, sev: s.Severity, at: s.At}
		l := m.lanes[i]
		if !m.grouped(l) || s.Status != StatusFiring || st.notice == nil {
			continue
		}
		// As collect does it, with what the group had shown.
		labels := make([]Label, len(m.cfg.GroupBy))
		for j, name := range m.cfg.GroupBy {
			labels[j] = Label{Name: name, Value: groupValue(st.notice, name)}
		}
		id := groupID{lane: i, key: GroupKey(labels)}
		g := m.groups[id]
		if g == nil {
			g = &group{labels: labels, members: map[string]*member{}, next: now.Add(wait)}
			m.groups[id] = g
		}
		g.members[a.Key] = &member{n: st.notice, shown: s.Shown}
		if s.Shown {
			if s.At.After(g.sentAt) {
				g.sentAt = s.At
			}
		} else {
			g.dirty = true // never listed: the group's message is still owed
		}
	}
	return st
}
