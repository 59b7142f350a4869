package slack_test

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
	"github.com/driftwatch/driftwatch/alerting/slack"
)

// checkBlockKit validates an incoming-webhook payload against Slack's published
// Block Kit rules: top-level text, at most 50 blocks of known types, header
// plain_text <= 150, section mrkdwn text <= 3000, <= 10 fields of <= 2000,
// context elements <= 10, and no unescaped control character in mrkdwn.
func checkBlockKit(r *http.Request, body []byte) error {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("want POST application/json, got %s %q", r.Method, r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string            `json:"type"`
			Text     *slackText        `json:"text"`
			Fields   []slackText       `json:"fields"`
			Elements []json.RawMessage `json:"elements"`
		} `json:"blocks"`
	}
	if err := dec.Decode(&msg); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if strings.TrimSpace(msg.Text) == "" {
		return errors.New("top-level text is required as the notification fallback")
	}
	if err := checkMrkdwn(msg.Text); err != nil {
		return fmt.Errorf("text: %w", err)
	}
	if len(msg.Blocks) == 0 || len(msg.Blocks) > 50 {
		return fmt.Errorf("%d blocks, want 1..50", len(msg.Blocks))
	}
	for i, b := range msg.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || utf8.RuneCountInString(b.Text.Text) > 150 {
				return fmt.Errorf("block %d: header needs plain_text of 1..150 chars, got %+v", i, b.Text)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("block %d: section needs text or fields", i)
			}
			if b.Text != nil {
				if b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" {
					return fmt.Errorf("block %d: text type %q", i, b.Text.Type)
				}
				if n := utf8.RuneCountInString(b.Text.Text); n == 0 || n > 3000 {
					return fmt.Errorf("block %d: section text of %d chars, want 1..3000", i, n)
				}
				if err := checkMrkdwn(b.Text.Text); err != nil {
					return fmt.Errorf("block %d: %w", i, err)
				}
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("block %d: %d fields, want <= 10", i, len(b.Fields))
			}
			for j, f := range b.Fields {
				if f.Type != "mrkdwn" || utf8.RuneCountInString(f.Text) > 2000 || f.Text == "" {
					return fmt.Errorf("block %d field %d: %+v", i, j, f)
				}
				if err := checkMrkdwn(f.Text); err != nil {
					return fmt.Errorf("block %d field %d: %w", i, j, err)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("block %d: %d context elements, want 1..10", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				var t slackText
				if err := json.Unmarshal(e, &t); err != nil || (t.Type != "mrkdwn" && t.Type != "plain_text") {
					return fmt.Errorf("block %d: context element %s", i, e)
				}
			}
		default:
			return fmt.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
	return nil
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// checkMrkdwn fails on a raw "<" or ">" that is not a link/mention, and on a
// "&" that does not start one of the three entities.
func checkMrkdwn(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				return fmt.Errorf("unescaped & at %d in %q", i, s)
			}
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 || !strings.HasPrefix(s[i+1:], "http") {
				return fmt.Errorf("unescaped < at %d in %q", i, s)
			}
			i += end
		case '>':
			return fmt.Errorf("unescaped > at %d in %q", i, s)
		}
	}
	return nil
}

func slackOK() alerttest.Reply { return alerttest.Reply{Status: 200, Body: "ok"} }

// newNotifier returns a Notifier posting to srv through url_env.
func newNotifier(t *testing.T, url string) *slack.Notifier {
	t.Helper()
	env := "DRIFTWATCH_TEST_SLACK_URL_" + strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name())
	t.Setenv(env, url)
	n, err := slack.New(config(func(c *slack.Config) { c.URLEnv, c.RatePerSecond = env, -1 }))
	if err != nil {
		t.Fatalf("slack.New: %v", err)
	}
	return n
}

func TestMessages(t *testing.T) {
	srv := alerttest.NewServer(t, checkBlockKit, slackOK())
	n := newNotifier(t, srv.URL+"/services/T000/B000/XXXX")
	const feature = "<script>&amount"
	cfg := alerttest.FastConfig()
	cfg.DashboardURL = "http://127.0.0.1:3000/d/drift?var-model=fraud&x=1"
	res := alerttest.Drive(t, cfg, n, 2,
		[]alerting.Observation{alerttest.Window(0, "fraud-scorer", "3", feature, alerting.SeverityCritical,
			alerttest.PSI(0.41, alerting.SeverityCritical), alerttest.KS(0.2, 0.001, alerting.SeverityWarning))},
		[]alerting.Observation{alerttest.Window(1, "fraud-scorer", "3", feature, alerting.SeverityOK, alerttest.PSI(0.02, alerting.SeverityOK))})
	if res.OK != 2 {
		t.Fatalf("%d deliveries succeeded, want 2; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/services/T000/B000/XXXX" {
		t.Fatalf("got %d requests (first to %q), want 2 to the webhook path", len(reqs), reqs[0].Path)
	}
	var fire, resolve slack.Message
	if err := json.Unmarshal(reqs[0].Body, &fire); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(reqs[1].Body, &resolve); err != nil {
		t.Fatal(err)
	}
	if want := "&lt;script&gt;&amp;amount"; !strings.Contains(fire.Text, want) || !strings.Contains(string(reqs[0].Body), want) {
		t.Errorf("feature not escaped as %q: %s", want, reqs[0].Body)
	}
	if strings.Contains(fire.Text, "<script>") {
		t.Errorf("raw <script> in fallback text %q", fire.Text)
	}
	// plain_text is shown literally, so the header carries the name unescaped.
	if h := fire.Blocks[0]; h.Type != "header" || !strings.Contains(h.Text.Text, "Drift critical") || !strings.Contains(h.Text.Text, feature) {
		t.Errorf("firing header %+v", h.Text)
	}
	if h := resolve.Blocks[0]; !strings.Contains(h.Text.Text, "Drift resolved") {
		t.Errorf("resolved header %+v", h.Text)
	}
	if !strings.HasPrefix(resolve.Text, "[RESOLVED critical]") || !strings.HasPrefix(fire.Text, "[FIRING critical] psi 0.41 on feature") {
		t.Errorf("fallback texts %q / %q", fire.Text, resolve.Text)
	}
	last := fire.Blocks[len(fire.Blocks)-1]
	if last.Type != "context" || !strings.Contains(last.Elements[0].Text, "<http://127.0.0.1:3000/d/drift?var-model=fraud&amp;x=1|Dashboard>") {
		t.Errorf("context block %+v", last.Elements)
	}
	if !strings.Contains(string(reqs[0].Body), "ks 0.2 (threshold 0.1, p=0.001): warning") {
		t.Errorf("tests section missing: %s", reqs[0].Body)
	}
}

func TestLimits(t *testing.T) {
	var tests []alerting.TestResult
	for range 40 {
		tests = append(tests, alerttest.PSI(0.5, alerting.SeverityCritical))
	}
	n := &alerting.Notification{
		Key: "driftwatch/m/1/f", Status: "firing", Severity: alerting.SeverityCritical,
		ModelID: strings.Repeat("m", 500), ModelVersion: "1", Feature: strings.Repeat("<&>", 2000),
		Summary: strings.Repeat("&", 5000), Tests: tests, WindowEnd: alerttest.T0,
	}
	// A signal alert has three telemetry values in its summary: signal, subject and model.
	sig := *n
	sig.Feature, sig.Signal, sig.Subject = "", strings.Repeat("<&>", 2000), strings.Repeat("&", 3000)
	for kind, n := range map[string]*alerting.Notification{"drift": n, "signal": &sig} {
		body, err := json.Marshal(slack.NewMessage(n))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBlockKit(&http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}}, body); err != nil {
			t.Errorf("oversized %s notification breaks Slack's limits: %v", kind, err)
		}
		if !strings.Contains(string(body), "… and 20 more") {
			t.Errorf("%s: test list not capped at 20 lines", kind)
		}
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		script   []alerttest.Reply
		attempts int
		outcome  string
		status   int
		minGap   time.Duration
	}{
		{"503, 503, ok is three attempts and success", []alerttest.Reply{{Status: 503}, {Status: 503}, slackOK()}, 3, "success", 200, 0},
		{"400 invalid_payload is permanent", []alerttest.Reply{{Status: 400, Body: "invalid_payload"}}, 1, "failed", 400, 0},
		{"404 no_service disables the webhook", []alerttest.Reply{{Status: 404, Body: "no_service"}}, 1, "disabled", 404, 0},
		{"410 channel_is_archived disables the webhook", []alerttest.Reply{{Status: 410, Body: "channel_is_archived"}}, 1, "disabled", 410, 0},
		{"403 action_prohibited is permanent", []alerttest.Reply{{Status: 403, Body: "action_prohibited"}}, 1, "failed", 403, 0},
		{"200 without ok is not a success", []alerttest.Reply{{Status: 200, Body: "no_text"}}, 1, "failed", 200, 0},
		{"429 honours Retry-After", []alerttest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"1"}}}, slackOK()}, 2, "success", 200, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := alerttest.NewServer(t, checkBlockKit, tc.script...)
			res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL+"/services/T/B/C"), 1,
				[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
			reqs := srv.Requests()
			if len(reqs) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(reqs), tc.attempts)
			}
			d := res.Deliveries()
			if len(d) != tc.attempts || d[len(d)-1].Outcome != tc.outcome {
				t.Fatalf("delivery records %+v, want %d ending in %s", d, tc.attempts, tc.outcome)
			}
			if tc.outcome != "success" && d[len(d)-1].HTTPStatus != tc.status {
				t.Errorf("recorded status %d, want %d", d[len(d)-1].HTTPStatus, tc.status)
			}
			if tc.minGap > 0 {
				if gap := reqs[1].At.Sub(reqs[0].At); gap < tc.minGap {
					t.Errorf("retried after %s, want >= %s (Retry-After)", gap, tc.minGap)
				}
			}
		})
	}
}

// TestGoneWebhookIsDisabled: after a 404, the webhook is not called again;
// every later notification is counted and recorded as disabled, and the
// receiver is logged as disabled once.
func TestGoneWebhookIsDisabled(t *testing.T) {
	srv := alerttest.NewServer(t, checkBlockKit, alerttest.Reply{Status: 404, Body: "no_service"})
	var obs []alerting.Observation
	for _, model := range []string{"a", "b", "c", "d"} {
		obs = append(obs, alerttest.Window(0, model, "1", "f", alerting.SeverityWarning))
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), newNotifier(t, srv.URL+"/services/T/B/C"), 4, obs)
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests to a webhook that answered 404, want 1", n)
	}
	d := res.Deliveries()
	if len(d) != 4 || res.Failed != 4 {
		t.Fatalf("%d delivery records, %d failed; want 4 and 4", len(d), res.Failed)
	}
	for _, r := range d {
		if r.Outcome != "disabled" {
			t.Errorf("outcome %q, want disabled: %+v", r.Outcome, r)
		}
	}
	if n := strings.Count(res.Logs, "alert receiver disabled"); n != 1 {
		t.Errorf("logged disabled %d times, want once:\n%s", n, res.Logs)
	}
}

func TestSecretNeverLeaks(t *testing.T) {
	const secret = "T0SECRET/B0SECRET/XXsecretXXtoken"
	// A closed server: every attempt fails with a network error naming the URL.
	srv := alerttest.NewServer(t, nil)
	url := srv.URL + "/services/" + secret
	srv.Close()
	n := newNotifier(t, url)
	cfg := alerttest.FastConfig()
	cfg.MaxAttempts = 2
	res := alerttest.Drive(t, cfg, n, 1, []alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityWarning)})
	if res.Failed != 1 {
		t.Fatalf("Delivered failed = %d, want 1", res.Failed)
	}
	for _, r := range res.Deliveries() {
		if r.Error == "" || strings.Contains(r.Error, "SECRET") || strings.Contains(r.Error, "secret") {
			t.Errorf("record error %q is empty or leaks the webhook URL", r.Error)
		}
	}
	if !strings.Contains(res.Logs, "connection refused") {
		t.Errorf("logs do not say why delivery failed:\n%s", res.Logs)
	}
	if strings.Contains(res.Logs, "SECRET") || strings.Contains(res.Logs, "secret") {
		t.Errorf("logs leak the webhook URL:\n%s", res.Logs)
	}

	// A malformed secret is rejected without echoing it.
	f := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(f, []byte("not-a-url-"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config(func(c *slack.Config) { c.URLFile = f })
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "url_file: ") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Validate = %v, want a url_file error without the secret", err)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("https://hooks.slack.com/services/T/B/X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRIFTWATCH_TEST_SLACK_EMPTY", "")
	tests := []struct {
		cfg     slack.Config
		wantErr string
	}{
		{config(func(c *slack.Config) { c.URLFile = good }), ""},
		{config(func(c *slack.Config) {}), "url_file: one of url_file and url_env is required"},
		{config(func(c *slack.Config) { c.URLFile, c.URLEnv = good, "X" }), "url_file: only one of url_file and url_env may be set"},
		{config(func(c *slack.Config) { c.URLFile = filepath.Join(dir, "missing") }), "url_file: reading secret:"},
		{config(func(c *slack.Config) { c.URLEnv = "DRIFTWATCH_TEST_SLACK_EMPTY" }), "url_env: environment variable DRIFTWATCH_TEST_SLACK_EMPTY is unset or empty"},
		{config(func(c *slack.Config) { c.URLFile, c.Timeout = good, -time.Second }), "timeout: must be positive"},
		{config(func(c *slack.Config) { c.URLFile, c.Timeout = good, 0 }), "timeout: must be positive"},
		{config(func(c *slack.Config) { c.URLFile, c.Burst = good, -1 }), "burst: must be positive"},
		{config(func(c *slack.Config) { c.URLFile, c.Burst = good, 0 }), "burst: must be positive"},
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
	if d := slack.DefaultConfig(); d.Timeout != 10*time.Second || d.RatePerSecond != 1 || d.Burst != 3 {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

// config is DefaultConfig changed by edit.
func config(edit func(*slack.Config)) slack.Config {
	c := slack.DefaultConfig()
	edit(&c)
	return c
}

func TestRateLimit(t *testing.T) {
	srv := alerttest.NewServer(t, checkBlockKit, slackOK())
	t.Setenv("DRIFTWATCH_TEST_SLACK_RATE", srv.URL+"/s")
	n, err := slack.New(config(func(c *slack.Config) { c.URLEnv, c.RatePerSecond, c.Burst = "DRIFTWATCH_TEST_SLACK_RATE", 10, 2 }))
	if err != nil {
		t.Fatal(err)
	}
	var obs []alerting.Observation
	for i := range 5 {
		obs = append(obs, alerttest.Window(0, "m", "1", fmt.Sprint("f", i), alerting.SeverityWarning))
	}
	alerttest.Drive(t, alerttest.FastConfig(), n, 5, obs)
	reqs := srv.Requests()
	// Two go out at once, the other three 100ms apart.
	if gap := reqs[4].At.Sub(reqs[0].At); len(reqs) != 5 || gap < 250*time.Millisecond {
		t.Errorf("5 messages within %s, want >= 300ms at 10/s with burst 2", gap)
	}
}

func TestGolden(t *testing.T) {
	fire, resolve := alerttest.Sample()
	alerttest.Golden(t, "firing.json", slack.NewMessage(fire))
	alerttest.Golden(t, "resolved.json", slack.NewMessage(resolve))
	fire, resolve = alerttest.SignalSample()
	alerttest.Golden(t, "signal-firing.json", slack.NewMessage(fire))
	alerttest.Golden(t, "signal-resolved.json", slack.NewMessage(resolve))
}

// TestSignalMessages: a signal alert's message names the signal, the subject
// (as inline code, escaped) and the value, has Signal and Subject fields
// instead of Feature, and follows Block Kit's rules; a signal about the model
// itself ("*") has no "for <subject>".
func TestSignalMessages(t *testing.T) {
	srv := alerttest.NewServer(t, checkBlockKit, slackOK())
	n := newNotifier(t, srv.URL+"/services/T000/B000/XXXX")
	const subject = "<script>&web"
	rate := func(stat float64, sev alerting.Severity) alerting.TestResult {
		return alerttest.Rate("error_rate", stat, 0.001, sev)
	}
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 3,
		[]alerting.Observation{
			alerttest.SignalWindow(0, "fraud-scorer", "3", "error_rate", subject, alerting.SeverityCritical, rate(0.12, alerting.SeverityCritical)),
			alerttest.SignalWindow(0, "fraud-scorer", "3", "error_rate", "*", alerting.SeverityWarning, rate(0.07, alerting.SeverityWarning)),
		},
		[]alerting.Observation{alerttest.SignalWindow(1, "fraud-scorer", "3", "error_rate", subject, alerting.SeverityOK, rate(0.01, alerting.SeverityOK))})
	if res.OK != 3 {
		t.Fatalf("%d deliveries succeeded, want 3; logs:\n%s", res.OK, res.Logs)
	}
	reqs := srv.Requests()
	var msgs []slack.Message
	for _, r := range reqs {
		var m slack.Message
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	fire, self, resolve := msgs[0], msgs[1], msgs[2]
	for _, c := range []struct{ got, want string }{
		{fire.Text, "[FIRING critical] `error_rate` 0.12 for `&lt;script&gt;&amp;web` of `fraud-scorer v3` (window 14:00–14:01)"},
		{self.Text, "[FIRING warning] `error_rate` 0.07 of `fraud-scorer v3` (window 14:00–14:01)"},
		{resolve.Text, "[RESOLVED critical] `error_rate` resolved for `&lt;script&gt;&amp;web` of `fraud-scorer v3` (window 14:01–14:02)"},
		{fire.Blocks[0].Text.Text, "Signal critical: fraud-scorer v3 · error_rate · " + subject},
		{self.Blocks[0].Text.Text, "Signal warning: fraud-scorer v3 · error_rate"},
		{resolve.Blocks[0].Text.Text, "Signal resolved: fraud-scorer v3 · error_rate · " + subject},
	} {
		if c.got != c.want {
			t.Errorf("text %q, want %q", c.got, c.want)
		}
	}
	texts := mrkdwnTexts(t, reqs[0].Body)
	for _, f := range []string{"*Signal*\n`error_rate`", "*Subject*\n`&lt;script&gt;&amp;web`", "*Model*\n`fraud-scorer`"} {
		if !slices.Contains(texts, f) {
			t.Errorf("no field %q in %q", f, texts)
		}
	}
	for _, s := range texts {
		if strings.HasPrefix(s, "*Feature*") {
			t.Errorf("a signal alert has the field %q", s)
		}
	}
	if !slices.Contains(mrkdwnTexts(t, reqs[1].Body), "*Subject*\n`*`") {
		t.Errorf("the model's own signal alert has no Subject field `*`: %s", reqs[1].Body)
	}
	if !strings.Contains(string(reqs[0].Body), "driftwatch/fraud-scorer/3/error_rate/%3Cscript%3E%26web") {
		t.Errorf("the signal key is not in the message: %s", reqs[0].Body)
	}
}

// mrkdwnTexts returns every mrkdwn text of a payload: the top-level text,
// section texts and fields, and context elements.
func mrkdwnTexts(t *testing.T, body []byte) []string {
	t.Helper()
	var msg slack.Message
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	out := []string{msg.Text}
	for _, b := range msg.Blocks {
		for _, x := range append(append([]*slack.Text{b.Text}, b.Fields...), b.Elements...) {
			if x != nil && x.Type == "mrkdwn" {
				out = append(out, x.Text)
			}
		}
	}
	return out
}

// TestTelemetryIsInert replays hostile model, version and feature names, and
// signal names and subjects, through the manager to a Slack receiver: in
// every mrkdwn text they must appear only inside inline code, with &, < and >
// escaped and no backtick or line break that could end the code span.
func TestTelemetryIsInert(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // the value as the fields must show it
	}{
		{"mention, link and bold", "<!channel> http://evil.example *bold*", "`&lt;!channel&gt; http://evil.example *bold*`"},
		{"backticks end the span", "a`<!here>`b *bold* http://evil.example", "`aˋ&lt;!here&gt;ˋb *bold* http://evil.example`"},
		{"code block", "```\n<@U0BAD> _evil_\n```", "`ˋˋˋ\uFFFD&lt;@U0BAD&gt; _evil_\uFFFDˋˋˋ`"},
		{"line break", "x\r\n*bold* <!subteam^S0BAD>", "`x\uFFFD\uFFFD*bold* &lt;!subteam^S0BAD&gt;`"},
		{"labelled link", "<http://evil.example|click here>", "`&lt;http://evil.example|click here&gt;`"},
		{"pre-escaped entities", "&lt;!channel&gt;", "`&amp;lt;!channel&amp;gt;`"},
		{"bidi override", "\u202e<!channel>evil", "`\uFFFD&lt;!channel&gt;evil`"},
	}
	hostile := []string{"evil", "channel", "bold", "here", "U0BAD", "S0BAD", "http"}
	kinds := []struct {
		name   string
		window func(i int, v string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation
		labels []string
	}{
		{"drift", func(i int, v string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation {
			return alerttest.Window(i, v, v, v, sev, tests...)
		}, []string{"Model", "Version", "Feature"}},
		{"signal", func(i int, v string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation {
			return alerttest.SignalWindow(i, v, v, v, v, sev, tests...)
		}, []string{"Model", "Version", "Signal", "Subject"}},
	}
	for _, kind := range kinds {
		for _, tc := range tests {
			t.Run(kind.name+" "+tc.name, func(t *testing.T) {
				checkInert(t, tc.value, tc.want, hostile, kind.labels, kind.window)
			})
		}
	}
}

// checkInert drives the observations window makes of the hostile value v
// (a drifted window, then a clean one) to a Slack receiver and checks that, in
// every mrkdwn text, v appears only inside inline code, shown as want in the
// fields labels among others, and that no word of hostile is outside it.
func checkInert(t *testing.T, v, want string, hostile, labels []string,
	window func(i int, v string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation) {
	t.Helper()
	srv := alerttest.NewServer(t, checkBlockKit, slackOK())
	n := newNotifier(t, srv.URL+"/services/T/B/C")
	res := alerttest.Drive(t, alerttest.FastConfig(), n, 2,
		[]alerting.Observation{window(0, v, alerting.SeverityCritical, alerttest.PSI(0.5, alerting.SeverityCritical))},
		[]alerting.Observation{window(1, v, alerting.SeverityOK)})
	reqs := srv.Requests()
	if res.OK != 2 || len(reqs) != 2 {
		t.Fatalf("%d deliveries succeeded of %d requests, want 2", res.OK, len(reqs))
	}
	for i, r := range reqs {
		texts := mrkdwnTexts(t, r.Body)
		for _, s := range texts {
			spans := strings.Split(s, "`")
			if len(spans)%2 == 0 {
				t.Errorf("request %d: unbalanced backticks in %q", i, s)
				continue
			}
			for j, span := range spans {
				if j%2 == 1 { // inside inline code
					if strings.ContainsAny(span, "<>\r\n\u202e") {
						t.Errorf("request %d: code span %q holds a raw <, > or invisible character", i, span)
					}
					continue
				}
				for _, h := range hostile {
					if strings.Contains(span, h) {
						t.Errorf("request %d: %q outside inline code in %q", i, h, s)
					}
				}
			}
		}
		for _, label := range labels {
			if f := "*" + label + "*\n" + want; !slices.Contains(texts, f) {
				t.Errorf("request %d: no field %q in %q", i, f, texts)
			}
		}
	}
}
