package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// receiverLog is a local PagerDuty Events v2 or Slack webhook endpoint that
// records what it is sent, as the real services would see it.
type receiverLog struct {
	mu   sync.Mutex
	got  []receivedEvent
	srv  *httptest.Server
	errs []string
}

// receivedEvent is one PagerDuty event or Slack post: the alert key it is
// about, its action (trigger or resolve; Slack: firing or resolved) and severity.
type receivedEvent struct {
	Key, Action, Severity string
	At                    time.Time
}

// newPagerDutyLog records PagerDuty events by dedup_key and event_action.
func newPagerDutyLog(t *testing.T) *receiverLog {
	return newReceiverLog(t, `{"status":"success","message":"Event processed"}`, http.StatusAccepted, func(body []byte) (receivedEvent, error) {
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     *struct {
				Severity string `json:"severity"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			return receivedEvent{}, err
		}
		if len(ev.RoutingKey) != 32 || ev.DedupKey == "" || (ev.EventAction != "trigger" && ev.EventAction != "resolve") ||
			(ev.EventAction == "trigger" && ev.Payload == nil) {
			return receivedEvent{}, fmt.Errorf("not a PagerDuty Events v2 trigger or resolve: %s", body)
		}
		e := receivedEvent{Key: ev.DedupKey, Action: ev.EventAction}
		if ev.Payload != nil {
			e.Severity = ev.Payload.Severity
		}
		return e, nil
	})
}

// newSlackLog records Slack posts by the alert key in their context line
// ("driftwatch · `key`"), their Status and Severity fields.
func newSlackLog(t *testing.T) *receiverLog {
	return newReceiverLog(t, "ok", http.StatusOK, func(body []byte) (receivedEvent, error) {
		var msg any
		if err := json.Unmarshal(body, &msg); err != nil {
			return receivedEvent{}, err
		}
		var texts []string
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case string:
				texts = append(texts, x)
			}
		}
		walk(msg)
		var e receivedEvent
		for _, s := range texts {
			if k, ok := strings.CutPrefix(s, "driftwatch · `"); ok {
				e.Key, _, _ = strings.Cut(k, "`")
			}
			if v, ok := strings.CutPrefix(s, "*Status*\n"); ok {
				e.Action = v
			}
			if v, ok := strings.CutPrefix(s, "*Severity*\n"); ok {
				e.Severity = v
			}
		}
		if e.Key == "" || (e.Action != "firing" && e.Action != "resolved") {
			return receivedEvent{}, fmt.Errorf("a Slack message without an alert key and status: %s", body)
		}
		return e, nil
	})
}

func newReceiverLog(t *testing.T, answer string, code int, decode func([]byte) (receivedEvent, error)) *receiverLog {
	r := &receiverLog{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		e, err := decode(body)
		r.mu.Lock()
		if err != nil {
			r.errs = append(r.errs, err.Error())
		} else {
			e.At = time.Now()
			r.got = append(r.got, e)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiverLog) events() []receivedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiverLog) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// TestKillWhileAlertsFireKeepsThem SIGKILLs the monitor while drift alerts
// fire (paged to PagerDuty, posted to Slack, the state stored in
// alert_state), restarts it while the drift goes on a little, then stops
// the drift. The restarted monitor must not page or post any of those
// alerts again (no second trigger of a dedup key with the same severity),
// and must resolve each of them, under the same dedup key, once the drift
// stops.
func TestKillWhileAlertsFireKeepsThem(t *testing.T) {
	bin := buildBinary(t)
	s, addr, db := clickhouseForTest(t)
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	pd, sl := newPagerDutyLog(t), newSlackLog(t)

	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, broker.Brokers()[0], addr, db, "alert-restart", "")
	for name, content := range map[string]string{"routing_key": strings.Repeat("k", 32), "slack_url": sl.srv.URL + "/services/T/B/X"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, `alerting:
  pending_windows: 2
  resolve_windows: 2
  state_interval: 1s
  initial_backoff: 10ms
  max_backoff: 100ms
  slack:
    - name: slack
      url_file: %s
      rate_per_second: 100
      burst: 100
  pagerduty:
    - name: pagerduty
      url: %s/v2/enqueue
      routing_key_file: %s
      rate_per_second: 100
      burst: 100
`, filepath.Join(dir, "slack_url"), pd.srv.URL, filepath.Join(dir, "routing_key"))
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*os.File, func()) {
		cmd, logf := startRun(t, bin, cfgPath, filepath.Join(dir, name+".log"))
		return logf, func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Real time, 500 events/s (1,000 a 2 s window) of one model; two of its
	// features shift by 3σ after 10 s (the reference pins on the first windows).
	sc := generator.DefaultScenario(1, 8)
	model := sc.Models[0].ID
	sc.Rate, sc.Start, sc.BadFraction = 500, time.Now().UTC(), 0
	sc.Shift = &generator.Shift{Model: model, After: 10 * time.Second, Features: []string{sc.Models[0].Numeric[0].Name, sc.Models[0].Numeric[1].Name}, MeanShift: 3}
	drifting, err := generator.New(sc, 11)
	if err != nil {
		t.Fatal(err)
	}
	driftCtx, stopDrift := context.WithCancel(ctx)
	defer stopDrift()
	driftDone := make(chan error, 1)
	go func() {
		_, err := generator.Produce(driftCtx, broker.Brokers(), "telemetry", drifting, 60*500, slog.New(slog.DiscardHandler))
		driftDone <- err
	}()

	firstLog, killFirst := start("first")
	var secondLog *os.File
	defer func() {
		if t.Failed() {
			for _, f := range []*os.File{firstLog, secondLog} {
				if f != nil {
					b, _ := os.ReadFile(f.Name())
					t.Logf("%s:\n%s", f.Name(), b)
				}
			}
		}
	}()
	// Alerts fire: wait for the first page, then for the others of its
	// window and the next, and for their state to be stored.
	deadline := time.Now().Add(90 * time.Second)
	for len(pd.events()) == 0 {
		if time.Now().After(deadline) {
			killFirst()
			t.Fatal("no page from the first monitor in time")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	paged := map[string]string{} // dedup key → severity of its last trigger
	for _, e := range pd.events() {
		switch e.Action {
		case "trigger":
			paged[e.Key] = e.Severity
		case "resolve":
			delete(paged, e.Key)
		}
	}
	for len(paged) == 0 || !storedFiring(t, s, model, paged) {
		if time.Now().After(deadline) {
			killFirst()
			t.Fatalf("the firing alerts %v were not stored in alert_state in time", paged)
		}
		time.Sleep(100 * time.Millisecond)
	}
	killFirst()
	restart := time.Now()
	pdBefore, slackBefore := len(pd.events()), len(sl.events())
	// The drift goes on for 6 s more (already in the topic while nothing
	// runs, then read by the restarted monitor), then stops.
	time.Sleep(6 * time.Second)
	stopDrift()
	<-driftDone

	var killSecond func()
	secondLog, killSecond = start("second")
	defer killSecond()
	clean := generator.DefaultScenario(1, 8)
	clean.Rate, clean.Start, clean.BadFraction = 500, time.Now().UTC(), 0
	calm, err := generator.New(clean, 12)
	if err != nil {
		t.Fatal(err)
	}
	cleanDone := make(chan error, 1)
	go func() {
		_, err := generator.Produce(ctx, broker.Brokers(), "telemetry", calm, 60*500, slog.New(slog.DiscardHandler))
		cleanDone <- err
	}()

	// Every alert paged before the kill resolves, under its dedup key.
	resolvedAt := map[string]time.Time{}
	deadline = time.Now().Add(100 * time.Second)
	for len(resolvedAt) < len(paged) && time.Now().Before(deadline) {
		for _, e := range pd.events()[pdBefore:] {
			if _, ok := paged[e.Key]; ok && e.Action == "resolve" && resolvedAt[e.Key].IsZero() {
				resolvedAt[e.Key] = e.At
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for key := range paged {
		if resolvedAt[key].IsZero() {
			t.Errorf("alert %s, paged before the kill, was never resolved after the restart", key)
		}
	}
	time.Sleep(time.Second) // time for the Slack resolves too
	// Between the restart and its resolve, no alert was paged or posted again.
	for _, e := range pd.events()[pdBefore:] {
		if sev, ok := paged[e.Key]; ok && e.Action == "trigger" && e.Severity == sev && (resolvedAt[e.Key].IsZero() || e.At.Before(resolvedAt[e.Key])) {
			t.Errorf("PagerDuty got a second trigger of %s (%s) after the restart", e.Key, sev)
		}
	}
	posted := map[string]string{}
	for _, e := range sl.events()[:slackBefore] {
		if e.Action == "firing" {
			posted[e.Key] = e.Severity
		}
	}
	slackResolved := 0
	for _, e := range sl.events()[slackBefore:] {
		sev, ok := posted[e.Key]
		if !ok {
			continue
		}
		switch {
		case e.Action == "resolved":
			slackResolved++
		case e.Severity == sev && (resolvedAt[e.Key].IsZero() || e.At.Before(resolvedAt[e.Key])):
			t.Errorf("Slack got a second firing post of %s (%s) after the restart", e.Key, sev)
		}
	}
	if slackResolved < len(posted) {
		t.Errorf("Slack got %d resolves after the restart, want one for each of the %d alerts posted before it", slackResolved, len(posted))
	}
	if p := append(pd.problems(), sl.problems()...); len(p) > 0 {
		t.Errorf("receivers got malformed requests: %v", p)
	}
	b, _ := os.ReadFile(secondLog.Name())
	if !strings.Contains(string(b), "alert state restored") {
		t.Errorf("the restarted monitor did not restore the alert state")
	}
	t.Logf("%d alerts paged before the SIGKILL at %s: %v", len(paged), restart.Format(time.TimeOnly), paged)
	cancel()
	<-cleanDone
}

// storedFiring reports whether the newest alert_state snapshot of model
// holds every key of keys as firing.
func storedFiring(t *testing.T, s *storage.Store, model string, keys map[string]string) bool {
	t.Helper()
	rows, err := s.AlertState(context.Background(), []string{model})
	if err != nil || len(rows) != 1 {
		return false
	}
	var st struct {
		Alerts []struct{ Key, State string }
	}
	if err := json.Unmarshal([]byte(rows[0].State), &st); err != nil {
		t.Fatalf("alert_state of %s: %v\n%s", model, err, rows[0].State)
	}
	for key := range keys {
		if !slices.ContainsFunc(st.Alerts, func(a struct{ Key, State string }) bool { return a.Key == key && a.State == "firing" }) {
			return false
		}
	}
	return true
}
