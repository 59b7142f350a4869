// Package alert holds the types and helpers shared by the alerting manager and its
// notifiers: severities, notifications, error classification, secrets and the HTTP
// call every notifier makes. The alerting package re-exports the types under their
// public names (alerting.Notification, alerting.Severity, ...), so notifiers and the
// manager agree on one type without an import cycle. It has no state and no I/O
// besides the single request in Post and the secret read in LoadSecret.
package alert

import (
	"math"
	"time"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// Severity is how far a feature drifted: "ok" < "warning" < "critical". It is
// verdict.Severity, the type analysis hands over, so no conversion is needed.
type Severity = verdict.Severity

// The severities, from least to most severe.
const (
	SeverityOK       = verdict.SeverityOK
	SeverityWarning  = verdict.SeverityWarning
	SeverityCritical = verdict.SeverityCritical
)

// TestResult is the outcome of one drift test on one feature in one window,
// or of one signal's test on one subject.
type TestResult struct {
	// Test names the statistic, e.g. "psi", "ks", "chi2".
	Test string
	// Statistic is the test statistic.
	Statistic float64
	// PValue is the test's p-value, NaN when the test has none.
	PValue float64
	// Threshold is the value of Statistic at which the test reports drift.
	Threshold float64
	// Severity is the test's verdict.
	Severity Severity
	// Samples is the test's sample size in the window (the current side's
	// count), which a policy rule's min_samples compares; 0 when unknown.
	Samples int
}

// Status values of a Notification.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Notification is one message about one alert, handed to every receiver.
type Notification struct {
	// Key is the de-duplication key: alerting.Key of the model, version and
	// feature below for a drift alert, alerting.SignalKey of the model,
	// version, signal and subject for a signal alert.
	Key string
	// Status is "firing" or "resolved".
	Status string
	// Severity is the alert's severity; for a resolved alert, the last severity it fired with.
	Severity Severity
	// ModelID, ModelVersion and Feature say what drifted; Feature is empty
	// for a signal alert.
	ModelID, ModelVersion, Feature string
	// Signal and Subject are set for a signal alert and empty for a drift
	// alert: Signal names the signal of the model version (e.g.
	// "error_rate"), Subject what its verdict is about ("*" for the model
	// itself, or a class, a finish reason, a caller, a feedback source).
	// Subjects come from telemetry and are as untrusted as feature names.
	Signal, Subject string
	// Test is set for a drift alert that a policy rule decides on one of
	// the feature's tests alone: the test (e.g. "psi"); its key is then
	// alerting.SignalKey of the model, version, test and feature. It is
	// empty for a feature's alert (its tests together) and a signal alert.
	Test string
	// Summary is one line of text, e.g. "psi 0.41 on feature amount of
	// fraud-scorer v3 (window 14:00–14:01)", or for a signal alert
	// "error_rate 0.12 for checkout-web of fraud-scorer v3 (window 14:00–14:01)".
	Summary string
	// Tests are the tests of the window that caused this notification: the
	// drift tests of the feature, or the verdicts of the signal.
	Tests []TestResult
	// StartsAt is the start of the first drifted window of the alert.
	StartsAt time.Time
	// EndsAt is the end of the window that resolved the alert (of the last
	// window seen, for a stale alert); zero while firing.
	EndsAt time.Time
	// Stale says that a resolved alert was resolved because its series got
	// no observation for alerting.stale_after (its model version, feature or
	// subject went silent), not by clean windows.
	Stale bool
	// WindowStart and WindowEnd bound the window that caused this notification.
	WindowStart, WindowEnd time.Time
	// DashboardURL links to a dashboard, empty when none is configured:
	// the rule's rendered dashboard_url annotation, else alerting.dashboard_url.
	DashboardURL string
	// Rule names the alert policy rule that decided the alert; empty for
	// the built-in default rule (and then Labels and Annotations are nil).
	Rule string
	// Labels are the rule's own labels (the policy's labels, e.g. team).
	Labels map[string]string
	// Annotations are the rule's annotations rendered for the transition
	// that caused this notification: AnnotationSummary, AnnotationDescription,
	// AnnotationRunbookURL, AnnotationDashboardURL. The URLs are absolute
	// http(s) URLs without spaces, quotes, '<', '>' or '|'. The texts embed
	// telemetry values as they are: receivers escape them.
	Annotations map[string]string
	// Group is set on a grouped notification (alerting.group_by) and nil on
	// a notification about one alert. A grouped notification's Key is the
	// group key, its Status firing while any alert of the group fires (else
	// resolved), its Severity the worst of the firing alerts (else of the
	// resolved ones), ModelID and ModelVersion the group's values of those
	// labels when it groups on them, and Tests nil.
	Group *Group
}

// Group is the content of a grouped notification.
type Group struct {
	// Labels are the group_by labels and the group's values of them.
	Labels []Label
	// Firing lists every alert of the group firing now, worst first
	// (severity, then statistic/threshold of its worst test, then key).
	Firing []*Notification
	// Resolved lists the alerts of the group that resolved since the
	// group's previous message, by key.
	Resolved []*Notification
}

// Label is one label name and value.
type Label struct {
	Name, Value string
}

// Rank orders notifications of one group: worst first by severity, then by
// the statistic/threshold ratio of the worst test; it returns a negative
// number when a comes before b.
func Rank(a, b *Notification) int {
	if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
		return rb - ra
	}
	wa, wb := math.Inf(-1), math.Inf(-1)
	if i := Worst(a.Tests); i >= 0 {
		wa = ratio(a.Tests[i])
	}
	if i := Worst(b.Tests); i >= 0 {
		wb = ratio(b.Tests[i])
	}
	switch {
	case wa > wb:
		return -1
	case wa < wb:
		return 1
	}
	return 0
}

// The annotations a Notification may carry, as alert policies name them.
const (
	AnnotationSummary      = "summary"
	AnnotationDescription  = "description"
	AnnotationRunbookURL   = "runbook_url"
	AnnotationDashboardURL = "dashboard_url"
)

// Headline returns the rule's summary annotation when it has one, else
// the notification's Summary: the text a receiver shows as an incident's
// title.
func (n *Notification) Headline() string {
	if s := n.Annotations[AnnotationSummary]; s != "" {
		return s
	}
	return n.Summary
}

// Worst returns the index of the most severe test (ties: the largest
// statistic/threshold ratio), or -1 when there are none.
func Worst(tests []TestResult) int {
	best := -1
	for i, t := range tests {
		if best < 0 {
			best = i
			continue
		}
		b := tests[best]
		if t.Severity.Rank() > b.Severity.Rank() ||
			(t.Severity.Rank() == b.Severity.Rank() && ratio(t) > ratio(b)) {
			best = i
		}
	}
	return best
}

func ratio(t TestResult) float64 {
	if t.Threshold == 0 || math.IsNaN(t.Statistic) || math.IsNaN(t.Threshold) {
		return math.Inf(-1)
	}
	return t.Statistic / t.Threshold
}

// Finite returns a pointer to f, or nil when f is NaN or infinite, so that
// JSON encodes a missing value as null instead of failing.
func Finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
