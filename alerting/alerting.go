// Package alerting turns the verdicts of closed windows into an alert
// lifecycle (inactive → pending → firing → resolved, as Prometheus alerting
// rules do), one per series: a feature's drift (per model version and
// feature) or a signal (per model version, signal and subject), decided by
// an alert policy (alerting/policy: thresholds with hysteresis, for,
// keep_firing_for, min_samples, labels, annotations and receivers per rule,
// and risk budgets with burn-rate alerts; without a policy file the
// built-in default rule), and delivers notifications to Slack, PagerDuty,
// generic webhooks and Alertmanager (the subpackages) with bounded queues,
// retries and de-duplication. Every state change and delivery attempt is
// handed to a Recorder. It does not compute drift or signals (analysis
// does). With Config.GroupBy it groups notifications per model (or other
// labels) as Alertmanager's dispatcher does (group.go), and holds back the
// notifications of alerts that a silence matches (silence.go: silences by
// matcher with an expiry, read from a Silencer) and those that a firing
// alert inhibits under the policy's inhibit rules (inhibit.go).
package alerting

import (
	"context"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Severity is how far a feature drifted: "ok" < "warning" < "critical". It is
// the one severity type, verdict.Severity, as analysis hands it over.
type Severity = alert.Severity

// The severities, from least to most severe.
const (
	SeverityOK       = alert.SeverityOK
	SeverityWarning  = alert.SeverityWarning
	SeverityCritical = alert.SeverityCritical
)

// TestResult is the outcome of one drift test on one feature in one window,
// or of one signal's test on one subject; PValue is NaN when the test has none.
type TestResult = alert.TestResult

// Notification is one message about one alert, or, with Config.GroupBy,
// about a group of alerts (its Group field set), handed to a receiver.
type Notification = alert.Notification

// NotificationGroup is the content of a grouped notification (Config.GroupBy):
// its labels, its firing alerts worst first and the alerts resolved since
// its previous message.
type NotificationGroup = alert.Group

// Label is one label name and value, as a group has them.
type Label = alert.Label

// Notification statuses.
const (
	StatusFiring   = alert.StatusFiring
	StatusResolved = alert.StatusResolved
)

// Observation is one feature's drift verdict, or one signal's verdict about
// one subject, for one closed window. Its alert key is Key(ModelID,
// ModelVersion, Feature) when Signal is empty, SignalKey(ModelID,
// ModelVersion, Signal, Subject) otherwise; a drift test that a rule of the
// policy file decides alone has an alert of its own, SignalKey(ModelID,
// ModelVersion, test, Feature) (docs/alerting.md, "Alert policy").
type Observation struct {
	// ModelID, ModelVersion and Feature identify a drift series; Feature is
	// empty for a signal verdict.
	ModelID, ModelVersion, Feature string
	// Signal and Subject, with ModelID and ModelVersion, identify a signal
	// series; both are empty for a drift verdict. Signal names the signal
	// (e.g. "error_rate"); Subject is what the verdict is about: "*" for the
	// model itself, or a class, a finish reason, a caller, a feedback source.
	// A non-empty Signal makes the observation a signal verdict.
	Signal, Subject string
	// WindowStart and WindowEnd bound the window in event time.
	WindowStart, WindowEnd time.Time
	// Severity is the verdict over all tests; warning or critical counts as
	// drifted (for a signal: as a window in breach).
	Severity Severity
	// Tests are the individual tests behind the verdict; the worst one
	// gives the value in the summary and the value a policy rule's
	// thresholds compare. A drift test whose Threshold is NaN and whose
	// severity is ok informs only (js, wasserstein): it is shown, but no
	// policy key. TestResult.Samples gives the window's sample size for
	// min_samples.
	Tests []TestResult
}

// key returns the observation's alert key: SignalKey for a signal verdict, Key for drift.
func (o *Observation) key() string {
	if o.Signal != "" {
		return SignalKey(o.ModelID, o.ModelVersion, o.Signal, o.Subject)
	}
	return Key(o.ModelID, o.ModelVersion, o.Feature)
}

// Notifier delivers one notification to one receiver. An error marked with
// Retryable makes the manager try again later; any other error is permanent.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n *Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n *Notification) error { return f(ctx, n) }

// Retryable marks err as temporary: the delivery is tried again, no sooner than
// retryAfter when it is positive. Errors not marked are permanent.
func Retryable(err error, retryAfter time.Duration) error { return alert.Retryable(err, retryAfter) }

// IsRetryable reports whether err was marked with Retryable, and the delay asked for.
func IsRetryable(err error) (bool, time.Duration) { return alert.IsRetryable(err) }

// StatusError is a receiver's non-success HTTP answer; HTTPStatus extracts its code.
type StatusError = alert.StatusError

// HTTPStatus returns the HTTP status code carried by err, or 0.
func HTTPStatus(err error) int { return alert.HTTPStatus(err) }

// Recorder stores alert state changes and delivery attempts (the monitor writes
// them to ClickHouse). It is called from a background goroutine in batches.
type Recorder interface {
	RecordAlerts(ctx context.Context, recs []Record) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, recs []Record) error

// RecordAlerts calls f.
func (f RecorderFunc) RecordAlerts(ctx context.Context, recs []Record) error { return f(ctx, recs) }

// Record kinds.
const (
	KindState    = "state"
	KindDelivery = "delivery"
)

// Record states. StateInactive marks a pending alert that saw a clean window
// and was dropped without ever firing; StateHandedOver one that this
// instance stopped tracking because another instance now decides its model
// (Manager.HandOver).
const (
	StatePending    = "pending"
	StateFiring     = "firing"
	StateResolved   = "resolved"
	StateInactive   = "inactive"
	StateHandedOver = "handed_over"
)

// Delivery outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeRetry   = "retry"
	OutcomeFailed  = "failed"
	OutcomeDropped = "dropped"
	// OutcomeDisabled: the receiver said it will not take anything any more
	// (a Slack webhook answering 404 or 410); the notification is not sent.
	OutcomeDisabled = "disabled"
)

// Record is one alert state change (Kind "state") or one delivery attempt (Kind "delivery").
type Record struct {
	// Time is the wall-clock time of the change or attempt.
	Time time.Time
	// Key, ModelID, ModelVersion and Feature identify the alert; Feature is
	// empty for a signal alert.
	Key, ModelID, ModelVersion, Feature string
	// Signal and Subject identify a signal alert's signal and subject; both
	// are empty for a drift alert. A risk budget's burn alert has Signal
	// BurnSignal and Subject "<budget>/<burn alert>".
	Signal, Subject string
	// Test is the drift test of a drift alert a policy rule decides on that
	// test alone; empty otherwise.
	Test string
	// Rule names the policy rule that decided the alert; empty for the
	// built-in default rule and for burn alerts.
	Rule string
	// Kind is "state" or "delivery".
	Kind string
	// State is the new state (pending, firing, resolved, inactive) for a state
	// record, the notification status (firing, resolved) for a delivery record.
	State string
	// Severity is the alert's severity.
	Severity Severity
	// Statistic and Threshold are those of the worst test of the window; NaN when it had no test.
	Statistic, Threshold float64
	// Summary is the alert's one-line text.
	Summary string
	// Receiver names the receiver of a delivery record.
	Receiver string
	// Attempt is the 1-based attempt number of a delivery record.
	Attempt int
	// Outcome is success, retry, failed or dropped (queue full, or undelivered at Close).
	Outcome string
	// HTTPStatus is the receiver's status code, 0 when there was no answer.
	HTTPStatus int
	// Error is the delivery error, empty on success. It never contains secrets.
	Error string
}

// Alert is the public view of one pending or firing alert.
type Alert struct {
	// Key is the series' de-duplication key, as Key (drift) or SignalKey
	// (signal) returns it.
	Key string
	// ModelID, ModelVersion and Feature identify a drift series; Feature is
	// empty for a signal alert.
	ModelID, ModelVersion, Feature string
	// Signal and Subject identify a signal series with ModelID and
	// ModelVersion; both are empty for a drift alert.
	Signal, Subject string
	// Test is the drift test of a drift alert a policy rule decides on that
	// test alone (its Key is then SignalKey(ModelID, ModelVersion, Test,
	// Feature)); empty for a feature's alert and a signal alert.
	Test string
	// Rule names the policy rule that decides the alert; empty for the
	// built-in default rule.
	Rule string
	// State is "pending" or "firing".
	State string
	// Severity is the current severity.
	Severity Severity
	// Summary is the one-line text of the latest drifted window.
	Summary string
	// Statistic and Threshold are those of the worst test of the latest drifted window.
	Statistic, Threshold float64
	// StartsAt is the start of the first drifted window.
	StartsAt time.Time
	// FiredAt is the end of the window that made the alert fire; zero while pending.
	FiredAt time.Time
	// LastWindowEnd is the end of the latest window seen for the key.
	LastWindowEnd time.Time
}
