package generator

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/telemetry"
)

// DefaultMaxPendingFeedback is the default of ProduceOptions.FeedbackMaxPending.
// A pending feedback event takes about 1 KB, so the default bounds them to
// about 100 MB.
const DefaultMaxPendingFeedback = 100_000

// feedbackWriter holds the feedback events of the inferences generated
// until they are due (their inference's event time plus the delay, which
// is also their event_time) and writes them, keyed by model id with the
// CloudEvents binary-mode headers (ce_type
// ai.driftwatch.training_feedback.v1, ce_id the feedback id), in batches of
// at most maxChunk. Its buffers are reused from message to message.
type feedbackWriter struct {
	w          *kafka.Writer
	delay      time.Duration
	maxPending int
	dropped    int64
	f          telemetry.Feedback
	queue      []*pendingFeedback // in due order (the delay is constant)
	head       int                // queue[:head] are written
	free       []*pendingFeedback
	msgs       []kafka.Message
	sent       []*pendingFeedback // of msgs
	keys       map[string][]byte
	// Header values shared by every message; ceTime is set once a batch.
	spec, typ, source, ctype, ceTime []byte
}

// pendingFeedback is one feedback message waiting to be due.
type pendingFeedback struct {
	due       time.Time
	value, id []byte
	key       []byte
	hdr       []kafka.Header
}

func newFeedbackWriter(w *kafka.Writer, delay time.Duration, maxPending int) *feedbackWriter {
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingFeedback
	}
	return &feedbackWriter{
		w:          w,
		delay:      delay,
		maxPending: maxPending,
		keys:       map[string][]byte{},
		spec:       []byte("1.0"),
		typ:        []byte(telemetry.TypeFeedback),
		source:     []byte(labelCESource),
		ctype:      []byte("application/json"),
	}
}

// add queues the feedback event of g's last inference, if it got one; its
// event_time becomes its inference's plus the delay. Beyond maxPending it
// is dropped and counted.
func (fw *feedbackWriter) add(g *Generator) {
	if !g.NextFeedback(&fw.f) {
		return
	}
	if len(fw.queue)-fw.head >= fw.maxPending {
		fw.dropped++
		return
	}
	var p *pendingFeedback
	if n := len(fw.free); n > 0 {
		p, fw.free = fw.free[n-1], fw.free[:n-1]
	} else {
		p = &pendingFeedback{hdr: make([]kafka.Header, 6)}
	}
	fw.f.EventTime = fw.f.EventTime.Add(fw.delay)
	p.due = fw.f.EventTime
	p.value = g.AppendFeedback(p.value[:0], &fw.f)
	p.id = append(p.id[:0], fw.f.FeedbackID...)
	key, ok := fw.keys[fw.f.ModelID]
	if !ok {
		key = []byte(fw.f.ModelID)
		fw.keys[fw.f.ModelID] = key
	}
	p.key = key
	if fw.head > 0 && fw.head == len(fw.queue) {
		fw.queue, fw.head = fw.queue[:0], 0
	}
	fw.queue = append(fw.queue, p)
}

// write writes the feedback events due at event time now, or with flush
// every one pending, and returns how many were acknowledged.
func (fw *feedbackWriter) write(ctx context.Context, now time.Time, flush bool) (int, error) {
	sent := 0
	for {
		fw.msgs, fw.sent = fw.msgs[:0], fw.sent[:0]
		for i := fw.head; i < len(fw.queue) && len(fw.msgs) < maxChunk; i++ {
			p := fw.queue[i]
			if !flush && p.due.After(now) {
				break
			}
			fw.msgs = append(fw.msgs, kafka.Message{Key: p.key, Value: p.value, Headers: p.hdr})
			fw.sent = append(fw.sent, p)
		}
		k := len(fw.msgs)
		if k == 0 {
			return sent, nil
		}
		fw.ceTime = time.Now().UTC().AppendFormat(fw.ceTime[:0], time.RFC3339Nano)
		for _, p := range fw.sent {
			p.hdr[0] = kafka.Header{Key: "ce_specversion", Value: fw.spec}
			p.hdr[1] = kafka.Header{Key: "ce_type", Value: fw.typ}
			p.hdr[2] = kafka.Header{Key: "ce_id", Value: p.id}
			p.hdr[3] = kafka.Header{Key: "ce_source", Value: fw.source}
			p.hdr[4] = kafka.Header{Key: "ce_time", Value: fw.ceTime}
			p.hdr[5] = kafka.Header{Key: "content-type", Value: fw.ctype}
		}
		if err := fw.w.WriteMessages(ctx, fw.msgs...); err != nil {
			return sent + acked(err, k), err
		}
		sent += k
		fw.head += k
		fw.free = append(fw.free, fw.sent...)
		// Compact when the written head is most of the queue.
		if fw.head > 4096 && fw.head > len(fw.queue)/2 {
			n := copy(fw.queue, fw.queue[fw.head:])
			clear(fw.queue[n:])
			fw.queue, fw.head = fw.queue[:n], 0
		}
	}
}
