package pagerduty_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
)

const routingKey = "R0123456789abcdef0123456789abcde" // 32 characters

// event is the Events API v2 request, decoded strictly.
type event struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		Group         string         `json:"group"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	Client    string `json:"client"`
	ClientURL string `json:"client_url"`
	Links     []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
}

func decode(body []byte) (event, error) {
	var ev event
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&ev)
	return ev, err
}

// checkEvent validates a request against the Events API v2 rules.
func checkEvent(r *http.Request, body []byte) error {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("want POST /v2/enqueue application/json, got %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if len(body) > 512_000 {
		return fmt.Errorf("event of %d bytes exceeds 512 KB", len(body))
	}
	ev, err := decode(body)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if len(ev.RoutingKey) != 32 {
		return fmt.Errorf("routing_key of %d chars, want 32", len(ev.RoutingKey))
	}
	if ev.DedupKey == "" || len(ev.DedupKey) > 255 {
		return fmt.Errorf("dedup_key of %d chars, want 1..255", len(ev.DedupKey))
	}
	switch ev.EventAction {
	case "resolve", "acknowledge":
		if ev.Payload != nil {
			return errors.New("resolve carries a payload")
		}
		return nil
	case "trigger":
	default:
		return fmt.Errorf("event_action %q", ev.EventAction)
	}
	p := ev.Payload
	if p == nil {
		return errors.New("trigger without payload")
	}
	if p.Summary == "" || utf8.RuneCountInString(p.Summary) > 1024 {
		return fmt.Errorf("payload.summary of %d chars, want 1..1024", utf8.RuneCountInString(p.Summary))
	}
	if p.Source == "" {
		return errors.New("payload.source is required")
	}
	if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
		return fmt.Errorf("payload.severity %q", p.Severity)
	}
	if _, err := time.Parse(time.RFC3339, p.Timestamp); p.Timestamp != "" && err != nil {
		return fmt.Errorf("payload.timestamp: %w", err)
	}
	return nil
}

func accepted() alerttest.Reply {
	return alerttest.Reply{Status: 202, Body: `{"status":"success","message":"Event processed","dedup_key":"x"}`}
}

func newNotifier(t *testing.T, url string) *pagerduty.Notifier {
	t.Helper()
	f := filepath.Join(t.TempDir(), "routing_key")
	if err := os.WriteFile(f, []byte(routingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := pagerduty.DefaultConfig()
	c.URL, c.RoutingKeyFile, c.Source, c.RatePerSecond = url+"/v2/enqueue", f, "driftwatch-test", -1
	n, err := pagerduty.New(c)
	if err != nil {
		t.Fatalf("pagerduty.New: %v", err)
	}
	return n
}

func TestTriggerEscalateResolve(t *testing.T) {
	srv := alerttest.NewServer(t, checkEvent, accepted())
	feature := "<script>&amount"
	cfg := alerttest.FastConfig()
	cfg.DashboardURL = "http://127.0.0.1:3000/d/drift"
	res := alerttest.Drive(t, cfg, newNotifier(t, srv.URL), 3,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", feature, alerting.SeverityWarning, alerttest.PSI(0.3, alerting.SeverityWarning))},
		[]alerting.Observation{alerttest.Window(1, "fraud-scorer", "3", feature, alerting.SeverityCritical, alerttest.PSI(0.41, alerting.SeverityCritical))},
		[]alerting.Observation{alerttest.Window(2, "fraud-scorer", "3", feature, alerting.SeverityOK)})
	if res.OK != 3 {
		t.Fatalf("%d succeeded, want 3; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	var evs []event
	for _, r := range reqs {
		ev, err := decode(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	// The key's parts are percent-escaped (alerting.Key).
	wantKey := "driftwatch/fraud-scorer/3/%3Cscript%3E%26amount"
	for i, ev := range evs {
		if ev.RoutingKey != routingKey || ev.DedupKey != wantKey {
			t.Errorf("event %d: routing key or dedup_key differ: %q", i, ev.DedupKey)
		}
	}
	if got := []string{evs[0].EventAction, evs[1].EventAction, evs[2].EventAction}; !slices.Equal(got, []string{"trigger", "trigger", "resolve"}) {
		t.Errorf("actions %v", got)
	}
	p := evs[1].Payload
	if p.Severity != "critical" || evs[0].Payload.Severity != "warning" {
		t.Errorf("severities %q then %q, want warning then critical", evs[0].Payload.Severity, p.Severity)
	}
	if p.Summary != "psi 0.41 on feature <script>&amount of fraud-scorer v3 (window 14:01–14:02)" {
		t.Errorf("summary %q", p.Summary)
	}
	if p.Source != "driftwatch-test" || p.Component != "fraud-scorer" || p.Group != "fraud-scorer" || p.Class != "feature_drift" ||
		p.Timestamp != "2026-11-26T14:02:00Z" {
		t.Errorf("payload %+v", p)
	}
	d := p.CustomDetails
	tests, _ := d["tests"].([]any)
	if d["feature"] != feature || d["model_version"] != "3" || len(tests) != 1 {
		t.Fatalf("custom_details %+v", d)
	}
	if tr := tests[0].(map[string]any); tr["p_value"] != nil || tr["statistic"] != 0.41 || tr["threshold"] != 0.25 {
		t.Errorf("test detail %+v, want p_value null for a test without one", tr)
	}
	if len(evs[0].Links) != 1 || evs[0].Links[0].Href != cfg.DashboardURL || evs[0].ClientURL != cfg.DashboardURL {
		t.Errorf("links %+v", evs[0].Links)
	}
}

// TestKeyCollisionCannotResolve replays the attack on alert keys: a producer
// naming its model "org" version "model/1" must neither take over nor resolve
// the incident of model "org/model" version "1", which shared its dedup_key
// while keys joined unescaped parts.
func TestKeyCollisionCannotResolve(t *testing.T) {
	srv := alerttest.NewServer(t, checkEvent, accepted())
	victim := func(i int, sev alerting.Severity) []alerting.Observation {
		return []alerting.Observation{alerttest.Window(i, "org/model", "1", "f", sev, alerttest.PSI(0.5, sev))}
	}
	attacker := func(i int, sev alerting.Severity) []alerting.Observation {
		return []alerting.Observation{alerttest.Window(i, "org", "model/1", "f", sev, alerttest.PSI(0.5, sev))}
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL), 3,
		victim(0, alerting.SeverityCritical),
		attacker(1, alerting.SeverityOK), // a clean window of the look-alike series
		attacker(2, alerting.SeverityWarning),
		attacker(3, alerting.SeverityOK))
	var got []string
	for _, r := range srv.Requests() {
		ev, err := decode(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.EventAction+" "+ev.DedupKey)
	}
	want := []string{
		"trigger driftwatch/org%2Fmodel/1/f",
		"trigger driftwatch/org/model%2F1/f",
		"resolve driftwatch/org/model%2F1/f",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	active := res.Manager.Active()
	if len(active) != 1 || active[0].ModelID != "org/model" || active[0].State != alerting.StateFiring {
		t.Errorf("active alerts %+v, want the victim's alone, still firing", active)
	}
}

func TestLongNames(t *testing.T) {
	srv := alerttest.NewServer(t, checkEvent, accepted())
	feature := strings.Repeat("é", 2000)
	res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL), 2,
		[]alerting.Observation{alerttest.Window(0, "m", "1", feature, alerting.SeverityCritical)},
		[]alerting.Observation{alerttest.Window(1, "m", "1", feature, alerting.SeverityOK)})
	if res.OK != 2 {
		t.Fatalf("%d succeeded, want 2", res.OK)
	}
	reqs := srv.Requests()
	a, _ := decode(reqs[0].Body)
	b, _ := decode(reqs[1].Body)
	// alerting.Key keeps a readable start and hashes the whole triple.
	if a.DedupKey != b.DedupKey || !strings.HasPrefix(a.DedupKey, "driftwatch/m/1/%C3%A9") ||
		!strings.Contains(a.DedupKey, "/sha256:") || len(a.DedupKey) > 255 {
		t.Errorf("dedup keys %q and %q, want one readable hashed key of at most 255 characters", a.DedupKey, b.DedupKey)
	}
	if n := utf8.RuneCountInString(a.Payload.Summary); n != 1024 || !strings.HasSuffix(a.Payload.Summary, "…") {
		t.Errorf("summary of %d runes, want truncated to 1024", n)
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		script   []alerttest.Reply
		attempts int
		outcome  string
		minGap   time.Duration
	}{
		{"503, 503, 202 is three attempts and success", []alerttest.Reply{{Status: 503}, {Status: 503}, accepted()}, 3, "success", 0},
		{"400 is one attempt and failed", []alerttest.Reply{{Status: 400, Body: `{"status":"invalid event"}`}}, 1, "failed", 0},
		{"429 honours Retry-After", []alerttest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"1"}}}, accepted()}, 2, "success", time.Second},
		{"500 five times exhausts the attempts", []alerttest.Reply{{Status: 500}}, 5, "failed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := alerttest.NewServer(t, checkEvent, tc.script...)
			res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL), 1,
				[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
			reqs := srv.Requests()
			if len(reqs) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(reqs), tc.attempts)
			}
			d := res.Deliveries()
			if len(d) != tc.attempts || d[len(d)-1].Outcome != tc.outcome {
				t.Fatalf("delivery records %+v, want %d ending in %s", d, tc.attempts, tc.outcome)
			}
			for i, r := range d[:len(d)-1] {
				if r.Outcome != "retry" || r.HTTPStatus != tc.script[min(i, len(tc.script)-1)].Status {
					t.Errorf("record %d: %+v", i, r)
				}
			}
			if tc.minGap > 0 {
				if gap := reqs[1].At.Sub(reqs[0].At); gap < tc.minGap {
					t.Errorf("retried after %s, want >= %s", gap, tc.minGap)
				}
			}
		})
	}
}

func TestSecretNeverLeaks(t *testing.T) {
	// The receiver echoes nothing secret, but the key is in the request body;
	// make every attempt fail and check nothing the manager keeps has the key.
	srv := alerttest.NewServer(t, checkEvent, alerttest.Reply{Status: 400, Body: "Event object is invalid"})
	res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL), 1,
		[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
	down := alerttest.NewServer(t, nil)
	down.Close()
	res2 := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, down.URL), 1,
		[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
	for _, r := range [](*alerttest.Result){res, res2} {
		if r.Failed != 1 || strings.Contains(r.Logs, routingKey) {
			t.Errorf("failed=%d, logs leak the key: %v", r.Failed, strings.Contains(r.Logs, routingKey))
		}
		for _, rec := range r.Records {
			if strings.Contains(rec.Error, routingKey) || strings.Contains(rec.Summary, routingKey) {
				t.Errorf("record leaks the routing key: %+v", rec)
			}
		}
	}
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte(routingKey+"X"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config(func(c *pagerduty.Config) { c.RoutingKeyFile = f })
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), routingKey) || !strings.HasPrefix(err.Error(), "routing_key_file: ") {
		t.Errorf("Validate = %v, want a routing_key_file error without the key", err)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte(routingKey), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRIFTWATCH_TEST_PD_KEY", routingKey)
	t.Setenv("DRIFTWATCH_TEST_PD_SHORT", "short")
	tests := []struct {
		cfg     pagerduty.Config
		wantErr string
	}{
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile = good }), ""},
		{config(func(c *pagerduty.Config) { c.RoutingKeyEnv = "DRIFTWATCH_TEST_PD_KEY" }), ""},
		{config(func(c *pagerduty.Config) {}), "routing_key_file: one of routing_key_file and routing_key_env is required"},
		{config(func(c *pagerduty.Config) { c.RoutingKeyEnv = "DRIFTWATCH_TEST_PD_SHORT" }), "routing_key_env: routing key must be 32 characters"},
		{config(func(c *pagerduty.Config) { c.RoutingKeyEnv = "DRIFTWATCH_TEST_PD_UNSET" }), "routing_key_env: environment variable DRIFTWATCH_TEST_PD_UNSET is unset"},
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile, c.URL = good, "events.pagerduty.com" }), "url: "},
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile, c.Timeout = good, -1 }), "timeout: "},
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile, c.Timeout = good, 0 }), "timeout: "},
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile, c.Burst = good, 0 }), "burst: "},
		{config(func(c *pagerduty.Config) { c.RoutingKeyFile, c.Source = good, "" }), "source: required"},
	}
	for _, tc := range tests {
		c := tc.cfg
		err := c.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.wantErr)
		}
		if c != tc.cfg {
			t.Errorf("Validate changed %+v to %+v", tc.cfg, c)
		}
	}
	if d := pagerduty.DefaultConfig(); d.URL != pagerduty.DefaultURL || d.Class != "feature_drift" || d.Timeout != 10*time.Second ||
		d.RatePerSecond != 2 || d.Burst != 4 || d.Source != "" {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

// config is DefaultConfig with the source alerting would derive, changed by edit.
func config(edit func(*pagerduty.Config)) pagerduty.Config {
	c := pagerduty.DefaultConfig()
	c.Source = "driftwatch"
	edit(&c)
	return c
}

func TestGolden(t *testing.T) {
	fire, resolve := alerttest.Sample()
	n := newNotifier(t, "https://events.pagerduty.com")
	alerttest.Golden(t, "trigger.json", n.NewEvent(fire))
	alerttest.Golden(t, "resolve.json", n.NewEvent(resolve))
	fire, resolve = alerttest.SignalSample()
	alerttest.Golden(t, "signal-trigger.json", n.NewEvent(fire))
	alerttest.Golden(t, "signal-resolve.json", n.NewEvent(resolve))
}

// TestSignalTriggerEscalateResolve: a signal alert triggers, escalates and
// resolves under its own dedup_key (alerting.SignalKey), with the signal and
// subject in custom_details and the signal as the class, while the incident
// of a feature named like the signal stays open.
func TestSignalTriggerEscalateResolve(t *testing.T) {
	srv := alerttest.NewServer(t, checkEvent, accepted())
	const subject = "<script>/web:1"
	signal := func(i int, sev alerting.Severity, stat float64) alerting.Observation {
		return alerttest.SignalWindow(i, "fraud-scorer", "3", "error_rate", subject, sev, alerttest.Rate("error_rate", stat, 0.001, sev))
	}
	feature := func(i int) alerting.Observation {
		return alerttest.Window(i, "fraud-scorer", "3", "error_rate", alerting.SeverityCritical, alerttest.PSI(0.5, alerting.SeverityCritical))
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL), 4,
		[]alerting.Observation{signal(0, alerting.SeverityWarning, 0.07), feature(0)},
		[]alerting.Observation{signal(1, alerting.SeverityCritical, 0.12), feature(1)},
		[]alerting.Observation{signal(2, alerting.SeverityOK, 0.01), feature(2)})
	if res.OK != 4 {
		t.Fatalf("%d succeeded, want 4; logs:\n%s", res.OK, res.Logs)
	}
	var evs []event
	var got []string
	for _, r := range srv.Requests() {
		ev, err := decode(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		got = append(got, ev.EventAction+" "+ev.DedupKey)
	}
	const signalKey = "driftwatch/fraud-scorer/3/error_rate/%3Cscript%3E%2Fweb%3A1"
	want := []string{
		"trigger " + signalKey,
		"trigger driftwatch/fraud-scorer/3/error_rate",
		"trigger " + signalKey,
		"resolve " + signalKey,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	p := evs[2].Payload
	if p.Severity != "critical" || evs[0].Payload.Severity != "warning" {
		t.Errorf("severities %q then %q, want warning then critical", evs[0].Payload.Severity, p.Severity)
	}
	if want := "error_rate 0.12 for " + subject + " of fraud-scorer v3 (window 14:01–14:02)"; p.Summary != want {
		t.Errorf("summary %q, want %q", p.Summary, want)
	}
	if p.Class != "error_rate" || evs[1].Payload.Class != "feature_drift" || p.Component != "fraud-scorer" || p.Group != "fraud-scorer" {
		t.Errorf("signal payload %+v, feature class %q", p, evs[1].Payload.Class)
	}
	d := p.CustomDetails
	if _, ok := d["feature"]; ok || d["signal"] != "error_rate" || d["subject"] != subject || d["model_version"] != "3" {
		t.Errorf("signal custom_details %+v", d)
	}
	if d := evs[1].Payload.CustomDetails; d["feature"] != "error_rate" || d["signal"] != nil || d["subject"] != nil {
		t.Errorf("feature custom_details %+v", d)
	}
	if tests, _ := d["tests"].([]any); len(tests) != 1 || tests[0].(map[string]any)["statistic"] != 0.12 {
		t.Errorf("signal tests %+v", d["tests"])
	}
	if active := res.Manager.Active(); len(active) != 1 || active[0].Feature != "error_rate" || active[0].Signal != "" {
		t.Errorf("active alerts %+v, want the feature's alone", active)
	}
}
