package alertmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
)

// postable is Alertmanager's postableAlert, decoded strictly.
type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func decode(body []byte) ([]postable, error) {
	var as []postable
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&as)
	return as, err
}

// checkAlerts validates a POST /api/v2/alerts body as Alertmanager's API does.
func checkAlerts(r *http.Request, body []byte) error {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" || r.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("want POST /api/v2/alerts application/json, got %s %s", r.Method, r.URL.Path)
	}
	as, err := decode(body)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return errors.New("no alerts")
	}
	for _, a := range as {
		// Each kind of alert has its own, fixed label set.
		var labels []string
		switch a.Labels["alertname"] {
		case alertmanager.AlertName:
			labels = []string{"alertname", "model_id", "feature", "severity"}
		case alertmanager.SignalAlertName:
			labels = []string{"alertname", "model_id", "signal", "subject", "severity"}
		default:
			return fmt.Errorf("alertname %q", a.Labels["alertname"])
		}
		for _, l := range labels {
			if a.Labels[l] == "" {
				return fmt.Errorf("label %s missing", l)
			}
		}
		for l, v := range a.Labels {
			if l != "model_version" && !slices.Contains(labels, l) {
				return fmt.Errorf("unexpected label %s=%q on a %s alert", l, v, a.Labels["alertname"])
			}
			if !utf8.ValidString(v) {
				return fmt.Errorf("label %s is not UTF-8", l)
			}
		}
		if a.Annotations["summary"] == "" {
			return fmt.Errorf("summary missing: %+v", a)
		}
		if a.StartsAt.IsZero() || a.EndsAt.IsZero() || !a.EndsAt.After(a.StartsAt) {
			return fmt.Errorf("startsAt %s endsAt %s", a.StartsAt, a.EndsAt)
		}
	}
	return nil
}

func TestPayloads(t *testing.T) {
	srv := alerttest.NewServer(t, checkAlerts)
	n, err := alertmanager.New(config(func(c *alertmanager.Config) { c.URL = srv.URL + "/" }))
	if err != nil {
		t.Fatal(err)
	}
	cfg := alerttest.FastConfig()
	cfg.DashboardURL = "http://127.0.0.1:3000/d/drift"
	start := time.Now()
	res := alerttest.Drive(t, cfg, n, 3,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", "amount", alerting.SeverityWarning, alerttest.PSI(0.3, alerting.SeverityWarning))},
		[]alerting.Observation{alerttest.Window(1, "fraud-scorer", "3", "amount", alerting.SeverityCritical, alerttest.PSI(0.41, alerting.SeverityCritical))},
		[]alerting.Observation{alerttest.Window(2, "fraud-scorer", "3", "amount", alerting.SeverityOK)})
	if res.OK != 3 {
		t.Fatalf("%d succeeded, want 3; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	var posts [][]postable
	for _, r := range reqs {
		as, _ := decode(r.Body)
		posts = append(posts, as)
	}
	fire := posts[0]
	if len(fire) != 1 || fire[0].Labels["severity"] != "warning" || fire[0].Labels["model_version"] != "3" ||
		!fire[0].StartsAt.Equal(alerttest.T0) || fire[0].GeneratorURL != cfg.DashboardURL {
		t.Errorf("firing post %+v", fire)
	}
	if ttl := fire[0].EndsAt.Sub(start); ttl < 3*time.Minute || ttl > 5*time.Minute {
		t.Errorf("firing endsAt %s ahead, want 4 resend intervals (4m)", ttl)
	}
	// Escalation: the critical alert fires and the warning series is ended.
	esc := posts[1]
	if len(esc) != 2 || esc[0].Labels["severity"] != "critical" || esc[1].Labels["severity"] != "warning" ||
		esc[1].EndsAt.After(time.Now()) {
		t.Errorf("escalation post %+v", esc)
	}
	res2 := posts[2]
	if len(res2) != 1 || res2[0].Labels["severity"] != "critical" || !res2[0].EndsAt.Equal(alerttest.T0.Add(3*time.Minute)) {
		t.Errorf("resolve post %+v", res2)
	}
	if !strings.Contains(res2[0].Annotations["summary"], "resolved") {
		t.Errorf("resolve summary %q", res2[0].Annotations["summary"])
	}
}

// TestSignalPayloads: a signal alert is posted as alertname DriftwatchSignal
// with the labels signal and subject instead of feature; its label set is the
// same in every post but for severity, so escalation ends the old series and
// the resolve ends the new one, as for drift.
func TestSignalPayloads(t *testing.T) {
	srv := alerttest.NewServer(t, checkAlerts)
	n, err := alertmanager.New(config(func(c *alertmanager.Config) { c.URL = srv.URL }))
	if err != nil {
		t.Fatal(err)
	}
	signal := func(i int, sev alerting.Severity) []alerting.Observation {
		return []alerting.Observation{alerttest.SignalWindow(i, "fraud-scorer", "3", "error_rate", "checkout/web", sev,
			alerttest.Rate("error_rate", 0.12, 0.001, sev))}
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 3,
		signal(0, alerting.SeverityWarning), signal(1, alerting.SeverityCritical), signal(2, alerting.SeverityOK))
	if res.OK != 3 {
		t.Fatalf("%d succeeded, want 3; logs:\n%s", res.OK, res.Logs)
	}
	var posts [][]postable
	for _, r := range srv.Requests() {
		as, _ := decode(r.Body)
		posts = append(posts, as)
	}
	want := map[string]string{"alertname": "DriftwatchSignal", "model_id": "fraud-scorer", "model_version": "3",
		"signal": "error_rate", "subject": "checkout/web"}
	var sevs []string
	for _, p := range posts {
		for _, a := range p {
			sevs = append(sevs, a.Labels["severity"])
			for k, v := range want {
				if a.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
				}
			}
			if len(a.Labels) != len(want)+1 {
				t.Errorf("labels %v, want those of %v and severity", a.Labels, want)
			}
		}
	}
	if got := strings.Join(sevs, " "); len(posts) != 3 || got != "warning critical warning critical" {
		t.Fatalf("%d posts with severities %s, want 3: warning; critical and the ended warning; critical", len(posts), got)
	}
	if s := posts[0][0].Annotations["summary"]; s != "error_rate 0.12 for checkout/web of fraud-scorer v3 (window 14:00–14:01)" {
		t.Errorf("firing summary %q", s)
	}
	if s := posts[2][0].Annotations["summary"]; !strings.HasPrefix(s, "error_rate resolved for checkout/web") ||
		!posts[2][0].EndsAt.Equal(alerttest.T0.Add(3*time.Minute)) {
		t.Errorf("resolve post %+v", posts[2])
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		script   []alerttest.Reply
		attempts int
		outcome  string
	}{
		{"503, 503, 200", []alerttest.Reply{{Status: 503}, {Status: 503}, {Status: 200}}, 3, "success"},
		{"400 is permanent", []alerttest.Reply{{Status: 400, Body: `{"code":400,"message":"invalid"}`}}, 1, "failed"},
		{"429 with Retry-After", []alerttest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"1"}}}, {Status: 200}}, 2, "success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := alerttest.NewServer(t, checkAlerts, tc.script...)
			n, err := alertmanager.New(config(func(c *alertmanager.Config) { c.URL = srv.URL }))
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

func TestConfigValidate(t *testing.T) {
	c := config(func(c *alertmanager.Config) { c.URL = "http://127.0.0.1:9093" })
	if err := c.Validate(); err != nil || c.ResendInterval != time.Minute || c.Timeout != 10*time.Second {
		t.Errorf("Validate = %v, defaults %+v", err, c)
	}
	for _, bad := range []struct {
		cfg  alertmanager.Config
		want string
	}{
		{config(func(c *alertmanager.Config) {}), "url: required"},
		{config(func(c *alertmanager.Config) { c.URL = "127.0.0.1:9093" }), "url: "},
		{config(func(c *alertmanager.Config) { c.URL, c.ResendInterval = "https://x", -time.Second }), "resend_interval: "},
		{config(func(c *alertmanager.Config) { c.URL, c.ResendInterval = "https://x", 0 }), "resend_interval: "},
		{config(func(c *alertmanager.Config) { c.URL, c.Timeout = "https://x", 0 }), "timeout: "},
	} {
		before := bad.cfg
		if err := bad.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.cfg, err, bad.want)
		}
		if bad.cfg != before {
			t.Errorf("Validate changed %+v to %+v", before, bad.cfg)
		}
	}
}

// config is DefaultConfig changed by edit.
func config(edit func(*alertmanager.Config)) alertmanager.Config {
	c := alertmanager.DefaultConfig()
	edit(&c)
	return c
}

// amMessage is the webhook payload Alertmanager sends to receivers (version 4).
type amMessage struct {
	Version      string            `json:"version"`
	GroupKey     string            `json:"groupKey"`
	Status       string            `json:"status"`
	Receiver     string            `json:"receiver"`
	CommonLabels map[string]string `json:"commonLabels"`
	Alerts       []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRealAlertmanager posts a drift and a signal alert through the notifier
// to the real Alertmanager binary and checks that its webhook receiver gets
// each one's firing, then resolved notification, with its labels.
func TestRealAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin, err = exec.LookPath("alertmanager")
	}
	if err != nil {
		t.Fatal("Alertmanager binary not found: apt-get install prometheus-alertmanager")
	}
	var (
		mu   sync.Mutex
		msgs []amMessage
	)
	hook := alerttest.NewServer(t, func(r *http.Request, body []byte) error {
		var m amMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
		return nil
	})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	conf := fmt.Sprintf(`route:
  receiver: driftwatch-test
  group_by: [alertname, model_id, feature]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: driftwatch-test
    webhook_configs:
      - url: %s/alertmanager
        send_resolved: true
`, hook.URL)
	if err := os.WriteFile(cfgFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting alertmanager: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	waitFor(t, 15*time.Second, "alertmanager ready", logPath, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	n, err := alertmanager.New(config(func(c *alertmanager.Config) { c.URL = base }))
	if err != nil {
		t.Fatal(err)
	}
	cfg := alerttest.FastConfig()
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"alertmanager": n}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	w0 := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	// A drift alert and a signal alert about the model itself, in one batch.
	obs := func(i int, sev alerting.Severity) []alerting.Observation {
		drift := alerting.Observation{ModelID: "fraud-scorer", ModelVersion: "3", Feature: "amount",
			WindowStart: w0.Add(time.Duration(i) * time.Minute), WindowEnd: w0.Add(time.Duration(i+1) * time.Minute),
			Severity: sev, Tests: []alerting.TestResult{alerttest.PSI(0.41, sev)}}
		signal := drift
		signal.Feature, signal.Signal, signal.Subject = "", "error_rate", "*"
		signal.Tests = []alerting.TestResult{alerttest.Rate("error_rate", 0.12, 0.001, sev)}
		return []alerting.Observation{drift, signal}
	}
	find := func(alertname, status string) *amMessage {
		mu.Lock()
		defer mu.Unlock()
		for i := range msgs {
			if msgs[i].Status == status && msgs[i].CommonLabels["alertname"] == alertname {
				return &msgs[i]
			}
		}
		return nil
	}
	kinds := []struct {
		alertname string
		labels    map[string]string
		summary   string
	}{
		{"DriftwatchFeatureDrift", map[string]string{"alertname": "DriftwatchFeatureDrift", "model_id": "fraud-scorer",
			"model_version": "3", "feature": "amount", "severity": "critical"}, "psi 0.41 on feature amount of fraud-scorer v3"},
		{"DriftwatchSignal", map[string]string{"alertname": "DriftwatchSignal", "model_id": "fraud-scorer",
			"model_version": "3", "signal": "error_rate", "subject": "*", "severity": "critical"}, "error_rate 0.12 of fraud-scorer v3"},
	}
	m.Observe(ctx, obs(0, alerting.SeverityCritical))
	fingerprints := map[string]string{}
	for _, k := range kinds {
		waitFor(t, 15*time.Second, k.alertname+" firing notification from alertmanager", logPath, func() bool { return find(k.alertname, "firing") != nil })
		fire := find(k.alertname, "firing")
		if fire.Version != "4" || fire.Receiver != "driftwatch-test" || len(fire.Alerts) != 1 {
			t.Fatalf("firing message %+v", fire)
		}
		a := fire.Alerts[0]
		if len(a.Labels) != len(k.labels) {
			t.Errorf("labels %v, want %v", a.Labels, k.labels)
		}
		for l, v := range k.labels {
			if a.Labels[l] != v {
				t.Errorf("%s: label %s = %q, want %q", k.alertname, l, a.Labels[l], v)
			}
		}
		if a.Status != "firing" || !strings.HasPrefix(a.Annotations["summary"], k.summary) || !a.StartsAt.Equal(w0) {
			t.Errorf("firing alert %+v", a)
		}
		fingerprints[k.alertname] = a.Fingerprint
	}
	if fingerprints["DriftwatchFeatureDrift"] == fingerprints["DriftwatchSignal"] {
		t.Errorf("the drift and the signal alert share the fingerprint %s", fingerprints["DriftwatchSignal"])
	}

	m.Observe(ctx, obs(1, alerting.SeverityOK))
	for _, k := range kinds {
		waitFor(t, 15*time.Second, k.alertname+" resolved notification from alertmanager", logPath, func() bool { return find(k.alertname, "resolved") != nil })
		res := find(k.alertname, "resolved")
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "resolved" || res.Alerts[0].Fingerprint != fingerprints[k.alertname] ||
			res.Alerts[0].Labels["severity"] != "critical" {
			t.Errorf("resolved message %+v", res)
		}
	}
	if okN, failed := m.Delivered(); okN != 4 || failed != 0 {
		t.Errorf("Delivered() = %d, %d; want 4, 0", okN, failed)
	}
	cancel()
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing with Alertmanager's log after d.
func waitFor(t *testing.T, d time.Duration, what, logPath string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("timed out after %s waiting for %s; alertmanager log:\n%s", d, what, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGolden(t *testing.T) {
	fire, resolve := alerttest.Sample()
	n, err := alertmanager.New(config(func(c *alertmanager.Config) { c.URL = "https://alertmanager:9093" }))
	if err != nil {
		t.Fatal(err)
	}
	now := alerttest.T0.Add(2*time.Minute + 3*time.Second)
	alerttest.Golden(t, "firing.json", []alertmanager.Alert{n.NewAlert(fire, fire.Severity, now)})
	alerttest.Golden(t, "resolved.json", []alertmanager.Alert{n.NewAlert(resolve, resolve.Severity, now)})
	fire, resolve = alerttest.SignalSample()
	alerttest.Golden(t, "signal-firing.json", []alertmanager.Alert{n.NewAlert(fire, fire.Severity, now)})
	alerttest.Golden(t, "signal-resolved.json", []alertmanager.Alert{n.NewAlert(resolve, resolve.Severity, now)})
}
