// Package webhook delivers driftwatch alerts as a generic JSON POST (the
// Payload type, documented in docs/alerting.md), optionally with a bearer token.
// It does not decide when to notify, nor retry: the alerting manager does both.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Version is the version of the Payload format.
const Version = "1"

// Notifier posts alerts to one URL.
type Notifier struct {
	url    string
	token  string
	secret []byte // signs bodies when not empty
	client *http.Client
}

// SignatureHeader is the header that carries a signed body's signature.
const SignatureHeader = "X-Driftwatch-Signature"

// Sign returns the value of SignatureHeader for body under secret:
// "sha256=" and the hex HMAC-SHA256 of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// New validates cfg, reads the token if any and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tok, err := cfg.token()
	if err != nil {
		return nil, err
	}
	url, err := cfg.url()
	if err != nil {
		return nil, err
	}
	secret, err := cfg.signingSecret()
	if err != nil {
		return nil, err
	}
	return &Notifier{url: url, token: tok, secret: []byte(secret), client: alert.NewClient(cfg.Timeout)}, nil
}

// PerAlert tells the alerting manager to send every alert on its own even
// when it groups notifications (alerting.group_by): the Payload format is
// one alert, keyed for de-duplication, which programs consume.
func (w *Notifier) PerAlert() bool { return true }

// Payload is the JSON body of a webhook delivery.
type Payload struct {
	// Version is the format version, "1".
	Version string `json:"version"`
	// Key is the alert's de-duplication key, stable across firing, re-notifications and resolve.
	Key string `json:"key"`
	// Status is "firing" or "resolved".
	Status string `json:"status"`
	// Severity is "warning" or "critical".
	Severity string `json:"severity"`
	// ModelID, ModelVersion and Feature say what drifted; Feature is empty
	// for a signal alert.
	ModelID      string `json:"model_id"`
	ModelVersion string `json:"model_version"`
	Feature      string `json:"feature"`
	// Signal and Subject say, for a signal alert, which signal and about
	// what ("*" for the model itself); omitted for a drift alert.
	Signal  string `json:"signal,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Test is, for a drift alert a policy rule decides on one test of the
	// feature alone, that test; omitted otherwise.
	Test string `json:"test,omitempty"`
	// Rule names the alert policy rule that decided the alert; omitted for
	// the built-in default rule.
	Rule string `json:"rule,omitempty"`
	// Labels are the rule's labels; omitted when it has none.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are the rule's annotations rendered for this notification
	// (summary, description, runbook_url, dashboard_url); omitted when it
	// has none.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Summary is one line of text.
	Summary string `json:"summary"`
	// Tests are the drift tests, or the signal's tests, of the window that
	// caused this notification.
	Tests []Test `json:"tests"`
	// StartsAt is the start of the first drifted window (RFC 3339).
	StartsAt time.Time `json:"starts_at"`
	// EndsAt is the end of the window that resolved the alert (of the last
	// window seen, for a stale resolution); null while firing.
	EndsAt *time.Time `json:"ends_at"`
	// Stale is true when the alert was resolved because its series went
	// silent (alerting.stale_after), not by clean windows; omitted otherwise.
	Stale bool `json:"stale,omitempty"`
	// WindowEnd is the end of the window that caused this notification.
	WindowEnd time.Time `json:"window_end"`
	// DashboardURL links to a dashboard; omitted when none is configured.
	DashboardURL string `json:"dashboard_url,omitempty"`
}

// Test is one drift or signal test in a Payload: its name, statistic, p-value, threshold
// and severity; non-finite numbers (a test without p-value) are null.
type Test struct {
	Test      string   `json:"test"`
	Statistic *float64 `json:"statistic"`
	PValue    *float64 `json:"p_value"`
	Threshold *float64 `json:"threshold"`
	Severity  string   `json:"severity"`
}

// NewPayload converts n to its JSON form.
func NewPayload(n *alert.Notification) Payload {
	p := Payload{
		Version: Version, Key: n.Key, Status: n.Status, Severity: string(n.Severity),
		ModelID: n.ModelID, ModelVersion: n.ModelVersion, Feature: n.Feature, Signal: n.Signal, Subject: n.Subject,
		Test: n.Test, Rule: n.Rule, Labels: n.Labels, Annotations: n.Annotations,
		Summary: n.Summary, Tests: make([]Test, 0, len(n.Tests)), StartsAt: n.StartsAt.UTC(), WindowEnd: n.WindowEnd.UTC(),
		DashboardURL: n.DashboardURL, Stale: n.Stale,
	}
	if !n.EndsAt.IsZero() {
		e := n.EndsAt.UTC()
		p.EndsAt = &e
	}
	for _, t := range n.Tests {
		p.Tests = append(p.Tests, Test{
			Test: t.Test, Statistic: alert.Finite(t.Statistic), PValue: alert.Finite(t.PValue),
			Threshold: alert.Finite(t.Threshold), Severity: string(t.Severity),
		})
	}
	return p
}

// Notify posts n. Any 2xx is success; network errors, 429 and 5xx are
// retryable; other statuses, a redirect (never followed, so the token goes
// nowhere else) included, are permanent.
func (w *Notifier) Notify(ctx context.Context, n *alert.Notification) error {
	body, err := json.Marshal(NewPayload(n))
	if err != nil {
		return fmt.Errorf("encoding webhook payload: %w", err)
	}
	h := http.Header{}
	if w.token != "" {
		h.Set("Authorization", "Bearer "+w.token)
	}
	if len(w.secret) > 0 {
		h.Set(SignatureHeader, Sign(w.secret, body))
	}
	if err := alert.Post(ctx, w.client, alert.Request{URL: w.url, Header: h, Body: body}); err != nil {
		return fmt.Errorf("posting to webhook: %w", err)
	}
	return nil
}
