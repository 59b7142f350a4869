package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// maxAssemblyBytes bounds the incomplete partials a decider holds.
const maxAssemblyBytes = 256 << 20

// maxWindowsPerModel bounds the windows of one model version being merged.
const maxWindowsPerModel = 64

// decider is the second stage for one partition of the partials topic: the
// consumer group gives every model id exactly one decider. It merges the
// partials of each model window from every source partition and, once every
// source partition has passed the window (partial.Merger), scores it once,
// stores the decision (feature_windows, drift_scores, model_windows) and
// hands the verdicts to the alert manager. Its partition is committed up to
// the first partial of the oldest window not yet stored.
type decider struct {
	m     *Monitor
	topic string
	part  int32

	mu    sync.Mutex
	asm   *partial.Assembler
	merge *partial.Merger
	// fmerge merges the feedback windows (feedback.go); nil without the
	// feedback stage. Its windows neither wait for nor hold back the
	// inference windows.
	fmerge *partial.FeedbackMerger
	// fref holds the reference feedback of the models whose feedback
	// windows the decider decided (feedback.go), at most analysis.max_models.
	fref map[string]*feedbackRef
	// served holds the serving references the feedback's decisions read
	// that the reference store does not hold (servedFeatures), at most
	// analysis.max_models of them.
	served map[analysis.ModelKey]*reference.Reference
	eval   *evaluate.Evaluator
	next   int64 // next offset to read; -1 before the first message
	dead   []ingest.DeadLetter
	// deadUpTo: as partition.deadUpTo, for invalid partials.
	deadUpTo int64
	err      error

	stop chan struct{}
	done chan struct{}

	recounted time.Time // when the telemetry topic's partitions were last counted
	// frecounted: as recounted, for the feedback topic.
	frecounted time.Time
	// partitions is the partials topic's partition count: a model's
	// partials go to partition ingest.PartitionOfKey(model id, partitions).
	partitions int
	// labeled are the windows whose realized performance is computed at
	// the end of the batch (performance.go): decided, or labeled since.
	labeled map[storage.LabeledWindow]bool
	// decided is when decide last ran (decideEvery).
	decided time.Time
}

var _ ingest.Borrower = (*decider)(nil)

// decideEvery is how often the decider decides: the windows that complete
// within decideEvery of the last decision wait for the next batch of
// partials after it, or for the ticker, at most a quarter of it more. A
// monitor catching up on a backlog then stores many windows per ClickHouse
// insert instead of a few: an insert costs ClickHouse 18.16 7–36 ms of CPU
// (a part written, then merged) whatever its rows, which made ClickHouse
// the largest cost on the machine while the monitor caught up
// (BenchmarkPipeline's clickhouse_inserts). The windows waiting are within the merger's bound
// (a version's MaxWindows); a window decided at that bound (Forced) is
// decided at once, as before.
const decideEvery = time.Second

// recountEvery bounds how often a record naming an unknown partition makes
// the decider count the telemetry topic's partitions again (it may have grown).
const recountEvery = 30 * time.Second

// expect counts the telemetry topic's partitions again when a record names
// a partition of it that the merger does not know, at most every
// recountEvery, so that a grown topic is followed and a hostile record
// costs little.
func (d *decider) expect(ctx context.Context, src partial.Source) {
	topic := d.m.cfg.Kafka.Consumer.Topic
	if d.merge.Accepts(src) || src.Topic != topic || time.Since(d.recounted) < recountEvery {
		return
	}
	d.recounted = time.Now()
	n, err := ingest.PartitionCount(ctx, d.m.kafka.Dialer(), d.m.kafka.Brokers, topic)
	if err != nil {
		d.m.log.Warn("counting the telemetry topic's partitions", "topic", topic, "err", err)
		return
	}
	d.merge.Expect(topic, n)
}

// openDecider is the partials consumer's HandlerFactory. It reads the number
// of telemetry partitions (every one must pass a window before it is
// decided) and which windows were decided before, so that a replay of the
// partials topic decides nothing twice.
func (m *Monitor) openDecider(ctx context.Context, topic string, part int32, start int64) (ingest.PartitionHandler, error) {
	cfg := &m.cfg.Analysis
	d := &decider{
		m: m, topic: topic, part: part, next: -1,
		asm: partial.NewAssembler(maxAssemblyBytes),
		merge: partial.NewMerger(partial.Config{Lateness: cfg.AllowedLateness, Timeout: cfg.MergeTimeout,
			IdleWait: cfg.IdleWait, MaxModels: cfg.MaxModels, MaxWindows: maxWindowsPerModel}),
		eval: evaluate.NewEvaluator(cfg, m.refs, m.evidence),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	source := m.cfg.Kafka.Consumer.Topic
	n, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), m.kafka.Brokers, source)
	if err != nil {
		return nil, fmt.Errorf("opening decider %s/%d: %w", topic, part, err)
	}
	d.merge.Expect(source, n)
	if d.partitions, err = ingest.PartitionCount(ctx, m.kafka.Dialer(), m.kafka.Brokers, topic); err != nil {
		return nil, fmt.Errorf("opening decider %s/%d: %w", topic, part, err)
	}
	decided, err := m.store.DecidedWindows(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening decider %s/%d: %w", topic, part, err)
	}
	restore := make(map[analysis.ModelKey]time.Time, len(decided))
	for k, end := range decided {
		restore[analysis.ModelKey{ID: k[0], Version: k[1]}] = end
	}
	d.merge.Restore(restore)
	if err := d.openFeedbackMerger(ctx); err != nil {
		return nil, fmt.Errorf("opening decider %s/%d: %w", topic, part, err)
	}
	if d.deadUpTo, err = m.dlq.LastOffset(ctx, topic, part); err != nil {
		return nil, fmt.Errorf("opening decider %s/%d: %w", topic, part, err)
	}
	m.log.Info("decider opened", "topic", topic, "partition", part, "offset", start, "source_partitions", n)
	go d.tick(ctx)
	return d, nil
}

// tick decides the windows that waited merge_timeout for a silent
// partition, or that a batch left to the next decision (decideEvery), when
// no record arrives to trigger it: decisions stay decideEvery apart, and
// come at most a quarter of it later.
func (d *decider) tick(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(decideEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			d.mu.Lock()
			if d.err == nil && time.Since(d.decided) >= decideEvery {
				if err := d.decide(ctx); err != nil {
					d.err = err
					if ctx.Err() == nil {
						d.m.log.Warn("deciding waited-out windows", "topic", d.topic, "partition", d.part, "err", err)
					}
				}
			}
			d.mu.Unlock()
		}
	}
}

// BorrowsMessages makes the decider an ingest.Borrower: it keeps nothing
// of a message's bytes after Handle returns (the assembler copies the
// chunks it holds, the decoders copy what the states keep, dead letters
// copy their message), so the consumer reuses one buffer for them instead
// of allocating each partial's bytes. The assembler's copies are tested alone
// (partial.TestAssemblerCopiesWhatItKeeps); the end-to-end tests read
// every partial through the reused buffer.
func (*decider) BorrowsMessages() {}

// Handle merges a batch of partials and progress records and decides the
// windows that became complete. It blocks while ClickHouse is unavailable.
func (d *decider) Handle(ctx context.Context, batch []ingest.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	met := d.m.met
	evicted := d.asm.Evicted()
	for i := range batch {
		msg := &batch[i]
		if msg.Offset < d.next {
			continue
		}
		d.next = msg.Offset + 1
		if s := msg.Skipped; s != nil {
			d.rejectAs(msg, s.Reason, errors.New(s.Detail))
			continue
		}
		r, err := partial.Parse(msg.Value)
		if err != nil {
			d.reject(msg, err)
			continue
		}
		if r.Kind == partial.KindLabels {
			d.relabel(storage.LabeledWindow{ModelID: r.Model.ID, ModelVersion: r.Model.Version, WindowStart: time.UnixMilli(r.WindowStart).UTC()})
			continue
		}
		if r.Kind == partial.KindProgress && d.fmerge != nil && r.Source.Topic == d.m.cfg.Kafka.FeedbackTopic {
			d.expectFeedback(ctx, r.Source)
			if !d.fmerge.Advance(r.Source, r.Progress, r.Idle) {
				d.reject(msg, fmt.Errorf("progress of %s: not a partition of the feedback topic %q", r.Source, d.m.cfg.Kafka.FeedbackTopic))
			}
			continue
		}
		if r.Kind == partial.KindProgress {
			d.expect(ctx, r.Source)
			if !d.merge.Advance(r.Source, r.Progress, r.Idle) {
				d.reject(msg, fmt.Errorf("progress of %s: not a partition of the telemetry topic %q", r.Source, d.m.cfg.Kafka.Consumer.Topic))
			}
			continue
		}
		payload, first, err := d.asm.Add(r, msg.Offset)
		if err != nil {
			d.reject(msg, err)
			continue
		}
		if payload == nil {
			continue
		}
		if r.Kind == partial.KindFeedback {
			if err := d.addFeedback(ctx, msg, payload, first); err != nil {
				d.err = err
				return err
			}
			continue
		}
		var lookupErr error
		src, w, err := partial.DecodePartial(&d.m.cfg.Analysis, payload, d.reference(ctx, &lookupErr))
		if lookupErr != nil {
			// Not the partial's fault: fail the batch, to be read again.
			d.err = lookupErr
			return lookupErr
		}
		if err != nil {
			d.reject(msg, err)
			continue
		}
		d.expect(ctx, src)
		if !d.merge.Knows(w.Model) {
			// A version the merger holds nothing of: where its decisions end.
			end, err := d.m.store.DecidedWindowEnd(ctx, w.Model.ID, w.Model.Version)
			if err != nil {
				d.err = err
				return err
			}
			if !end.IsZero() {
				d.merge.Restore(map[analysis.ModelKey]time.Time{w.Model: end})
			}
		}
		switch d.merge.Add(src, w, first, time.Now()) {
		case partial.Merged:
			met.partialsIn.WithLabelValues("merged").Inc()
		case partial.Duplicate:
			met.partialsIn.WithLabelValues("duplicate").Inc()
		case partial.AlreadyDecided:
			met.partialsIn.WithLabelValues("already_decided").Inc()
		case partial.Dropped:
			met.partialsIn.WithLabelValues("dropped").Inc()
			d.m.log.Warn("partial dropped: beyond the decider's bound of model versions or windows, or not from a partition of the telemetry topic", "model", w.Model.ID,
				"version", w.Model.Version, "window_start", w.Start, "source", src.String())
		}
	}
	met.partialsIn.WithLabelValues("evicted").Add(float64(d.asm.Evicted() - evicted))
	for _, id := range d.asm.TakeLost() {
		d.merge.Lost(id)
		if d.fmerge != nil {
			d.fmerge.Lost(id)
		}
	}
	if len(d.dead) > 0 {
		if err := d.m.dlq.Write(ctx, d.dead); err != nil {
			d.err = fmt.Errorf("writing %d dead letters: %w", len(d.dead), err)
			return d.err
		}
		clear(d.dead)
		d.dead = d.dead[:0]
	}
	if time.Since(d.decided) < decideEvery && d.merge.Forced() == 0 && (d.fmerge == nil || d.fmerge.Forced() == 0) {
		return nil // the next batch or tick decides
	}
	if err := d.decide(ctx); err != nil {
		d.err = err
		return err
	}
	return nil
}

// reject dead-letters a record of the partials topic that cannot be read.
func (d *decider) reject(msg *ingest.Message, err error) { d.rejectAs(msg, "invalid_partial", err) }

// rejectAs is reject with the dead letter's reason.
func (d *decider) rejectAs(msg *ingest.Message, reason string, err error) {
	d.m.met.partialsIn.WithLabelValues("invalid").Inc()
	if msg.Offset <= d.deadUpTo {
		d.m.met.deadReplayed.Inc()
		return
	}
	d.dead = append(d.dead, ingest.DeadLetter{Msg: copyMessage(msg), Reason: reason, Detail: err.Error()})
}

// reference returns the lookup DecodePartial uses: the model version's
// reference when it has the id a partial names, else the stored reference
// with that id (pinned by another instance, or replaced since).
//
// A failure to read ClickHouse is kept in *failed: the partial is then not
// dead-lettered as naming an unknown reference (it may well be known), and
// the batch fails, to be read again from the committed offset.
func (d *decider) reference(ctx context.Context, failed *error) func(analysis.ModelKey, string) *reference.Reference {
	return func(m analysis.ModelKey, id string) *reference.Reference {
		if ref := d.m.refs.Get(m); ref != nil && ref.ID == id {
			return ref
		}
		ref, err := d.m.storedReference(ctx, m, id)
		if err != nil {
			*failed = fmt.Errorf("reading reference %s of %s/%s named by a partial: %w", id, m.ID, m.Version, err)
		}
		return ref
	}
}

// decide scores, stores and alerts on every complete window. Called with mu held.
func (d *decider) decide(ctx context.Context) error {
	now := time.Now()
	d.decided = now
	ready := d.merge.Ready(now)
	var fready []partial.FeedbackComplete
	open := d.merge.Open()
	if d.fmerge != nil {
		fready = d.fmerge.Ready(now)
		open += d.fmerge.Open()
	}
	d.m.met.merging.Set(float64(d.m.mergingWindows(d, open)))
	if len(ready) == 0 && len(fready) == 0 {
		return d.perform(ctx)
	}
	var batch storage.WindowBatch
	// What the round counts in the metrics is counted once its windows are
	// stored: a round whose write fails is decided again (from the
	// committed offset), and its windows must count once.
	var counts []func()
	obs, refRows, err := d.decideFeedback(ctx, fready, &batch, &counts)
	if err != nil {
		return fmt.Errorf("deciding the feedback windows of %s/%d: %w", d.topic, d.part, err)
	}
	for i := range ready {
		c := &ready[i]
		w := c.Window
		if d.m.refs.Get(w.Model) == nil && !d.m.refs.Warming(w.Model) {
			// First window of the version here, or its reference was
			// evicted (analysis.max_versions): a stored one comes back
			// rather than a second warm-up.
			if err := d.m.loadLatestReference(ctx, w.Model); err != nil {
				return fmt.Errorf("deciding %s/%d: %w", d.topic, d.part, err)
			}
		}
		if err := d.m.restoreHistories(ctx, w.Model, w.End); err != nil {
			return fmt.Errorf("deciding %s/%d: %w", d.topic, d.part, err)
		}
		var seasonal *reference.Reference
		if from, ok := d.eval.SeasonalStart(w); ok && !c.MixedReferences {
			seasonal = d.seasonalReference(ctx, w.Model, from)
		}
		dec := d.eval.Evaluate(w, c.MixedReferences, seasonal)
		d.relabel(storage.LabeledWindow{ModelID: w.Model.ID, ModelVersion: w.Model.Version, WindowStart: w.Start})
		if dec.Pinned != nil {
			d.m.addUnsavedReference(dec.Pinned)
		}
		ref, scores := dec.Against, dec.Scores
		decisionRows(&batch, c, ref, scores)
		refID := w.RefID()
		if ref != nil {
			refID = ref.ID
		}
		signalRows(&batch, w.Model, w.Start, w.End, refID, dec.Signals)
		unstored := callerRows(&batch, len(batch.Models)-1, w, dec.Callers, dec.Signals, d.m.storedCallers())
		obs = append(obs, d.m.signalObservations(w.Model, w.Start, w.End, dec.Signals)...)
		o := observations(w, scores)
		obs = append(obs, o...)
		completeness := "complete"
		if len(c.Missing) > 0 {
			completeness = "waited_out"
			d.m.log.Warn("window decided without the share of some partitions (they stayed behind for merge_timeout, or their partial was dropped at a bound)", "model", w.Model.ID,
				"version", w.Model.Version, "window_start", w.Start, "missing", len(c.Missing))
		}
		counts = append(counts, func() {
			met := d.m.met
			met.callersUnstored.Add(float64(unstored))
			met.signalVerdicts(w.Model, dec.Signals)
			for _, sc := range scores {
				met.setDrift(w.Model.ID, w.Model.Version, sc.Feature, sc.Test, sc.Statistic)
			}
			for _, x := range o {
				if x.Severity != alerting.SeverityOK {
					met.drifted.Inc()
					d.m.stats.addDrifted(w.Model.ID + "/" + w.Model.Version + "/" + x.Feature)
				}
			}
			met.decided.WithLabelValues(completeness).Inc()
		})
	}
	// References first: stored windows must never name a reference that is not stored.
	if err := d.m.saveReferences(ctx); err != nil {
		return err
	}
	if len(refRows) > 0 {
		if err := d.m.store.SaveReference(ctx, refRows); err != nil {
			return fmt.Errorf("storing the reference feedback of %d models: %w", len(refRows), err)
		}
	}
	if err := d.m.store.WriteWindows(ctx, batch); err != nil {
		return fmt.Errorf("storing %d decided windows and %d feedback windows of %s/%d: %w", len(ready), len(fready), d.topic, d.part, err)
	}
	for _, count := range counts {
		count()
	}
	d.m.stats.addDecided(uint64(len(ready)))
	if d.m.alerts != nil {
		d.m.alerts.Observe(ctx, obs)
	}
	// After the decisions: their estimated performance is stored for the
	// realized one to show next to it.
	return d.perform(ctx)
}

// seasonalReference merges the stored feature summaries of model version
// mv's window starting at from into a reference; nil when none is stored or
// it cannot be read (the window is then scored against its pinned one).
func (d *decider) seasonalReference(ctx context.Context, mv analysis.ModelKey, from time.Time) *reference.Reference {
	cfg := &d.m.cfg.Analysis
	ref, n, err := ReferenceFromStore(ctx, d.m.store, mv, from, from.Add(time.Second), *cfg)
	if err != nil {
		d.m.log.Warn("no seasonal reference, scoring against the pinned one", "model", mv.ID, "version", mv.Version,
			"from", from, "err", err)
		return nil
	}
	if n == 0 || ref == nil {
		return nil
	}
	ref.Prepare(cfg.SampleSize)
	return ref
}

// Committable returns the first offset of the partials partition whose
// records are not all accounted for: the first partial of a window still
// being merged or of an incomplete partial.
func (d *decider) Committable() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.next < 0 || d.err != nil {
		return -1
	}
	c := d.merge.Committable(d.next)
	if d.fmerge != nil {
		c = min(c, d.fmerge.Committable(d.next))
	}
	if f := d.asm.First(); f >= 0 && f < c {
		c = f
	}
	return c
}

// Close stops the ticker and forgets the decider's windows: their partials
// are read again by the partition's next owner from the committed offset.
// The alerts of its models are handed over: the next owner observes and
// notifies them, under the same keys.
func (d *decider) Close(ctx context.Context) error {
	defer d.m.mergingWindows(d, -1)
	select {
	case <-d.stop:
		return nil
	default:
		close(d.stop)
	}
	if d.m.alerts != nil {
		if n := d.m.alerts.HandOver(d.owns); n > 0 {
			d.m.log.Info("alerts handed over", "topic", d.topic, "partition", d.part, "alerts", n)
		}
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// owns reports whether the decider's partition receives the partials of
// model id.
func (d *decider) owns(id string) bool {
	return ingest.PartitionOfKey([]byte(id), d.partitions) == int(d.part)
}

// publishProgress tells every decider that source src has sealed every
// window whose end plus the lateness is at or before atMs, and whether it is
// idle. Nothing is published for a partition that has read nothing and is
// not idle yet.
func (m *Monitor) publishProgress(ctx context.Context, src partial.Source, atMs int64, idle bool) error {
	if atMs == minProgress && !idle {
		return nil
	}
	n, err := m.partials.Partitions(ctx)
	if err != nil {
		return fmt.Errorf("publishing the progress of %s: %w", src, err)
	}
	rec := partial.EncodeProgress(src, atMs, idle)
	recs := make([]ingest.Record, n)
	for i := range recs {
		recs[i] = ingest.Record{Value: rec, Partition: i}
	}
	return m.partials.Publish(ctx, recs)
}

// loadLatestReference pins mv's newest reference (latestReference), if it
// has one.
func (m *Monitor) loadLatestReference(ctx context.Context, mv analysis.ModelKey) error {
	ref, err := m.latestReference(ctx, mv, "")
	if err != nil || ref == nil {
		return err
	}
	m.refs.Set(ref)
	m.met.refsReloaded.Inc()
	return nil
}

// latestReference returns model version mv's newest reference: one pinned
// here and not stored yet, else the stored one of id ("": the newest
// stored); nil when it has none.
func (m *Monitor) latestReference(ctx context.Context, mv analysis.ModelKey, id string) (*reference.Reference, error) {
	// One pinned a moment ago may not be stored yet.
	m.refMu.Lock()
	var pending *reference.Reference
	for _, ref := range m.unsaved {
		if ref.Model == mv {
			pending = ref
		}
	}
	m.refMu.Unlock()
	if pending != nil {
		return pending, nil
	}
	if id == "" {
		var err error
		if id, err = m.store.LatestReferenceID(ctx, mv.ID, mv.Version); err != nil || id == "" {
			return nil, err
		}
	}
	return m.storedReference(ctx, mv, id)
}

// restoreWindowsFactor is how many times sequential.history_windows of a
// model version's newest stored windows a decider reads back into its
// callers' history: a caller tracked in at least one window in two gets its
// whole history back.
const restoreWindowsFactor = 2

// restoreHistories gives model version mv, at its first window here (after
// a restart, or a move of the model to this decider), the histories its
// stored windows before end make: its signals' (<signal>_history, the
// DDMs) and its callers'.
func (m *Monitor) restoreHistories(ctx context.Context, mv analysis.ModelKey, end time.Time) error {
	if err := m.restoreHistory(ctx, mv, end); err != nil {
		return err
	}
	return m.restoreCallers(ctx, mv, end)
}

// restoreHistory feeds model version mv's signal history, when this
// process has not fed it yet, the verdicts of its last restoreWindowsFactor
// × history_windows stored windows before end that fed it, at most
// max_series of them.
func (m *Monitor) restoreHistory(ctx context.Context, mv analysis.ModelKey, end time.Time) error {
	// The history is fed by windows scored against a reference only: a
	// version without one (in warm-up, or made up by a producer) has none
	// to read back yet.
	if !m.evidence.NeedsHistory(mv) || m.refs.Get(mv) == nil {
		return nil
	}
	seq := m.cfg.Analysis.Sequential
	rows, err := m.store.SignalHistory(ctx, mv.ID, mv.Version, end, restoreWindowsFactor*seq.HistoryWindows, seq.MaxSeries, evaluate.BitSignals)
	if err != nil {
		return err
	}
	var windows []evaluate.HistoryWindow
	for _, g := range windowsOf(rows, func(r storage.SignalRow) time.Time { return r.WindowEnd }) {
		w := evaluate.HistoryWindow{End: g[0].WindowEnd}
		for _, r := range g {
			// The stored threshold stands for both levels: it is set for
			// a decision (the level it was taken against), NaN otherwise.
			v := signal.Verdict{Subject: r.Subject, Statistic: r.Statistic, PValue: r.PValue, Warning: r.Threshold, Critical: r.Threshold, N: r.N}
			w.Verdicts = append(w.Verdicts, evaluate.SignalVerdict{Signal: r.Signal, Verdict: v})
		}
		windows = append(windows, w)
	}
	m.evidence.RestoreHistory(mv, windows)
	m.restored("signals' history", mv, len(windows), len(rows), m.met.historyRestored)
	return nil
}

// storedCallers is the access signals' configuration of the callers
// caller_windows stores (access.Config.Stored): those with at least as many
// calls as either the signals or the callers' history judge.
func (m *Monitor) storedCallers() access.Config {
	c := m.cfg.Signals.Access.Config
	c.MinCount = min(c.MinCount, m.cfg.Analysis.Sequential.CallerHistory.MinCalls)
	return c
}

// restoreCallers gives model version mv, when this process holds no caller
// history of it (its first window here: after a restart, or a move of the
// model to this decider), the history its stored windows before end make:
// the last restoreWindowsFactor × history_windows windows' caller_windows
// rows and the light callers their model_windows rows keep, at most
// max_callers + input_callers of each a window (what one window tracks).
func (m *Monitor) restoreCallers(ctx context.Context, mv analysis.ModelKey, end time.Time) error {
	if !m.cfg.Signals.Access.Enabled || !m.evidence.NeedsCallers(mv) {
		return nil
	}
	n := restoreWindowsFactor * m.cfg.Analysis.Sequential.HistoryWindows
	ac := m.cfg.Signals.Access.Config
	stored, light, err := m.store.CallerHistory(ctx, mv.ID, mv.Version, end, n, n*(ac.MaxCallers+ac.InputCallers))
	if err != nil {
		return err
	}
	windows, fed := callerWindows(stored, light)
	m.evidence.RestoreCallers(mv, windows)
	m.restored("callers' history", mv, len(windows), fed, m.met.callersRestored)
	return nil
}

// callerWindows returns the windows of the callers' history that stored
// rows (caller_windows) and light rows (model_windows' light callers) of
// the same windows make, oldest first, each window's callers by name as a
// decision feeds them, and how many callers they hold in all. A caller in
// both is a window decided twice that stored it the first time only: the
// light entry, of the decision model_windows keeps (the newest), is the
// one kept.
func callerWindows(stored, light []storage.CallerRow) ([]evaluate.CallerWindow, int) {
	rows := append(slices.Clip(light), stored...)
	slices.SortStableFunc(rows, func(a, b storage.CallerRow) int {
		return cmp.Or(a.WindowEnd.Compare(b.WindowEnd), strings.Compare(a.Caller, b.Caller))
	})
	rows = slices.CompactFunc(rows, func(a, b storage.CallerRow) bool { return a.WindowEnd.Equal(b.WindowEnd) && a.Caller == b.Caller })
	var windows []evaluate.CallerWindow
	for _, g := range windowsOf(rows, func(r storage.CallerRow) time.Time { return r.WindowEnd }) {
		w := evaluate.CallerWindow{End: g[0].WindowEnd}
		for _, r := range g {
			w.Callers = append(w.Callers, access.CallerSummary{Caller: r.Caller, Calls: r.Calls, CallsOvercount: r.CallsOvercount,
				ScoredCalls: r.ScoredCalls, ScoredOvercount: r.ScoredOvercount, Probes: r.Probes, InputCalls: r.InputCalls,
				InputOvercount: r.InputOvercount, DistinctInputs: r.DistinctInputs, OODSampled: r.OODSampled, OODOutside: r.OODOutside,
				ClassCalls: r.ClassCalls, Classes: r.Classes, ClassEntropy: r.ClassEntropy})
		}
		windows = append(windows, w)
	}
	return windows, len(rows)
}

// restored counts the rows read back into model version mv's history
// what, and logs the read when there were any.
func (m *Monitor) restored(what string, mv analysis.ModelKey, windows, rows int, counter prometheus.Counter) {
	counter.Add(float64(rows))
	if rows > 0 {
		m.log.Info("restored the "+what, "model", mv.ID, "version", mv.Version, "windows", windows, "rows", rows)
	}
}

// windowsOf cuts rows, ordered by their window's end, into one run per
// window.
func windowsOf[R any](rows []R, end func(R) time.Time) [][]R {
	var out [][]R
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && end(rows[j]).Equal(end(rows[i])) {
			j++
		}
		out = append(out, rows[i:j])
		i = j
	}
	return out
}

// storedReference reads reference id of model version mv from ClickHouse;
// nil when it is not stored.
func (m *Monitor) storedReference(ctx context.Context, mv analysis.ModelKey, id string) (*reference.Reference, error) {
	rows, err := m.store.ReferenceRows(ctx, mv.ID, mv.Version, id)
	if err != nil {
		return nil, err
	}
	for _, ref := range ReferencesFromRows(rows, m.cfg.Analysis.Signals) {
		if ref.ID == id {
			ref.Prepare(m.cfg.Analysis.SampleSize)
			return ref, nil
		}
	}
	return nil, nil
}

// refreshReferences loads the references that became active since the last
// call (pinned by a decider of another instance, or imported): a partition
// opens its next windows against them.
func (m *Monitor) refreshReferences(ctx context.Context) error {
	// Only the versions this instance's partitions have windows of: the
	// references of others are read when their windows come (and the
	// bound of analysis.max_versions holds).
	wanted := m.activeVersions()
	if len(wanted) == 0 {
		return nil
	}
	active, err := m.store.ActiveReferenceIDs(ctx)
	if err != nil {
		return err
	}
	for k, id := range active {
		mv := analysis.ModelKey{ID: k[0], Version: k[1]}
		if !wanted[mv] {
			continue
		}
		if m.refs.Get(mv) != nil {
			// A reference imported while the monitor runs is used from its
			// next start on (docs/baselines.md); only model versions without
			// one pick up what another instance pinned.
			continue
		}
		ref, err := m.storedReference(ctx, mv, id)
		if err != nil {
			return err
		}
		if ref == nil {
			continue
		}
		m.refs.Set(ref)
		m.log.Info("reference loaded", "model", mv.ID, "version", mv.Version, "reference_id", id, "source", ref.Source)
	}
	return nil
}

// minProgress is the progress of a partition before its first event.
const minProgress = math.MinInt64
