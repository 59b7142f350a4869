package alerting

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the manager's Prometheus collectors.
type metrics struct {
	notifications *prometheus.CounterVec // receiver, outcome
	active        *prometheus.GaugeVec   // state, severity
	refused       prometheus.Counter
	stateChanges  *prometheus.CounterVec // state
	ignored       prometheus.Counter
	untracked     prometheus.Counter
	stale         *prometheus.CounterVec // state the alert was in
	handedOver    prometheus.Counter
	recordErrors  prometheus.Counter
	recordsDrop   prometheus.Counter

	reloads         *prometheus.CounterVec // outcome
	budgetRemaining *prometheus.GaugeVec   // budget, model
	burnRate        *prometheus.GaugeVec   // budget, model, window
	burnAlerts      *prometheus.CounterVec // budget, alert
	budgetUntracked prometheus.Counter

	silenced       *prometheus.CounterVec // receiver
	silencedAlerts prometheus.Gauge
	silencesActive prometheus.Gauge
	silenceErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_notifications_total",
			Help: "Delivery attempts by receiver and outcome (success, retry, failed, dropped).",
		}, []string{"receiver", "outcome"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_active",
			Help: "Alerts currently pending or firing, by state and severity.",
		}, []string{"state", "severity"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_queue_refused_total",
			Help: "Notifications refused because a receiver's delivery queue was full.",
		}),
		stateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_state_changes_total",
			Help: "Alert state changes by new state (pending, firing, resolved, inactive).",
		}, []string{"state"}),
		ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_out_of_order_windows_total",
			Help: "Observations ignored because their window did not end after the last one seen for the alert.",
		}),
		untracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_untracked_total",
			Help: "Drifted observations of new series not tracked because max_alerts alerts were pending or firing.",
		}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_stale_total",
			Help: "Alerts ended because their series got no observation for stale_after (its model version or feature went silent), by the state they were in: pending (dropped) or firing (resolved).",
		}, []string{"state"}),
		handedOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_handed_over_total",
			Help: "Pending and firing alerts this instance stopped tracking because another instance now decides their model.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_record_errors_total",
			Help: "Batches of alert records the recorder failed to store.",
		}),
		recordsDrop: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_records_dropped_total",
			Help: "Alert records dropped because the record buffer was full.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_policy_reloads_total",
			Help: "Alert policy reloads by outcome (success, failure: the previous policy stays).",
		}, []string{"outcome"}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_budget_remaining_ratio",
			Help: "Share of a model's risk budget left over the budget's period: 1 - breached windows / allowed windows (negative when overspent).",
		}, []string{"budget", "model"}),
		burnRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_budget_burn_rate",
			Help: "Burn rate of a model's risk budget over a burn-alert window (share of its windows in breach / the budget's share; 1 spends the budget exactly over its period).",
		}, []string{"budget", "model", "window"}),
		burnAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_budget_burn_alerts_total",
			Help: "Burn-rate alerts of risk budgets that fired, by budget and burn alert.",
		}, []string{"budget", "alert"}),
		budgetUntracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_budget_untracked_windows_total",
			Help: "Windows of models with a risk budget not tracked because max_budget_models models were tracked.",
		}),
		silenced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_alerts_silenced_notifications_total",
			Help: "Notifications not queued to a receiver because a silence matched their alert.",
		}, []string{"receiver"}),
		silencedAlerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_silenced",
			Help: "Firing alerts an active silence matches (their notifications are held back).",
		}),
		silencesActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_alerts_silences_active",
			Help: "Silences in force now, as last read.",
		}),
		silenceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_alerts_silence_errors_total",
			Help: "Failed reads of the silences, and silences ignored for bad matchers.",
		}),
	}
	for _, s := range []string{StatePending, StateFiring} {
		for _, sev := range []Severity{SeverityWarning, SeverityCritical} {
			m.active.WithLabelValues(s, string(sev))
		}
	}
	for _, s := range []string{StatePending, StateFiring, StateResolved, StateInactive} {
		m.stateChanges.WithLabelValues(s)
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, c := range []prometheus.Collector{m.notifications, m.active, m.refused, m.stateChanges, m.ignored, m.untracked, m.stale, m.handedOver, m.recordErrors, m.recordsDrop,
		m.reloads, m.budgetRemaining, m.burnRate, m.burnAlerts, m.budgetUntracked, m.silenced, m.silencedAlerts, m.silencesActive, m.silenceErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering alerting metrics: %w", err)
		}
	}
	return m, nil
}
