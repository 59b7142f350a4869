package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

const token = "tok-0123456789-SECRETTOKEN"

// wire is the documented JSON format (docs/alerting.md), decoded strictly.
type wire struct {
	Version      string     `json:"version"`
	Key          string     `json:"key"`
	Status       string     `json:"status"`
	Severity     string     `json:"severity"`
	ModelID      string     `json:"model_id"`
	ModelVersion string     `json:"model_version"`
	Feature      string     `json:"feature"`
	Signal       string     `json:"signal"`
	Subject      string     `json:"subject"`
	Summary      string     `json:"summary"`
	StartsAt     time.Time  `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
	WindowEnd    time.Time  `json:"window_end"`
	DashboardURL string     `json:"dashboard_url"`
	Tests        []struct {
		Test      string   `json:"test"`
		Statistic *float64 `json:"statistic"`
		PValue    *float64 `json:"p_value"`
		Threshold *float64 `json:"threshold"`
		Severity  string   `json:"severity"`
	} `json:"tests"`
}

func decode(body []byte) (wire, error) {
	var w wire
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&w)
	return w, err
}

func check(wantAuth string) func(*http.Request, []byte) error {
	return func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			return fmt.Errorf("want POST application/json, got %s %q", r.Method, r.Header.Get("Content-Type"))
		}
		if got := r.Header.Get("Authorization"); got != wantAuth {
			return fmt.Errorf("authorization header %q", got)
		}
		w, err := decode(body)
		if err != nil {
			return err
		}
		if w.Version != "1" || w.Key == "" || (w.Status != "firing" && w.Status != "resolved") ||
			(w.Severity != "warning" && w.Severity != "critical") || w.StartsAt.IsZero() || w.WindowEnd.IsZero() {
			return fmt.Errorf("required fields missing or invalid: %+v", w)
		}
		if (w.Status == "resolved") != (w.EndsAt != nil) {
			return errors.New("ends_at must be set exactly when resolved")
		}
		return nil
	}
}

func TestPayload(t *testing.T) {
	srv := alerttest.NewServer(t, check("Bearer "+token))
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_TOKEN", token)
	n, err := webhook.New(config(func(c *webhook.Config) { c.URL, c.BearerTokenEnv = srv.URL+"/hook", "DRIFTWATCH_TEST_WEBHOOK_TOKEN" }))
	if err != nil {
		t.Fatal(err)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 2,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", "amount", alerting.SeverityCritical,
			alerttest.PSI(0.41, alerting.SeverityCritical), alerttest.KS(0.2, 0.001, alerting.SeverityWarning))},
		[]alerting.Observation{alerttest.Window(1, "fraud-scorer", "3", "amount", alerting.SeverityOK)})
	if res.OK != 2 {
		t.Fatalf("%d succeeded, want 2; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	fire, _ := decode(reqs[0].Body)
	resolve, _ := decode(reqs[1].Body)
	if fire.Key != "driftwatch/fraud-scorer/3/amount" || resolve.Key != fire.Key {
		t.Errorf("keys %q, %q", fire.Key, resolve.Key)
	}
	if len(fire.Tests) != 2 || fire.Tests[0].PValue != nil || *fire.Tests[1].PValue != 0.001 || *fire.Tests[0].Statistic != 0.41 {
		t.Errorf("tests %+v", fire.Tests)
	}
	if !fire.StartsAt.Equal(alerttest.T0) || !resolve.EndsAt.Equal(alerttest.T0.Add(2*time.Minute)) || resolve.Severity != "critical" {
		t.Errorf("times or severity: fire %+v resolve %+v", fire, resolve)
	}
}

// TestSignalPayload: a signal alert carries "signal" and "subject" and its
// own key; a drift alert leaves both out.
func TestSignalPayload(t *testing.T) {
	srv := alerttest.NewServer(t, check(""))
	n, err := webhook.New(config(func(c *webhook.Config) { c.URL = srv.URL + "/hook" }))
	if err != nil {
		t.Fatal(err)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 3,
		[]alerting.Observation{
			alerttest.SignalWindow(0, "fraud-scorer", "3", "finish_reason_share", "length/max", alerting.SeverityWarning,
				alerttest.Rate("finish_reason_share", 0.3, 0.01, alerting.SeverityWarning)),
			alerttest.Window(0, "fraud-scorer", "3", "amount", alerting.SeverityCritical, alerttest.PSI(0.41, alerting.SeverityCritical)),
		},
		[]alerting.Observation{alerttest.SignalWindow(1, "fraud-scorer", "3", "finish_reason_share", "length/max", alerting.SeverityOK)})
	if res.OK != 3 {
		t.Fatalf("%d succeeded, want 3; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	fire, _ := decode(reqs[0].Body)
	drift, _ := decode(reqs[1].Body)
	resolve, _ := decode(reqs[2].Body)
	const key = "driftwatch/fraud-scorer/3/finish_reason_share/length%2Fmax"
	if fire.Key != key || resolve.Key != key || resolve.Status != "resolved" {
		t.Errorf("keys %q, %q (%s), want %q", fire.Key, resolve.Key, resolve.Status, key)
	}
	if fire.Signal != "finish_reason_share" || fire.Subject != "length/max" || fire.Feature != "" ||
		fire.Summary != "finish_reason_share 0.3 for length/max of fraud-scorer v3 (window 14:00–14:01)" {
		t.Errorf("signal payload %+v", fire)
	}
	if len(fire.Tests) != 1 || *fire.Tests[0].Statistic != 0.3 || fire.Tests[0].Test != "finish_reason_share" {
		t.Errorf("tests %+v", fire.Tests)
	}
	if strings.Contains(string(reqs[1].Body), `"signal"`) || strings.Contains(string(reqs[1].Body), `"subject"`) || drift.Feature != "amount" {
		t.Errorf("drift payload has signal fields: %s", reqs[1].Body)
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		script   []alerttest.Reply
		attempts int
		outcome  string
	}{
		{"503, 503, 204", []alerttest.Reply{{Status: 503}, {Status: 503}, {Status: 204}}, 3, "success"},
		{"400", []alerttest.Reply{{Status: 400}}, 1, "failed"},
		{"429 then 200", []alerttest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"1"}}}, {Status: 200}}, 2, "success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := alerttest.NewServer(t, check(""), tc.script...)
			n, err := webhook.New(config(func(c *webhook.Config) { c.URL = srv.URL }))
			if err != nil {
				t.Fatal(err)
			}
			res := alerttest.Drive(t, alerttest.FastConfig(), n, 1, []alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
			d := res.Deliveries()
			if len(srv.Requests()) != tc.attempts || len(d) != tc.attempts || d[len(d)-1].Outcome != tc.outcome {
				t.Errorf("%d requests, records %+v; want %d ending in %s", len(srv.Requests()), d, tc.attempts, tc.outcome)
			}
		})
	}
}

func TestTokenNeverLeaks(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := alerttest.NewServer(t, nil, alerttest.Reply{Status: 401, Body: "bad credentials"})
	n, err := webhook.New(config(func(c *webhook.Config) { c.URL, c.BearerTokenFile = srv.URL, f }))
	if err != nil {
		t.Fatal(err)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 1, []alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
	if res.Failed != 1 || strings.Contains(res.Logs, "SECRET") {
		t.Errorf("failed=%d; logs:\n%s", res.Failed, res.Logs)
	}
	for _, r := range res.Records {
		if strings.Contains(r.Error, "SECRET") {
			t.Errorf("record leaks the token: %+v", r)
		}
	}
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_URL", "https://hooks.example/secret-path?token=abc")
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_HTTP", "http://hooks.example/secret-path")
	tests := []struct {
		cfg     webhook.Config
		wantErr string
	}{
		{config(func(c *webhook.Config) { c.URL = "http://127.0.0.1:1/x" }), ""},
		{config(func(c *webhook.Config) {}), "url: required"},
		{config(func(c *webhook.Config) { c.URL, c.URLFile = "https://x", "/f" }), "url: only one of"},
		{config(func(c *webhook.Config) { c.URLFile = "/nonexistent/url" }), "url_file: reading secret"},
		{config(func(c *webhook.Config) { c.URLEnv = "DRIFTWATCH_TEST_WEBHOOK_UNSET" }), "url_env: "},
		{config(func(c *webhook.Config) { c.URLEnv = "DRIFTWATCH_TEST_WEBHOOK_HTTP" }), "url_env: webhook receiver"},
		{config(func(c *webhook.Config) { c.URLEnv = "DRIFTWATCH_TEST_WEBHOOK_URL" }), ""},
		{config(func(c *webhook.Config) { c.URL = "ftp://x" }), "url: webhook receiver: not an absolute http(s) URL"},
		{config(func(c *webhook.Config) { c.URL, c.BearerTokenEnv = "https://x", "DRIFTWATCH_TEST_WEBHOOK_UNSET" }), "bearer_token_env: "},
		{config(func(c *webhook.Config) { c.URL, c.BearerTokenFile = "https://x", "/nonexistent/token" }), "bearer_token_file: reading secret"},
		{config(func(c *webhook.Config) { c.URL, c.Timeout = "https://x", 0 }), "timeout: must be positive"},
		{config(func(c *webhook.Config) { c.URL, c.SigningSecretFile = "https://x", "/nonexistent/secret" }), "signing_secret_file: reading secret"},
		{config(func(c *webhook.Config) { c.URL, c.SigningSecretEnv = "https://x", "DRIFTWATCH_TEST_WEBHOOK_UNSET" }), "signing_secret_env: "},
	}
	for _, tc := range tests {
		c := tc.cfg
		err := c.Validate()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.wantErr)
		}
		if c != tc.cfg {
			t.Errorf("Validate changed %+v to %+v", tc.cfg, c)
		}
	}
	if d := webhook.DefaultConfig(); d.Timeout != 10*time.Second {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

// config is DefaultConfig changed by edit.
func config(edit func(*webhook.Config)) webhook.Config {
	c := webhook.DefaultConfig()
	edit(&c)
	return c
}

func TestGolden(t *testing.T) {
	fire, resolve := alerttest.Sample()
	alerttest.Golden(t, "firing.json", webhook.NewPayload(fire))
	alerttest.Golden(t, "resolved.json", webhook.NewPayload(resolve))
	fire, resolve = alerttest.SignalSample()
	alerttest.Golden(t, "signal-firing.json", webhook.NewPayload(fire))
	alerttest.Golden(t, "signal-resolved.json", webhook.NewPayload(resolve))
}

// TestURLFromFile: a URL that carries a secret comes from a file (or the
// environment); deliveries reach it, and an error about it never shows its
// path or query.
func TestURLFromFile(t *testing.T) {
	srv := alerttest.NewServer(t, check(""))
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(srv.URL+"/hook?token=s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := webhook.New(config(func(c *webhook.Config) { c.URLFile = file }))
	if err != nil {
		t.Fatal(err)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 1,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", "amount", alerting.SeverityCritical, alerttest.PSI(0.41, alerting.SeverityCritical))})
	if res.OK != 1 || len(srv.Requests()) != 1 {
		t.Fatalf("%d deliveries to the URL of url_file; logs:\n%s", len(srv.Requests()), res.Logs)
	}
	if err := os.WriteFile(file, []byte("http://hooks.example/secret-path?token=s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = config(func(c *webhook.Config) { c.URLFile = file }).Validate()
	if err == nil || strings.Contains(err.Error(), "secret-path") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("plain http from url_file: %v (must be refused without showing the URL's path or query)", err)
	}
}

// TestSignKnownAnswer checks Sign against the published HMAC-SHA256 of
// "The quick brown fox jumps over the lazy dog" under the key "key".
func TestSignKnownAnswer(t *testing.T) {
	got := webhook.Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	if want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestSignedBodies: with a signing secret, every delivery carries the
// HMAC-SHA256 of its exact body, which a receiver holding the secret
// verifies; a changed body no longer verifies. Without one, no header.
func TestSignedBodies(t *testing.T) {
	secret := "s3cret-for-signing"
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(body []byte, sig string) bool {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		return hmac.Equal([]byte(sig), []byte(want))
	}
	srv := alerttest.NewServer(t, nil)
	n, err := webhook.New(config(func(c *webhook.Config) { c.URL, c.SigningSecretFile = srv.URL, f }))
	if err != nil {
		t.Fatal(err)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 2,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", "amount", alerting.SeverityCritical, alerttest.PSI(0.41, alerting.SeverityCritical))},
		[]alerting.Observation{alerttest.Window(1, "fraud-scorer", "3", "amount", alerting.SeverityOK)})
	if res.OK != 2 {
		t.Fatalf("%d succeeded, want 2; logs:\n%s", res.OK, res.Logs)
	}
	for i, r := range srv.Requests() {
		sig := r.Header.Get(webhook.SignatureHeader)
		if !verify(r.Body, sig) {
			t.Errorf("request %d: signature %q does not verify its body", i, sig)
		}
		if verify(append(bytes.Clone(r.Body), ' '), sig) {
			t.Errorf("request %d: the signature verifies a changed body", i)
		}
		if strings.Contains(string(r.Body), secret) || strings.Contains(res.Logs, secret) {
			t.Errorf("the secret leaked")
		}
	}

	plain := alerttest.NewServer(t, nil)
	n, err = webhook.New(config(func(c *webhook.Config) { c.URL = plain.URL }))
	if err != nil {
		t.Fatal(err)
	}
	alerttest.Drive(t, alerttest.FastConfig(), n, 1,
		[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
	if h := plain.Requests()[0].Header.Get(webhook.SignatureHeader); h != "" {
		t.Errorf("unsigned receiver got %s: %q", webhook.SignatureHeader, h)
	}
}
