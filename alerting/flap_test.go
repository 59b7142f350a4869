package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// flapSeries returns the severities of a statistic that crosses a
// threshold every other window for 100 windows (a, b, a, b, ...) after
// the given onset, then stays clean for two windows so that an alert
// still firing resolves.
func flapSeries(onset []alerting.Severity, a, b alerting.Severity) []alerting.Severity {
	out := slices.Clone(onset)
	for i := range 100 {
		out = append(out, [2]alerting.Severity{a, b}[i%2])
	}
	return append(out, alerting.SeverityOK, alerting.SeverityOK)
}

// TestFlappingPagesOnce: under the default policy (no policy file,
// alerting's default configuration), a statistic that crosses its
// threshold every other window for 100 windows produces at most one page
// and one resolve at each real receiver (Slack, PagerDuty, webhook over
// HTTP): crossing the warning threshold from clean never fires (for: 1
// needs two breaching windows in a row); once firing, clean windows in
// between do not resolve it (keep_firing_for: 1); a firing alert that
// wavers between warning and critical escalates at once and comes down
// only after keep_firing_for windows below, so it is not re-notified every
// window either.
func TestFlappingPagesOnce(t *testing.T) {
	ok := alerting.SeverityOK
	for _, tc := range []struct {
		name            string
		sevs            []alerting.Severity
		firing, resolve int // per receiver
	}{
		{"across warning from clean", flapSeries(nil, warn, ok), 0, 0},
		{"across critical from clean", flapSeries(nil, ok, crit), 0, 0},
		{"across warning while firing", flapSeries([]alerting.Severity{warn, warn}, ok, warn), 1, 1},
		{"between clean and critical while firing", flapSeries([]alerting.Severity{crit, crit}, ok, crit), 1, 1},
		{"between warning and critical while firing", flapSeries([]alerting.Severity{crit, crit}, warn, crit), 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slackSrv := alerttest.NewServer(t, checkSlackMessage, alerttest.Reply{Status: 200, Body: "ok"})
			pdSrv := alerttest.NewServer(t, checkPagerDutyEvent, alerttest.Reply{Status: 202, Body: `{"status":"success"}`})
			hookSrv := alerttest.NewServer(t, nil, alerttest.Reply{Status: 200})
			t.Setenv("DRIFTWATCH_TEST_FLAP_SLACK_URL", slackSrv.URL+"/services/T/B/X")
			cfg := alerting.DefaultConfig()
			cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, time.Second
			sc := slack.DefaultConfig()
			sc.URLEnv, sc.RatePerSecond = "DRIFTWATCH_TEST_FLAP_SLACK_URL", -1
			pc := pagerduty.DefaultConfig()
			pc.URL, pc.RoutingKeyFile, pc.RatePerSecond = pdSrv.URL+"/v2/enqueue", "testdata/routing_key", -1
			wc := webhook.DefaultConfig()
			wc.URL = hookSrv.URL + "/hook"
			cfg.Slack, cfg.PagerDuty, cfg.Webhook = []slack.Config{sc}, []pagerduty.Config{pc}, []webhook.Config{wc}
			m, err := alerting.New(cfg, nil, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i, sev := range tc.sevs {
				m.Observe(ctx, []alerting.Observation{alerttest.Window(i, "fraud-eu", "7", "amount", sev, alerttest.PSI(0.3, sev))})
			}
			if err := m.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var hookFiring, hookResolved int
			for _, r := range hookSrv.Requests() {
				var p struct{ Status string }
				if err := json.Unmarshal(r.Body, &p); err != nil {
					t.Fatal(err)
				}
				if p.Status == alerting.StatusFiring {
					hookFiring++
				} else {
					hookResolved++
				}
			}
			var triggers, resolves int
			incidents := map[string]bool{}
			for _, r := range pdSrv.Requests() {
				var e struct {
					EventAction string `json:"event_action"`
					DedupKey    string `json:"dedup_key"`
				}
				if err := json.Unmarshal(r.Body, &e); err != nil {
					t.Fatal(err)
				}
				switch e.EventAction {
				case "trigger":
					triggers++
					incidents[e.DedupKey] = true
				case "resolve":
					resolves++
				}
			}
			got := fmt.Sprintf("webhook %d firing %d resolved, pagerduty %d triggers (%d incidents) %d resolves, slack %d messages",
				hookFiring, hookResolved, triggers, len(incidents), resolves, len(slackSrv.Requests()))
			want := fmt.Sprintf("webhook %d firing %d resolved, pagerduty %d triggers (%d incidents) %d resolves, slack %d messages",
				tc.firing, tc.resolve, tc.firing, tc.firing, tc.resolve, tc.firing+tc.resolve)
			if got != want {
				t.Errorf("%d windows: %s\nwant %s", len(tc.sevs), got, want)
			}
		})
	}
}

// TestGroupingLifecycleSynctest runs the lifecycle and grouping of a
// running Manager on the fake clock of testing/synctest (the manager's
// own time.Now, tickers and timers): a group waits group_wait before its
// first message, collects what joins within group_interval, repeats an
// unchanged firing group every repeat_interval, and sends the resolve of
// its last alerts at the next interval; a silent series is resolved as
// stale after stale_after.
func TestGroupingLifecycleSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu   sync.Mutex
			msgs []string
		)
		n := alerting.NotifierFunc(func(_ context.Context, n *alerting.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			line := time.Now().UTC().Format("15:04:05") + " " + n.Status
			if g := n.Group; g != nil {
				var firing, resolved []string
				for _, a := range g.Firing {
					firing = append(firing, a.Feature)
				}
				for _, a := range g.Resolved {
					resolved = append(resolved, a.Feature)
				}
				line += fmt.Sprintf(" firing=%s resolved=%s", strings.Join(firing, ","), strings.Join(resolved, ","))
			}
			msgs = append(msgs, line)
			return nil
		})
		cfg := alerttest.FastConfig()
		cfg.GroupBy = []string{"model_id"}
		cfg.StaleAfter = 6 * time.Hour
		m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack": n}, nil, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = m.Run(ctx); close(done) }()
		start := time.Now()
		at := func(d time.Duration) { // sleeps until start+d and lets the manager act
			time.Sleep(time.Until(start.Add(d)))
			synctest.Wait()
		}
		window := 0
		observe := func(sevs map[string]alerting.Severity) {
			var obs []alerting.Observation
			for _, f := range slices.Sorted(func(yield func(string) bool) {
				for f := range sevs {
					if !yield(f) {
						return
					}
				}
			}) {
				obs = append(obs, alerttest.Window(window, "fraud-eu", "7", f, sevs[f], alerttest.PSI(0.3, sevs[f])))
			}
			window++
			m.Observe(ctx, obs)
		}
		got := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(msgs)
		}

		observe(map[string]alerting.Severity{"amount": crit, "merchant": warn})
		at(29 * time.Second)
		if len(got()) != 0 {
			t.Fatalf("a message before group_wait: %q", got())
		}
		at(31 * time.Second)
		at(time.Minute)
		observe(map[string]alerting.Severity{"amount": crit, "merchant": warn, "country": warn}) // country joins
		at(5 * time.Minute)
		at(5*time.Minute + 31*time.Second)
		at(6 * time.Minute)
		observe(map[string]alerting.Severity{"amount": crit, "merchant": alerting.SeverityOK, "country": alerting.SeverityOK})
		at(10*time.Minute + 32*time.Second)
		// amount fires on, unchanged, for hours: one repeat every repeat_interval, then it goes silent.
		at(4*time.Hour + 10*time.Minute + 32*time.Second)
		at(10*time.Hour + 6*time.Minute)
		at(11 * time.Hour)
		cancel()
		<-done
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The stale sweep runs every stale_after/10 (36m) from Run's start, so
		// amount, silent since 00:06, resolves at the sweep of 06:36 and its
		// group message goes out at that second's flush tick or the next.
		want := []string{
			"00:00:30 firing firing=amount,merchant resolved=",
			"00:05:30 firing firing=amount,country,merchant resolved=",
			"00:10:30 firing firing=amount resolved=country,merchant",
			"04:10:30 firing firing=amount resolved=",
			"06:36:0x resolved firing= resolved=amount",
		}
		g := got()
		if len(g) == len(want) && strings.HasPrefix(g[4], "06:36:0") {
			g[4] = "06:36:0x" + g[4][8:]
		}
		if strings.Join(g, "\n") != strings.Join(want, "\n") {
			t.Errorf("messages:\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
		}
	})
}
