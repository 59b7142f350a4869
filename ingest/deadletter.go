package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
	// HeaderOrigSize, HeaderOrigSHA256 and HeaderTruncated mark a dead
	// letter whose copy of the original was cut to fit: its original value
	// size in bytes, the SHA-256 of the original value (hex), and what was
	// cut ("value", "key", "headers", comma-separated).
	HeaderOrigSize   = "x-orig-size"
	HeaderOrigSHA256 = "x-orig-sha256"
	HeaderTruncated  = "x-truncated"
)

// Bounds of the copy of the original a dead letter carries: whatever a
// producer sent, a dead letter stays far below the brokers' default
// message.max.bytes (1 MiB), so that it can always be written.
const (
	// MaxDeadLetterValue is the largest original value copied whole; a
	// larger one is cut to its first MaxDeadLetterValue bytes.
	MaxDeadLetterValue = 64 << 10
	// maxDeadLetterKey bounds the copied key.
	maxDeadLetterKey = 1 << 10
	// maxDeadLetterHeaders bounds the copied original headers as a record
	// encodes them (headerSize); beyond it they are left out.
	maxDeadLetterHeaders = 16 << 10
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
	cluster     *Cluster
	topic       string
	group       string
	log         *slog.Logger
	rejected    *prometheus.CounterVec
	writeErrors prometheus.Counter
	closeOnce   sync.Once
	closeErr    error
}

// NewDeadLetterWriter returns a writer to topic on cluster that stamps
// dead letters with the consumer group. Its metrics are registered with reg
// (nil registers none); it connects lazily on the first Write.
func NewDeadLetterWriter(cluster *Cluster, topic, group string, reg prometheus.Registerer, log *slog.Logger) *DeadLetterWriter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &DeadLetterWriter{
		w: &kafka.Writer{
			Addr:      kafka.TCP(cluster.Brokers...),
			Topic:     topic,
			Transport: cluster.Transport(topic),
			// The dead letters of a source partition go to one partition of
			// the dead-letter topic, so that LastOffset finds its mark there.
			Balancer:     originBalancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 10 * time.Millisecond,
			MaxAttempts:  1, // Write retries with its own backoff.
		},
		group:   group,
		cluster: cluster,
		topic:   topic,
		log:     log.With("topic", topic),
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
	// Dead letters are bounded, so a size error means the brokers' limit is
	// far below the default: like a refused authorization or a missing topic,
	// retrying cannot help, and the error says so at once.
	if n, err := writeRetrying(ctx, w.w, msgs, deadLetterBackoffMin, deadLetterBackoffMax, w.log, "writing dead letters", w.writeErrors, permanent); err != nil {
		return fmt.Errorf("writing %d dead letters: %w", n, err)
	}
	for i := range dls {
		w.rejected.WithLabelValues(dls[i].Reason).Inc()
	}
	return nil
}

// headerSize is what h costs in a record: its key and value and their two
// lengths (varints of up to 5 bytes each, counted at 5), so that a message
// of many empty headers, whose keys and values weigh nothing, is bounded
// too.
func headerSize(h kafka.Header) int {
	return len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
}

// message builds the dead-letter record for dl.
func (w *DeadLetterWriter) message(dl *DeadLetter, failedAt string) kafka.Message {
	h := make([]kafka.Header, 0, len(dl.Msg.Headers)+10)
	var cut []string
	size := 0
	for _, oh := range dl.Msg.Headers {
		size += headerSize(oh)
	}
	if size <= maxDeadLetterHeaders {
		h = append(h, dl.Msg.Headers...)
	} else {
		cut = append(cut, "headers")
	}
	key, value := dl.Msg.Key, dl.Msg.Value
	if len(key) > maxDeadLetterKey {
		key, cut = key[:maxDeadLetterKey], append(cut, "key")
	}
	if len(value) > MaxDeadLetterValue {
		sum := sha256.Sum256(value)
		h = append(h,
			kafka.Header{Key: HeaderOrigSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)},
			kafka.Header{Key: HeaderOrigSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
		value, cut = value[:MaxDeadLetterValue], append(cut, "value")
	}
	if len(cut) > 0 {
		h = append(h, kafka.Header{Key: HeaderTruncated, Value: []byte(strings.Join(cut, ","))})
	}
	h = append(h,
		kafka.Header{Key: HeaderErrorReason, Value: []byte(dl.Reason)},
		kafka.Header{Key: HeaderError, Value: []byte(truncate(dl.Detail, maxErrorDetail))},
		kafka.Header{Key: HeaderOrigTopic, Value: []byte(dl.Msg.Topic)},
		kafka.Header{Key: HeaderOrigPartition, Value: strconv.AppendInt(nil, int64(dl.Msg.Partition), 10)},
		kafka.Header{Key: HeaderOrigOffset, Value: strconv.AppendInt(nil, dl.Msg.Offset, 10)},
		kafka.Header{Key: HeaderGroup, Value: []byte(w.group)},
		kafka.Header{Key: HeaderFailedAt, Value: []byte(failedAt)},
	)
	return kafka.Message{Key: key, Value: value, Headers: h}
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

// originBalancer sends a dead letter to the partition of the dead-letter
// topic numbered like its source partition (modulo the count).
type originBalancer struct{}

func (originBalancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key == HeaderOrigPartition {
			if p, err := strconv.Atoi(string(h.Value)); err == nil && p >= 0 {
				return partitions[p%len(partitions)]
			}
		}
	}
	return partitions[0]
}

// maxMarkScan bounds how many of the newest records of a dead-letter
// partition LastOffset reads.
const maxMarkScan = 10000

// LastOffset returns the largest source offset of the dead letters of
// partition origPartition of origTopic among the newest records of the
// dead-letter partition they go to (at most 10,000), or -1 when there is
// none. A partition that replays messages after a restart (they were
// dead-lettered, their offset not yet committed) skips those at or below
// it: the dead-letter topic is at-least-once, and this mark makes the
// copies of one replay, the common case, appear once.
func (w *DeadLetterWriter) LastOffset(ctx context.Context, origTopic string, origPartition int32) (int64, error) {
	n, err := PartitionCount(ctx, w.cluster.Dialer(), w.cluster.Brokers, w.topic)
	if err != nil {
		return -1, err
	}
	part := int(origPartition) % n
	var conn *kafka.Conn
	var last error
	for _, b := range w.cluster.Brokers {
		if conn, err = w.cluster.Dialer().DialLeader(ctx, "tcp", b, w.topic, part); err == nil {
			break
		}
		last = err
	}
	if conn == nil {
		return -1, fmt.Errorf("reading the dead letters of %s/%d: %w", origTopic, origPartition, last)
	}
	defer conn.Close()
	first, end, err := conn.ReadOffsets()
	if err != nil {
		return -1, fmt.Errorf("reading the dead letters of %s/%d: %w", origTopic, origPartition, err)
	}
	from := max(first, end-maxMarkScan)
	if from >= end {
		return -1, nil
	}
	if _, err := conn.Seek(from, kafka.SeekAbsolute); err != nil {
		return -1, fmt.Errorf("reading the dead letters of %s/%d: %w", origTopic, origPartition, err)
	}
	mark := int64(-1)
	wantPart := strconv.Itoa(int(origPartition))
	for off := from; off < end; {
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetReadDeadline(dl)
		} else {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		}
		before := off
		batch := conn.ReadBatch(1, 4<<20)
		for {
			msg, err := batch.ReadMessage()
			if err != nil {
				break
			}
			off = msg.Offset + 1
			var topic, partition, offset string
			for _, h := range msg.Headers {
				switch h.Key {
				case HeaderOrigTopic:
					topic = string(h.Value)
				case HeaderOrigPartition:
					partition = string(h.Value)
				case HeaderOrigOffset:
					offset = string(h.Value)
				}
			}
			if topic == origTopic && partition == wantPart {
				if o, err := strconv.ParseInt(offset, 10, 64); err == nil {
					mark = max(mark, o)
				}
			}
		}
		if err := batch.Close(); err != nil {
			if errors.Is(err, ErrBatchUnreadable) {
				// Dead letters carry hostile values: a broker compressing
				// the topic may make one batch a bomb. The mark found
				// so far stands (replays past it are dead-lettered again).
				w.log.Warn("an unreadable batch of dead letters ends the search for the last one", "offset", off, "err", err)
				return mark, nil
			}
			return -1, fmt.Errorf("reading the dead letters of %s/%d: %w", origTopic, origPartition, err)
		}
		if off == before {
			return -1, fmt.Errorf("reading the dead letters of %s/%d: no record at offset %d", origTopic, origPartition, off)
		}
	}
	return mark, nil
}
