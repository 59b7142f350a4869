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

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// feedbacker is the stage of one partition of the feedback topic (consumer
// group <group_id>.feedback). It decodes training-feedback events
// (dead-lettering the bad ones with the decoder's reason), looks up the
// model's own prediction of those that name one (one query per model and
// batch, in the predictions table), adapts them to poisoning.Examples and
// counts them in the poisoning partials of their (model, event-time window
// of analysis.window_size). When its event-time watermark (the newest event
// time read) passes a window's end plus analysis.allowed_lateness, or the
// partition has been idle for analysis.idle_flush and the window's end plus
// the lateness has passed in wall-clock time, it seals the window and
// publishes it on the partials topic, keyed by model id, followed by its
// progress, so that the model's one decider merges the feedback windows of
// every feedback partition (decider.go). Publishing happens within Handle
// or the ticker under mu, and offsets are committed only up to the first
// event of a window not yet published: after a crash the events of an
// unpublished window are read again, and those of a published one make a
// partial that the decider finds Duplicate (or AlreadyDecided).
type feedbacker struct {
	m              *Monitor
	src            partial.Source
	ctx            context.Context
	pcfg           *PoisoningConfig
	sizeMs, lateMs int64

	mu        sync.Mutex
	dec       *telemetry.Decoder
	slowSeen  uint64               // the decoder's slow-path count already in the metrics
	fbs       []telemetry.Feedback // decoding slots of a batch, reused
	offs      []int64              // the offset of each decoded slot
	ad        poisoning.Adapter
	ex        []poisoning.Example // one example, reused
	models    map[string]*feedbackModel
	watermark int64 // newest event time read (ms); MinInt64 before
	// horizon is the largest end of a sealed window (ms): a later event of
	// a window ending at or before it is late.
	horizon  int64
	next     int64 // next offset to read; -1 before the first message
	deadUpTo int64 // as partition.deadUpTo
	dead     []ingest.DeadLetter
	lastSeen time.Time // when the last batch was read
	idle     bool      // what the last published progress said
	said     time.Time // when progress was last published
	mark     int64     // the window boundary of the last published progress
	err      error     // a failed publication: Handle fails until the handler is reopened

	stop chan struct{}
	done chan struct{}
}

// feedbackModel is the state of one model on a feedback partition.
type feedbackModel struct {
	// features are the features its examples carry, chosen from the first
	// of its feedback events with features (PoisoningConfig); chosen says
	// whether that happened.
	features poisoning.Features
	chosen   bool
	open     []*poisoning.Window // by start
}

var _ ingest.PartitionHandler = (*feedbacker)(nil)

// FeedbackSignal is the signal of the row every decided feedback window
// has in the signals table (subject "*", statistic and n the window's
// examples, severity ok): it tells a restarted decider which feedback
// windows are decided.
const FeedbackSignal = "poisoning_feedback"

func init() {
	elsewhere[telemetry.KindFeedback] = "a training-feedback event; inferences and labels have their own topics"
}

// openFeedbacker is the feedback consumer's HandlerFactory.
func (m *Monitor) openFeedbacker(ctx context.Context, topic string, part int32, _ int64) (ingest.PartitionHandler, error) {
	pc := &m.cfg.Signals.Poisoning
	f := &feedbacker{
		m: m, src: partial.Source{Topic: topic, Partition: part}, ctx: ctx, pcfg: pc,
		sizeMs: m.cfg.Analysis.WindowSize.Milliseconds(), lateMs: m.cfg.Analysis.AllowedLateness.Milliseconds(),
		dec:       telemetry.NewDecoder(m.cfg.Limits, time.Now),
		ad:        poisoning.Adapter{SourceFields: m.cfg.Signals.Access.Config.CallerFields},
		ex:        make([]poisoning.Example, 1),
		models:    map[string]*feedbackModel{},
		watermark: math.MinInt64, horizon: math.MinInt64, next: -1, mark: math.MinInt64,
		lastSeen: time.Now(),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
	var err error
	if f.deadUpTo, err = m.dlq.LastOffset(ctx, topic, part); err != nil {
		return nil, fmt.Errorf("opening feedback partition %s/%d: %w", topic, part, err)
	}
	go f.tick()
	return f, nil
}

// Handle decodes and counts a batch of feedback events and publishes the
// windows it seals. It blocks while ClickHouse or Kafka is unavailable.
func (f *feedbacker) Handle(ctx context.Context, batch []ingest.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	met := f.m.met
	// Decode every event first: the predictions they refer to are read
	// with one query per model.
	if len(f.fbs) < len(batch) {
		f.fbs = append(f.fbs, make([]telemetry.Feedback, len(batch)-len(f.fbs))...)
	}
	f.offs = f.offs[:0]
	clear(f.dead) // what a failed call of this batch kept
	f.dead = f.dead[:0]
	ids := map[string][]string{}
	var rejected uint64
	for i := range batch {
		msg := &batch[i]
		if msg.Offset < f.next {
			continue
		}
		fb := &f.fbs[len(f.offs)]
		if err := f.decode(msg, fb); err != nil {
			var rej *telemetry.RejectError
			if !errors.As(err, &rej) {
				rej = &telemetry.RejectError{Reason: telemetry.ReasonInvalidJSON, Detail: err.Error()}
			}
			rejected++
			if msg.Offset <= f.deadUpTo && rej.Reason != telemetry.ReasonBadTimestamp {
				met.deadReplayed.Inc()
				continue
			}
			f.dead = append(f.dead, ingest.DeadLetter{Msg: copyMessage(msg), Reason: rej.Reason, Detail: rej.Detail})
			continue
		}
		f.offs = append(f.offs, msg.Offset)
		if fb.PredictionID != "" && fb.ProposedLabel != "" {
			ids[fb.ModelID] = append(ids[fb.ModelID], fb.PredictionID)
		}
	}
	predicted := make(map[string]map[string]string, len(ids))
	for model, list := range ids {
		classes, err := f.m.store.PredictedClasses(ctx, model, list)
		if err != nil {
			return err
		}
		predicted[model] = classes
	}
	var counted, late, droppedModels, droppedWindows uint64
	for i, off := range f.offs {
		fb := &f.fbs[i]
		// Every event moves the watermark, counted or not (a bound must
		// not hold the partition's progress back). A batch may span many
		// windows: those the watermark passed are sealed as soon as it
		// passes them, not at the end of the batch, so that max_windows
		// bounds the open windows, not the batch.
		if t := fb.EventTime.UnixMilli(); t > f.watermark {
			f.watermark = t
			if floorDiv(f.progress()-f.lateMs, f.sizeMs) > f.mark {
				if err := f.seal(ctx, f.progress(), false, false); err != nil {
					return err
				}
			}
		}
		switch f.observe(fb, predicted[fb.ModelID][fb.PredictionID], off) {
		case observed:
			counted++
		case tooLate:
			late++
		case noModelSlot:
			droppedModels++
		case noWindowSlot:
			droppedWindows++
		}
	}
	if n := f.dec.SlowPath(); n != f.slowSeen {
		met.slowDecodes.Add(float64(n - f.slowSeen))
		f.slowSeen = n
	}
	met.feedback.WithLabelValues("counted").Add(float64(counted))
	met.feedback.WithLabelValues("rejected").Add(float64(rejected))
	met.feedback.WithLabelValues("late").Add(float64(late))
	met.feedbackDropped.WithLabelValues("max_models").Add(float64(droppedModels))
	met.feedbackDropped.WithLabelValues("max_windows").Add(float64(droppedWindows))
	if len(f.dead) > 0 {
		if err := f.m.dlq.Write(ctx, f.dead); err != nil {
			return fmt.Errorf("writing %d dead letters: %w", len(f.dead), err)
		}
		f.m.stats.addRejected(uint64(len(f.dead)))
		clear(f.dead)
		f.dead = f.dead[:0]
	}
	if n := len(batch); n > 0 {
		f.next = max(f.next, batch[n-1].Offset+1)
	}
	f.lastSeen = time.Now()
	return f.seal(ctx, f.progress(), false, false)
}

// decode decodes msg into fb, refusing another kind of event.
func (f *feedbacker) decode(msg *ingest.Message, fb *telemetry.Feedback) error {
	if err := checkKind(msg, telemetry.KindFeedback); err != nil {
		return err
	}
	return f.dec.DecodeFeedback(msg.Value, fb)
}

// What observe did with a feedback event.
const (
	observed = iota
	tooLate
	noModelSlot
	noWindowSlot
)

// observe counts fb, read at offset off, whose model predicted class
// predicted ("" unknown), in its window; the watermark has taken fb's
// event time. fb's strings share the message's bytes: what is kept of them
// (the model id, the feature names) is cloned. Called with mu held.
func (f *feedbacker) observe(fb *telemetry.Feedback, predicted string, off int64) int {
	t := fb.EventTime.UnixMilli()
	start := floorDiv(t, f.sizeMs) * f.sizeMs
	if end := start + f.sizeMs; end <= f.horizon || f.watermark != math.MinInt64 && end+f.lateMs <= f.watermark {
		return tooLate
	}
	fm := f.models[fb.ModelID]
	if fm == nil {
		if len(f.models) >= f.pcfg.MaxModels && !f.forgetIdleModel() {
			return noModelSlot
		}
		fm = &feedbackModel{}
		f.models[strings.Clone(fb.ModelID)] = fm
	}
	if !fm.chosen && len(fb.Features.Numeric)+len(fb.Features.Categorical) > 0 {
		fm.features, fm.chosen = featuresOf(&fb.Features), true
		// Windows opened by feedback without features (label overrides)
		// take them, or their feature signals would count nothing.
		for _, w := range fm.open {
			w.AdoptFeatures(f.pcfg.Config, fm.features)
		}
	}
	i, found := slices.BinarySearchFunc(fm.open, start, func(w *poisoning.Window, s int64) int { return cmp.Compare(w.Start.UnixMilli(), s) })
	if !found {
		if len(fm.open) >= f.pcfg.MaxWindows {
			return noWindowSlot
		}
		w := poisoning.NewWindow(f.pcfg.Config, fm.features, strings.Clone(fb.ModelID), time.UnixMilli(start).UTC(), time.UnixMilli(start+f.sizeMs).UTC())
		fm.open = slices.Insert(fm.open, i, w)
	}
	f.ad.Features = fm.features
	f.ad.Adapt(fb, predicted, &f.ex[0])
	fm.open[i].Observe(f.ex, off)
	return observed
}

// forgetIdleModel forgets a model without open windows (its features are
// chosen again from its next feedback) and reports whether there was one.
func (f *feedbacker) forgetIdleModel() bool {
	for id, fm := range f.models {
		if len(fm.open) == 0 {
			delete(f.models, id)
			return true
		}
	}
	return false
}

// featuresOf returns the sorted names of fs's features, at most
// poisoning.MaxFeatures of each kind, each name once, copied (fs's share a
// message's bytes).
func featuresOf(fs *telemetry.Features) poisoning.Features {
	var out poisoning.Features
	for _, n := range fs.Numeric {
		out.Numeric = append(out.Numeric, strings.Clone(n.Name))
	}
	for _, c := range fs.Categorical {
		out.Categorical = append(out.Categorical, strings.Clone(c.Name))
	}
	for _, names := range []*[]string{&out.Numeric, &out.Categorical} {
		slices.Sort(*names)
		*names = slices.Compact(*names)
		*names = slices.DeleteFunc(*names, func(s string) bool { return s == "" })
		*names = (*names)[:min(len(*names), poisoning.MaxFeatures)]
	}
	// A name both numeric and categorical is kept as numeric.
	out.Categorical = slices.DeleteFunc(out.Categorical, func(s string) bool {
		_, ok := slices.BinarySearch(out.Numeric, s)
		return ok
	})
	return out
}

// seal publishes the windows whose end plus the lateness is at or before
// upTo (ms), then the partition's progress when it passed another window
// boundary, when the partition became idle or active again, or when again
// is set. Called with mu held.
func (f *feedbacker) seal(ctx context.Context, upTo int64, idle, again bool) error {
	var recs []ingest.Record
	sealed := 0
	for _, fm := range f.models {
		n := 0
		for _, w := range fm.open {
			if upTo == math.MinInt64 || w.End.UnixMilli()+f.lateMs > upTo {
				fm.open[n] = w
				n++
				continue
			}
			for _, chunk := range partial.EncodeFeedback(f.src, w, 0) {
				recs = append(recs, ingest.Record{Key: []byte(w.Model), Value: chunk, Partition: -1})
			}
			sealed++
			f.horizon = max(f.horizon, w.End.UnixMilli())
		}
		clear(fm.open[n:])
		fm.open = fm.open[:n]
	}
	progress := f.progress()
	mark := int64(math.MinInt64)
	if progress != math.MinInt64 {
		mark = floorDiv(progress-f.lateMs, f.sizeMs)
	}
	if sealed == 0 && mark <= f.mark && idle == f.idle && !again {
		return nil
	}
	if err := f.m.partials.Publish(ctx, recs); err != nil {
		return f.fail(fmt.Errorf("publishing %d feedback windows of %s: %w", sealed, f.src, err))
	}
	// Progress after the windows: a decider never sees progress past a
	// window before the window's partial.
	if err := f.m.publishProgress(ctx, f.src, progress, idle); err != nil {
		return f.fail(err)
	}
	f.mark, f.idle, f.said = max(f.mark, mark), idle, time.Now()
	f.m.met.feedbackWindows.Add(float64(sealed))
	return nil
}

// progress is how far the partition has come (ms): every window whose end
// plus the lateness is at or before it has been sealed.
func (f *feedbacker) progress() int64 {
	if f.horizon == math.MinInt64 {
		return f.watermark
	}
	return max(f.watermark, f.horizon+f.lateMs)
}

// fail records the first failure and returns err: the handler is restarted
// and reads again from the last commit.
func (f *feedbacker) fail(err error) error {
	if f.err == nil {
		f.err = err
	}
	return err
}

// tick seals, once a second, the windows of a partition idle for
// analysis.idle_flush whose end plus the lateness has passed in wall-clock
// time, and says the partition's progress again once a window size has
// passed without news (a decider that took over a partials partition did
// not read what was said before its committed offset).
func (f *feedbacker) tick() {
	defer close(f.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-f.ctx.Done():
			return
		case now := <-t.C:
			f.mu.Lock()
			if f.err == nil {
				// A partition with messages still to read is lagging, not
				// idle: sealing its windows by the clock would make the
				// events waiting to be read late.
				idle := !f.m.feedbackBehind(f.src.Partition) && now.Sub(f.lastSeen) >= f.m.cfg.Analysis.IdleFlush
				upTo := f.progress()
				if idle {
					upTo = now.UnixMilli()
				}
				again := now.Sub(f.said) >= f.m.cfg.Analysis.WindowSize
				if err := f.seal(f.ctx, upTo, idle, again); err != nil && f.ctx.Err() == nil {
					f.m.log.Warn("sealing idle feedback windows", "topic", f.src.Topic, "partition", f.src.Partition, "err", err)
				}
			}
			f.mu.Unlock()
		}
	}
}

// feedbackBehind reports whether feedback partition part has messages not
// read yet (false without a consumer).
func (m *Monitor) feedbackBehind(part int32) bool {
	if m.feedback == nil {
		return false
	}
	return m.feedback.Behind(part)
}

// Committable returns the first offset not yet published: the first event
// of the oldest open window, or the next offset.
func (f *feedbacker) Committable() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next < 0 || f.err != nil {
		return -1
	}
	c := f.next
	for _, fm := range f.models {
		for _, w := range fm.open {
			if w.FirstOffset >= 0 && w.FirstOffset < c {
				c = w.FirstOffset
			}
		}
	}
	return c
}

// Close stops the ticker. Open windows are not published: their events
// are read again from the committed offset by the partition's next owner.
func (f *feedbacker) Close(ctx context.Context) error {
	select {
	case <-f.stop:
		return nil
	default:
		close(f.stop)
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// feedbackKey is the model key of a feedback window: feedback names a
// model, not a version.
func feedbackKey(model string) analysis.ModelKey { return analysis.ModelKey{ID: model} }

// feedbackEnabled reports whether the feedback stage runs.
func (c *Config) feedbackEnabled() bool {
	return c.Kafka.FeedbackTopic != "" && c.Signals.Poisoning.Enabled
}

// storesPredictions reports whether the partitions store each counted
// prediction (predictions table): for the labels of kafka.labels_topic,
// and for the feedback stage, which compares a feedback's proposed label
// with the model's own.
func (c *Config) storesPredictions() bool {
	return c.Kafka.LabelsTopic != "" || c.feedbackEnabled()
}

// openFeedbackTopic prepares the consumer group <group_id>.feedback of the
// feedback topic, which must exist, when the feedback stage runs.
func (m *Monitor) openFeedbackTopic(ctx context.Context) error {
	if !m.cfg.feedbackEnabled() {
		return nil
	}
	topic := m.cfg.Kafka.FeedbackTopic
	kc := m.cfg.Kafka.Consumer
	if _, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), kc.Brokers, topic); err != nil {
		return fmt.Errorf("feedback topic %q is not readable (create it, or set kafka.feedback_topic to one that exists, or to \"\" for no feedback): %w", topic, err)
	}
	fc := kc
	fc.Topic = topic
	fc.GroupID = kc.GroupID + ".feedback"
	fc.StartOffset = ingest.StartEarliest
	var err error
	if m.feedback, err = ingest.NewConsumer(fc, m.openFeedbacker, m.reg, m.log); err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	return nil
}
