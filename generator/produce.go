package generator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/telemetry"
)

// maxChunk bounds the messages written per WriteMessages call.
const maxChunk = 1000

// Produce writes n events from g (n <= 0: until ctx ends) to topic with
// kafka-go's Writer: RequiredAcks RequireAll, the Murmur2 balancer (the Java client's default partitioner) on the key
// (the model id, so all events of one model land in one partition), batched,
// with a 5ms BatchTimeout. When the scenario's Rate is > 0 it paces the writes
// to Rate in wall time. It returns the number of messages acknowledged. When
// n <= 0 the end of ctx is the normal stop and not an error. It writes no
// labels: for a scenario with Labels use ProduceWith.
func Produce(ctx context.Context, brokers []string, topic string, g *Generator, n int, log *slog.Logger) (int, error) {
	p, err := ProduceWith(ctx, brokers, topic, g, n, ProduceOptions{}, log)
	return p.Events, err
}

// ProduceOptions are the optional settings of ProduceWith.
type ProduceOptions struct {
	// LabelsTopic is the topic of the label events. Required when the
	// scenario has Labels (and then not the inference topic); it must be
	// empty when the scenario has none.
	LabelsTopic string
	// FeedbackTopic is the topic of the training-feedback events. Required
	// when the scenario has Feedback (and then neither the inference nor
	// the labels topic); it must be empty when the scenario has none.
	FeedbackTopic string
	// FeedbackDelay is the event time from an inference to its feedback
	// event, which is also the feedback's event_time (a monitor compares
	// feedback with the prediction it stored, so feedback must come after
	// the prediction's window closed). Default: 0 (with its inference).
	FeedbackDelay time.Duration
	// FeedbackMaxPending bounds the feedback events waiting for their time;
	// more are dropped and counted in Produced.DroppedFeedback. Default: 0 =
	// DefaultMaxPendingFeedback.
	FeedbackMaxPending int
}

// Produced counts what ProduceWith wrote.
type Produced struct {
	// Events is the inference messages acknowledged.
	Events int
	// Labels is the label messages acknowledged.
	Labels int
	// DroppedLabels is the labels the generator dropped because
	// Labels.MaxPending labels were pending (LabelStats.Dropped).
	DroppedLabels int64
	// Feedback is the training-feedback messages acknowledged.
	Feedback int
	// DroppedFeedback is the feedback events dropped because
	// FeedbackMaxPending were waiting.
	DroppedFeedback int64
}

// labelGrace bounds the writing that a run with labels until its context
// ends still does after it ended: the batch under way and its labels, then
// the labels still pending.
const labelGrace = 10 * time.Second

// labelCESource is the ce_source header of generated labels.
const labelCESource = "/driftwatch-generate"

// ProduceWith is Produce, and with Labels also writes the generator's
// labels to opts.LabelsTopic: keyed by model id, with the CloudEvents
// binary-mode headers of docs/telemetry.md (ce_specversion 1.0, ce_type
// ai.driftwatch.label.v1, ce_id the prediction id, ce_source
// /driftwatch-generate, ce_time the wall clock when sending, content-type
// application/json). After each batch of inferences is acknowledged it
// writes the labels whose label_time the batch's last event reached, so
// labels follow their inferences and interleave with them in event time. At
// the end of the run (n events written, or ctx ended when n <= 0) it writes
// the labels still pending, whatever their label_time, unpaced. n counts
// inference events only. With labels and n <= 0, the end of ctx is checked
// between batches: the batch under way is written in full with its labels
// and then the pending labels, within 10 s after ctx ended, so that every
// label written is for an inference written and none of those is lost.
//
// With Feedback it writes the generator's feedback events to
// opts.FeedbackTopic in the same way: keyed by model id, with the
// CloudEvents headers (ce_type ai.driftwatch.training_feedback.v1, ce_id the
// feedback id), each opts.FeedbackDelay of event time after its inference
// (its event_time), those still pending at the end of the run last.
func ProduceWith(ctx context.Context, brokers []string, topic string, g *Generator, n int, opts ProduceOptions, log *slog.Logger) (Produced, error) {
	var out Produced
	if len(brokers) == 0 {
		return out, errors.New("producing telemetry: no brokers")
	}
	if topic == "" {
		return out, errors.New("producing telemetry: no topic")
	}
	switch {
	case g.lab != nil && opts.LabelsTopic == "":
		return out, errors.New("producing telemetry: labels topic: required, the scenario has labels")
	case g.lab == nil && opts.LabelsTopic != "":
		return out, fmt.Errorf("producing telemetry: labels topic %q given, but the scenario has no labels", opts.LabelsTopic)
	case opts.LabelsTopic == topic:
		return out, fmt.Errorf("producing telemetry: labels topic %q is the inference topic", topic)
	case g.fdb != nil && opts.FeedbackTopic == "":
		return out, errors.New("producing telemetry: feedback topic: required, the scenario has feedback")
	case g.fdb == nil && opts.FeedbackTopic != "":
		return out, fmt.Errorf("producing telemetry: feedback topic %q given, but the scenario has no feedback", opts.FeedbackTopic)
	case opts.FeedbackTopic == topic || opts.FeedbackTopic == opts.LabelsTopic && opts.FeedbackTopic != "":
		return out, fmt.Errorf("producing telemetry: feedback topic %q is the inference or the labels topic", opts.FeedbackTopic)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := newWriter(brokers, topic)
	var lw *labelWriter
	wctx := ctx       // of the writes
	graceful := false // the end of ctx is checked between batches, writes have labelGrace
	var fw *feedbackWriter
	if g.fdb != nil {
		fw = newFeedbackWriter(newWriter(brokers, opts.FeedbackTopic), opts.FeedbackDelay, opts.FeedbackMaxPending)
	}
	if g.lab != nil {
		lw = newLabelWriter(newWriter(brokers, opts.LabelsTopic))
	}
	if (lw != nil || fw != nil) && n <= 0 {
		graceful = true
		var cancel context.CancelFunc
		wctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer context.AfterFunc(ctx, func() { time.AfterFunc(labelGrace, cancel) })()
	}
	chunk := maxChunk
	rate := g.sc.Rate
	if rate > 0 {
		// About 20 writes a second keeps the pace smooth without tiny batches.
		chunk = int(min(math.Max(1, math.Ceil(rate/20)), maxChunk))
	}
	msgs := make([]kafka.Message, chunk)
	bufs := make([][]byte, chunk)
	keys := map[string][]byte{}
	var keyBufs [][]byte // keys by prediction id: one buffer a slot, not a map entry a prediction
	if g.sc.KeyByPrediction {
		keyBufs = make([][]byte, chunk)
	}
	start := time.Now()
	sent := 0
	var err error
	for n <= 0 || sent < n {
		k := chunk
		if n > 0 {
			k = min(k, n-sent)
		}
		if graceful && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		// Pace before generating, so that a run ended while waiting leaves
		// no generated and unwritten events (nor labels for them).
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent+k) / rate * float64(time.Second)))
			if err = sleep(ctx, time.Until(due)); err != nil {
				break
			}
		}
		for i := 0; i < k; i++ {
			key, value := g.NextMessage(bufs[i])
			bufs[i] = value
			var kb []byte
			if keyBufs != nil {
				keyBufs[i] = append(keyBufs[i][:0], key...)
				kb = keyBufs[i]
			} else {
				var ok bool
				if kb, ok = keys[key]; !ok {
					kb = []byte(key)
					keys[key] = kb
				}
			}
			msgs[i] = kafka.Message{Key: kb, Value: value}
			if fw != nil {
				fw.add(g)
			}
		}
		if err = w.WriteMessages(wctx, msgs[:k]...); err != nil {
			sent += acked(err, k)
			err = fmt.Errorf("producing telemetry to %s: %w", topic, err)
			break
		}
		sent += k
		if fw != nil {
			var m int
			m, err = fw.write(wctx, g.ev.EventTime, false)
			out.Feedback += m
			if err != nil {
				err = fmt.Errorf("producing feedback to %s: %w", opts.FeedbackTopic, err)
				break
			}
		}
		if lw != nil {
			var m int
			m, err = lw.write(wctx, g, false)
			out.Labels += m
			if err != nil {
				err = fmt.Errorf("producing labels to %s: %w", opts.LabelsTopic, err)
				break
			}
		}
	}
	stopped := n <= 0 && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if lw != nil && (err == nil || stopped) {
		m, ferr := lw.write(wctx, g, true)
		out.Labels += m
		if ferr != nil {
			err = fmt.Errorf("producing pending labels to %s: %w", opts.LabelsTopic, ferr)
			stopped = false
		}
	}
	if fw != nil && (err == nil || stopped) {
		m, ferr := fw.write(wctx, g.ev.EventTime, true)
		out.Feedback += m
		if ferr != nil {
			err = fmt.Errorf("producing pending feedback to %s: %w", opts.FeedbackTopic, ferr)
			stopped = false
		}
	}
	if cerr := w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing telemetry writer: %w", cerr)
	}
	if lw != nil {
		if cerr := lw.w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing label writer: %w", cerr)
		}
	}
	if fw != nil {
		if cerr := fw.w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing feedback writer: %w", cerr)
		}
	}
	if stopped {
		err = nil
	}
	out.Events = sent
	out.DroppedLabels = g.LabelStats().Dropped
	elapsed := time.Since(start)
	args := []any{"topic", topic, "messages", sent,
		"seconds", elapsed.Seconds(), "rate", float64(sent) / max(elapsed.Seconds(), 1e-9)}
	if lw != nil {
		args = append(args, "labels_topic", opts.LabelsTopic, "labels", out.Labels, "dropped_labels", out.DroppedLabels)
	}
	if fw != nil {
		out.DroppedFeedback = fw.dropped
		args = append(args, "feedback_topic", opts.FeedbackTopic, "feedback", out.Feedback, "dropped_feedback", fw.dropped)
	}
	log.Info("produced telemetry", append(args, "error", err)...)
	return out, err
}

// newWriter returns the kafka-go Writer of Produce for topic.
func newWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    maxChunk,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}
}

// acked returns how many of the k messages of a failed WriteMessages call
// were acknowledged all the same.
func acked(err error, k int) int {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != k {
		return 0
	}
	n := 0
	for _, e := range werrs {
		if e == nil {
			n++
		}
	}
	return n
}

// labelWriter writes a generator's labels in batches of at most maxChunk,
// reusing its buffers from batch to batch.
type labelWriter struct {
	w     *kafka.Writer
	l     telemetry.Label
	msgs  []kafka.Message
	slots []labelSlot
	keys  map[string][]byte
	// Header values shared by every message; ceTime is set once a batch.
	spec, typ, source, ctype, ceTime []byte
}

// labelSlot holds one message's buffers.
type labelSlot struct {
	value, id []byte
	hdr       []kafka.Header
}

func newLabelWriter(w *kafka.Writer) *labelWriter {
	return &labelWriter{
		w:      w,
		keys:   map[string][]byte{},
		spec:   []byte("1.0"),
		typ:    []byte(telemetry.TypeLabel),
		source: []byte(labelCESource),
		ctype:  []byte("application/json"),
	}
}

// write writes g's labels: those due by its clock, or with flush all that
// are pending. It returns how many were acknowledged.
func (lw *labelWriter) write(ctx context.Context, g *Generator, flush bool) (int, error) {
	next := g.NextLabel
	if flush {
		next = g.FlushLabel
	}
	sent := 0
	for {
		k := 0
		for k < maxChunk && next(&lw.l) {
			if k == len(lw.slots) {
				lw.slots = append(lw.slots, labelSlot{hdr: make([]kafka.Header, 6)})
				lw.msgs = append(lw.msgs, kafka.Message{})
			}
			s := &lw.slots[k]
			s.value = AppendLabel(s.value[:0], &lw.l)
			s.id = append(s.id[:0], lw.l.PredictionID...)
			key, ok := lw.keys[lw.l.ModelID]
			if !ok {
				key = []byte(lw.l.ModelID)
				lw.keys[lw.l.ModelID] = key
			}
			lw.msgs[k] = kafka.Message{Key: key, Value: s.value, Headers: s.hdr}
			k++
		}
		if k == 0 {
			return sent, nil
		}
		lw.ceTime = time.Now().UTC().AppendFormat(lw.ceTime[:0], time.RFC3339Nano)
		for i := range k {
			h := lw.slots[i].hdr
			h[0] = kafka.Header{Key: "ce_specversion", Value: lw.spec}
			h[1] = kafka.Header{Key: "ce_type", Value: lw.typ}
			h[2] = kafka.Header{Key: "ce_id", Value: lw.slots[i].id}
			h[3] = kafka.Header{Key: "ce_source", Value: lw.source}
			h[4] = kafka.Header{Key: "ce_time", Value: lw.ceTime}
			h[5] = kafka.Header{Key: "content-type", Value: lw.ctype}
		}
		if err := lw.w.WriteMessages(ctx, lw.msgs[:k]...); err != nil {
			return sent + acked(err, k), err
		}
		sent += k
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
