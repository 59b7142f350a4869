package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Header keys a dead letter carries besides the original headers.
const (
	HeaderErrorReason   = "x-error-reason"
	HeaderError         = "x-error"
	HeaderOrigTopic     = "x-orig-topic"
	HeaderOrigPartition = "x-orig-partition"
	HeaderOrigOffset    = "x-orig-offset"
	HeaderGroup         = "x-consumer-group"
	HeaderFailedAt      = "x-failed-at"
)

// maxErrorDetail bounds the x-error header.
const maxErrorDetail = 1024

// Backoff bounds for retrying a dead-letter write.
const (
	deadLetterBackoffMin = 100 * time.Millisecond
	deadLetterBackoffMax = 5 * time.Second
)

// DeadLetter is a message that could not be processed and why.
type DeadLetter struct {
	// Msg is the original message; its key, value and headers are kept.
	Msg Message
	// Reason is a short, bounded class such as invalid_json or
	// missing_field; it is a metric label.
	Reason string
	// Detail is the human-readable error, truncated to 1 KiB.
	Detail string
}

// DeadLetterWriter writes dead letters to a Kafka topic and waits for every
// in-sync replica to acknowledge them.
type DeadLetterWriter struct {
	w           *kafka.Writer
	group       string
	log         *slog.Logger
	rejected    *prometheus.CounterVec
	writeErrors prometheus.Counter
	closeOnce   sync.Once
	closeErr    error
}

// NewDeadLetterWriter returns a writer to topic on brokers that stamps
// dead letters with the consumer group. Its metrics are registered with reg
// (nil registers none); it connects lazily on the first Write.
func NewDeadLetterWriter(brokers []string, topic, group string, reg prometheus.Registerer, log *slog.Logger) *DeadLetterWriter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &DeadLetterWriter{
		w: &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Topic:        topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 10 * time.Millisecond,
			MaxAttempts:  1, // Write retries with its own backoff.
		},
		group: group,
		log:   log.With("topic", topic),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_ingest_rejected_total",
			Help: "Messages rejected and written to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_dead_letter_write_errors_total",
			Help: "Failed attempts to write dead letters (each is retried).",
		}),
	}
	var err error
	if w.rejected, err = register(reg, w.rejected); err != nil {
		w.log.Warn("registering dead-letter metrics", "err", err)
	}
	if w.writeErrors, err = register(reg, w.writeErrors); err != nil {
		w.log.Warn("registering dead-letter metrics", "err", err)
	}
	return w
}

// Write sends dls and returns once the broker acknowledged all of them. It
// retries failed messages with backoff until ctx ends, and then returns the
// last error.
func (w *DeadLetterWriter) Write(ctx context.Context, dls []DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	msgs := make([]kafka.Message, len(dls))
	for i := range dls {
		msgs[i] = w.message(&dls[i], now)
	}
	// Dead letters are retried whatever the error (the hostile-producers
	// issue makes size and permission errors permanent here too).
	if n, err := writeRetrying(ctx, w.w, msgs, deadLetterBackoffMin, deadLetterBackoffMax, w.log, "writing dead letters", w.writeErrors, nil); err != nil {
		return fmt.Errorf("writing %d dead letters: %w", n, err)
	}
	for i := range dls {
		w.rejected.WithLabelValues(dls[i].Reason).Inc()
	}
	return nil
}

// message builds the dead-letter record for dl.
func (w *DeadLetterWriter) message(dl *DeadLetter, failedAt string) kafka.Message {
	h := make([]kafka.Header, 0, len(dl.Msg.Headers)+7)
	h = append(h, dl.Msg.Headers...)
	h = append(h,
		kafka.Header{Key: HeaderErrorReason, Value: []byte(dl.Reason)},
		kafka.Header{Key: HeaderError, Value: []byte(truncate(dl.Detail, maxErrorDetail))},
		kafka.Header{Key: HeaderOrigTopic, Value: []byte(dl.Msg.Topic)},
		kafka.Header{Key: HeaderOrigPartition, Value: strconv.AppendInt(nil, int64(dl.Msg.Partition), 10)},
		kafka.Header{Key: HeaderOrigOffset, Value: strconv.AppendInt(nil, dl.Msg.Offset, 10)},
		kafka.Header{Key: HeaderGroup, Value: []byte(w.group)},
		kafka.Header{Key: HeaderFailedAt, Value: []byte(failedAt)},
	)
	return kafka.Message{Key: dl.Msg.Key, Value: dl.Msg.Value, Headers: h}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Drop the bytes of a rune cut in half (at most UTFMax-1 of them).
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// Close flushes and closes the writer. It is idempotent.
func (w *DeadLetterWriter) Close() error {
	w.closeOnce.Do(func() {
		if err := w.w.Close(); err != nil {
			w.closeErr = fmt.Errorf("closing dead-letter writer: %w", err)
		}
	})
	return w.closeErr
}
