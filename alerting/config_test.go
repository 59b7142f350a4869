package alerting_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// load decodes a config file strictly, as the caller of this package does,
// with the URL placeholders of testdata replaced.
func load(t *testing.T, path string, urls *strings.Replacer) (alerting.Config, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alerting.DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(urls.Replace(string(b)))))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, err
	}
	return cfg.WithDerived(), cfg.Validate()
}

var localURLs = strings.NewReplacer("PD_URL", "http://127.0.0.1:1/v2/enqueue", "WEBHOOK_URL", "http://127.0.0.1:1/hook", "AM_URL", "http://127.0.0.1:1")

func TestConfigGood(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_SLACK_URL", "https://hooks.slack.com/services/T/B/X")
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_TOKEN", "token")
	cfg, err := load(t, "testdata/full.good.yml", localURLs)
	if err != nil {
		t.Fatalf("full.good.yml: %v", err)
	}
	if cfg.PendingWindows != 3 || cfg.MaxBackoff != 30*time.Second || cfg.Slack[0].Timeout != 5*time.Second ||
		cfg.Slack[0].Name != "ml-alerts" || cfg.PagerDuty[0].Name != "pagerduty" || cfg.PagerDuty[0].Source != "driftwatch-prod" ||
		cfg.Alertmanager[0].ResendInterval != time.Minute || cfg.Webhook[0].Timeout != 10*time.Second {
		t.Errorf("decoded %+v", cfg)
	}
	minimal, err := load(t, "testdata/minimal.good.yml", localURLs)
	if err != nil {
		t.Fatalf("minimal.good.yml: %v", err)
	}
	want := alerting.Config{PendingWindows: 2, ResolveWindows: 2, MaxAlerts: 10000, StaleAfter: time.Hour, QueueSize: 1000, MaxAttempts: 5,
		InitialBackoff: time.Second, MaxBackoff: time.Minute, Source: "driftwatch"}
	if !reflect.DeepEqual(minimal, want) {
		t.Errorf("defaults %+v, want %+v", minimal, want)
	}
}

// TestReceiverDefaultsInLists: a receiver in a YAML list keeps the defaults
// of the keys it leaves out, and gets the derived name and source.
func TestReceiverDefaultsInLists(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_SLACK_URL", "https://hooks.slack.com/services/T/B/X")
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_TOKEN", "token")
	cfg, err := load(t, "testdata/full.good.yml", localURLs)
	if err != nil {
		t.Fatal(err)
	}
	pd, am := cfg.PagerDuty[0], cfg.Alertmanager[0]
	if pd.Timeout != 10*time.Second || pd.RatePerSecond != 2 || pd.Burst != 4 || pd.Source != "driftwatch-prod" || pd.Name != "pagerduty" {
		t.Errorf("pagerduty[0] %+v, want the defaults of the keys it leaves out", pd)
	}
	if am.Timeout != 10*time.Second || am.Name != "alertmanager" {
		t.Errorf("alertmanager[0] %+v, want the defaults of the keys it leaves out", am)
	}
}

// TestValidateDoesNotChangeItsReceiver: Validate checks the derived
// defaults without filling them in, and explicit zeros are not replaced.
func TestValidateDoesNotChangeItsReceiver(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_SLACK_URL", "https://hooks.slack.com/services/T/B/X")
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_TOKEN", "token")
	full, err := load(t, "testdata/full.good.yml", localURLs)
	if err != nil {
		t.Fatal(err)
	}
	unnamed := alerting.DefaultConfig()
	unnamed.Webhook = []webhook.Config{webhook.DefaultConfig(), webhook.DefaultConfig()}
	unnamed.Webhook[0].URL, unnamed.Webhook[1].URL = "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"
	zero := alerting.DefaultConfig()
	zero.QueueSize = 0
	tests := []struct {
		name string
		cfg  alerting.Config
		want string // "" when valid
	}{
		{"defaults", alerting.DefaultConfig(), ""},
		{"full", full, ""},
		{"unnamed receivers", unnamed, ""},
		{"zero queue", zero, "queue_size: must be positive, got 0"},
		{"zero value", alerting.Config{}, "pending_windows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.cfg)
			err := tc.cfg.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
			if !reflect.DeepEqual(tc.cfg, before) {
				t.Errorf("Validate changed its receiver:\n got %+v\nwant %+v", tc.cfg, before)
			}
		})
	}
	if d := unnamed.WithDerived(); d.Webhook[0].Name != "webhook" || d.Webhook[1].Name != "webhook-1" || unnamed.Webhook[0].Name != "" {
		t.Errorf("WithDerived names %q, %q (receiver %q), want webhook, webhook-1 and the receiver unchanged",
			d.Webhook[0].Name, d.Webhook[1].Name, unnamed.Webhook[0].Name)
	}
}

// clone copies the receiver lists of c, so that a change through them shows.
func clone(c alerting.Config) alerting.Config {
	c.Slack, c.PagerDuty = slices.Clone(c.Slack), slices.Clone(c.PagerDuty)
	c.Webhook, c.Alertmanager = slices.Clone(c.Webhook), slices.Clone(c.Alertmanager)
	return c
}

func TestConfigBad(t *testing.T) {
	want := map[string]string{
		"unknown-key.bad.yml":           "field pending_window not found",
		"unknown-receiver-key.bad.yml":  "field url not found",
		"negative-pending.bad.yml":      "pending_windows: must be positive, got -1",
		"stale-zero.bad.yml":            "stale_after: must be positive, got 0s",
		"backoff.bad.yml":               "max_backoff: 1s is less than initial_backoff 10s",
		"pagerduty-missing-key.bad.yml": "pagerduty[0].routing_key_file: reading secret: open testdata/does-not-exist",
		"pagerduty-short-key.bad.yml":   "pagerduty[1].routing_key_file: routing key must be 32 characters",
		"slack-no-url.bad.yml":          "slack[0].url_file: one of url_file and url_env is required",
		"duplicate-name.bad.yml":        `webhook[1].name: "hook" is already used by webhook[0]`,
		"dashboard.bad.yml":             "dashboard_url: ",
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(want) {
		t.Errorf("%d bad configs in testdata, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		_, err := load(t, f, localURLs)
		w, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: no expectation", f)
			continue
		}
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %v, want it to contain %q", f, err, w)
		}
	}
}

// TestNewDeliversToEveryReceiver builds the receivers from full.good.yml and
// checks that one firing alert reaches each of them once.
func TestNewDeliversToEveryReceiver(t *testing.T) {
	type hit struct{ path, auth string }
	hits := make(chan hit, 16)
	srv := alerttest.NewServer(t, func(r *http.Request, body []byte) error {
		hits <- hit{r.URL.Path, r.Header.Get("Authorization")}
		return json.Unmarshal(body, new(any))
	}, alerttest.Reply{Status: 200, Body: "ok"})
	t.Setenv("DRIFTWATCH_TEST_SLACK_URL", srv.URL+"/slack")
	t.Setenv("DRIFTWATCH_TEST_WEBHOOK_TOKEN", "s3cret")
	cfg, err := load(t, "testdata/full.good.yml", strings.NewReplacer(
		"PD_URL", srv.URL+"/v2/enqueue", "WEBHOOK_URL", srv.URL+"/hook", "AM_URL", srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PendingWindows = 1
	m, err := alerting.New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.Observe(context.Background(), []alerting.Observation{alerttest.Window(0, "m", "1", "x", alerting.SeverityCritical)})
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(hits)
	got := map[string]string{}
	for h := range hits {
		if _, dup := got[h.path]; dup {
			t.Errorf("%s hit twice", h.path)
		}
		got[h.path] = h.auth
	}
	for _, p := range []string{"/slack", "/v2/enqueue", "/hook", "/api/v2/alerts"} {
		if _, ok := got[p]; !ok {
			t.Errorf("receiver at %s got nothing; got %v", p, got)
		}
	}
	if got["/hook"] != "Bearer s3cret" {
		t.Errorf("webhook Authorization %q", got["/hook"])
	}
	if okN, failed := m.Delivered(); okN != 4 || failed != 0 {
		t.Errorf("Delivered() = %d, %d; want 4, 0", okN, failed)
	}
}
