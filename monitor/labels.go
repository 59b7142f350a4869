package monitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// labeler is the stage of one partition of the labels topic (consumer group
// <group_id>.labels). It stores each batch of labels (labels, where a
// label written twice or revised collapses to its highest revision), finds
// the windows of the predictions they label, and tells each model's decider
// through the partials topic (keyed by model id, like the partials), so
// that realized performance is computed by the one decider of the model.
// Everything happens within Handle, so its offsets are committed only once
// the labels are stored and the news published: a label read twice after a
// crash collapses with itself and is never counted twice.
type labeler struct {
	m     *Monitor
	topic string
	part  int32
	dec   *telemetry.Decoder
	label telemetry.Label
	next  int64 // next offset to read; -1 before the first message
	// deadUpTo: as partition.deadUpTo.
	deadUpTo int64
	rows     []storage.LabelRow
	dead     []ingest.DeadLetter
}

var _ ingest.PartitionHandler = (*labeler)(nil)

// openLabeler is the labels consumer's HandlerFactory.
func (m *Monitor) openLabeler(ctx context.Context, topic string, part int32, _ int64) (ingest.PartitionHandler, error) {
	l := &labeler{m: m, topic: topic, part: part, dec: telemetry.NewDecoder(m.cfg.Limits, time.Now), next: -1}
	var err error
	if l.deadUpTo, err = m.dlq.LastOffset(ctx, topic, part); err != nil {
		return nil, fmt.Errorf("opening labels partition %s/%d: %w", topic, part, err)
	}
	return l, nil
}

// Handle stores a batch of labels and publishes which prediction windows
// they label. It blocks while ClickHouse or Kafka is unavailable.
func (l *labeler) Handle(ctx context.Context, batch []ingest.Message) error {
	l.rows = l.rows[:0]
	for i := range batch {
		msg := &batch[i]
		if msg.Offset < l.next {
			continue
		}
		if err := l.decode(msg); err != nil {
			var rej *telemetry.RejectError
			if !errors.As(err, &rej) {
				rej = &telemetry.RejectError{Reason: telemetry.ReasonInvalidJSON, Detail: err.Error()}
			}
			l.m.met.labels.WithLabelValues("rejected").Inc()
			if msg.Offset <= l.deadUpTo && rej.Reason != telemetry.ReasonBadTimestamp {
				l.m.met.deadReplayed.Inc()
				continue
			}
			l.dead = append(l.dead, ingest.DeadLetter{Msg: copyMessage(msg), Reason: rej.Reason, Detail: rej.Detail})
			continue
		}
		lb := &l.label
		r := storage.LabelRow{ModelID: lb.ModelID, PredictionID: lb.PredictionID, Revision: lb.Revision, TruthClass: lb.Truth.Class,
			LabelSource: lb.LabelSource, LabelTime: lb.LabelTime, KafkaTopic: l.topic, KafkaPartition: l.part, KafkaOffset: msg.Offset}
		if v := lb.Truth.Value; v != nil {
			r.TruthValue, r.HasValue = *v, true
		}
		l.rows = append(l.rows, r)
	}
	if err := l.m.store.WriteLabels(ctx, l.rows); err != nil {
		return fmt.Errorf("storing %d labels of %s/%d: %w", len(l.rows), l.topic, l.part, err)
	}
	if err := l.announce(ctx); err != nil {
		return err
	}
	if len(l.dead) > 0 {
		if err := l.m.dlq.Write(ctx, l.dead); err != nil {
			return fmt.Errorf("writing %d dead letters: %w", len(l.dead), err)
		}
		clear(l.dead)
		l.dead = l.dead[:0]
	}
	l.m.met.labels.WithLabelValues("stored").Add(float64(len(l.rows)))
	if n := len(batch); n > 0 {
		l.next = batch[n-1].Offset + 1
	}
	return nil
}

// decode decodes msg into l.label, refusing another kind of event.
func (l *labeler) decode(msg *ingest.Message) error {
	if err := checkKind(msg, telemetry.KindLabel); err != nil {
		return err
	}
	return l.dec.DecodeLabel(msg.Value, &l.label)
}

// announce finds the windows of the predictions the stored labels are for
// and publishes, for each, the news to its model's decider.
func (l *labeler) announce(ctx context.Context) error {
	ids := map[string][]string{}
	for _, r := range l.rows {
		ids[r.ModelID] = append(ids[r.ModelID], r.PredictionID)
	}
	models := make([]string, 0, len(ids))
	for m := range ids {
		models = append(models, m)
	}
	sort.Strings(models)
	var recs []ingest.Record
	for _, model := range models {
		windows, err := l.m.store.LabeledWindows(ctx, model, ids[model])
		if err != nil {
			return err
		}
		for _, w := range windows {
			recs = append(recs, ingest.Record{Key: []byte(model), Partition: -1,
				Value: partial.EncodeLabels(analysis.ModelKey{ID: model, Version: w.ModelVersion}, w.WindowStart.UnixMilli())})
		}
	}
	if err := l.m.partials.Publish(ctx, recs); err != nil {
		return fmt.Errorf("announcing %d labeled windows: %w", len(recs), err)
	}
	l.m.met.labeledWindows.Add(float64(len(recs)))
	return nil
}

// Committable returns the next offset: a batch is stored before Handle returns.
func (l *labeler) Committable() int64 { return l.next }

// Close does nothing: nothing is held between batches.
func (l *labeler) Close(context.Context) error { return nil }
