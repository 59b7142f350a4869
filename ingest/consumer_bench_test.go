package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

const (
	benchTopic    = "bench"
	benchMessages = 200_000
	benchValueLen = 300
)

// benchBroker is shared by the benchmarks of one process: producing the
// messages takes longer than reading them.
var benchBroker struct {
	once  sync.Once
	e     *Embedded
	bytes int64
	err   error
}

func benchSetup(b *testing.B) (*Embedded, int64) {
	b.Helper()
	benchBroker.once.Do(func() {
		e, err := StartEmbedded(EmbeddedConfig{Topics: []string{benchTopic}, Partitions: 3})
		if err != nil {
			benchBroker.err = err
			return
		}
		w := &kafka.Writer{
			Addr:         kafka.TCP(e.Brokers()...),
			Topic:        benchTopic,
			Balancer:     &kafka.RoundRobin{},
			RequiredAcks: kafka.RequireAll,
			BatchSize:    2500,
			BatchBytes:   900_000, // below the broker's 1 MiB message.max.bytes
			BatchTimeout: 10 * time.Millisecond,
		}
		defer w.Close()
		// A ~300-byte inference event.
		pad := strings.Repeat("x", benchValueLen)
		msgs := make([]kafka.Message, 0, 15000)
		for i := 0; i < benchMessages; i++ {
			v := fmt.Sprintf(`{"id":"%08d","model":"fraud","version":"v3","ts":"2026-01-01T00:00:00Z","f":[0.1,0.2,0.3],"p":%s}`, i, pad)
			v = v[:benchValueLen-2] + `"}`
			key := fmt.Sprintf("m%d", i%16)
			msgs = append(msgs, kafka.Message{Key: []byte(key), Value: []byte(v)})
			benchBroker.bytes += int64(len(key) + len(v))
			if len(msgs) == cap(msgs) || i == benchMessages-1 {
				if err := w.WriteMessages(context.Background(), msgs...); err != nil {
					benchBroker.err = err
					return
				}
				msgs = msgs[:0]
			}
		}
		benchBroker.e = e
	})
	if benchBroker.err != nil {
		b.Fatalf("preparing benchmark broker: %v", benchBroker.err)
	}
	return benchBroker.e, benchBroker.bytes
}

// countingHandler counts messages and closes done when total reaches want.
type countingHandler struct {
	n    *atomic.Int64
	want int64
	done chan struct{}
	next int64
}

func (h *countingHandler) Handle(_ context.Context, batch []Message) error {
	h.next = batch[len(batch)-1].Offset + 1
	if h.n.Add(int64(len(batch))) == h.want {
		close(h.done)
	}
	return nil
}

func (h *countingHandler) Committable() int64          { return h.next }
func (h *countingHandler) Close(context.Context) error { return nil }

// borrowingCounter is a countingHandler that borrows its messages.
type borrowingCounter struct{ countingHandler }

func (*borrowingCounter) BorrowsMessages() {}

// BenchmarkConsume reads the pre-produced messages through a Consumer (one
// group join and a full pass over the topic per op) with a no-op handler,
// one that borrows its messages (as the monitor's telemetry partitions do)
// and one that gets messages of its own.
func BenchmarkConsume(b *testing.B) {
	for _, borrow := range []bool{true, false} {
		name := "owned"
		if borrow {
			name = "borrowed"
		}
		b.Run(name, func(b *testing.B) { benchConsume(b, borrow) })
	}
}

func benchConsume(b *testing.B, borrow bool) {
	e, size := benchSetup(b)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var n atomic.Int64
		done := make(chan struct{})
		factory := func(_ context.Context, _ string, _ int32, start int64) (PartitionHandler, error) {
			h := countingHandler{n: &n, want: benchMessages, done: done, next: start}
			if borrow {
				return &borrowingCounter{h}, nil
			}
			return &h, nil
		}
		cfg := testConfig(e.Brokers(), benchTopic, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
		cfg.CommitInterval = time.Second
		c, err := NewConsumer(cfg, factory, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- c.Run(context.Background()) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("consumed %d of %d", n.Load(), benchMessages)
		}
		c.Close()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchMessages)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkConsumeReader is the alternative design, kafka-go's Reader with a
// group and FetchMessage, for comparison with BenchmarkConsume.
func BenchmarkConsumeReader(b *testing.B) {
	e, size := benchSetup(b)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           e.Brokers(),
			Topic:             benchTopic,
			GroupID:           fmt.Sprintf("bench-reader-%d-%d", time.Now().UnixNano(), i),
			MaxWait:           100 * time.Millisecond,
			MaxBytes:          DefaultMaxBytes,
			QueueCapacity:     1000,
			CommitInterval:    time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
			RebalanceTimeout:  2 * time.Second,
			JoinGroupBackoff:  200 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for got := 0; got < benchMessages; got++ {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				b.Fatalf("after %d messages: %v", got, err)
			}
			if got%1000 == 999 {
				if err := r.CommitMessages(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
		cancel()
		r.Close()
	}
	b.ReportMetric(float64(b.N*benchMessages)/time.Since(start).Seconds(), "events/s")
}
