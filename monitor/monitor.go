// Package monitor wires driftwatch's stages together, in two stages. A
// consumer of the telemetry topic decodes and windows each partition's
// events and publishes every closed window's partial state to the partials
// topic (and its counts to ClickHouse). A consumer of the partials topic,
// which gives every model id one decider across all instances, merges a
// window's partials once every telemetry partition has passed it, scores it
// once, stores the decision and hands the verdicts to the alert manager.
// Offsets are committed only once what they cover is durable. It also serves
// /metrics.
//
// It holds no statistics and speaks no protocol itself: those live in
// analysis, ingest, storage and alerting.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// Monitor is a running driftwatch pipeline.
type Monitor struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	embedded *ingest.Embedded
	kafka    *ingest.Cluster // brokers and the TLS and SASL of every connection
	store    *storage.Store
	refs     *reference.Store
	versions *window.OpenVersions // the instance's bound of versions with open windows
	evidence *evaluate.Evidence
	alerts   *alerting.Manager
	dlq      *ingest.DeadLetterWriter
	consumer *ingest.Consumer
	partials *ingest.Publisher
	deciders *ingest.Consumer
	labels   *ingest.Consumer // nil without kafka.labels_topic
	feedback *ingest.Consumer // nil without kafka.feedback_topic (or signals.poisoning)
	met      *metrics
	stats    stats
	srv      *http.Server
	lis      net.Listener

	openMu  sync.Mutex
	open    map[*partition]int
	merging map[*decider]int

	refMu   sync.Mutex
	unsaved []*reference.Reference // pinned in memory, not yet stored

	closeOnce sync.Once
	closeErr  error
}

// Options are the monitor's collaborators that are not configuration.
type Options struct {
	// Registry receives every metric and is served on /metrics. Default: a new one.
	Registry *prometheus.Registry
	// Logger logs. Default: discard.
	Logger *slog.Logger
	// Notifiers, when not nil, replace the receivers built from cfg.Alerting.
	Notifiers map[string]alerting.Notifier
	// Signals, when not nil, are registered, in this order, with every
	// window (see package analysis/signal) instead of those cfg.Signals
	// enables. Every instance of a consumer group must register the same
	// ones.
	Signals []signal.Signal
}

// New completes cfg with its derived defaults (Config.WithDerived),
// validates it, starts the embedded broker when configured, connects to
// ClickHouse and migrates its schema, loads stored references and prepares
// the consumer. It does not consume until Run.
func New(ctx context.Context, cfg Config, opt Options) (*Monitor, error) {
	cfg = cfg.WithDerived()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
		opt.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if f := cfg.Signals.Poisoning.SampleKeyFile; f != "" {
		key, err := sampleKey(f)
		if err != nil {
			return nil, fmt.Errorf("invalid configuration: signals.poisoning.%w", err)
		}
		cfg.Signals.Poisoning.Config.SampleKey = key
	} else if cfg.feedbackEnabled() {
		opt.Logger.Warn("signals.poisoning.sample_key_file is not set: a feedback producer can choose ids that the poisoning signals' samples never take")
	}
	if opt.Signals == nil {
		opt.Signals = cfg.Signals.List()
	}
	signals, err := signal.NewSet(opt.Signals...)
	if err != nil {
		return nil, err
	}
	cfg.Analysis.Signals = signals
	m := &Monitor{cfg: cfg, log: opt.Logger, reg: opt.Registry, open: map[*partition]int{}, merging: map[*decider]int{}}
	m.met = newMetrics(m.reg, cfg.MaxDriftSeries)
	m.refs = reference.NewStore(&m.cfg.Analysis, nil)
	m.versions = window.NewOpenVersions(m.cfg.Analysis.MaxOpenVersions)
	m.evidence = evaluate.NewEvidence(m.cfg.Analysis.Sequential)
	m.registerVersionMetrics()
	ok := false
	defer func() {
		if !ok {
			m.Close(context.Background())
		}
	}()
	if cfg.Kafka.Embedded {
		topics := []string{cfg.Kafka.Consumer.Topic, cfg.Kafka.Consumer.DeadLetterTopic, cfg.Kafka.PartialsTopic}
		if cfg.Kafka.LabelsTopic != "" {
			topics = append(topics, cfg.Kafka.LabelsTopic)
		}
		if cfg.Kafka.FeedbackTopic != "" {
			topics = append(topics, cfg.Kafka.FeedbackTopic)
		}
		e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{
			Addr:       cfg.Kafka.EmbeddedAddr,
			Topics:     topics,
			Partitions: cfg.Kafka.EmbeddedPartitions,
		})
		if err != nil {
			return nil, err
		}
		m.embedded = e
		m.log.Info("embedded Kafka broker started", "brokers", e.Brokers())
	}
	store, err := storage.OpenRetrying(ctx, cfg.ClickHouse, m.reg, m.log)
	if err != nil {
		return nil, err
	}
	m.store = store
	rows, err := store.LoadReferences(ctx)
	if err != nil {
		return nil, err
	}
	for _, ref := range ReferencesFromRows(rows, m.cfg.Analysis.Signals) {
		if h := ref.Hash(); h != ref.ID {
			// The stored content no longer matches its id: edited or corrupted.
			m.log.Warn("stored reference content does not match its id", "model", ref.Model.ID, "version", ref.Model.Version,
				"reference_id", ref.ID, "content_hash", h)
			m.met.refsChanged.Inc()
		}
		m.refs.Set(ref)
		m.log.Info("reference loaded", "model", ref.Model.ID, "version", ref.Model.Version, "reference_id", ref.ID, "source", ref.Source)
	}
	rec := alerting.RecorderFunc(m.recordAlerts)
	if opt.Notifiers != nil {
		m.alerts, err = alerting.NewWithNotifiers(cfg.Alerting, opt.Notifiers, rec, m.reg, m.log)
	} else {
		m.alerts, err = alerting.New(cfg.Alerting, rec, m.reg, m.log)
	}
	if err != nil {
		return nil, err
	}
	// Silences (driftwatch silence add) are read from ClickHouse at Run's start and every alerting.silence_refresh.
	m.alerts.UseSilences(alerting.SilencerFunc(func(ctx context.Context) ([]alerting.Silence, error) {
		rows, err := store.Silences(ctx, time.Now(), false)
		out := make([]alerting.Silence, len(rows))
		for i, r := range rows {
			out[i] = alerting.Silence{ID: r.ID, Matchers: r.Matchers, StartsAt: r.StartsAt, EndsAt: r.EndsAt, CreatedBy: r.CreatedBy, Comment: r.Comment}
		}
		return out, err
	}))
	// Alert, group and budget state per model survive restarts in alert_state (docs/alerting.md).
	if err := m.alerts.UseStateStore(alerting.StateStoreFuncs{
		Save: func(ctx context.Context, rows []alerting.StateRow) error {
			out := make([]storage.AlertStateRow, len(rows))
			for i, r := range rows {
				out[i] = storage.AlertStateRow(r)
			}
			return store.SaveAlertState(ctx, out)
		},
		Load: func(ctx context.Context, models []string) ([]alerting.StateRow, error) {
			rows, err := store.AlertState(ctx, models)
			out := make([]alerting.StateRow, len(rows))
			for i, r := range rows {
				out[i] = alerting.StateRow(r)
			}
			return out, err
		},
	}, ""); err != nil {
		return nil, err
	}
	if m.kafka, err = ingest.NewCluster(cfg.Kafka.Consumer.Brokers, cfg.Kafka.Consumer.Security); err != nil {
		return nil, err
	}
	// Without its dead-letter topic every partition would stop at its first
	// bad message: refuse to start instead, naming it.
	if _, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), m.kafka.Brokers, cfg.Kafka.Consumer.DeadLetterTopic); err != nil {
		return nil, fmt.Errorf("dead-letter topic %q is not readable (create it, or set kafka.dead_letter_topic to one that exists): %w",
			cfg.Kafka.Consumer.DeadLetterTopic, err)
	}
	// Likewise when it exists but refuses our writes (where the brokers can
	// tell: Kafka 2.3 and later).
	if err := ingest.CheckWritable(ctx, m.kafka, cfg.Kafka.Consumer.DeadLetterTopic); err != nil {
		return nil, fmt.Errorf("dead-letter topic %q does not accept writes (grant them, or set kafka.dead_letter_topic to one that does): %w",
			cfg.Kafka.Consumer.DeadLetterTopic, err)
	}
	m.dlq = ingest.NewDeadLetterWriter(m.kafka, cfg.Kafka.Consumer.DeadLetterTopic, cfg.Kafka.Consumer.GroupID, m.reg, m.log)
	m.consumer, err = ingest.NewConsumer(cfg.Kafka.Consumer, m.openPartition, m.reg, m.log)
	if err != nil {
		return nil, err
	}
	if err := m.openPartials(ctx); err != nil {
		return nil, err
	}
	if err := m.openLabels(ctx); err != nil {
		return nil, err
	}
	if err := m.openFeedbackTopic(ctx); err != nil {
		return nil, err
	}
	wc, err := cfg.Web.load()
	if err != nil {
		return nil, err
	}
	m.lis, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", cfg.Listen, err)
	}
	if host, _, _ := net.SplitHostPort(cfg.Listen); !loopbackHost(host) && !wc.basic && !wc.bear {
		m.log.Warn("metrics and health endpoints listen beyond loopback without authentication: set web.basic_auth_* or web.bearer_token_file", "listen", cfg.Listen)
	}
	m.lis = wc.listener(m.lis)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", m.ready)
	// The server's own errors (a client's failed TLS handshake, say) go to
	// the monitor's log at debug level, not to the standard logger.
	m.srv = &http.Server{Handler: wc.protect(mux), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelDebug)}
	ok = true
	return m, nil
}

// openPartials makes sure the partials topic exists (created with the
// telemetry topic's partition count when missing) and prepares its publisher
// and the consumer group of the deciders, <group_id>.decide.
func (m *Monitor) openPartials(ctx context.Context) error {
	kc := m.cfg.Kafka.Consumer
	n, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), kc.Brokers, kc.Topic)
	if err != nil {
		return fmt.Errorf("reading the telemetry topic: %w", err)
	}
	if _, err := ingest.EnsureTopic(ctx, m.kafka, m.cfg.Kafka.PartialsTopic, n); err != nil {
		return err
	}
	m.partials = ingest.NewPublisher(m.kafka, m.cfg.Kafka.PartialsTopic, m.reg, m.log)
	dc := kc
	dc.Topic = m.cfg.Kafka.PartialsTopic
	dc.GroupID = kc.GroupID + ".decide"
	dc.DeadLetterTopic = kc.DeadLetterTopic
	dc.StartOffset = ingest.StartEarliest
	m.deciders, err = ingest.NewConsumer(dc, m.openDecider, m.reg, m.log)
	if err != nil {
		return fmt.Errorf("deciders: %w", err)
	}
	return nil
}

// openLabels prepares the consumer group <group_id>.labels of the labels
// topic, which must exist, when kafka.labels_topic is set.
func (m *Monitor) openLabels(ctx context.Context) error {
	topic := m.cfg.Kafka.LabelsTopic
	if topic == "" {
		return nil
	}
	kc := m.cfg.Kafka.Consumer
	if _, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), kc.Brokers, topic); err != nil {
		return fmt.Errorf("labels topic %q is not readable (create it, or set kafka.labels_topic to one that exists, or to \"\" for no labels): %w", topic, err)
	}
	lc := kc
	lc.Topic = topic
	lc.GroupID = kc.GroupID + ".labels"
	lc.StartOffset = ingest.StartEarliest
	var err error
	if m.labels, err = ingest.NewConsumer(lc, m.openLabeler, m.reg, m.log); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	return nil
}

// behind reports whether telemetry partition part has messages not read
// yet (false without a consumer: tests that drive partitions directly).
func (m *Monitor) behind(part int32) bool {
	if m.consumer == nil {
		return false
	}
	return m.consumer.Behind(part)
}

// recordAlerts stores alert history; it gives up after 30s so that history
// never holds up delivery.
func (m *Monitor) recordAlerts(ctx context.Context, recs []alerting.Record) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows := make([]storage.AlertRow, len(recs))
	for i, r := range recs {
		rows[i] = storage.AlertRow{EventTime: r.Time, AlertKey: r.Key, ModelID: r.ModelID, ModelVersion: r.ModelVersion,
			Feature: r.Feature, Signal: r.Signal, Subject: r.Subject, Record: r.Kind, State: r.State, Severity: string(r.Severity),
			Statistic: r.Statistic, Threshold: r.Threshold, Summary: r.Summary, Receiver: r.Receiver,
			Attempt: uint32(r.Attempt), Outcome: r.Outcome, HTTPStatus: int32(r.HTTPStatus), Error: r.Error}
	}
	return m.store.RecordAlerts(ctx, rows)
}

// addUnsavedReference queues a newly pinned reference for storing.
func (m *Monitor) addUnsavedReference(ref *reference.Reference) {
	m.refMu.Lock()
	m.unsaved = append(m.unsaved, ref)
	m.refMu.Unlock()
}

// saveReferences stores the references pinned but not stored yet; a failed
// one stays queued for the next flush of any partition.
func (m *Monitor) saveReferences(ctx context.Context) error {
	m.refMu.Lock()
	defer m.refMu.Unlock()
	for len(m.unsaved) > 0 {
		ref := m.unsaved[0]
		if err := m.store.SaveReference(ctx, ReferenceRows(ref, m.cfg.Analysis.Signals)); err != nil {
			return fmt.Errorf("storing the reference of %s %s: %w", ref.Model.ID, ref.Model.Version, err)
		}
		m.unsaved = m.unsaved[1:]
		m.met.refsPinned.Inc()
		m.log.Info("reference pinned", "model", ref.Model.ID, "version", ref.Model.Version, "reference_id", ref.ID, "windows", ref.Windows)
	}
	return nil
}

// Brokers returns the Kafka brokers the monitor consumes from.
func (m *Monitor) Brokers() []string { return m.cfg.Kafka.Consumer.Brokers }

// Addr returns the address /metrics is served on.
func (m *Monitor) Addr() string { return m.lis.Addr().String() }

// Store returns the ClickHouse store (for summaries).
func (m *Monitor) Store() *storage.Store { return m.store }

// Alerts returns the alert manager.
func (m *Monitor) Alerts() *alerting.Manager { return m.alerts }

// Run consumes until ctx ends, then stops the consumer, delivers pending
// alerts for a few seconds and returns.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 6)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := m.srv.Serve(m.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving metrics: %w", err)
		}
	}()
	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer wg.Done()
		if err := m.alerts.Run(alertCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("delivering alerts: %w", err)
		}
	}()
	go m.alerts.KeepState(alertCtx)
	consumed := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(consumed)
		if err := m.consumer.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("consuming: %w", err)
		}
	}()
	decided := make(chan struct{})
	go func() {
		defer close(decided)
		if err := m.deciders.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("deciding: %w", err)
		}
	}()
	labeled := make(chan struct{})
	go func() {
		defer close(labeled)
		if m.labels == nil {
			return
		}
		if err := m.labels.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("reading labels: %w", err)
		}
	}()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		if m.feedback == nil {
			return
		}
		if err := m.feedback.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("reading feedback: %w", err)
		}
	}()
	go m.refreshLoop(ctx)
	<-ctx.Done()
	// Partitions may still be flushing: let the consumers stop (they close
	// every partition), then give alerts a moment to be delivered.
	<-consumed
	<-decided
	<-labeled
	<-fed
	drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = m.alerts.Close(drain)
	cancel()
	_ = m.alerts.SaveState(context.Background()) // after Close: what it sent is in the state
	stopAlerts()
	shut, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	_ = m.srv.Shutdown(shut)
	cancel2()
	wg.Wait()
	close(errc)
	return errors.Join(drainErrs(errc)...)
}

func drainErrs(c chan error) []error {
	var out []error
	for err := range c {
		out = append(out, err)
	}
	return out
}

// refreshInterval is how often a monitor looks for references pinned by
// the deciders of other instances.
const refreshInterval = 5 * time.Second

// refreshLoop loads, until ctx ends, the references pinned elsewhere for
// model versions this instance has none of.
func (m *Monitor) refreshLoop(ctx context.Context) {
	t := time.NewTicker(refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.refreshReferences(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("looking for new references", "err", err)
			}
		}
	}
}

// Close releases everything New opened. It is idempotent.
func (m *Monitor) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.consumer != nil {
			errs = append(errs, m.consumer.Close())
		}
		if m.deciders != nil {
			errs = append(errs, m.deciders.Close())
		}
		if m.labels != nil {
			errs = append(errs, m.labels.Close())
		}
		if m.feedback != nil {
			errs = append(errs, m.feedback.Close())
		}
		if m.partials != nil {
			errs = append(errs, m.partials.Close())
		}
		if m.dlq != nil {
			errs = append(errs, m.dlq.Close())
		}
		if m.store != nil {
			errs = append(errs, m.store.Close())
		}
		if m.lis != nil {
			m.lis.Close()
		}
		if m.embedded != nil {
			m.embedded.Close()
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

func (m *Monitor) openWindows(p *partition, n int) int {
	m.openMu.Lock()
	defer m.openMu.Unlock()
	m.open[p] = n
	total := 0
	for _, v := range m.open {
		total += v
	}
	return total
}

// mergingWindows records that decider d merges n windows (-1: d is closed)
// and returns the total over the instance's deciders.
func (m *Monitor) mergingWindows(d *decider, n int) int {
	m.openMu.Lock()
	defer m.openMu.Unlock()
	if n < 0 {
		delete(m.merging, d)
	} else {
		m.merging[d] = n
	}
	total := 0
	for _, v := range m.merging {
		total += v
	}
	return total
}

// activeVersions returns the model versions with open windows on this
// instance's partitions without a reference in memory; a partition busy in
// a flush is skipped this time.
func (m *Monitor) activeVersions() map[analysis.ModelKey]bool {
	m.openMu.Lock()
	parts := make([]*partition, 0, len(m.open))
	for p := range m.open {
		parts = append(parts, p)
	}
	m.openMu.Unlock()
	out := map[analysis.ModelKey]bool{}
	for _, p := range parts {
		if !p.mu.TryLock() {
			continue
		}
		for _, mv := range p.win.Models() {
			out[mv] = true
		}
		p.mu.Unlock()
	}
	for mv := range out {
		if m.refs.Get(mv) != nil {
			delete(out, mv)
		}
	}
	return out
}

func (m *Monitor) forget(p *partition) {
	m.openMu.Lock()
	defer m.openMu.Unlock()
	delete(m.open, p)
}

// Stats is a summary of what the monitor has done since it started.
type Stats struct {
	// Windows counts partition windows closed and handed over; Decided
	// counts model windows merged over partitions and decided.
	Events, Late, Rejected, Windows, Decided uint64
	// Drifted lists model/version/feature that drifted in at least one window.
	Drifted []string
}

type stats struct {
	mu      sync.Mutex
	s       Stats
	drifted map[string]bool
}

func (s *stats) add(events, late uint64) {
	s.mu.Lock()
	s.s.Events += events
	s.s.Late += late
	s.mu.Unlock()
}

func (s *stats) addRejected(n uint64) {
	s.mu.Lock()
	s.s.Rejected += n
	s.mu.Unlock()
}

func (s *stats) addWindows(n uint64) {
	s.mu.Lock()
	s.s.Windows += n
	s.mu.Unlock()
}

func (s *stats) addDecided(n uint64) {
	s.mu.Lock()
	s.s.Decided += n
	s.mu.Unlock()
}

func (s *stats) addDrifted(key string) {
	s.mu.Lock()
	if s.drifted == nil {
		s.drifted = map[string]bool{}
	}
	s.drifted[key] = true
	s.mu.Unlock()
}

// Stats returns the summary so far.
func (m *Monitor) Stats() Stats {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	s := m.stats.s
	for k := range m.stats.drifted {
		s.Drifted = append(s.Drifted, k)
	}
	sort.Strings(s.Drifted)
	return s
}

// ready answers /readyz: 200 "ready" when both consumer groups have joined,
// no owned partition is stalled and ClickHouse answers; otherwise 503 with
// one line per problem. /healthz only says that the process runs.
func (m *Monitor) ready(w http.ResponseWriter, r *http.Request) {
	var problems []string
	for _, c := range []*ingest.Consumer{m.consumer, m.deciders} {
		if c == nil {
			continue
		}
		h := c.Health()
		if !h.Joined {
			p := fmt.Sprintf("consumer group %s (topic %s): not joined", h.Group, h.Topic)
			if h.JoinError != "" {
				p += fmt.Sprintf(" (failing since %s: %s)", h.JoinFailing.Format(time.RFC3339), h.JoinError)
			}
			problems = append(problems, p)
		}
		for _, ph := range h.Partitions {
			if ph.Stalled {
				problems = append(problems, fmt.Sprintf("partition %s/%d stalled since %s: position %d, high watermark %d, committed %d",
					ph.Topic, ph.Partition, ph.Since.Format(time.RFC3339), ph.Position, ph.HighWatermark, ph.Committed))
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := m.store.Exec(ctx, "SELECT 1"); err != nil {
		problems = append(problems, fmt.Sprintf("ClickHouse %s: %v", m.cfg.ClickHouse.Addr, err))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// registerVersionMetrics exports what the references hold in memory and
// what the max_versions bound evicted.
func (m *Monitor) registerVersionMetrics() {
	refs := func(i int) func() float64 {
		return func() float64 {
			nr, nw, er, ew := m.refs.Held()
			return [4]float64{float64(nr), float64(nw), float64(er), float64(ew)}[i]
		}
	}
	for i, state := range []string{"reference", "warmup"} {
		labels := prometheus.Labels{"state": state}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "driftwatch_analysis_versions_held",
			Help: "Model versions whose reference or warm-up state is in memory, by state.", ConstLabels: labels}, refs(i)))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "driftwatch_analysis_versions_evicted_total",
			Help: "Model versions whose reference or warm-up state was evicted for analysis.max_versions, by state.", ConstLabels: labels}, refs(2+i)))
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "driftwatch_analysis_sequential_series_dropped_total", Help: "Sequential-test series not started because sequential.max_series live series were tracked."},
		func() float64 { return float64(m.evidence.Dropped()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "driftwatch_analysis_sequential_series_evicted_total", Help: "Sequential-test series of versions silent for sequential.idle_after, evicted to make room."},
		func() float64 { return float64(m.evidence.Evicted()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "driftwatch_analysis_caller_history_refused_total", Help: "New callers given no history: beyond sequential.caller_history.max_new in their window, or every kept caller was seen in the same window."},
		func() float64 { return float64(m.evidence.CallersRefused()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "driftwatch_analysis_caller_history_evicted_total", Help: "Caller histories forgotten to make room (sequential.caller_history.max_callers and max_versions)."},
		func() float64 { return float64(m.evidence.CallersEvicted()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "driftwatch_analysis_caller_histories", Help: "Callers whose history across windows is held."},
		func() float64 { return float64(m.evidence.CallersHeld()) }))
}
