// Package pagerduty delivers driftwatch alerts to PagerDuty's Events API v2: a
// "trigger" event when an alert fires (again with the same dedup_key when its
// severity changes) and a "resolve" event with the same routing key and dedup_key
// when it resolves. A drift alert's custom_details name its feature, a signal
// alert's its signal and subject. A grouped notification (alerting.group_by) is
// one incident per group, its dedup_key the group key, resolved when no alert of
// the group fires. It does not decide when to notify, nor retry: the alerting
// manager does both.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
	maxEvent    = 512_000
)

// Notifier sends events to one PagerDuty integration.
type Notifier struct {
	cfg     Config
	key     string
	client  *http.Client
	limiter *rate.Limiter
}

// New validates cfg, reads the routing key and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	k, err := cfg.routingKey()
	if err != nil {
		return nil, err
	}
	return &Notifier{
		cfg:     cfg,
		key:     k,
		client:  alert.NewClient(cfg.Timeout),
		limiter: alert.NewLimiter(cfg.RatePerSecond, cfg.Burst),
	}, nil
}

// Event is an Events API v2 request body; the field names and meanings are
// PagerDuty's (routing_key, event_action trigger|resolve, dedup_key, payload,
// client, client_url, links).
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is the body of a trigger event: summary (at most 1024 characters),
// source, severity (critical|error|warning|info), timestamp (RFC 3339),
// component, group, class and free-form custom_details.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the incident: its address and its text.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// DedupKey returns the dedup_key for an alert key: the key itself, which
// alerting.Key and alerting.SignalKey keep within PagerDuty's 255
// characters, or, for a longer key
// made elsewhere, a stable SHA-256 digest of it.
func DedupKey(key string) string {
	if len(key) <= maxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "driftwatch/sha256:" + hex.EncodeToString(sum[:])
}

// NewEvent builds the event for n. The payload's class is Config.Class for a
// drift alert and the signal's name for a signal alert. Its summary is the
// policy rule's summary annotation when the rule sets one, else n.Summary;
// custom_details carry the rule's name, labels and rendered annotations,
// and links the dashboard and the runbook. A grouped notification (n.Group
// set) is one incident for the group, see newGroupEvent.
func (p *Notifier) NewEvent(n *alert.Notification) Event {
	if n.Group != nil {
		return p.newGroupEvent(n)
	}
	ev := Event{RoutingKey: p.key, DedupKey: DedupKey(n.Key)}
	if n.Status == alert.StatusResolved {
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	sev := "warning"
	if n.Severity == alert.SeverityCritical {
		sev = "critical"
	}
	group := p.cfg.Group
	if group == "" {
		group = n.ModelID
	}
	tests := make([]map[string]any, 0, len(n.Tests))
	for _, t := range n.Tests {
		tests = append(tests, map[string]any{
			"test": t.Test, "statistic": alert.Finite(t.Statistic), "p_value": alert.Finite(t.PValue),
			"threshold": alert.Finite(t.Threshold), "severity": t.Severity,
		})
	}
	details := map[string]any{
		"model_id": n.ModelID, "model_version": n.ModelVersion,
		"severity": n.Severity, "starts_at": n.StartsAt.UTC().Format(time.RFC3339),
		"window_end": n.WindowEnd.UTC().Format(time.RFC3339), "tests": tests,
	}
	class := p.cfg.Class
	if n.Signal == "" {
		details["feature"] = n.Feature
		if n.Test != "" {
			details["test"] = n.Test
		}
	} else {
		details["signal"], details["subject"] = n.Signal, n.Subject
		class = n.Signal
	}
	if n.Rule != "" {
		details["rule"] = n.Rule
	}
	if len(n.Labels) > 0 {
		details["labels"] = n.Labels
	}
	if len(n.Annotations) > 0 {
		details["annotations"] = n.Annotations
	}
	ev.Payload = &Payload{
		Summary:       alert.Truncate(n.Headline(), maxSummary),
		Source:        p.cfg.Source,
		Severity:      sev,
		Timestamp:     n.WindowEnd.UTC().Format(time.RFC3339),
		Component:     n.ModelID,
		Group:         group,
		Class:         class,
		CustomDetails: details,
	}
	ev.Client = "driftwatch"
	if n.DashboardURL != "" {
		ev.ClientURL = n.DashboardURL
		ev.Links = []Link{{Href: n.DashboardURL, Text: "Dashboard"}}
	}
	if u := n.Annotations[alert.AnnotationRunbookURL]; u != "" {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Runbook"})
	}
	return ev
}

// Notify sends n as a trigger or resolve event. 202 is success; network errors,
// 429 and 5xx are retryable; 400 and other statuses, a redirect (never
// followed) included, are permanent.
func (p *Notifier) Notify(ctx context.Context, n *alert.Notification) error {
	ev := p.NewEvent(n)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding pagerduty event: %w", err)
	}
	if len(body) > maxEvent && ev.Payload != nil {
		ev.Payload.CustomDetails = map[string]any{"error": "custom_details dropped: event larger than 512 KB"}
		if body, err = json.Marshal(ev); err != nil {
			return fmt.Errorf("encoding pagerduty event: %w", err)
		}
	}
	if err := alert.Wait(ctx, p.limiter); err != nil {
		return fmt.Errorf("waiting for pagerduty rate limit: %w", err)
	}
	if err := alert.Post(ctx, p.client, alert.Request{URL: p.cfg.URL, Body: body}); err != nil {
		return fmt.Errorf("sending pagerduty %s event: %w", ev.EventAction, err)
	}
	return nil
}
