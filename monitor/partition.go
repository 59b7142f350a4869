package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// partition is the first stage for one telemetry partition: it decodes and
// windows events, and hands every closed window, as partial state, to the
// decider of its model through the partials topic; it stores the window's
// counts and offsets (inference_windows) and says how far the partition may
// be committed. It scores nothing: deciders do (decider.go). One goroutine
// calls Handle; a ticker goroutine closes idle windows; mu serialises them
// (once per batch or tick, never per event). A writer goroutine publishes and
// stores closed windows in the order they closed, so that consumption goes
// on meanwhile; windows in flight hold commits back.
type partition struct {
	m         *Monitor
	topic     string
	partition int32
	ctx       context.Context // the partition's generation: cancelled at rebalance or shutdown

	mu  sync.Mutex
	win *window.Windower
	dec *telemetry.Decoder
	enc partial.Encoder // serialises closed windows for the partials topic
	// deadUpTo is the largest offset of this partition already in the
	// dead-letter topic when the partition was opened: a replay does not
	// dead-letter those again.
	deadUpTo int64
	// evs are the decoding slots of a batch's events: with signals
	// registered, windows hold the batch's events until EndBatch, so each
	// event has a slot of its own (reused, maps included, batch after
	// batch); without signals, slot 0 serves every event.
	evs  []telemetry.Event
	next int64 // next offset to read; -1 before the first message
	dead []ingest.DeadLetter
	// preds are the predictions counted since the last hand-over, kept
	// for the join with delayed labels when kafka.labels_topic is set (at
	// most labels.prediction_batch of them).
	preds []storage.PredictionRow
	// slowSeen is the decoder's slow-path count already in the metrics.
	slowSeen uint64
	// predStrings holds the strings of preds; lastModel the model key of
	// the last one, whose copy the next row reuses when it is the same.
	predStrings stringArena
	lastModel   analysis.ModelKey
	mark        int64     // the window boundary of the last published progress (see progressMark)
	idle        bool      // whether the last published progress said the partition is idle
	said        time.Time // when the partition last handed progress to the writer

	state    sync.Mutex // guards err and inflight; never held while waiting
	err      error      // a write that failed: the handler must be restarted
	inflight []int64    // smallest first offset of each queued write, in order

	writes     chan *pendingWrite // bounded: a full queue blocks the flush (back-pressure)
	writerDone chan struct{}
	// afterPublish, when set (by tests), runs after each group the writer
	// publishes, before its rows are stored or held, with its flushes.
	afterPublish func(flushes int)
	stop         chan struct{}
	done         chan struct{}
}

// pendingWrite is one flush on its way to the partials topic and ClickHouse.
type pendingWrite struct {
	// predictions are written first; a write of predictions alone
	// (predictionsOnly) publishes and stores nothing else.
	predictions     []storage.PredictionRow
	predictionsOnly bool
	partials        []ingest.Record
	progress        int64 // the partition's progress after the flush (ms); published after the partials
	idle            bool  // whether the partition is idle
	batch           storage.WindowBatch
	windows         int
}

// writeQueue is how many flushes of a partition may wait for ClickHouse.
const writeQueue = 2

// writeLinger is how long the writer waits for more flushes to join a
// flush it has taken, unless writeQueue+1 are there before: a partition
// catching up on a backlog queues a flush per window. Progress and commits
// come that much later.
const writeLinger = 200 * time.Millisecond

// storeEvery is the least time between two stores of a partition's rows
// (see writer): a partition catching up on a backlog stores its
// inference_windows rows once a second, not once a flush; a flush after a
// quiet second is stored at once. Commits come up to that much later.
const storeEvery = time.Second

// storeHeld bounds the flushes whose rows a partition's writer holds: it
// stores them at once when they are that many or more (a group published
// together may take it to storeHeld+writeQueue), however soon, so that the
// rows held are bounded by the configuration (a flush's windows), not by how
// many windows producers' event times close in a second.
const storeHeld = 32

// closeStoreTimeout bounds the store of the rows a closing partition's
// writer still holds.
const closeStoreTimeout = 10 * time.Second

var _ ingest.PartitionHandler = (*partition)(nil)

// openPartition is the consumer's HandlerFactory.
func (m *Monitor) openPartition(ctx context.Context, topic string, part int32, start int64) (ingest.PartitionHandler, error) {
	p := &partition{
		m: m, topic: topic, partition: part, ctx: ctx,
		win:        window.NewWindower(&m.cfg.Analysis, m.refs, m.versions),
		dec:        telemetry.NewDecoder(m.cfg.Limits, time.Now),
		next:       -1,
		mark:       math.MinInt64,
		writes:     make(chan *pendingWrite, writeQueue),
		writerDone: make(chan struct{}),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if start >= 0 {
		flushed, err := m.store.FlushedWindows(ctx, topic, part, start)
		if err != nil {
			return nil, fmt.Errorf("reading stored windows of %s/%d: %w", topic, part, err)
		}
		maxEnd, err := m.store.MaxWindowEnd(ctx, topic, part)
		if err != nil {
			return nil, err
		}
		fw := make([]window.FlushedWindow, len(flushed))
		for i, f := range flushed {
			fw[i] = window.FlushedWindow{Model: analysis.ModelKey{ID: f.ModelID, Version: f.ModelVersion}, WindowStart: f.WindowStart, LastOffset: f.LastOffset}
		}
		p.win.Restore(fw, maxEnd)
		if len(flushed) > 0 || !maxEnd.IsZero() {
			m.log.Info("resuming partition", "topic", topic, "partition", part, "offset", start, "stored_windows", len(flushed), "closed_until", maxEnd)
		}
	}
	mark, err := m.dlq.LastOffset(ctx, topic, part)
	if err != nil {
		return nil, fmt.Errorf("opening %s/%d: %w", topic, part, err)
	}
	p.deadUpTo = mark
	// A partition with nothing to read is idle from now on, so that its
	// progress does not hold back the decisions of the others.
	p.win.Touch(time.Now())
	go p.tick()
	go p.writer()
	return p, nil
}

// Handle decodes and windows a batch, dead-letters what is bad and stores the
// windows that closed. It blocks while ClickHouse or the dead-letter topic is
// unavailable (back-pressure).
func (p *partition) Handle(ctx context.Context, batch []ingest.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failed(); err != nil {
		return err
	}
	var counted, late, replayed, dropped uint64
	// The signals read a window's events once per chunk of eventSlots
	// (Windower.EndBatch), so each event needs its own slot until then;
	// chunks keep the slots and their messages in the processor's cache.
	slots := 1
	if p.m.cfg.Analysis.Signals.Len() > 0 {
		slots = min(len(batch), eventSlots)
	}
	if len(p.evs) < slots {
		p.evs = append(p.evs, make([]telemetry.Event, slots-len(p.evs))...)
	}
	slot := 0
	// The decoder reads the clock once per pinEvery events, and again after
	// anything that may have blocked.
	pin := 0
	defer p.dec.Unpin()
	for i := range batch {
		msg := &batch[i]
		if msg.Offset < p.next {
			continue
		}
		p.next = msg.Offset + 1
		if pin == 0 {
			p.dec.Pin()
			pin = pinEvery
		}
		pin--
		if slot == slots {
			p.win.EndBatch()
			slot = 0
		}
		ev := &p.evs[slot]
		if slots > 1 {
			slot++
		}
		if err := p.decode(msg, ev); err != nil {
			var rej *telemetry.RejectError
			if !errors.As(err, &rej) {
				rej = &telemetry.RejectError{Reason: telemetry.ReasonInvalidJSON, Detail: err.Error()}
			}
			p.deadLetter(msg, rej.Reason, rej.Detail)
			p.win.Reject(string(msg.Key), msg.Offset)
			continue
		}
		switch p.win.Observe(ev, msg.Offset) {
		case window.Counted:
			counted++
			if p.m.cfg.storesPredictions() {
				if err := p.addPrediction(ctx, ev); err != nil {
					return err
				}
				if len(p.preds) == 0 {
					pin = 0 // queued a write, which may have waited
				}
			}
		case window.Late:
			late++
		case window.Replayed:
			replayed++
		case window.Dropped:
			dropped++
			p.deadLetter(msg, ReasonTooManyModels, fmt.Sprintf("model %q version %q: the partition already tracks analysis.max_models (%d) model versions, or the instance analysis.max_open_versions (%d)",
				ev.Model.ID, ev.Model.Version, p.m.cfg.Analysis.MaxModels, p.m.cfg.Analysis.MaxOpenVersions))
		}
	}
	p.win.EndBatch()
	met := p.m.met
	if n := p.dec.SlowPath(); n != p.slowSeen {
		met.slowDecodes.Add(float64(n - p.slowSeen))
		p.slowSeen = n
	}
	met.events.Add(float64(counted))
	met.late.Add(float64(late))
	met.replayed.Add(float64(replayed))
	met.dropped.Add(float64(dropped))
	p.m.stats.add(counted, late)
	if len(p.dead) > 0 {
		if err := p.m.dlq.Write(ctx, p.dead); err != nil {
			return p.fail(fmt.Errorf("writing %d dead letters: %w", len(p.dead), err))
		}
		p.m.stats.addRejected(uint64(len(p.dead)))
		clear(p.dead)
		p.dead = p.dead[:0]
	}
	err := p.flush(ctx, false, false)
	// Activity is stamped after the flush: a flush that waited out a
	// ClickHouse outage must not make the partition look idle to the ticker,
	// which would close the window being filled.
	p.win.Touch(time.Now())
	return err
}

// addPrediction keeps ev's prediction for the join with its label, and
// hands the kept ones to the writer when there are prediction_batch of
// them. Called with mu held.
func (p *partition) addPrediction(ctx context.Context, ev *telemetry.Event) error {
	size := p.m.cfg.Analysis.WindowSize.Milliseconds()
	t := ev.EventTime.UnixMilli()
	// The event's strings share the message's bytes: the row keeps copies,
	// in one buffer per batch of rows.
	a := &p.predStrings
	r := storage.PredictionRow{ModelID: a.keepAgain(ev.Model.ID, &p.lastModel.ID), ModelVersion: a.keepAgain(ev.Model.Version, &p.lastModel.Version),
		WindowStart: time.UnixMilli(floorDiv(t, size) * size).UTC(), PredictionID: a.keep(ev.PredictionID), EventTime: ev.EventTime,
		PredictedClass: a.keep(ev.Prediction.Class)}
	if s := ev.Prediction.Score; s != nil {
		r.Score, r.HasScore = *s, true
	}
	if th := ev.Prediction.Threshold; th != nil {
		r.Threshold, r.HasThreshold = *th, true
	}
	if p.preds == nil {
		p.preds = make([]storage.PredictionRow, 0, p.m.cfg.Labels.PredictionBatch)
	}
	p.preds = append(p.preds, r)
	if len(p.preds) < p.m.cfg.Labels.PredictionBatch {
		return nil
	}
	pw := &pendingWrite{predictions: p.preds, predictionsOnly: true}
	p.preds = nil
	p.predStrings = stringArena{}
	return p.queue(ctx, pw, -1)
}

// queue hands pw to the writer; first is the smallest offset it accounts
// for (-1: none), which holds commits back until it is written.
func (p *partition) queue(ctx context.Context, pw *pendingWrite, first int64) error {
	p.state.Lock()
	p.inflight = append(p.inflight, first)
	p.state.Unlock()
	select {
	case p.writes <- pw:
		return nil
	case <-ctx.Done():
		return p.fail(fmt.Errorf("queueing a write of %s/%d (%d closed windows, %d predictions): %w", p.topic, p.partition,
			pw.windows, len(pw.predictions), ctx.Err()))
	}
}

// decode decodes msg into ev, refusing another kind of event.
func (p *partition) decode(msg *ingest.Message, ev *telemetry.Event) error {
	if err := checkKind(msg, telemetry.KindInference); err != nil {
		return err
	}
	return p.dec.Decode(msg.Value, ev)
}

// elsewhere says where the events of the other kinds than a topic's go.
var elsewhere = map[telemetry.Kind]string{
	telemetry.KindInference: "an inference event; labels and feedback have their own topics",
	telemetry.KindLabel:     "a label event; inferences and feedback have their own topics",
}

// checkKind refuses msg (a *telemetry.RejectError) when it stands for
// records the consumer skipped unread (ingest.Skipped: their reason and
// detail), or when its CloudEvents ce_type header names another kind of
// event than want, the kind of its topic (an empty ce_type names an
// inference); without the header it is of its topic's kind.
func checkKind(msg *ingest.Message, want telemetry.Kind) error {
	if s := msg.Skipped; s != nil {
		// Records the consumer passed over unread (a decompression bomb).
		return &telemetry.RejectError{Reason: s.Reason, Detail: s.Detail}
	}
	for _, h := range msg.Headers {
		if h.Key != "ce_type" {
			continue
		}
		kind, err := telemetry.KindOf(string(h.Value))
		if err != nil {
			return err
		}
		if kind != want {
			return &telemetry.RejectError{Reason: telemetry.ReasonUnknownType,
				Detail: fmt.Sprintf("ce_type %q is not %s", h.Value, elsewhere[want])}
		}
	}
	return nil
}

// pinEvery is the number of events the decoder judges against one reading
// of the clock (telemetry.Decoder.Pin): a few hundred microseconds of work.
const pinEvery = 256

// eventSlots is the number of events decoded before the signals read them.
const eventSlots = 256

// ReasonTooManyModels is the dead-letter reason of an event of a model
// version beyond analysis.max_models (or max_open_versions).
const ReasonTooManyModels = "too_many_models"

// deadLetter queues msg for the dead-letter topic unless a run before this
// one already wrote it there (a replay after a restart). Only a rejection
// that depends on the message alone is known to have been written before:
// one that depends on the clock (bad_timestamp) or on the partition's state
// (too_many_models) may have gone the other way in the earlier run (the
// event counted in a window that was never stored), so it is written again,
// at the price of a duplicate dead letter.
func (p *partition) deadLetter(msg *ingest.Message, reason, detail string) {
	if msg.Offset <= p.deadUpTo && reason != telemetry.ReasonBadTimestamp && reason != ReasonTooManyModels {
		p.m.met.deadReplayed.Inc()
		return
	}
	p.dead = append(p.dead, ingest.DeadLetter{Msg: copyMessage(msg), Reason: reason, Detail: detail})
}

func copyMessage(m *ingest.Message) ingest.Message {
	c := *m
	c.Key = bytes.Clone(m.Key)
	c.Value = bytes.Clone(m.Value)
	c.Headers = slices.Clone(m.Headers)
	return c
}

// flush hands every window closed so far to the writer: its partial state
// for the partials topic and its inference_windows row. When no window
// closed it still publishes the partition's progress once it has passed
// another window boundary, when the partition became idle or active again,
// or when again is set, so that deciders know whom to wait for. Called with
// mu held.
func (p *partition) flush(ctx context.Context, idle, again bool) error {
	closed := p.win.TakeClosed()
	p.m.met.openWindows.Set(float64(p.m.openWindows(p, p.win.Open())))
	progress := p.win.Progress()
	mark := p.progressMark(progress)
	if len(closed) == 0 && mark <= p.mark && idle == p.idle && !again {
		return nil
	}
	p.mark, p.idle, p.said = max(p.mark, mark), idle, time.Now()
	// The predictions counted so far go first: every window a decider
	// decides has its predictions stored, for the labels to join.
	pw := &pendingWrite{progress: progress, idle: idle, windows: len(closed), predictions: p.preds}
	p.preds = nil
	p.predStrings = stringArena{}
	src := partial.Source{Topic: p.topic, Partition: p.partition}
	first := int64(-1)
	for _, w := range closed {
		// A window opened before its model's reference was pinned, and
		// closed after, is rebound here when that is exact (as the decider
		// would): its partial then carries a scoring sample, not a warm-up
		// one ten times its size.
		if w.Ref == nil {
			w.Rebind(p.m.refs.Get(w.Model))
		}
		p.m.met.untracked.Add(float64(w.Untracked))
		pw.batch.Windows = append(pw.batch.Windows, windowRow(p.topic, p.partition, w))
		for _, chunk := range p.enc.Encode(src, w, 0) {
			pw.partials = append(pw.partials, ingest.Record{Key: []byte(w.Model.ID), Value: chunk, Partition: -1})
		}
		if w.FirstOffset >= 0 && (first < 0 || w.FirstOffset < first) {
			first = w.FirstOffset
		}
		// Encoded (the records share nothing with it): its partials
		// and its sample serve later windows.
		p.win.Recycle(w)
	}
	return p.queue(ctx, pw, first)
}

// progressMark is the window boundary a watermark has passed: deciders only
// need to hear of progress when it passes the next window's end plus the
// lateness.
func (p *partition) progressMark(progress int64) int64 {
	if progress == math.MinInt64 {
		return math.MinInt64
	}
	size := p.m.cfg.Analysis.WindowSize.Milliseconds()
	return floorDiv(progress-p.win.Lateness(), size)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// writer publishes and stores queued flushes in order: the partial states
// first, then the partition's progress (a decider must never see progress
// past a window before the window's partial), then the inference_windows
// rows, which let a restart skip what was counted. The flushes queued
// together, or within writeLinger, are published together (one
// publication). Their rows are stored at once when the partition's last
// store is storeEvery old, else held and stored with those of the flushes
// that follow once it is, or once storeHeld flushes are held: an insert
// costs ClickHouse 18.16 7–36 ms of CPU whatever its rows, and a partition
// catching up on a backlog publishes a flush per window, several a second.
// Held rows hold the commits of their offsets back (inflight), so a restart
// re-reads them; the deciders drop the partials published twice. After a
// failure it only drains the queue (the handler is restarted and re-reads
// what was not committed) and stores the rows held when the partition
// closes.
func (p *partition) writer() {
	defer close(p.writerDone)
	group := make([]*pendingWrite, 0, writeQueue+1)
	var held heldRows
	var stored time.Time // when rows were last stored
	due := time.NewTimer(storeEvery)
	due.Stop()
	for {
		var pw *pendingWrite
		select {
		case next, ok := <-p.writes:
			if !ok {
				// The partition is closing, its generation likely over
				// (p.ctx done): the rows held still go to ClickHouse, so
				// that the next owner skips their windows rather than
				// counting and publishing them again.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), closeStoreTimeout)
				p.storeWith(ctx, &held)
				cancel()
				return
			}
			pw = next
		case <-due.C:
			if p.ctx.Err() != nil {
				continue // the generation is over: the close stores them
			}
			p.store(&held)
			stored = time.Now()
			continue
		}
		group = append(group[:0], pw)
		linger := time.NewTimer(writeLinger)
	queued:
		for len(group) < cap(group) {
			select {
			case next, ok := <-p.writes:
				if !ok {
					break queued
				}
				group = append(group, next)
			case <-linger.C:
				break queued
			}
		}
		linger.Stop()
		first := held.flushes == 0
		p.publish(group, &held)
		if p.afterPublish != nil {
			p.afterPublish(len(group))
		}
		switch wait := storeEvery - time.Since(stored); {
		case wait <= 0 || held.flushes >= storeHeld:
			due.Stop()
			p.store(&held)
			stored = time.Now()
		case first:
			due.Reset(wait)
		}
	}
}

// heldRows are the rows of flushes published but not yet stored: one
// inference_windows row per closed window.
type heldRows struct {
	batch   storage.WindowBatch
	flushes int // the flushes they come from, the oldest of p.inflight
}

// publish stores the predictions of group and publishes its partial
// states and progress, then holds its rows for store.
func (p *partition) publish(group []*pendingWrite, held *heldRows) {
	held.flushes += len(group)
	pw := group[0]
	if len(group) > 1 {
		pw = joined(group)
	}
	if p.failed() == nil && len(pw.predictions) > 0 {
		if err := p.m.store.WritePredictions(p.ctx, pw.predictions); err != nil {
			p.fail(fmt.Errorf("storing %d predictions of %s/%d: %w", len(pw.predictions), p.topic, p.partition, err))
		}
	}
	if p.failed() != nil || pw.predictionsOnly {
		return
	}
	err := p.m.partials.Publish(p.ctx, pw.partials)
	if err == nil {
		p.m.met.partialsOut.Add(float64(pw.windows))
		err = p.m.publishProgress(p.ctx, partial.Source{Topic: p.topic, Partition: p.partition}, pw.progress, pw.idle)
	}
	if err != nil {
		p.fail(fmt.Errorf("handing over %d closed windows of %s/%d: %w", pw.windows, p.topic, p.partition, err))
		return
	}
	held.batch.Append(pw.batch)
}

// store writes the held rows in one insert per table and releases the
// commits of the flushes they come from. After a failure it leaves them
// held: the partition is being restarted, and its close stores them.
func (p *partition) store(held *heldRows) {
	if held.flushes == 0 || p.failed() != nil {
		return
	}
	p.storeWith(p.ctx, held)
}

// storeWith writes the held rows under ctx, whatever failed before (held
// rows are those of flushes published in full), then releases them.
// Flushes without rows (predictions alone, progress alone) are released
// without a write.
func (p *partition) storeWith(ctx context.Context, held *heldRows) {
	if windows := len(held.batch.Windows); windows > 0 {
		if err := p.m.store.WriteWindows(ctx, held.batch); err != nil {
			p.fail(fmt.Errorf("storing %d closed windows of %s/%d: %w", windows, p.topic, p.partition, err))
		} else {
			p.m.met.windows.Add(float64(windows))
			p.m.stats.addWindows(uint64(windows))
		}
	}
	p.state.Lock()
	p.inflight = p.inflight[held.flushes:]
	p.state.Unlock()
	*held = heldRows{}
}

// joined returns the flushes of group, in order, as one: the predictions
// of them all, then the partials and windows of those that have any, and
// the progress after the last of those.
func joined(group []*pendingWrite) *pendingWrite {
	j := &pendingWrite{predictionsOnly: true}
	for _, pw := range group {
		j.predictions = append(j.predictions, pw.predictions...)
		if pw.predictionsOnly {
			continue
		}
		j.predictionsOnly = false
		j.partials = append(j.partials, pw.partials...)
		j.batch.Append(pw.batch)
		j.windows += pw.windows
		j.progress, j.idle = pw.progress, pw.idle
	}
	return j
}

// fail records the first failure and returns err.
func (p *partition) fail(err error) error {
	p.state.Lock()
	defer p.state.Unlock()
	if p.err == nil {
		p.err = err
	}
	return err
}

// failed returns the recorded failure, if any.
func (p *partition) failed() error {
	p.state.Lock()
	defer p.state.Unlock()
	return p.err
}

// Committable returns the first offset not yet durably accounted for.
func (p *partition) Committable() int64 {
	p.mu.Lock()
	if p.next < 0 {
		p.mu.Unlock()
		return -1
	}
	c := p.win.Committable(p.next)
	p.mu.Unlock()
	p.state.Lock()
	defer p.state.Unlock()
	if p.err != nil {
		// After a failed write, closed windows may be unstored: commit
		// nothing more; the next owner re-reads from the last commit.
		return -1
	}
	for _, first := range p.inflight {
		if first >= 0 && first < c {
			c = first
		}
	}
	return c
}

// tick closes windows of an idle partition once a second. Its flushes end
// with the partition's generation, so a ClickHouse outage cannot hold up a
// rebalance or a shutdown.
func (p *partition) tick() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			p.mu.Lock()
			if p.failed() == nil {
				// A partition with messages still to read is lagging, not
				// idle (its consumer is slow, or was just handed the
				// partition): closing its windows by the clock would make
				// the events waiting to be read late.
				idle := !p.m.behind(p.partition) && p.win.Idle(now)
				// Progress is said again once a window size has passed
				// without news: a decider that took over a partials
				// partition did not read what was said before its
				// committed offset, and an idle partition says nothing new.
				again := now.Sub(p.said) >= p.m.cfg.Analysis.WindowSize
				if err := p.flush(p.ctx, idle, again); err != nil && p.ctx.Err() == nil {
					p.m.log.Warn("flushing idle windows", "topic", p.topic, "partition", p.partition, "err", err)
				}
			}
			p.mu.Unlock()
		}
	}
}

// Close stops the ticker and lets the writer finish what is queued. Open
// windows are not stored: their events are read again from the committed
// offset by the partition's next owner.
func (p *partition) Close(ctx context.Context) error {
	defer p.m.forget(p)
	defer func() {
		// The instance-wide slots of its open versions; later when a flush
		// stuck past ctx still holds the partition.
		if p.mu.TryLock() {
			p.win.Release()
			p.mu.Unlock()
			return
		}
		go func() {
			p.mu.Lock()
			p.win.Release()
			p.mu.Unlock()
		}()
	}()
	select {
	case <-p.stop:
		return nil
	default:
		close(p.stop)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		// The ticker is stuck in a flush: close the queue once it returns,
		// so that the writer does not outlive the partition.
		go func() {
			<-p.done
			close(p.writes)
		}()
		return ctx.Err()
	}
	close(p.writes) // the ticker is gone and Handle is no longer called
	select {
	case <-p.writerDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// stringArena copies strings into shared buffers, so that keeping many
// short strings costs an allocation per buffer, not per string. Bytes
// handed out are never written again: a full buffer is left to the strings
// that use it and a new one is started.
type stringArena struct {
	buf []byte
}

// keep returns a copy of s that shares nothing with s.
func (a *stringArena) keep(s string) string {
	if s == "" {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(s) {
		a.buf = make([]byte, 0, max(4096, len(s)))
	}
	n := len(a.buf)
	a.buf = append(a.buf, s...)
	return unsafe.String(&a.buf[n], len(s))
}

// keepAgain is keep for a field whose value usually repeats from row to
// row (a model id): last is the field's previous copy, reused when equal.
func (a *stringArena) keepAgain(s string, last *string) string {
	if s != *last {
		*last = a.keep(s)
	}
	return *last
}

// BorrowsMessages makes the partition an ingest.Borrower: it keeps nothing
// of a message's bytes after Handle returns (the decoder's strings share
// them; the predictions kept for labels, dead letters and the windows copy
// what they keep), so the consumer reuses one buffer for them.
func (*partition) BorrowsMessages() {}
