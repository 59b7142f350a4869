package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// openFeedbackMerger prepares the decider's merger of feedback windows: it waits
// for every partition of the feedback topic, and knows which windows were
// decided before (their FeedbackSignal rows), so that a replay decides
// nothing twice.
func (d *decider) openFeedbackMerger(ctx context.Context) error {
	m := d.m
	if !m.cfg.feedbackEnabled() {
		return nil
	}
	cfg := &m.cfg.Analysis
	d.fmerge = partial.NewFeedbackMerger(partial.Config{Lateness: cfg.AllowedLateness, Timeout: cfg.MergeTimeout,
		IdleWait: cfg.IdleWait, MaxModels: cfg.MaxModels, MaxWindows: maxWindowsPerModel})
	topic := m.cfg.Kafka.FeedbackTopic
	n, err := ingest.PartitionCount(ctx, m.kafka.Dialer(), m.kafka.Brokers, topic)
	if err != nil {
		return fmt.Errorf("reading the feedback topic: %w", err)
	}
	d.fmerge.Expect(topic, n)
	decided, err := m.store.FeedbackDecided(ctx, FeedbackSignal)
	if err != nil {
		return err
	}
	restore := make(map[analysis.ModelKey]time.Time, len(decided))
	for id, end := range decided {
		restore[feedbackKey(id)] = end
	}
	d.fmerge.Restore(restore)
	return nil
}

// expectFeedback is expect for the feedback topic.
func (d *decider) expectFeedback(ctx context.Context, src partial.Source) {
	topic := d.m.cfg.Kafka.FeedbackTopic
	if d.fmerge.Accepts(src) || time.Since(d.frecounted) < recountEvery {
		return
	}
	d.frecounted = time.Now()
	n, err := ingest.PartitionCount(ctx, d.m.kafka.Dialer(), d.m.kafka.Brokers, topic)
	if err != nil {
		d.m.log.Warn("counting the feedback topic's partitions", "topic", topic, "err", err)
		return
	}
	d.fmerge.Expect(topic, n)
}

// addFeedback merges an assembled feedback partial whose first chunk was
// read at offset first. A partial that does not decode is dead-lettered;
// the error is ClickHouse's (the batch is read again).
func (d *decider) addFeedback(ctx context.Context, msg *ingest.Message, payload []byte, first int64) error {
	met := d.m.met
	if d.fmerge == nil {
		met.feedbackIn.WithLabelValues("invalid").Inc()
		d.reject(msg, errors.New("a feedback partial, and this monitor has no feedback stage (kafka.feedback_topic, signals.poisoning.enabled)"))
		return nil
	}
	src, w, err := partial.DecodeFeedback(d.m.cfg.Signals.Poisoning.Config, payload)
	if err != nil {
		met.feedbackIn.WithLabelValues("invalid").Inc()
		d.reject(msg, err)
		return nil
	}
	d.expectFeedback(ctx, src)
	mv := feedbackKey(w.Model)
	if !d.fmerge.Knows(mv) {
		end, err := d.m.store.FeedbackDecidedEnd(ctx, FeedbackSignal, w.Model)
		if err != nil {
			return err
		}
		if !end.IsZero() {
			d.fmerge.Restore(map[analysis.ModelKey]time.Time{mv: end})
		}
	}
	switch d.fmerge.Add(src, w, first, time.Now()) {
	case partial.Merged:
		met.feedbackIn.WithLabelValues("merged").Inc()
	case partial.Duplicate:
		met.feedbackIn.WithLabelValues("duplicate").Inc()
	case partial.AlreadyDecided:
		met.feedbackIn.WithLabelValues("already_decided").Inc()
	case partial.Dropped:
		met.feedbackIn.WithLabelValues("dropped").Inc()
		d.m.log.Warn("feedback partial dropped: beyond the decider's bound of models or windows, or not from a partition of the feedback topic",
			"model", w.Model, "window_start", w.Start, "source", src.String())
	}
	return nil
}

// decideFeedback scores the complete feedback windows with every poisoning
// signal against their model's reference feedback, takes the decisions as
// the evaluation does for the other signals (evaluate.DecideSignals), and
// adds their signals rows (and the window's FeedbackSignal row) to b. It
// returns their alert observations and the references rows of the
// reference feedback that grew, to be stored before b. A model's first
// signals.poisoning.reference_windows windows make its reference feedback:
// they are scored without one (the verdicts that need it only inform). The
// reference's End is that of the last window merged into it, so that a
// window decided again after a crash (its reference stored, its decision
// not) is neither merged twice nor scored against itself. What the windows
// count in the metrics is added to counts, to be counted once b is stored.
func (d *decider) decideFeedback(ctx context.Context, ready []partial.FeedbackComplete, b *storage.WindowBatch, counts *[]func()) ([]alerting.Observation, []storage.ReferenceRow, error) {
	var obs []alerting.Observation
	grown := map[string]*feedbackRef{}
	want := d.m.cfg.Signals.Poisoning.ReferenceWindows
	// What each model serves, looked up once per call.
	served := map[string]servedModel{}
	servedOf := func(model string) (servedModel, error) {
		if s, ok := served[model]; ok {
			return s, nil
		}
		s, err := d.servedFeatures(ctx, model)
		if err == nil {
			served[model] = s
		}
		return s, err
	}
	for i := range ready {
		c := &ready[i]
		w := c.Window
		mv := feedbackKey(w.Model)
		// A reference grown in this call is not read again: the bound of
		// held references may have dropped it for another model's since,
		// and the stored one lacks what grew until rows are stored.
		ref, ok := grown[w.Model]
		if !ok {
			var err error
			if ref, err = d.feedbackReference(ctx, w.Model); err != nil {
				return nil, nil, err
			}
		}
		inRef := ref.w != nil && !w.End.After(ref.w.End)
		var against *poisoning.Window
		refID := ""
		if !inRef && ref.windows >= want && ref.w != nil {
			against, refID = ref.w, feedbackRefID
		}
		var vs []evaluate.SignalVerdict
		for _, s := range w.Score(against) {
			for _, v := range s.Verdicts {
				vs = append(vs, evaluate.SignalVerdict{Signal: s.Signal, Verdict: v})
			}
		}
		// And against what the model serves, when it has a serving
		// reference: decided with the window's other verdicts, stored with
		// that reference's id.
		againstRef := len(vs)
		servedID, servedEv := "", ""
		if len(w.Features.Numeric) > 0 {
			s, err := servedOf(w.Model)
			if err != nil {
				return nil, nil, err
			}
			if s.features != nil {
				servedID = s.id
				tested := w.ScoreServing(s.features)
				for _, v := range tested {
					vs = append(vs, evaluate.SignalVerdict{Signal: poisoning.SignalServingDrift, Verdict: v})
				}
				servedEv = fmt.Sprintf("; against what version %q serves (reference %s)", s.version, s.id)
				if len(tested) == 0 {
					servedEv += ": no numeric feature with min_count values on both sides, " + poisoning.SignalServingDrift + " not tested"
				}
			} else {
				servedEv = "; no serving reference (none stored, or its version warming up): " + poisoning.SignalServingDrift + " not tested"
			}
		}
		evaluate.DecideSignals(d.m.cfg.Analysis.FDR, vs)
		signalRows(b, mv, w.Start, w.End, refID, vs[:againstRef])
		signalRows(b, mv, w.Start, w.End, servedID, vs[againstRef:])
		feedbackRow(b, c, servedEv)
		*counts = append(*counts, func() { d.m.met.signalVerdicts(mv, vs) })
		obs = append(obs, d.m.signalObservations(mv, w.Start, w.End, vs)...)
		if len(c.Missing) > 0 {
			d.m.log.Warn("feedback window decided without the share of some partitions (they stayed behind for merge_timeout, or their partial was dropped at a bound)",
				"model", w.Model, "window_start", w.Start, "missing", len(c.Missing))
		}
		if !inRef && ref.windows < want {
			// The window is decided: the reference takes it over.
			if ref.w == nil {
				ref.w = w
			} else {
				ref.w.Merge(w)
				ref.w.End = w.End
			}
			ref.windows++
			grown[w.Model] = ref
		}
	}
	var rows []storage.ReferenceRow
	for model, ref := range grown {
		rows = append(rows, storage.ReferenceRow{ModelID: model, ModelVersion: feedbackRefVersion, ReferenceID: feedbackRefID,
			Source: "feedback", Windows: uint32(ref.windows), Feature: KindFeedbackReference, Kind: KindFeedbackReference,
			N: ref.w.Examples, Mean: math.NaN(), Variance: math.NaN(), Min: math.NaN(), Max: math.NaN(),
			State: string(ref.w.AppendBinary(nil))})
	}
	return obs, rows, nil
}

// servedModel is what a model serves: per numeric feature (nil: a feature
// it does not serve), and the id of the reference that says it; features
// is nil when the model has no serving reference here.
type servedModel struct {
	features    func(string) *poisoning.Served
	id, version string
}

// servedFeatures returns what model serves (feedback names a model, not a
// version): the newest reference of the version with the most inferences
// over its last servingSpanWindows decided windows (Store.ServingReference;
// the version of its newest stored reference when it has none), the one
// this instance pinned when it holds one, and none while that version warms
// up here or when it has no reference yet. One neither
// held nor warming is read from storage and kept by the decider, not by the
// reference store, where it would take a place of the versions whose
// windows are decided here (and hostile feedback naming retired models
// could evict their warm-ups). A failed read fails the decision, to be
// taken again.
func (d *decider) servedFeatures(ctx context.Context, model string) (servedModel, error) {
	version, id, ok, err := d.m.store.ServingReference(ctx, model, servingSpanWindows*d.m.cfg.Analysis.WindowSize)
	if err != nil || !ok {
		return servedModel{}, err
	}
	mv := analysis.ModelKey{ID: model, Version: version}
	ref := d.m.refs.Peek(mv)
	if ref == nil {
		if d.m.refs.Warming(mv) {
			return servedModel{}, nil
		}
		if ref = d.served[mv]; ref == nil || ref.ID != id {
			if ref, err = d.m.latestReference(ctx, mv, id); err != nil || ref == nil {
				return servedModel{}, err
			}
			if d.served == nil {
				d.served = map[analysis.ModelKey]*reference.Reference{}
			}
			for k := range d.served {
				if _, held := d.served[mv]; held || len(d.served) < max(d.m.cfg.Analysis.MaxModels, 1) {
					break // replaced in place, or there is room
				}
				delete(d.served, k) // read again when its model's feedback comes
			}
			d.served[mv] = ref
		}
	}
	return servedModel{id: ref.ID, version: version, features: func(feature string) *poisoning.Served {
		n := ref.Numeric[feature]
		if n == nil || len(n.Sorted()) == 0 {
			return nil
		}
		return &poisoning.Served{Sorted: n.Sorted(), Mean: n.Mean, N: n.N}
	}}, nil
}

// servingSpanWindows is how many of a model's newest windows weigh its
// versions' inferences, to tell which one it serves.
const servingSpanWindows = 10

// The reference feedback of a model is one row of the references table.
const (
	// KindFeedbackReference is its kind and feature; its state is the
	// merged poisoning.Window of the model's first decided feedback windows
	// (from the first one's start to the last one's end).
	KindFeedbackReference = "poisoning"
	// feedbackRefVersion is its model_version: '#' is in no model version
	// (docs/telemetry.md, identifiers), so it never names the reference of
	// a model version.
	feedbackRefVersion = "#feedback"
	// feedbackRefID is its reference_id: one per model, replaced as it grows.
	feedbackRefID = "feedback"
)

// feedbackRef is a model's reference feedback: the merge of its first
// decided feedback windows.
type feedbackRef struct {
	w       *poisoning.Window // nil before the first window
	windows int
}

// feedbackReference returns model's reference feedback, read from the
// references table when the decider does not hold it. Called with mu held.
func (d *decider) feedbackReference(ctx context.Context, model string) (*feedbackRef, error) {
	if r := d.fref[model]; r != nil {
		return r, nil
	}
	rows, err := d.m.store.ReferenceRows(ctx, model, feedbackRefVersion, feedbackRefID)
	if err != nil {
		return nil, err
	}
	r := &feedbackRef{}
	for _, row := range rows {
		if row.Kind != KindFeedbackReference {
			continue
		}
		w, err := poisoning.DecodeWindow(d.m.cfg.Signals.Poisoning.Config, []byte(row.State))
		if err != nil {
			// Stored by a release or configuration whose bounds differ.
			d.m.log.Warn("stored reference feedback does not decode: it is built again", "model", model, "err", err)
			continue
		}
		r.w, r.windows = w, int(row.Windows)
	}
	if d.fref == nil {
		d.fref = map[string]*feedbackRef{}
	}
	for id := range d.fref {
		if len(d.fref) < max(d.m.cfg.Analysis.MaxModels, 1) {
			break
		}
		delete(d.fref, id) // read again when its next window comes
	}
	d.fref[model] = r
	return r, nil
}
