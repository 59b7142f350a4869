package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

func TestDeadLetterWriterKeepsMessageAndAddsHeaders(t *testing.T) {
	const topic, dlq = "telemetry", "telemetry.dlq"
	e := startBroker(t, topic, dlq)
	reg := prometheus.NewRegistry()
	w := NewDeadLetterWriter(Plaintext(e.Brokers()), dlq, "driftwatch", reg, testLog(t))
	defer w.Close()

	long := strings.Repeat("é", 600) // 1200 bytes: must be cut to <= 1 KiB
	dls := []DeadLetter{
		{Msg: Message{Topic: topic, Partition: 2, Offset: 41, Key: []byte("model-a"), Value: []byte("{not json"),
			Headers: []kafka.Header{{Key: "ce_type", Value: []byte("inference.v1")}}}, Reason: "invalid_json", Detail: "unexpected end"},
		{Msg: Message{Topic: topic, Partition: 0, Offset: 7, Key: []byte("model-b"), Value: []byte(`{"x":1}`)},
			Reason: "missing_field", Detail: long},
	}
	before := time.Now().UTC().Truncate(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := w.Write(ctx, dls); err != nil {
		t.Fatalf("Write: %v", err)
	}
	t.Logf("synchronous write of 2 dead letters took %s", time.Since(start))

	got := readAll(t, e.Brokers(), dlq, 2)
	byKey := make(map[string]kafka.Message)
	for _, m := range got {
		byKey[string(m.Key)] = m
	}
	for _, dl := range dls {
		m, ok := byKey[string(dl.Msg.Key)]
		if !ok {
			t.Fatalf("dead letter with key %q not found", dl.Msg.Key)
		}
		if string(m.Value) != string(dl.Msg.Value) {
			t.Errorf("value = %q, want the original %q", m.Value, dl.Msg.Value)
		}
		h := make(map[string]string)
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		want := map[string]string{
			HeaderErrorReason:   dl.Reason,
			HeaderOrigTopic:     topic,
			HeaderOrigPartition: strconv.Itoa(int(dl.Msg.Partition)),
			HeaderOrigOffset:    strconv.FormatInt(dl.Msg.Offset, 10),
			HeaderGroup:         "driftwatch",
		}
		for _, orig := range dl.Msg.Headers {
			want[orig.Key] = string(orig.Value)
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("header %s = %q, want %q", k, h[k], v)
			}
		}
		detail := h[HeaderError]
		if len(detail) > 1024 || !utf8.ValidString(detail) || !strings.HasPrefix(dl.Detail, detail) || detail == "" {
			t.Errorf("x-error is %d bytes (valid UTF-8 %v), want a non-empty prefix of the detail of at most 1024 bytes", len(detail), utf8.ValidString(detail))
		}
		at, err := time.Parse(time.RFC3339, h[HeaderFailedAt])
		if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("x-failed-at = %q (%v), want an RFC 3339 time of the write", h[HeaderFailedAt], err)
		}
	}
	for reason, want := range map[string]float64{"invalid_json": 1, "missing_field": 1} {
		if got := metricValue(t, reg, "driftwatch_ingest_rejected_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("rejected_total{reason=%s} = %v, want %v", reason, got, want)
		}
	}
}

func TestDeadLetterWriterGivesUpWhenContextEnds(t *testing.T) {
	e := startBroker(t, "telemetry")
	reg := prometheus.NewRegistry()
	// The dead-letter topic does not exist, so every attempt fails.
	w := NewDeadLetterWriter(Plaintext(e.Brokers()), "missing.dlq", "driftwatch", reg, testLog(t))
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := w.Write(ctx, []DeadLetter{{Msg: Message{Value: []byte("x")}, Reason: "invalid_json"}})
	if err == nil {
		t.Fatal("Write to a missing topic succeeded")
	}
	if got := metricValue(t, reg, "driftwatch_ingest_dead_letter_write_errors_total", nil); got < 2 {
		t.Errorf("dead_letter_write_errors_total = %v, want >= 2 (retried)", got)
	}
	if got := metricValue(t, reg, "driftwatch_ingest_rejected_total", map[string]string{"reason": "invalid_json"}); got > 0 {
		t.Errorf("rejected_total counted %v unacknowledged dead letters", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é is 2 bytes: never split it
		{"a€b", 3, "a"},  // € is 3 bytes
		{"a€b", 4, "a€"}, //
		{"😀😀", 5, "😀"},   // 4-byte runes
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// readAll reads n messages of every partition of topic from the start,
// without a consumer group.
func readAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last; {
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := pc.ReadBatch(1, 1<<20)
			for {
				m, err := b.ReadMessage()
				if err != nil {
					break
				}
				out = append(out, m)
				off = m.Offset + 1
			}
			if err := b.Close(); err != nil {
				t.Fatalf("reading %s/%d: %v", topic, p.ID, err)
			}
		}
		pc.Close()
	}
	if len(out) != n {
		t.Fatalf("read %d messages from %s, want %d", len(out), topic, n)
	}
	return out
}

// TestDeadLetterOfAHugeMessageIsWritten: a producer's message that the
// source topic accepted but a dead letter could not carry whole (about
// 1 MiB of value, a long key, many headers) used to fail with Message Size
// Too Large forever and stop its partition. Its dead letter carries the
// first 64 KiB, the original size and SHA-256, and says what was cut.
func TestDeadLetterOfAHugeMessageIsWritten(t *testing.T) {
	const topic, dlq = "telemetry", "telemetry.dlq"
	e := startBroker(t, topic, dlq)
	w := NewDeadLetterWriter(Plaintext(e.Brokers()), dlq, "driftwatch", nil, testLog(t))
	defer w.Close()
	value := bytes.Repeat([]byte("0123456789abcdef"), 65<<10) // 1040 KiB
	var headers []kafka.Header
	for i := range 40 {
		headers = append(headers, kafka.Header{Key: fmt.Sprintf("h%d", i), Value: bytes.Repeat([]byte{'v'}, 1000)})
	}
	key := bytes.Repeat([]byte{'k'}, 5000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Write(ctx, []DeadLetter{{Msg: Message{Topic: topic, Offset: 3, Key: key, Value: value, Headers: headers},
		Reason: "too_large", Detail: "body: 1064960 bytes, limit 65536"}}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := readAll(t, e.Brokers(), dlq, 1)[0]
	h := map[string]string{}
	for _, x := range got.Headers {
		h[x.Key] = string(x.Value)
	}
	sum := sha256.Sum256(value)
	if !bytes.Equal(got.Value, value[:MaxDeadLetterValue]) || len(got.Key) != 1024 {
		t.Errorf("value %d bytes, key %d bytes: want the first %d and 1024", len(got.Value), len(got.Key), MaxDeadLetterValue)
	}
	want := map[string]string{HeaderOrigSize: strconv.Itoa(len(value)), HeaderOrigSHA256: hex.EncodeToString(sum[:]),
		HeaderTruncated: "headers,key,value", HeaderErrorReason: "too_large", HeaderOrigOffset: "3"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q", k, h[k], v)
		}
	}
	if _, kept := h["h0"]; kept {
		t.Error("40 KB of original headers were copied")
	}
}

// TestDeadLetterOfManyEmptyHeadersIsWritten: a message of 600,000 empty
// headers (1.2 MB as a record encodes them, whose keys and values weigh
// nothing) is dead-lettered without them, so that its dead letter fits
// the brokers' limit and the partition goes on; before the headers' lengths
// were counted, all were copied and the write failed for good.
func TestDeadLetterOfManyEmptyHeadersIsWritten(t *testing.T) {
	const topic, dlq = "telemetry", "telemetry.dlq"
	e := startBroker(t, topic, dlq)
	w := NewDeadLetterWriter(Plaintext(e.Brokers()), dlq, "driftwatch", nil, testLog(t))
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Write(ctx, []DeadLetter{{Msg: Message{Topic: topic, Offset: 7, Value: []byte(`{"x":1}`), Headers: make([]kafka.Header, 600_000)},
		Reason: "invalid_json", Detail: "x"}}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := readAll(t, e.Brokers(), dlq, 1)[0]
	truncated := ""
	for _, x := range got.Headers {
		if x.Key == HeaderTruncated {
			truncated = string(x.Value)
		}
	}
	if truncated != "headers" || len(got.Headers) > 20 {
		t.Errorf("%d headers, %s %q: want the original headers left out", len(got.Headers), HeaderTruncated, truncated)
	}
	// 16 KiB of headers as a record encodes them is kept whole.
	kept := make([]kafka.Header, 1000) // 10,000 bytes counted, 2,000 encoded
	if err := w.Write(ctx, []DeadLetter{{Msg: Message{Topic: topic, Offset: 8, Value: []byte(`{"x":1}`), Headers: kept},
		Reason: "invalid_json", Detail: "x"}}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := readAll(t, e.Brokers(), dlq, 2)[1]; len(got.Headers) < len(kept) {
		t.Errorf("%d headers, want the %d original ones and the dead letter's", len(got.Headers), len(kept))
	}
}

// TestDeadLetterMarkScanBound: a partition finds its mark among the newest
// maxMarkScan (10,000) records of its dead-letter partition, not beyond
// (docs/architecture.md: a copy can then appear twice): with maxMarkScan−1
// other sources' dead letters written after its own, its mark is found;
// with maxMarkScan, it is not (-1, so its replay writes its dead letters
// again).
func TestDeadLetterMarkScanBound(t *testing.T) {
	const topic, dlq = "telemetry", "telemetry.dlq"
	for _, tt := range []struct {
		after int
		want  int64
	}{{maxMarkScan - 1, 42}, {maxMarkScan, -1}} {
		e := startBroker(t, topic, dlq)
		w := NewDeadLetterWriter(Plaintext(e.Brokers()), dlq, "driftwatch", nil, testLog(t))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		dls := []DeadLetter{{Msg: Message{Topic: topic, Partition: 0, Offset: 42, Value: []byte("x")}, Reason: "invalid_json"}}
		for i := range tt.after {
			dls = append(dls, DeadLetter{Msg: Message{Topic: "other", Partition: 0, Offset: int64(i), Value: []byte("x")}, Reason: "invalid_json"})
		}
		if err := w.Write(ctx, dls); err != nil {
			t.Fatal(err)
		}
		if got, err := w.LastOffset(ctx, topic, 0); err != nil || got != tt.want {
			t.Errorf("%d dead letters of others after its own: mark %d, %v; want %d", tt.after, got, err, tt.want)
		}
		cancel()
		w.Close()
	}
}

// TestDeadLetterLastOffset: the mark a partition reads when it opens is the
// largest offset of its own dead letters, whatever other partitions and
// topics wrote to the same dead-letter partition; -1 when there is none.
func TestDeadLetterLastOffset(t *testing.T) {
	e, err := StartEmbedded(EmbeddedConfig{Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w := NewDeadLetterWriter(Plaintext(e.Brokers()), "telemetry.dlq", "g", nil, testLog(t))
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if m, err := w.LastOffset(ctx, "telemetry", 0); err != nil || m != -1 {
		t.Fatalf("empty dead-letter topic: %d, %v", m, err)
	}
	var dls []DeadLetter
	for _, x := range []struct {
		topic     string
		partition int32
		offset    int64
	}{{"telemetry", 0, 5}, {"telemetry", 0, 42}, {"telemetry", 2, 99}, {"other", 0, 500}, {"telemetry", 0, 17}, {"telemetry", 1, 1000}} {
		dls = append(dls, DeadLetter{Msg: Message{Topic: x.topic, Partition: x.partition, Offset: x.offset, Value: []byte("x")}, Reason: "invalid_json"})
	}
	if err := w.Write(ctx, dls); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		topic     string
		partition int32
		want      int64
	}{{"telemetry", 0, 42}, {"telemetry", 2, 99}, {"telemetry", 1, 1000}, {"other", 0, 500}, {"telemetry", 3, -1}} {
		if m, err := w.LastOffset(ctx, tt.topic, tt.partition); err != nil || m != tt.want {
			t.Errorf("LastOffset(%s, %d) = %d, %v, want %d", tt.topic, tt.partition, m, err, tt.want)
		}
	}
}
