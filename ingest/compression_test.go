package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// skipRecorder is a handler that records the values and the skipped ranges
// it is handed, in order.
type skipRecorder struct {
	mu      sync.Mutex
	values  []string
	skipped []Message
	next    int64
}

func (h *skipRecorder) Handle(_ context.Context, batch []Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range batch {
		if m.Skipped != nil {
			h.skipped = append(h.skipped, m)
		} else {
			h.values = append(h.values, string(m.Value))
		}
		h.next = m.Offset + 1
	}
	return nil
}

func (h *skipRecorder) Committable() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next == 0 {
		return -1
	}
	return h.next
}

func (h *skipRecorder) Close(context.Context) error { return nil }

func (h *skipRecorder) seen() (values []string, skipped []Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.values), slices.Clone(h.skipped)
}

// writeCompressed writes msgs to partition 0 of topic as one record batch
// compressed with c.
func writeCompressed(t *testing.T, brokers []string, topic string, c compress.Compression, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Compression: c, RequiredAcks: kafka.RequireAll,
		Balancer:  kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		BatchSize: len(msgs), BatchBytes: 1 << 30, BatchTimeout: time.Second}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("writing %d messages compressed with %s: %v", len(msgs), c, err)
	}
}

// consumeSkipping consumes topic with group until partition 0's handler has
// been handed want readable messages, and returns that handler, stopped,
// and what the process allocated meanwhile.
func consumeSkipping(t *testing.T, brokers []string, topic, group string, want int, reg prometheus.Registerer) (*skipRecorder, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := &skipRecorder{}
	stop := runConsumer(t, testConfig(brokers, topic, group), func(_ context.Context, _ string, partition int32, _ int64) (PartitionHandler, error) {
		if partition != 0 {
			return &skipRecorder{}, nil
		}
		return h, nil
	}, reg)
	waitFor(t, 30*time.Second, fmt.Sprintf("the %d readable messages", want), func() bool {
		vs, _ := h.seen()
		return len(vs) == want
	})
	stop()
	runtime.ReadMemStats(&after)
	return h, after.TotalAlloc - before.TotalAlloc
}

func values(prefix string, from, to int) []kafka.Message {
	var out []kafka.Message
	for i := from; i < to; i++ {
		out = append(out, kafka.Message{Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	return out
}

// TestDecompressionBombIsSkipped replays a decompression bomb: between
// batches of ordinary compressed messages, one batch of 128 values of 1 MiB
// of one byte, 128 MiB that compress to about 128 KiB (gzip) or far less
// (zstd). kafka-go decompresses a fetch's batches whole; the consumer
// passes over the bomb instead, hands its offsets over as one Skipped
// stand-in with reason batch_too_large, goes on with the messages after it,
// and never decompresses the bomb whole: the process allocates less than
// half its size while consuming.
func TestDecompressionBombIsSkipped(t *testing.T) {
	for _, c := range []compress.Compression{compress.Gzip, compress.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			const topic = "bombed"
			e := startBroker(t, topic)
			writeCompressed(t, e.Brokers(), topic, c, values("before", 0, 10)...)
			mib := bytes.Repeat([]byte{'a'}, 1<<20)
			bomb := make([]kafka.Message, 128)
			for i := range bomb {
				bomb[i] = kafka.Message{Value: mib}
			}
			writeCompressed(t, e.Brokers(), topic, c, bomb...)
			writeCompressed(t, e.Brokers(), topic, c, values("after", 0, 10)...)

			reg := prometheus.NewRegistry()
			group := "g-bomb-" + c.String()
			h, alloc := consumeSkipping(t, e.Brokers(), topic, group, 20, reg)

			vs, skipped := h.seen()
			want := append(toStrings(values("before", 0, 10)), toStrings(values("after", 0, 10))...)
			if !slices.Equal(vs, want) {
				t.Errorf("values handed over %v, want %v", vs, want)
			}
			if len(skipped) != 1 {
				t.Fatalf("%d skipped stand-ins, want 1: %+v", len(skipped), skipped)
			}
			s := skipped[0]
			if s.Skipped.From != 10 || s.Offset != 137 || s.Skipped.Reason != ReasonBatchTooLarge ||
				!strings.Contains(s.Skipped.Detail, "offsets 10 to 137") || s.Value != nil || s.Key != nil {
				t.Errorf("skipped %+v (%+v), want offsets 10 to 137, reason %s", s, s.Skipped, ReasonBatchTooLarge)
			}
			if n := metricValue(t, reg, "driftwatch_ingest_skipped_batches_total", map[string]string{"topic": topic, "reason": ReasonBatchTooLarge}); n != 1 {
				t.Errorf("driftwatch_ingest_skipped_batches_total{topic=%q,reason=%q} = %v, want 1", topic, ReasonBatchTooLarge, n)
			}
			if got := committedOffsets(t, e.Brokers(), group, topic, 0)[0]; got != 148 {
				t.Errorf("committed offset %d, want 148 (past the bomb and the messages after it)", got)
			}
			if alloc > 64<<20 {
				t.Errorf("consuming allocated %d MiB: the 128 MiB bomb was decompressed", alloc>>20)
			}
		})
	}
}

func toStrings(msgs []kafka.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// TestRatioReaderStopsAtTheRatio: a reader of compressed bytes stops with
// ErrCompressionRatio once its output would pass the ratio times the input
// it read, and passes data within it whole.
func TestRatioReaderStopsAtTheRatio(t *testing.T) {
	limitDecompression(DefaultCompressionRatio)
	for _, tc := range []struct {
		name  string
		plain []byte
		ok    bool
	}{
		{"telemetry-like", telemetryLike(2000), true},
		{"one byte repeated", bytes.Repeat([]byte{0}, 8<<20), false},
	} {
		for _, c := range []compress.Compression{compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd} {
			var z bytes.Buffer
			w := c.Codec().NewWriter(&z)
			if _, err := w.Write(tc.plain); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			compressed := z.Len()
			r := c.Codec().NewReader(&z)
			var out bytes.Buffer
			_, err := out.ReadFrom(r)
			r.Close()
			ratio := float64(len(tc.plain)) / float64(compressed)
			switch {
			case tc.ok && (err != nil || !bytes.Equal(out.Bytes(), tc.plain)):
				t.Errorf("%s, %s (ratio %.1f): %v", tc.name, c, ratio, err)
			case !tc.ok && ratio > DefaultCompressionRatio && (!errors.Is(err, ErrCompressionRatio) || int64(out.Len()) > DefaultCompressionRatio*int64(compressed)):
				t.Errorf("%s, %s (ratio %.0f): read %d bytes of %d compressed, err %v; want ErrCompressionRatio within %d×",
					tc.name, c, ratio, out.Len(), compressed, err, DefaultCompressionRatio)
			}
		}
	}
}

// telemetryLike returns n JSON events with random ids, times and values, as
// compressible as telemetry (4–7×).
func telemetryLike(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for i := range n {
		b = fmt.Appendf(b, `{"schema_version":"1","prediction_id":"p-%016x","event_time":"2026-12-04T03:%02d:%02d.%03dZ",`+
			`"model":{"id":"fraud","version":"7"},"principal":{"enduser.id":"u-%d"},"features":{"amount":%.2f,"age_days":%d,`+
			`"country":"c%d"},"prediction":{"score":%.6f,"class":"negative","threshold":0.5},"latency_ms":%.3f}`+"\n",
			rng.Uint64(), i/60%60, i%60, rng.IntN(1000), 10000+rng.IntN(2000), rng.ExpFloat64()*100, rng.IntN(3000),
			rng.IntN(12), rng.Float64(), rng.ExpFloat64()*20)
	}
	return b
}

// garbledCodec writes what its codec writes with the bytes after the first
// eight inverted (a frame a hostile producer crafted, its CRC recomputed
// by the batch), and reads as its codec reads.
type garbledCodec struct{ compress.Codec }

func (g garbledCodec) NewWriter(w io.Writer) io.WriteCloser {
	var buf bytes.Buffer
	return &garbler{inner: g.Codec.NewWriter(&buf), buf: &buf, out: w}
}

type garbler struct {
	inner io.WriteCloser
	buf   *bytes.Buffer
	out   io.Writer
}

func (g *garbler) Write(b []byte) (int, error) { return g.inner.Write(b) }

func (g *garbler) Close() error {
	if err := g.inner.Close(); err != nil {
		return err
	}
	b := g.buf.Bytes()
	for i := 8; i < len(b); i++ {
		b[i] = ^b[i]
	}
	_, err := g.out.Write(b)
	return err
}

// TestCorruptCompressedBatchIsSkipped: a record batch whose compressed
// bytes its codec refuses (a garbled zstd frame) would fail every fetch
// of its partition for ever; the consumer passes over it as over a bomb,
// with reason batch_unreadable, and goes on.
func TestCorruptCompressedBatchIsSkipped(t *testing.T) {
	const topic = "garbled"
	e := startBroker(t, topic)
	writeCompressed(t, e.Brokers(), topic, compress.Zstd, values("before", 0, 5)...)
	limitDecompression(DefaultCompressionRatio) // the codecs as the consumer reads them
	orig := compress.Codecs[compress.Zstd]
	compress.Codecs[compress.Zstd] = garbledCodec{orig}
	writeCompressed(t, e.Brokers(), topic, compress.Zstd, values("garbled", 0, 20)...)
	compress.Codecs[compress.Zstd] = orig
	writeCompressed(t, e.Brokers(), topic, compress.Zstd, values("after", 0, 5)...)

	reg := prometheus.NewRegistry()
	h, _ := consumeSkipping(t, e.Brokers(), topic, "g-garbled", 10, reg)
	vs, skipped := h.seen()
	if want := append(toStrings(values("before", 0, 5)), toStrings(values("after", 0, 5))...); !slices.Equal(vs, want) {
		t.Errorf("values %v, want %v", vs, want)
	}
	if len(skipped) != 1 || skipped[0].Skipped.From != 5 || skipped[0].Offset != 24 || skipped[0].Skipped.Reason != ReasonBatchUnreadable {
		t.Fatalf("skipped %+v, want offsets 5 to 24 with reason %s", skipped, ReasonBatchUnreadable)
	}
	// Both reasons' series exist from the start.
	for reason, want := range map[string]float64{ReasonBatchUnreadable: 1, ReasonBatchTooLarge: 0} {
		if n := metricValue(t, reg, "driftwatch_ingest_skipped_batches_total", map[string]string{"topic": topic, "reason": reason}); n != want {
			t.Errorf("driftwatch_ingest_skipped_batches_total{topic=%q,reason=%q} = %v, want %v", topic, reason, n, want)
		}
	}
}

// craftedCodec writes payload whatever it is given to compress, and reads
// as its codec reads.
type craftedCodec struct {
	compress.Codec
	payload []byte
}

func (c craftedCodec) NewWriter(w io.Writer) io.WriteCloser {
	return &crafted{w: w, payload: c.payload}
}

type crafted struct {
	w       io.Writer
	payload []byte
}

func (c *crafted) Write(b []byte) (int, error) { return len(b), nil }
func (c *crafted) Close() error {
	_, err := c.w.Write(c.payload)
	return err
}

// TestSnappyBombIsSkipped replays a snappy bomb: a batch whose one xerial
// frame holds a 14-byte block declaring 1 GiB (snappy's length header comes
// first; kafka-go's reader allocated it before decoding). The consumer
// refuses the block for its declared ratio before allocating anything for
// it, and passes over the batch as batch_too_large.
func TestSnappyBombIsSkipped(t *testing.T) {
	const topic = "snappy-bombed"
	e := startBroker(t, topic)
	writeCompressed(t, e.Brokers(), topic, compress.Snappy, values("before", 0, 5)...)
	limitDecompression(DefaultCompressionRatio)
	block := binary.AppendUvarint(nil, 1<<30)
	block = append(block, 0x20, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a') // a literal of 9 bytes
	payload := append([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}, binary.BigEndian.AppendUint32(nil, uint32(len(block)))...)
	payload = append(payload, block...)
	orig := compress.Codecs[compress.Snappy]
	compress.Codecs[compress.Snappy] = craftedCodec{orig, payload}
	writeCompressed(t, e.Brokers(), topic, compress.Snappy, values("bomb", 0, 3)...)
	compress.Codecs[compress.Snappy] = orig
	writeCompressed(t, e.Brokers(), topic, compress.Snappy, values("after", 0, 5)...)

	h, alloc := consumeSkipping(t, e.Brokers(), topic, "g-snappy", 10, nil)
	_, skipped := h.seen()
	if len(skipped) != 1 || skipped[0].Skipped.From != 5 || skipped[0].Offset != 7 || skipped[0].Skipped.Reason != ReasonBatchTooLarge {
		t.Fatalf("skipped %+v, want offsets 5 to 7 with reason %s", skipped, ReasonBatchTooLarge)
	}
	if alloc > 64<<20 {
		t.Errorf("consuming allocated %d MiB: the 1 GiB the block declares was allocated", alloc>>20)
	}
}
