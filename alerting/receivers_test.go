package alerting_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

const receiverToken = "tok-RECEIVER-SECRET"

// receiver builds one kind of receiver, as alerting.New does, posting to base.
type receiver struct {
	kind string
	add  func(t *testing.T, cfg *alerting.Config, base string)
}

var receivers = []receiver{
	{"slack", func(t *testing.T, cfg *alerting.Config, base string) {
		t.Setenv("DRIFTWATCH_TEST_RECEIVER_SLACK_URL", base+"/services/T0/B0/SECRETPATH")
		c := slack.DefaultConfig()
		c.URLEnv, c.RatePerSecond = "DRIFTWATCH_TEST_RECEIVER_SLACK_URL", -1
		cfg.Slack = append(cfg.Slack, c)
	}},
	{"pagerduty", func(t *testing.T, cfg *alerting.Config, base string) {
		c := pagerduty.DefaultConfig()
		c.URL, c.RoutingKeyFile, c.RatePerSecond = base+"/v2/enqueue", "testdata/routing_key", -1
		cfg.PagerDuty = append(cfg.PagerDuty, c)
	}},
	{"webhook", func(t *testing.T, cfg *alerting.Config, base string) {
		t.Setenv("DRIFTWATCH_TEST_RECEIVER_TOKEN", receiverToken)
		c := webhook.DefaultConfig()
		c.URL, c.BearerTokenEnv = base+"/hook", "DRIFTWATCH_TEST_RECEIVER_TOKEN"
		cfg.Webhook = append(cfg.Webhook, c)
	}},
	{"alertmanager", func(t *testing.T, cfg *alerting.Config, base string) {
		c := alertmanager.DefaultConfig()
		c.URL = base
		cfg.Alertmanager = append(cfg.Alertmanager, c)
	}},
}

// drive builds the receiver r posting to base through alerting.New and
// returns the records and logs of one firing alert's delivery.
func drive(t *testing.T, r receiver, base string) *alerttest.Result {
	t.Helper()
	cfg := alerttest.FastConfig()
	cfg.MaxAttempts = 2
	r.add(t, &cfg, base)
	cfg = cfg.WithDerived()
	ns := map[string]alerting.Notifier{}
	var err error
	switch r.kind {
	case "slack":
		ns["test"], err = slack.New(cfg.Slack[0])
	case "pagerduty":
		ns["test"], err = pagerduty.New(cfg.PagerDuty[0])
	case "webhook":
		ns["test"], err = webhook.New(cfg.Webhook[0])
	case "alertmanager":
		ns["test"], err = alertmanager.New(cfg.Alertmanager[0])
	}
	if err != nil {
		t.Fatalf("building the %s receiver: %v", r.kind, err)
	}
	return alerttest.Drive(t, cfg, ns["test"], 1,
		[]alerting.Observation{alerttest.Window(0, "m", "1", "f", alerting.SeverityCritical)})
}

// TestReceiversRefuseRedirects: a receiver answering with a redirect to
// another server must not make driftwatch send the request (routing key,
// bearer token) there, nor fetch what is there; the delivery fails, once,
// naming the status.
func TestReceiversRefuseRedirects(t *testing.T) {
	for _, r := range receivers {
		for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			t.Run(fmt.Sprintf("%s %d", r.kind, code), func(t *testing.T) {
				target := alerttest.NewServer(t, nil, alerttest.Reply{Status: 200, Body: "ok TARGET-CONTENT"})
				first := alerttest.NewServer(t, nil, alerttest.Reply{Status: code,
					Header: http.Header{"Location": {target.URL + "/collect"}}, Body: "moved REDIRECT-BODY"})
				res := drive(t, r, first.URL)
				if got := target.Requests(); len(got) != 0 {
					t.Errorf("the redirect target got %d requests (first with Authorization %q)", len(got), got[0].Header.Get("Authorization"))
				}
				reqs := first.Requests()
				if len(reqs) != 1 {
					t.Fatalf("the receiver got %d requests, want 1 (a redirect is not retried)", len(reqs))
				}
				if auth := reqs[0].Header.Get("Authorization"); r.kind == "webhook" && auth != "Bearer "+receiverToken {
					t.Errorf("the receiver got Authorization %q", auth)
				}
				d := res.Deliveries()
				if len(d) != 1 || d[0].Outcome != alerting.OutcomeFailed || d[0].HTTPStatus != code {
					t.Fatalf("delivery records %+v, want one failed with status %d", d, code)
				}
				if want := fmt.Sprintf("unexpected status %d: redirect not followed", code); !strings.Contains(d[0].Error, want) {
					t.Errorf("record error %q, want it to say %q", d[0].Error, want)
				}
				for _, leak := range []string{"TARGET-CONTENT", "REDIRECT-BODY", "collect", receiverToken, "SECRETPATH"} {
					if strings.Contains(d[0].Error, leak) || strings.Contains(res.Logs, leak) {
						t.Errorf("%q in the record error %q or the logs:\n%s", leak, d[0].Error, res.Logs)
					}
				}
			})
		}
	}
}

// TestReceiversKeepShortReasons: a receiver answering with a huge body full
// of line breaks and escape sequences leaves only a short, single-line reason
// in the alert records and the logs.
func TestReceiversKeepShortReasons(t *testing.T) {
	var body strings.Builder
	body.WriteString("upstream failed\r\n\x1b[31mFAKE log line level=ERROR msg=injected\n")
	for body.Len() < 1<<20 {
		body.WriteString("filler line\n")
	}
	body.WriteString("DEEP-IN-THE-BODY\n")
	type tcase struct {
		r     receiver
		reply alerttest.Reply
	}
	var tests []tcase
	for _, r := range receivers {
		tests = append(tests, tcase{r, alerttest.Reply{Status: 500, Body: body.String()}})
	}
	tests = append(tests, tcase{receivers[0], alerttest.Reply{Status: 200, Body: body.String()}}) // Slack's 200 without "ok"
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %d", tc.r.kind, tc.reply.Status), func(t *testing.T) {
			srv := alerttest.NewServer(t, nil, tc.reply)
			res := drive(t, tc.r, srv.URL)
			d := res.Deliveries()
			if len(d) == 0 || d[len(d)-1].Outcome != alerting.OutcomeFailed {
				t.Fatalf("delivery records %+v, want failed", d)
			}
			for _, rec := range d {
				_, reason, ok := strings.Cut(rec.Error, fmt.Sprintf("unexpected status %d: ", tc.reply.Status))
				if !ok || len(reason) > alert.MaxReason || !strings.HasPrefix(reason, "upstream failed [31mFAKE log line") {
					t.Errorf("record error %q, want a reason of at most %d bytes starting with the body's first words", rec.Error, alert.MaxReason)
				}
				if i := strings.IndexFunc(rec.Error, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
					t.Errorf("record error %q holds a control character at %d", rec.Error, i)
				}
			}
			if strings.Contains(res.Logs, "DEEP-IN-THE-BODY") || strings.Count(res.Logs, "\n") != strings.Count(res.Logs, "time=") {
				t.Errorf("the body reached the logs beyond its reason, or broke their lines:\n%s", res.Logs)
			}
		})
	}
}

// TestReceiversRequireHTTPS: a receiver URL must be https, or http to a
// loopback host; the error names the receiver and the URL's scheme and host,
// never its path (a Slack webhook's path is its secret).
func TestReceiversRequireHTTPS(t *testing.T) {
	tests := []struct {
		base string
		want string // "" when valid
	}{
		{"https://hooks.example", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://127.9.9.9", ""},
		{"http://[::1]:9093", ""},
		{"http://localhost:9093", ""},
		{"http://LocalHost", ""},
		{"http://hooks.example", `https required, got scheme "http" with host "hooks.example"`},
		{"http://10.0.0.1:9093", `https required, got scheme "http" with host "10.0.0.1:9093"`},
		{"http://127.0.0.1.evil.example", `https required, got scheme "http" with host "127.0.0.1.evil.example"`},
		{"http://localhost.evil.example", `https required, got scheme "http" with host "localhost.evil.example"`},
		{"http://[::2]", `https required, got scheme "http" with host "[::2]"`},
		{"ftp://hooks.example", "not an absolute http(s) URL"},
	}
	fields := map[string]string{
		"slack": `slack[0].url_env: slack receiver "slack": `, "pagerduty": `pagerduty[0].url: pagerduty receiver "pagerduty": `,
		"webhook": `webhook[0].url: webhook receiver "webhook": `, "alertmanager": `alertmanager[0].url: alertmanager receiver "alertmanager": `,
	}
	for _, r := range receivers {
		for _, tc := range tests {
			t.Run(r.kind+" "+tc.base, func(t *testing.T) {
				cfg := alerting.DefaultConfig()
				r.add(t, &cfg, tc.base)
				err := cfg.Validate()
				if tc.want == "" {
					if err != nil {
						t.Errorf("Validate = %v, want nil", err)
					}
					return
				}
				if err == nil || !strings.HasPrefix(err.Error(), fields[r.kind]+tc.want) {
					t.Errorf("Validate = %v, want %q", err, fields[r.kind]+tc.want)
				}
				if err != nil && (strings.Contains(err.Error(), "SECRETPATH") || strings.Contains(err.Error(), "/services/")) {
					t.Errorf("Validate = %v shows the URL's path", err)
				}
				if _, err := alerting.New(cfg, nil, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("New = %v, want %q", err, tc.want)
				}
			})
		}
	}
}
