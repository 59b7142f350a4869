package ingest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchCase is a message as produced, to compare with what a handler is
// handed.
type fetchCase struct {
	key, value []byte
	headers    []kafka.Header
}

// fetchCases returns n messages of every shape a fetch must hand over
// byte for byte: null and empty keys and values, headers, and values from
// a few bytes to larger than a partition's first reused buffer.
func fetchCases(n int) []fetchCase {
	out := make([]fetchCase, n)
	for i := range out {
		c := &out[i]
		switch {
		case i%11 == 4:
			c.key = []byte{} // empty, not null
		case i%5 != 0:
			c.key = fmt.Appendf(nil, "key-%d", i)
		}
		switch {
		case i%13 == 6:
			c.value = nil // null (a tombstone)
		case i%7 == 3:
			c.value = []byte{}
		case i == n/2:
			// Random letters: a value of one repeated byte would make its
			// record batch a decompression bomb (max_compression_ratio).
			c.value = make([]byte, minBuffer+1000)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for j := range c.value {
				c.value[j] = byte('a' + rng.IntN(26))
			}
		default:
			c.value = bytes.Repeat(fmt.Appendf(nil, "v%d.", i), 1+i%40)
		}
		if i%3 == 0 {
			c.headers = []kafka.Header{{Key: "ce_type", Value: fmt.Appendf(nil, "t%d", i)}, {Key: "empty", Value: []byte{}}}
		}
	}
	return out
}

// fetchRecorder is a handler that checks, while Handle runs, that each
// message is the one produced at its offset; keep also holds every message
// until the end, to check that a handler that is no Borrower owns them.
type fetchRecorder struct {
	t     *testing.T
	cases []fetchCase
	mu    *sync.Mutex
	seen  map[int64]int // deliveries per offset
	kept  *[]Message
	keep  bool
	next  int64
}

func (h *fetchRecorder) Handle(_ context.Context, batch []Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range batch {
		if m.Offset >= int64(len(h.cases)) {
			h.t.Errorf("offset %d beyond the %d produced", m.Offset, len(h.cases))
			continue
		}
		if err := sameMessage(m, h.cases[m.Offset]); err != nil {
			h.t.Errorf("while handled: %v", err)
		}
		h.seen[m.Offset]++
		if h.keep {
			*h.kept = append(*h.kept, m)
		}
	}
	h.next = batch[len(batch)-1].Offset + 1
	return nil
}

func (h *fetchRecorder) Committable() int64          { return h.next }
func (h *fetchRecorder) Close(context.Context) error { return nil }

// borrowingRecorder is a fetchRecorder that borrows its messages.
type borrowingRecorder struct{ fetchRecorder }

func (*borrowingRecorder) BorrowsMessages() {}

// sameMessage says how m differs from c, nil if it does not. Null keys
// and values are told apart from empty ones, as Kafka does.
func sameMessage(m Message, c fetchCase) error {
	if (m.Key == nil) != (c.key == nil) || !bytes.Equal(m.Key, c.key) {
		return fmt.Errorf("offset %d: key %q, want %q", m.Offset, m.Key, c.key)
	}
	if (m.Value == nil) != (c.value == nil) || !bytes.Equal(m.Value, c.value) {
		return fmt.Errorf("offset %d: value of %d bytes %.40q, want %d bytes %.40q", m.Offset, len(m.Value), m.Value, len(c.value), c.value)
	}
	if !slices.EqualFunc(m.Headers, c.headers, func(a, b kafka.Header) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
		return fmt.Errorf("offset %d: headers %v, want %v", m.Offset, m.Headers, c.headers)
	}
	return nil
}

// TestFetchHandsOverExactMessages produces messages of every shape, in
// record batches of every compression codec, and reads them back through a
// consumer with small batches: a Borrower's handler must see each message
// exactly as produced while Handle runs (its keys and values are copied
// into one reused buffer, which grows for the large value), and a handler
// that is not one must still hold every message intact after all are read.
func TestFetchHandsOverExactMessages(t *testing.T) {
	codecs := []struct {
		name  string
		codec compress.Compression
	}{{"none", 0}, {"gzip", compress.Gzip}, {"snappy", compress.Snappy}, {"lz4", compress.Lz4}, {"zstd", compress.Zstd}}
	for _, codec := range codecs {
		for _, borrow := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/borrower=%v", codec.name, borrow), func(t *testing.T) {
				const topic, n = "telemetry", 400
				e := startBroker(t, topic)
				cases := fetchCases(n)
				w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: topic, RequiredAcks: kafka.RequireAll, Compression: codec.codec,
					Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }), BatchTimeout: 5 * time.Millisecond, BatchSize: 64}
				msgs := make([]kafka.Message, n)
				for i, c := range cases {
					msgs[i] = kafka.Message{Key: c.key, Value: c.value, Headers: c.headers}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					t.Fatal(err)
				}
				w.Close()

				var mu sync.Mutex
				seen := map[int64]int{}
				var kept []Message
				cfg := testConfig(e.Brokers(), topic, "g-exact")
				cfg.MaxBatch = 37
				stop := runConsumer(t, cfg, func(_ context.Context, _ string, p int32, start int64) (PartitionHandler, error) {
					rec := fetchRecorder{t: t, cases: cases, mu: &mu, seen: seen, kept: &kept, keep: !borrow, next: start}
					if borrow {
						return &borrowingRecorder{rec}, nil
					}
					return &rec, nil
				}, nil)
				waitFor(t, 20*time.Second, "every message handled", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(seen) == n
				})
				stop()
				mu.Lock()
				defer mu.Unlock()
				for off, k := range seen {
					if k != 1 {
						t.Errorf("offset %d handed over %d times, want once", off, k)
					}
				}
				for _, m := range kept {
					if err := sameMessage(m, cases[m.Offset]); err != nil {
						t.Errorf("after every fetch (the handler is no Borrower: its messages are its own): %v", err)
					}
				}
			})
		}
	}
}

// nopBorrower is a Borrower that does nothing with its messages.
type nopBorrower struct{ n int }

func (h *nopBorrower) Handle(_ context.Context, batch []Message) error {
	h.n += len(batch)
	return nil
}
func (*nopBorrower) Committable() int64          { return -1 }
func (*nopBorrower) Close(context.Context) error { return nil }
func (*nopBorrower) BorrowsMessages()            {}

// TestBorrowedFetchDoesNotAllocate hands real fetches of 1,000 messages
// (keys, values, no headers) to a Borrower: once its buffer has grown,
// reading a fetch allocates nothing per message (a few allocations per
// fetch at most); a handler that is no Borrower gets each key and value
// allocated, two a message.
func TestBorrowedFetchDoesNotAllocate(t *testing.T) {
	const topic, n, runs = "telemetry", 1000, 20
	e := startBroker(t, topic)
	produce(t, e.Brokers(), topic, 0, n, "a-value-of-some-length-like-an-event")
	c, err := NewConsumer(testConfig(e.Brokers(), topic, "g-allocs"), nopFactory, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.client.Transport.(*kafka.Transport).CloseIdleConnections()
	p := &partitionLoop{c: c, topic: topic, batch: make([]Message, 0, DefaultMaxBatch),
		messages: c.metrics.messages.WithLabelValues(topic), bytes: c.metrics.bytes.WithLabelValues(topic)}
	for _, borrow := range []bool{true, false} {
		fetches := make([]*kafka.FetchResponse, runs+1)
		for i := range fetches {
			res, err := p.fetch(context.Background(), 0, p.c.cfg.MaxBytes)
			if err != nil {
				t.Fatal(err)
			}
			fetches[i] = res
		}
		var h PartitionHandler = &nopBorrower{}
		if !borrow {
			h = &countingHandler{n: new(atomic.Int64)}
		}
		i := 0
		allocs := testing.AllocsPerRun(runs, func() {
			next := int64(0)
			got, herr, ferr := p.handle(context.Background(), fetches[i], h, borrow, &next)
			i++
			if got != n || herr != nil || ferr != nil {
				t.Fatalf("handled %d of %d messages: %v, %v", got, n, herr, ferr)
			}
		})
		perMessage := allocs / n
		t.Logf("borrower=%v: %.0f allocations per fetch of %d messages", borrow, allocs, n)
		if borrow && perMessage > 0.01 {
			t.Errorf("a Borrower's fetch of %d messages allocates %.0f times, want none per message", n, allocs)
		}
		if !borrow && perMessage < 2 {
			t.Errorf("a handler that is no Borrower: %.2f allocations per message, want 2 (a key and a value of its own)", perMessage)
		}
	}
	// The fetch itself allocates per request and per record batch (the
	// response, the batch's records and their references into kafka-go's
	// pages), not per record: a record's headers, when it has any, are
	// kafka-go's own allocations.
	allocs := testing.AllocsPerRun(runs, func() {
		res, err := p.fetch(context.Background(), 0, p.c.cfg.MaxBytes)
		if err != nil {
			t.Fatal(err)
		}
		next := int64(0)
		if got, herr, ferr := p.handle(context.Background(), res, &nopBorrower{}, true, &next); got != n || herr != nil || ferr != nil {
			t.Fatalf("handled %d of %d messages: %v, %v", got, n, herr, ferr)
		}
	})
	t.Logf("fetching and handing over %d messages: %.0f allocations", n, allocs)
	if allocs/n > 0.2 {
		t.Errorf("fetching and handing over %d messages allocates %.0f times, want far fewer than one per message", n, allocs)
	}
}

// deliveries counts the times each offset is handed to its handlers.
type deliveries struct {
	mu sync.Mutex
	n  map[int64]int
}

// handler returns a handler that counts what it is handed in d.
func (d *deliveries) handler() PartitionHandler {
	return handlerFunc(func(b []Message) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.n == nil {
			d.n = map[int64]int{}
		}
		for _, m := range b {
			d.n[m.Offset]++
		}
	})
}

// reached returns a condition: want distinct offsets handed over.
func (d *deliveries) reached(want int) func() bool {
	return func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.n) == want
	}
}

// onceEach reports every offset handed over other than once, or beyond
// limit (-1: none).
func (d *deliveries) onceEach(t *testing.T, limit int64) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for off, k := range d.n {
		if k != 1 || (limit >= 0 && off >= limit) {
			t.Errorf("offset %d handed over %d times; want each offset below %d once", off, k, limit)
		}
	}
}

// TestFetchPassesTransactionMarkers: a transactional producer's commit
// marker (a control batch, which kafka-go's record stream hides) is no
// message, and the partition must move past it: the five records are
// handed over once each, then the read position reaches the high watermark
// (marker included), so the partition is neither behind nor stalled, and
// is not fetched at the marker over and over.
func TestFetchPassesTransactionMarkers(t *testing.T) {
	const topic, n = "telemetry", 5
	e := startBroker(t, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers()...), kgo.TransactionalID("driftwatch-test"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	var d deliveries
	cfg := testConfig(e.Brokers(), topic, "g-txn")
	cfg.StallAfter = 400 * time.Millisecond
	c, err := NewConsumer(cfg, func(context.Context, string, int32, int64) (PartitionHandler, error) {
		return d.handler(), nil
	}, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		c.Close()
		<-done
	}()
	waitFor(t, 10*time.Second, "the transaction's records handled", d.reached(n))
	time.Sleep(4 * cfg.StallAfter) // long enough to be found stalled
	d.onceEach(t, n)               // and the marker never
	var p0 *PartitionHealth
	h := c.Health()
	for i := range h.Partitions {
		if h.Partitions[i].Partition == 0 {
			p0 = &h.Partitions[i]
		}
	}
	switch {
	case p0 == nil:
		t.Fatalf("partition 0 not owned: %+v", h)
	case p0.HighWatermark != n+1 || p0.Position != p0.HighWatermark:
		t.Errorf("partition 0 at position %d of high watermark %d, want both %d (the records and the commit marker)", p0.Position, p0.HighWatermark, n+1)
	case p0.Stalled || c.Behind(0):
		t.Errorf("partition 0 stalled (%v) or behind (%v) at the end of a transaction", p0.Stalled, c.Behind(0))
	}
}

// TestFetchFollowsAMovedLeader moves the partition's leader to another
// broker of a three-broker cluster while the consumer reads: the fetches
// that fail while the client's metadata is stale are retried, so the
// handler is opened once, the partition loop never restarts, and every
// message is handed over once.
func TestFetchFollowsAMovedLeader(t *testing.T) {
	const topic = "telemetry"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	produce(t, brokers, topic, 0, 100, "before")
	var d deliveries
	var opens atomic.Int64
	reg := prometheus.NewRegistry()
	stop := runConsumer(t, testConfig(brokers, topic, "g-moved"), func(context.Context, string, int32, int64) (PartitionHandler, error) {
		opens.Add(1)
		return d.handler(), nil
	}, reg)
	waitFor(t, 10*time.Second, "the first 100 messages handled", d.reached(100))
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil || len(parts) != 1 {
		t.Fatalf("reading the partition's leader: %v %v", parts, err)
	}
	to := int32((parts[0].Leader.ID + 1) % 3)
	if err := cluster.MoveTopicPartition(topic, 0, to); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, topic, 0, 100, "after")
	waitFor(t, 30*time.Second, "the next 100 messages handled after the leader moved", d.reached(200))
	stop()
	if n := opens.Load(); n != 1 {
		t.Errorf("the handler was opened %d times, want once: a moved leader must not restart the partition", n)
	}
	d.onceEach(t, -1)
	if got := metricValue(t, reg, "driftwatch_ingest_partition_errors_total", nil); got != 0 {
		t.Errorf("partition_errors_total = %v after the leader moved, want 0", got)
	}
}
