package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/monitor"
	"github.com/driftwatch/driftwatch/storage"
)

const demoExamples = `  driftwatch demo                      # about two minutes, prints alerts and a summary
  driftwatch demo --duration 5m --rate 5000 --window 30s
`

// demoOptions are the knobs of the demo.
type demoOptions struct {
	duration, window, shiftAfter time.Duration
	rate, shiftSigma             float64
	models, features, warmup     int
	clickhouse, database, listen string
	broker                       string
	logLevel                     string
}

// cmdDemo runs broker, generator, monitor and an alert sink on one machine.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("demo", "Run everything on one machine: an embedded Kafka-protocol broker, a telemetry generator\n"+
		"that injects a drift into one model after the warm-up, the monitor writing to a local ClickHouse\n"+
		"(start it with scripts/clickhouse.sh start, or use 'make demo'), and an alert sink that prints\n"+
		"every notification. Ends with a summary. The demo database is recreated at every run.",
		demoExamples, stdout, stderr)
	var o demoOptions
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "how long the demo runs")
	fs.DurationVar(&o.window, "window", 10*time.Second, "window size")
	fs.DurationVar(&o.shiftAfter, "shift-after", 50*time.Second, "when the drift is injected (event time after the start)")
	fs.Float64Var(&o.rate, "rate", 2000, "events per second over all models")
	fs.Float64Var(&o.shiftSigma, "shift-sigma", 1, "size of the injected mean shift, in standard deviations")
	fs.IntVar(&o.models, "models", 2, "number of models")
	fs.IntVar(&o.features, "features", 10, "features per model")
	fs.IntVar(&o.warmup, "warmup", 3, "windows that make each model's reference")
	fs.StringVar(&o.clickhouse, "clickhouse-addr", "127.0.0.1:19000", "ClickHouse native address")
	fs.StringVar(&o.database, "database", defaultDemoDatabase, "ClickHouse database of the demo (dropped and recreated; a database with tables the demo did not create is refused)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9464", "address of /metrics")
	fs.StringVar(&o.broker, "broker-addr", "127.0.0.1:19092", "listen address of the embedded broker")
	fs.StringVar(&o.logLevel, "log-level", "warn", "monitor log level")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.models < 1 || o.features < 8 {
		return fmt.Errorf("--models must be >= 1 and --features >= 8")
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	return runDemo(ctx, o, stdout, log)
}

func runDemo(ctx context.Context, o demoOptions, out io.Writer, log *slog.Logger) error {
	start := time.Now()
	if err := resetDatabase(ctx, o.clickhouse, o.database); err != nil {
		return err
	}
	sink, err := startSink(out)
	if err != nil {
		return err
	}
	defer sink.close()

	cfg := monitor.DefaultConfig()
	cfg.Listen = o.listen
	cfg.Kafka.Embedded = true
	cfg.Kafka.EmbeddedAddr = o.broker
	cfg.Kafka.Consumer.Topic = "driftwatch.telemetry"
	cfg.Kafka.LabelsTopic = demoLabelsTopic
	cfg.Kafka.FeedbackTopic = demoFeedbackTopic // the embedded broker creates it
	// The feedback samples keyed by a secret of this run, as a deployment
	// keys them with one of its instances.
	keyFile, err := demoSampleKey()
	if err != nil {
		return err
	}
	defer os.Remove(keyFile)
	cfg.Signals.Poisoning.SampleKeyFile = keyFile
	cfg.Signals.Access.Enabled = true
	cfg.Kafka.Consumer.HeartbeatInterval = 500 * time.Millisecond
	cfg.Kafka.Consumer.JoinGroupBackoff = 500 * time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = o.clickhouse, o.database
	cfg.Analysis.WindowSize = o.window
	cfg.Analysis.AllowedLateness = 2 * time.Second
	cfg.Analysis.IdleFlush = 3 * time.Second
	cfg.Analysis.WarmupWindows = o.warmup
	cfg.Alerting.PendingWindows = 2
	cfg.Alerting.ResolveWindows = 2
	cfg.Alerting.InitialBackoff = 200 * time.Millisecond
	hook := webhook.DefaultConfig()
	hook.Name, hook.URL = "demo-sink", sink.url
	cfg.Alerting.Webhook = []webhook.Config{hook}
	// A Slack receiver on the sink too, with notifications grouped per
	// model: one message lists every alert firing for the model (the
	// webhook above still gets each alert on its own).
	urlFile, err := os.CreateTemp("", "driftwatch-demo-slack-url")
	if err != nil {
		return err
	}
	defer os.Remove(urlFile.Name())
	_, err = urlFile.WriteString(sink.slackURL)
	if cerr := urlFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	slackCfg := slack.DefaultConfig()
	slackCfg.Name, slackCfg.URLFile = "demo-slack", urlFile.Name()
	cfg.Alerting.Slack = []slack.Config{slackCfg}
	cfg.Alerting.GroupBy = []string{"model_id"}
	cfg.Alerting.GroupWait, cfg.Alerting.GroupInterval = 2*time.Second, o.window
	m, err := monitor.New(ctx, cfg, monitor.Options{Logger: log})
	if err != nil {
		return err
	}
	defer m.Close(context.Background())

	runCtx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	monDone := make(chan error, 1)
	go func() { monDone <- m.Run(runCtx) }()

	sc := generator.DefaultScenario(o.models, o.features)
	sc.Rate = o.rate
	sc.Start = time.Now().UTC()
	sc.BadFraction = 0.001
	shifted := sc.Models[0].ID
	sc.Shift = &generator.Shift{Model: shifted, After: o.shiftAfter, MeanShift: o.shiftSigma, CategoryFlip: true}
	g, err := generator.New(sc, 1)
	if err != nil {
		return err
	}
	// A GenAI assistant beside the models: its behaviour changes (it starts
	// refusing), not its inputs, which the behaviour signals see.
	chat := generator.DefaultScenario(1, 8)
	chat.Models[0].ID, chat.Models[0].GenAI = "support-assistant", true
	chat.Rate, chat.Start = o.rate/4, sc.Start
	if chat.Shift, err = generator.ShiftFor(generator.ScenarioRefusalSpike, "support-assistant", o.shiftAfter, 0); err != nil {
		return err
	}
	chatGen, err := generator.New(chat, 2)
	if err != nil {
		return err
	}
	// A credit scorer whose labels arrive 5 s after its predictions: its
	// inputs and scores stay as they were, but from the shift on 30% of
	// the truths turn (concept drift), which only realized performance sees.
	// Annotators send training feedback about its predictions one and a
	// half windows after them (when the monitor has stored the predictions,
	// which it compares the feedback with), and mallory sends a tenth of
	// it, every label flipped (poisoning).
	risk := generator.DefaultScenario(1, 8)
	risk.Models[0].ID = "credit-scorer"
	risk.Rate, risk.Start = o.rate/4, sc.Start
	risk.Labels = &generator.Labels{Delay: 5 * time.Second}
	feedbackDelay := o.window * 3 / 2
	fb := generator.DefaultFeedback()
	// The attack runs from the start: a source's label flips are tested
	// against the other sources of the same window (no reference needed),
	// and feedback windows are decided a window or two behind the
	// inference windows, so an attack from the shift on would show only in
	// the last window or two, if at all.
	fb.Attacks = []string{generator.AttackLabelFlip}
	risk.Feedback = &fb
	if risk.Shift, err = generator.ShiftFor(generator.ScenarioConceptDrift, "credit-scorer", o.shiftAfter, 0); err != nil {
		return err
	}
	riskGen, err := generator.New(risk, 3)
	if err != nil {
		return err
	}
	// A pricing model that a caller starts probing at its decision
	// boundary: the access signals name the caller.
	pricing := generator.DefaultScenario(1, 8)
	pricing.Models[0].ID = "pricing-model"
	pricing.Rate, pricing.Start = o.rate/4, sc.Start
	if pricing.Shift, err = generator.ShiftFor(generator.ScenarioProbing, "pricing-model", o.shiftAfter, 0); err != nil {
		return err
	}
	pricingGen, err := generator.New(pricing, 4)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "driftwatch demo: broker %s, ClickHouse %s/%s, metrics http://%s/metrics\n", o.broker, o.clickhouse, o.database, m.Addr())
	fmt.Fprintf(out, "  %d models × %d features at %.0f events/s, %s windows, reference = first %d windows,\n", o.models, o.features, o.rate, o.window, o.warmup)
	fmt.Fprintf(out, "  drift injected into %s after %s, and support-assistant (GenAI) refuses 8%% more from then on;\n", shifted, o.shiftAfter)
	fmt.Fprintf(out, "  credit-scorer's labels come 5 s after its predictions, 30%% of them turned from then on (concept drift),\n")
	fmt.Fprintf(out, "  its training feedback (on %s) comes %s after its predictions, and a source, mallory, writes a\n", demoFeedbackTopic, feedbackDelay)
	fmt.Fprintf(out, "  tenth of it, every label flipped against the prediction (poisoning);\n")
	fmt.Fprintf(out, "  and a caller, prober-1, starts probing pricing-model's decision boundary;\n")
	fmt.Fprintf(out, "  alerts below as the sink receives them.\n\n")

	// Produce until shortly before the end, leaving time for the last windows to close.
	produceFor := o.duration - o.window - 8*time.Second
	if produceFor < o.window {
		produceFor = o.duration / 2
	}
	pctx, cancelProduce := context.WithTimeout(ctx, produceFor)
	defer cancelProduce()
	chatDone := make(chan error, 1)
	chatProduced := 0
	go func() {
		var err error
		chatProduced, err = generator.Produce(pctx, m.Brokers(), cfg.Kafka.Consumer.Topic, chatGen, 0, log)
		chatDone <- err
	}()
	pricingDone := make(chan error, 1)
	pricingProduced := 0
	go func() {
		var err error
		pricingProduced, err = generator.Produce(pctx, m.Brokers(), cfg.Kafka.Consumer.Topic, pricingGen, 0, log)
		pricingDone <- err
	}()
	riskDone := make(chan error, 1)
	var riskProduced generator.Produced
	go func() {
		var err error
		riskProduced, err = generator.ProduceWith(pctx, m.Brokers(), cfg.Kafka.Consumer.Topic, riskGen, 0,
			generator.ProduceOptions{LabelsTopic: demoLabelsTopic, FeedbackTopic: demoFeedbackTopic, FeedbackDelay: feedbackDelay}, log)
		riskDone <- err
	}()
	produced, perr := generator.Produce(pctx, m.Brokers(), cfg.Kafka.Consumer.Topic, g, 0, log)
	if perr != nil && pctx.Err() == nil {
		return fmt.Errorf("producing telemetry: %w", perr)
	}
	if err := <-chatDone; err != nil && pctx.Err() == nil {
		return fmt.Errorf("producing the assistant's telemetry: %w", err)
	}
	if err := <-riskDone; err != nil && pctx.Err() == nil {
		return fmt.Errorf("producing the credit scorer's telemetry: %w", err)
	}
	if err := <-pricingDone; err != nil && pctx.Err() == nil {
		return fmt.Errorf("producing the pricing model's telemetry: %w", err)
	}
	produced += chatProduced + riskProduced.Events + pricingProduced
	select {
	case <-time.After(time.Until(start.Add(o.duration))):
	case <-ctx.Done():
	}
	stopMonitor()
	if err := <-monDone; err != nil {
		log.Warn("monitor stopped with an error", "err", err)
	}
	prober := pricing.Shift.Caller
	shiftAt := sc.Start.Add(o.shiftAfter)
	expect := []demoExpectation{
		{what: "input drift of " + shifted, model: shifted, from: shiftAt},
		{what: "support-assistant refusing more", model: "support-assistant", signal: "refusal_rate", subject: "*", from: shiftAt},
		{what: "credit-scorer's accuracy falling (concept drift, in its delayed labels)", model: "credit-scorer", signal: "realized_performance", subject: "accuracy", from: shiftAt},
		{what: fb.Attacker + " flipping credit-scorer's training labels", model: "credit-scorer", signal: "poisoning_label_flip", subject: fb.Attacker, from: sc.Start},
		{what: prober + " probing pricing-model's decision boundary", model: "pricing-model", signal: "caller_probing", subject: prober, from: shiftAt},
	}
	return printSummary(context.WithoutCancel(ctx), out, m, produced, sink, o, expect)
}

// demoExpectation is a fault the demo injects from event time from on and
// the verdict that detects it: a warning or critical signals row of model
// about subject, or with no signal, a drifted input feature of model, in a
// window that ends after from (one with events of the fault).
type demoExpectation struct {
	what                   string
	model, signal, subject string
	from                   time.Time
}

// demoMarker is the table the demo creates in its database, so that a later
// run knows the database is the demo's to drop.
const demoMarker = "driftwatch_demo_marker"

// defaultDemoDatabase is the demo's database unless --database says otherwise.
const defaultDemoDatabase = "driftwatch_demo"

// resetDatabase drops the demo database so that a run starts clean, then
// creates it with its marker. It refuses a database that holds tables and no
// marker (data the demo did not create), and the server's own databases.
func resetDatabase(ctx context.Context, addr, db string) error {
	cfg := storage.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.DialTimeout = addr, "default", 3*time.Second
	probe := cfg
	probe.Database = db
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("--database: %w", err)
	}
	switch strings.ToLower(db) {
	case "default", "system", "information_schema":
		return fmt.Errorf("--database %s: a database of the server itself; the demo drops its database at every run, choose another name", db)
	}
	s, err := storage.Open(ctx, cfg, nil, nil)
	if err != nil {
		return fmt.Errorf("%w\n(is ClickHouse running? start it with: scripts/clickhouse.sh start)", err)
	}
	defer s.Close()
	rows, err := s.Query(ctx, "SELECT name FROM system.tables WHERE database = ?", db)
	if err != nil {
		return fmt.Errorf("listing the tables of %s: %w", db, err)
	}
	var tables []string
	marked := false
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("listing the tables of %s: %w", db, err)
		}
		tables = append(tables, name)
		marked = marked || name == demoMarker
	}
	rows.Close()
	// The default demo database of releases before the marker holds
	// driftwatch's tables only: it is the demo's too.
	legacy := db == defaultDemoDatabase && slices.Contains(tables, "schema_migrations")
	if len(tables) > 0 && !marked && !legacy {
		return fmt.Errorf("--database %s holds %d tables the demo did not create (e.g. %s): the demo drops its database at every run, so it refuses this one; choose another name or drop it yourself",
			db, len(tables), tables[0])
	}
	if err := s.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		return err
	}
	if err := s.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return err
	}
	return s.Exec(ctx, "CREATE TABLE "+db+"."+demoMarker+" (created_at DateTime) ENGINE = TinyLog")
}

type sink struct {
	url, slackURL string
	srv           *http.Server
	mu            sync.Mutex
	out           io.Writer
	received      atomic.Int64
	firing        atomic.Int64
	resolved      atomic.Int64
	malformed     atomic.Int64
	slackMessages atomic.Int64
}

// startSink serves a webhook receiver on loopback that prints every alert.
func startSink(out io.Writer) (*sink, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the alert sink: %w", err)
	}
	s := &sink{url: "http://" + lis.Addr().String() + "/alerts", slackURL: "http://" + lis.Addr().String() + "/slack/services/T/B/X", out: out}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(lis)
	return s, nil
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/slack/") {
		s.serveSlack(w, r)
		return
	}
	var p webhook.Payload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Key == "" || (p.Status != "firing" && p.Status != "resolved") {
		s.malformed.Add(1)
		http.Error(w, "malformed alert", http.StatusBadRequest)
		return
	}
	s.received.Add(1)
	if p.Status == "firing" {
		s.firing.Add(1)
	} else {
		s.resolved.Add(1)
	}
	s.mu.Lock()
	fmt.Fprintf(s.out, "ALERT %-8s %-8s %s\n", strings.ToUpper(p.Status), p.Severity, p.Summary)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// serveSlack prints the header of a grouped Slack message: one per model
// and group interval, whatever the number of alerts it lists.
func (s *sink) serveSlack(w http.ResponseWriter, r *http.Request) {
	var m slack.Message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || len(m.Blocks) == 0 || m.Blocks[0].Text == nil {
		s.malformed.Add(1)
		http.Error(w, "malformed Slack message", http.StatusBadRequest)
		return
	}
	s.slackMessages.Add(1)
	s.mu.Lock()
	fmt.Fprintf(s.out, "SLACK %s\n", m.Blocks[0].Text.Text)
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

func printSummary(ctx context.Context, out io.Writer, m *monitor.Monitor, produced int, s *sink, o demoOptions, expect []demoExpectation) error {
	st := m.Stats()
	var stored, windows uint64
	rows, err := m.Store().Query(ctx, "SELECT sum(events), count() FROM inference_windows FINAL")
	if err == nil {
		if rows.Next() {
			_ = rows.Scan(&stored, &windows)
		}
		rows.Close()
	}
	fmt.Fprintf(out, "\n── summary ──────────────────────────────────────────────\n")
	fmt.Fprintf(out, "events produced         %d\n", produced)
	fmt.Fprintf(out, "events counted          %d (in stored windows: %d)\n", st.Events, stored)
	fmt.Fprintf(out, "dead-lettered           %d\n", st.Rejected)
	fmt.Fprintf(out, "late events             %d\n", st.Late)
	fmt.Fprintf(out, "windows stored          %d partition windows, %d model windows decided\n", windows, st.Decided)
	fmt.Fprintf(out, "drifted features        %d\n", len(st.Drifted))
	for _, d := range st.Drifted {
		fmt.Fprintf(out, "                        %s\n", d)
	}
	// The ends of the windows in which each (model, signal, subject)
	// fired, and of those in which a model's input drifted (signal ""):
	// a warning or critical verdict, not a significant test whose effect
	// stays below the levels.
	fired := map[string][]uint32{}
	rows, qerr := m.Store().Query(ctx, `SELECT model_id, signal, subject, max(severity = 'critical'), groupUniqArray(toUInt32(window_end))
FROM signals FINAL WHERE severity != 'ok' GROUP BY model_id, signal, subject ORDER BY model_id, signal, subject`)
	if qerr == nil {
		fmt.Fprintf(out, "signals fired\n")
		for rows.Next() {
			var model, sig, subject string
			var critical uint8
			var ends []uint32
			if qerr = rows.Scan(&model, &sig, &subject, &critical, &ends); qerr != nil {
				break
			}
			fired[firedKey(model, sig, subject)] = ends
			level := "warning"
			if critical == 1 {
				level = "critical"
			}
			fmt.Fprintf(out, "                        %s %s about %s: %d windows (up to %s)\n", model, sig, subject, len(ends), level)
		}
		if qerr == nil {
			qerr = rows.Err()
		}
		rows.Close()
	}
	if qerr != nil {
		qerr = fmt.Errorf("reading the signals: %w", qerr)
		fmt.Fprintf(out, "signals                 %v\n", qerr)
	}
	rows, derr := m.Store().Query(ctx, `SELECT model_id, groupUniqArray(toUInt32(window_end)) FROM drift_scores FINAL WHERE severity != 'ok' GROUP BY model_id`)
	if derr == nil {
		for rows.Next() {
			var model string
			var ends []uint32
			if derr = rows.Scan(&model, &ends); derr != nil {
				break
			}
			fired[firedKey(model, "", "")] = ends
		}
		if derr == nil {
			derr = rows.Err()
		}
		rows.Close()
	}
	if derr != nil {
		derr = fmt.Errorf("reading the drift scores: %w", derr)
		fmt.Fprintf(out, "drift scores            %v\n", derr)
	}
	if rows, err := m.Store().Query(ctx, `SELECT model_id, sum(labeled), sum(predictions),
    arrayStringConcat(arrayMap(x -> toString(round(x, 2)), groupArray(acc)), ' ')
FROM (SELECT model_id, window_start, labeled, predictions, correct / classified AS acc
      FROM performance_windows FINAL WHERE classified > 0 ORDER BY model_id, window_start)
GROUP BY model_id ORDER BY model_id`); err == nil {
		fmt.Fprintf(out, "realized performance\n")
		for rows.Next() {
			var model, series string
			var labeled, predictions uint64
			if rows.Scan(&model, &labeled, &predictions, &series) == nil {
				fmt.Fprintf(out, "                        %s: %d of %d predictions labeled; accuracy per window %s\n", model, labeled, predictions, series)
			}
		}
		rows.Close()
	}
	fmt.Fprintf(out, "alerts delivered        %d (firing %d, resolved %d)\n", s.received.Load(), s.firing.Load(), s.resolved.Load())
	fmt.Fprintf(out, "slack messages          %d (grouped per model)\n", s.slackMessages.Load())
	fmt.Fprintf(out, "\nExplore the tables:\n  clickhouse-client --port %s --database %s\n", port(o.clickhouse), o.database)
	fmt.Fprintf(out, "  e.g. SELECT window_start, feature, test, round(statistic, 3) AS stat, severity\n")
	fmt.Fprintf(out, "       FROM drift_scores FINAL WHERE drifted ORDER BY window_start, feature, test\n")
	fmt.Fprintf(out, "       SELECT window_start, model_id, signal, subject, round(statistic, 3) AS stat, severity, evidence\n")
	fmt.Fprintf(out, "       FROM signals FINAL WHERE severity != 'ok' ORDER BY window_start, model_id, signal\n")
	fmt.Fprintf(out, "       SELECT window_start, model_id, labeled, predictions, round(correct / classified, 3) AS accuracy\n")
	fmt.Fprintf(out, "       FROM performance_windows FINAL WHERE classified > 0 ORDER BY model_id, window_start\n")
	// Each injected fault is detected, or the demo fails: make demo checks
	// the whole chain, not only that it ran.
	fmt.Fprintf(out, "\ninjected, and detected?\n")
	missed := checkFaults(out, expect, fired, qerr, derr)
	errs := []error{qerr, derr} // nil when read
	if s.received.Load() == 0 {
		errs = append(errs, errors.New("the demo delivered no alert"))
	}
	if len(missed) > 0 {
		errs = append(errs, fmt.Errorf("the demo did not detect: %s (with a shorter --duration or a later --shift-after, too few windows may follow the faults)",
			strings.Join(missed, "; ")))
	}
	return errors.Join(errs...)
}

// firedKey keys the window ends of a model's verdicts of signal about
// subject in checkFaults' fired; signal and subject "" for input drift.
func firedKey(model, signal, subject string) string {
	return model + "\x00" + signal + "\x00" + subject
}

// checkFaults prints, for each expectation, whether a verdict detected it:
// a window of fired (the window ends per firedKey) that ends after the
// fault began.
// Windows that ended by then held none of it: they are counted as false
// alarms. It returns the faults not detected; one whose verdicts could not
// be read (qerr for signals, derr for drift scores) is marked unknown, not
// missed.
func checkFaults(out io.Writer, expect []demoExpectation, fired map[string][]uint32, qerr, derr error) (missed []string) {
	for _, e := range expect {
		by, readErr := e.signal+" about "+e.subject, qerr
		if e.signal == "" {
			by, readErr = "input drift scores", derr
		}
		var after, before int
		for _, end := range fired[firedKey(e.model, e.signal, e.subject)] {
			if int64(end) > e.from.Unix() {
				after++
			} else {
				before++
			}
		}
		mark := "yes"
		switch {
		case readErr != nil:
			mark = "?  " // not read
		case after == 0:
			mark = "NO "
			missed = append(missed, e.what)
		}
		note := ""
		if before > 0 {
			note = fmt.Sprintf("; also in %d windows before it began: false alarms", before)
		}
		fmt.Fprintf(out, "  %s  %s (%s, in %d windows after it began%s)\n", mark, e.what, by, after, note)
	}
	return missed
}

// demoLabelsTopic is the labels topic of the demo.
const demoLabelsTopic = "driftwatch.labels"

// demoFeedbackTopic is the training-feedback topic of the demo.
const demoFeedbackTopic = "driftwatch.feedback"

func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}

// demoSampleKey writes a random key of the feedback samples to a file of
// its own and returns its path.
func demoSampleKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("making the feedback samples' key: %w", err)
	}
	f, err := os.CreateTemp("", "driftwatch-demo-sample-key-*")
	if err != nil {
		return "", fmt.Errorf("writing the feedback samples' key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key)); err != nil {
		f.Close()
		return "", fmt.Errorf("writing the feedback samples' key: %w", err)
	}
	return f.Name(), f.Close()
}
