package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// clock is a fake wall clock for the manager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// groupRig is a running Manager grouping by model_id (group_wait 30s,
// group_interval 5m, repeat_interval 4h, on a fake clock) that delivers to
// real Slack, PagerDuty and webhook notifiers posting to local servers.
type groupRig struct {
	m                  *alerting.Manager
	clk                *clock
	slack, pd, hook    *alerttest.Server
	cancel             context.CancelFunc
	runDone            chan struct{}
	slackN, pdN, hook0 int // requests checked so far
}

func newGroupRig(t *testing.T, edit func(*alerting.Config)) *groupRig {
	t.Helper()
	r := &groupRig{clk: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, runDone: make(chan struct{})}
	r.slack = alerttest.NewServer(t, nil, alerttest.Reply{Status: 200, Body: "ok"})
	r.pd = alerttest.NewServer(t, nil, alerttest.Reply{Status: 202, Body: `{"status":"success"}`})
	r.hook = alerttest.NewServer(t, nil, alerttest.Reply{Status: 200})
	t.Setenv("DRIFTWATCH_TEST_GROUP_SLACK_URL", r.slack.URL+"/services/T/B/X")
	cfg := alerttest.FastConfig()
	cfg.GroupBy = []string{"model_id"}
	cfg.StaleAfter = 24 * time.Hour // the fake clock runs hours on: no alert goes stale
	sc := slack.DefaultConfig()
	sc.URLEnv, sc.RatePerSecond = "DRIFTWATCH_TEST_GROUP_SLACK_URL", -1
	pc := pagerduty.DefaultConfig()
	pc.URL, pc.RoutingKeyFile, pc.RatePerSecond = r.pd.URL+"/v2/enqueue", "testdata/routing_key", -1
	wc := webhook.DefaultConfig()
	wc.URL = r.hook.URL + "/hook"
	cfg.Slack, cfg.PagerDuty, cfg.Webhook = []slack.Config{sc}, []pagerduty.Config{pc}, []webhook.Config{wc}
	if edit != nil {
		edit(&cfg)
	}
	m, err := alerting.New(cfg, nil, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	alerting.SetNow(m, r.clk.now)
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { _ = m.Run(ctx); close(r.runDone) }()
	t.Cleanup(func() {
		cancel()
		<-r.runDone
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = m.Close(cctx)
	})
	return r
}

// after moves the clock on by d and flushes the groups due.
func (r *groupRig) after(d time.Duration) {
	r.clk.add(d)
	alerting.FlushGroups(r.m)
}

// expect waits for exactly n new requests to srv (counted from *seen) and returns them.
func expect(t *testing.T, srv *alerttest.Server, seen *int, n int) []alerttest.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Requests()) < *seen+n && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time for a request too many to arrive
	reqs := srv.Requests()[*seen:]
	if len(reqs) != n {
		t.Fatalf("%d new requests, want %d", len(reqs), n)
	}
	*seen += n
	return reqs
}

// observe feeds windows of features f00..f(n-1) of model, whose PSI grows
// with the feature number; the first crit features are critical.
func (r *groupRig) observe(i int, model string, n, crit int, sev alerting.Severity) {
	var obs []alerting.Observation
	for f := range n {
		s := sev
		if s != alerting.SeverityOK && f < crit {
			s = alerting.SeverityCritical
		}
		obs = append(obs, alerttest.Window(i, model, "1", fmt.Sprintf("f%02d", f), s, alerttest.PSI(0.3+0.01*float64(f), s)))
	}
	r.m.Observe(context.Background(), obs)
}

type slackMsg struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
	} `json:"blocks"`
}

func decodeSlack(t *testing.T, body []byte) (slackMsg, string) {
	t.Helper()
	var msg slackMsg
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("slack body: %v\n%s", err, body)
	}
	if len(msg.Blocks) > 50 || utf8.RuneCountInString(msg.Text) > 40000 {
		t.Errorf("slack message of %d blocks, text of %d characters", len(msg.Blocks), utf8.RuneCountInString(msg.Text))
	}
	var all strings.Builder
	for _, b := range msg.Blocks {
		if b.Text != nil {
			if utf8.RuneCountInString(b.Text.Text) > 3000 {
				t.Errorf("a %s text of %d characters", b.Type, utf8.RuneCountInString(b.Text.Text))
			}
			all.WriteString(b.Text.Text + "\n")
		}
	}
	return msg, all.String()
}

type pdEvent struct {
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string `json:"summary"`
		Severity      string `json:"severity"`
		CustomDetails struct {
			GroupKey      string `json:"group_key"`
			FiringCount   int    `json:"firing_count"`
			ResolvedCount int    `json:"resolved_count"`
			Omitted       int    `json:"omitted"`
			Firing        []struct {
				Key, Feature, Severity string
			} `json:"firing"`
			Resolved []struct {
				Key string
			} `json:"resolved"`
		} `json:"custom_details"`
	} `json:"payload"`
}

func decodePD(t *testing.T, body []byte) pdEvent {
	t.Helper()
	var ev pdEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("pagerduty body: %v\n%s", err, body)
	}
	if len(body) > 512_000 || ev.Payload != nil && utf8.RuneCountInString(ev.Payload.Summary) > 1024 {
		t.Errorf("pagerduty event of %d bytes", len(body))
	}
	return ev
}

// worstFirst are the features of a model observed with observe(…, 11, 3, …), worst first.
var worstFirst = []string{"f02", "f01", "f00", "f10", "f09", "f08", "f07", "f06", "f05", "f04", "f03"}

// TestGroupOneMessagePerModel: 11 alerts of one model in one window make one
// Slack message and one PagerDuty incident after group_wait, listing all 11
// worst first; the webhook still gets each alert; a second model is a second
// group.
func TestGroupOneMessagePerModel(t *testing.T) {
	r := newGroupRig(t, nil)
	var s, p, h int
	r.observe(0, "fraud", 11, 3, alerting.SeverityWarning)
	expect(t, r.hook, &h, 11) // per alert, at once
	r.after(29 * time.Second)
	expect(t, r.slack, &s, 0)
	r.observe(1, "churn", 2, 0, alerting.SeverityWarning) // a second group, its own group_wait
	r.after(time.Second)
	msg, text := decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	if !strings.Contains(msg.Text, "11 firing") || !strings.Contains(text, "model_id `fraud`") {
		t.Errorf("slack message text %q, body:\n%s", msg.Text, text)
	}
	last := -1
	for _, f := range worstFirst {
		i := strings.Index(text, "feature `"+f+"`")
		if i < last {
			t.Errorf("feature %s listed out of order (worst first):\n%s", f, text)
		}
		last = i
	}
	ev := decodePD(t, expect(t, r.pd, &p, 1)[0].Body)
	if ev.EventAction != "trigger" || ev.DedupKey != "driftwatch-group/model_id=fraud" || ev.Payload.Severity != "critical" {
		t.Fatalf("pagerduty event %+v", ev)
	}
	d := ev.Payload.CustomDetails
	if d.FiringCount != 11 || len(d.Firing) != 11 || d.Omitted != 0 {
		t.Fatalf("custom_details %+v", d)
	}
	for i, f := range worstFirst {
		if d.Firing[i].Feature != f {
			t.Errorf("firing[%d] is %s, want %s", i, d.Firing[i].Feature, f)
		}
	}
	if !strings.HasPrefix(ev.Payload.Summary, "11 alerts firing (3 critical) for model_id fraud: psi 0.32 on feature f02") {
		t.Errorf("summary %q", ev.Payload.Summary)
	}
	r.after(30 * time.Second) // churn's group_wait is over
	_, text = decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	if !strings.Contains(text, "model_id `churn`") || strings.Contains(text, "fraud") {
		t.Errorf("second group's message:\n%s", text)
	}
	if ev := decodePD(t, expect(t, r.pd, &p, 1)[0].Body); ev.DedupKey != "driftwatch-group/model_id=churn" {
		t.Errorf("second incident's dedup_key %q", ev.DedupKey)
	}
}

// TestGroupIntervalRepeatAndResolve: a change after the first message waits
// for group_interval and is sent with the others; an unchanged group is sent
// again after repeat_interval; the resolve of the last alert resolves the
// PagerDuty incident.
func TestGroupIntervalRepeatAndResolve(t *testing.T) {
	r := newGroupRig(t, nil)
	var s, p int
	r.observe(0, "fraud", 2, 0, alerting.SeverityWarning)
	r.after(30 * time.Second)
	expect(t, r.slack, &s, 1)
	expect(t, r.pd, &p, 1)

	// A third feature joins, then the first resolves: one message at group_interval.
	r.clk.add(time.Minute)
	r.m.Observe(context.Background(), []alerting.Observation{
		alerttest.Window(1, "fraud", "1", "f00", alerting.SeverityOK),
		alerttest.Window(1, "fraud", "1", "f01", alerting.SeverityWarning, alerttest.PSI(0.31, alerting.SeverityWarning)),
		alerttest.Window(1, "fraud", "1", "f02", alerting.SeverityCritical, alerttest.PSI(0.9, alerting.SeverityCritical)),
	})
	r.after(3 * time.Minute) // 4m after the first message
	expect(t, r.slack, &s, 0)
	r.after(time.Minute)
	msg, text := decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	if !strings.Contains(msg.Text, "2 firing, 1 resolved") || strings.Index(text, "`f02`") > strings.Index(text, "`f01`") ||
		!strings.Contains(text, ":white_check_mark: drift resolved on feature `f00`") {
		t.Errorf("batched message %q:\n%s", msg.Text, text)
	}
	ev := decodePD(t, expect(t, r.pd, &p, 1)[0].Body)
	if d := ev.Payload.CustomDetails; ev.EventAction != "trigger" || d.FiringCount != 2 || d.ResolvedCount != 1 ||
		d.Firing[0].Feature != "f02" || ev.Payload.Severity != "critical" {
		t.Errorf("batched event %+v", ev)
	}

	// Unchanged: nothing until repeat_interval, then the same firing list again.
	r.after(time.Hour)
	expect(t, r.slack, &s, 0)
	r.after(3 * time.Hour)
	msg, _ = decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	if !strings.Contains(msg.Text, "2 firing") || strings.Contains(msg.Text, "resolved") {
		t.Errorf("repeated message %q", msg.Text)
	}
	expect(t, r.pd, &p, 1)

	// Both resolve: one resolved message and the incident resolved.
	r.m.Observe(context.Background(), []alerting.Observation{
		alerttest.Window(2, "fraud", "1", "f01", alerting.SeverityOK),
		alerttest.Window(2, "fraud", "1", "f02", alerting.SeverityOK),
	})
	r.after(5 * time.Minute)
	msg, _ = decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	if !strings.HasPrefix(msg.Text, "[RESOLVED") || !strings.Contains(msg.Text, "2 resolved") {
		t.Errorf("resolved message %q", msg.Text)
	}
	ev = decodePD(t, expect(t, r.pd, &p, 1)[0].Body)
	if ev.EventAction != "resolve" || ev.DedupKey != "driftwatch-group/model_id=fraud" {
		t.Errorf("last event %+v, want the group's resolve", ev)
	}
	// The group is gone: nothing more, ever.
	r.after(5 * time.Hour)
	expect(t, r.slack, &s, 0)
	expect(t, r.pd, &p, 0)
}

// TestGroupTruncation: a group too large for one message keeps Slack's and
// PagerDuty's limits and says how many alerts it left out.
func TestGroupTruncation(t *testing.T) {
	r := newGroupRig(t, func(c *alerting.Config) { c.MaxAlerts = 5000 })
	var s, p int
	long := strings.Repeat("<&>", 300)
	const n = 3000
	var obs []alerting.Observation
	for f := range n {
		obs = append(obs, alerttest.Window(0, "fraud", "1", fmt.Sprintf("%04d%s", f, long), alerting.SeverityCritical,
			alerttest.PSI(0.3+float64(f)/1000, alerting.SeverityCritical)))
	}
	r.m.Observe(context.Background(), obs)
	r.after(30 * time.Second)
	_, text := decodeSlack(t, expect(t, r.slack, &s, 1)[0].Body)
	listed := strings.Count(text, ":red_circle: psi")
	var more int
	if i := strings.Index(text, "… and "); i < 0 {
		t.Fatalf("no count of the alerts left out:\n%s", text)
	} else if _, err := fmt.Sscanf(text[i:], "… and %d more", &more); err != nil {
		t.Fatal(err)
	}
	if listed == 0 || listed+more != n {
		t.Errorf("slack lists %d and counts %d more, want %d in all", listed, more, n)
	}
	if !strings.Contains(text, ":red_circle: psi 3.3 on feature `2999") {
		t.Errorf("the worst alert (f2999) is not listed first")
	}
	ev := decodePD(t, expect(t, r.pd, &p, 1)[0].Body)
	d := ev.Payload.CustomDetails
	t.Logf("slack lists %d, %d more; pagerduty lists %d, omits %d", listed, more, len(d.Firing), d.Omitted)
	if d.FiringCount != n || d.Omitted == 0 || len(d.Firing)+d.Omitted != n {
		t.Errorf("pagerduty lists %d, omits %d, counts %d firing; want %d in all", len(d.Firing), d.Omitted, d.FiringCount, n)
	}
}

// TestGroupConfig: group_by and the intervals are validated; an empty
// group_by keeps one notification per alert.
func TestGroupConfig(t *testing.T) {
	tests := []struct {
		edit func(*alerting.Config)
		want string
	}{
		{func(c *alerting.Config) { c.GroupBy = []string{"model_id", "team"} }, ""},
		{func(c *alerting.Config) { c.GroupBy = []string{"model id"} }, `group_by[0]: "model id" is not a label name`},
		{func(c *alerting.Config) { c.GroupBy = []string{"model_id", "model_id"} }, `group_by[1]: "model_id" is listed twice`},
		{func(c *alerting.Config) { c.GroupWait = -time.Second }, "group_wait: must not be negative"},
		{func(c *alerting.Config) { c.GroupInterval = time.Hour; c.RepeatInterval = time.Minute }, "repeat_interval: 1m0s is less than group_interval 1h0m0s"},
		{func(c *alerting.Config) { c.GroupInterval = 5 * time.Hour }, "repeat_interval: 4h0m0s is less than group_interval 5h0m0s"},
	}
	for _, tc := range tests {
		c := alerting.DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
	r := newGroupRig(t, func(c *alerting.Config) { c.GroupBy = nil })
	var s int
	r.observe(0, "fraud", 3, 0, alerting.SeverityWarning)
	expect(t, r.slack, &s, 3)
}

func TestGroupKey(t *testing.T) {
	if k := alerting.GroupKey(nil); k != "driftwatch-group/" {
		t.Errorf("GroupKey() = %q", k)
	}
	for _, v := range []string{"a/b=c", strings.Repeat("x", 300)} {
		k := alerting.GroupKey(groupLabels("model_id", v))
		if len(k) > alerting.MaxKeyLen || strings.Count(k, "/") != 1 {
			t.Errorf("GroupKey(model_id=%.20q) = %q", v, k)
		}
		if k != alerting.GroupKey(groupLabels("model_id", v)) || k == alerting.GroupKey(groupLabels("model_version", v)) {
			t.Errorf("GroupKey(model_id=%.20q) is not stable, or ignores the label name", v)
		}
	}
}

func groupLabels(name, value string) []alerting.Label {
	return []alerting.Label{{Name: name, Value: value}}
}
