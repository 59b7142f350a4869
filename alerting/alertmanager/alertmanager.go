// Package alertmanager posts driftwatch alerts to Prometheus Alertmanager's
// /api/v2/alerts, so that Alertmanager's routing, grouping, silences and
// inhibition apply to drift and signal alerts. Like Prometheus, it re-posts
// firing alerts (the manager calls it every ResendInterval) with endsAt a few
// intervals ahead, and posts endsAt on resolve. It does not decide when to
// notify, nor retry: the alerting manager does both.
package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// AlertName is the alertname label of every drift alert.
const AlertName = "DriftwatchFeatureDrift"

// SignalAlertName is the alertname label of every signal alert.
const SignalAlertName = "DriftwatchSignal"

// Notifier posts alerts to one Alertmanager.
type Notifier struct {
	url    string
	resend time.Duration
	client *http.Client
	now    func() time.Time

	mu   sync.Mutex
	last map[string]map[string]string // labels last posted per firing key, to end the old series on change
}

// New validates cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Notifier{
		url:    strings.TrimSuffix(cfg.URL, "/") + "/api/v2/alerts",
		resend: cfg.ResendInterval,
		client: alert.NewClient(cfg.Timeout),
		now:    time.Now,
		last:   make(map[string]map[string]string),
	}, nil
}

// ResendInterval tells the alerting manager how often to post a firing alert again.
func (a *Notifier) ResendInterval() time.Duration { return a.resend }

// PerAlert tells the alerting manager to post every alert on its own even
// when it groups notifications (alerting.group_by): Alertmanager groups the
// alerts it receives by its own route's group_by.
func (a *Notifier) PerAlert() bool { return true }

// Alert is one element of the /api/v2/alerts request body (Alertmanager's
// postableAlert): labels identify the alert, annotations describe it, endsAt in
// the past resolves it, generatorURL links back to its source.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// NewAlert converts n into an Alertmanager alert (Labels gives its labels).
// Its annotations are summary (n.Summary) and description (the tests), and
// the policy rule's rendered annotations, which take their place when the
// rule sets them. A firing alert's endsAt is now + 4×ResendInterval; a
// resolved one's is n.EndsAt.
func (a *Notifier) NewAlert(n *alert.Notification, sev alert.Severity, now time.Time) Alert {
	return a.newAlert(n, Labels(n, sev), now)
}

// Labels returns the labels of n's alert with the given severity label. A
// drift alert's are alertname (AlertName), model_id, model_version,
// feature and severity, plus test for one a policy rule decides on one
// test; a signal alert's alertname (SignalAlertName), model_id,
// model_version, signal, subject and severity. model_version is left out
// when empty. A policy rule adds rule and its own labels, which never
// replace these. Every label but severity is fixed for an alert's key and
// rule, so its posts stay one Alertmanager alert; when a label changes
// (the severity, or the rule after a policy reload) Notify ends the old
// series.
func Labels(n *alert.Notification, sev alert.Severity) map[string]string {
	labels := make(map[string]string, 6+len(n.Labels))
	for k, v := range n.Labels {
		labels[k] = v
	}
	labels["model_id"], labels["severity"] = n.ModelID, string(sev)
	if n.Signal == "" {
		labels["alertname"], labels["feature"] = AlertName, n.Feature
		if n.Test != "" {
			labels["test"] = n.Test
		}
	} else {
		labels["alertname"], labels["signal"], labels["subject"] = SignalAlertName, n.Signal, n.Subject
	}
	if n.ModelVersion != "" {
		labels["model_version"] = n.ModelVersion
	}
	if n.Rule != "" {
		labels["rule"] = n.Rule
	}
	return labels
}

// newAlert builds the alert of n with the given labels.
func (a *Notifier) newAlert(n *alert.Notification, labels map[string]string, now time.Time) Alert {
	var desc strings.Builder
	for _, t := range n.Tests {
		fmt.Fprintf(&desc, "%s %s (threshold %s", t.Test, alert.FormatFloat(t.Statistic), alert.FormatFloat(t.Threshold))
		if t.PValue == t.PValue {
			fmt.Fprintf(&desc, ", p=%s", alert.FormatFloat(t.PValue))
		}
		fmt.Fprintf(&desc, "): %s\n", t.Severity)
	}
	out := Alert{
		Labels:       labels,
		Annotations:  map[string]string{"summary": n.Summary, "description": strings.TrimSuffix(desc.String(), "\n")},
		StartsAt:     n.StartsAt.UTC(),
		GeneratorURL: n.DashboardURL,
	}
	for k, v := range n.Annotations {
		out.Annotations[k] = v
	}
	if out.Annotations["description"] == "" {
		delete(out.Annotations, "description")
	}
	if n.Status == alert.StatusResolved {
		out.EndsAt = n.EndsAt.UTC()
	} else {
		out.EndsAt = now.Add(4 * a.resend).UTC()
	}
	// Alertmanager rejects endsAt before startsAt (event time may run ahead of the clock).
	if !out.EndsAt.After(out.StartsAt) {
		out.EndsAt = out.StartsAt.Add(time.Second)
	}
	return out
}

// Notify posts n. When the labels of a firing alert changed since the last
// post (its severity, or its rule after a policy reload), the alert with the
// old labels is ended in the same request. 2xx is success; network errors,
// 429 and 5xx are retryable; 400 and a redirect (never followed) are
// permanent.
func (a *Notifier) Notify(ctx context.Context, n *alert.Notification) error {
	now := a.now()
	a.mu.Lock()
	prev, seen := a.last[n.Key]
	a.mu.Unlock()
	labels := Labels(n, n.Severity)
	alerts := []Alert{a.newAlert(n, labels, now)}
	if seen && !maps.Equal(prev, labels) {
		old := a.newAlert(n, prev, now)
		old.EndsAt = now.UTC()
		if !old.EndsAt.After(old.StartsAt) {
			old.EndsAt = old.StartsAt.Add(time.Second)
		}
		alerts = append(alerts, old)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encoding alertmanager alerts: %w", err)
	}
	if err := alert.Post(ctx, a.client, alert.Request{URL: a.url, Body: body}); err != nil {
		return fmt.Errorf("posting to alertmanager: %w", err)
	}
	a.mu.Lock()
	if n.Status == alert.StatusResolved {
		delete(a.last, n.Key)
	} else {
		a.last[n.Key] = labels
	}
	a.mu.Unlock()
	return nil
}
