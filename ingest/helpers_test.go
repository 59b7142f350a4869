package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
)

// testLog logs warnings of the package under test to stderr when -v is set.
func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
}

func startBroker(t testing.TB, topics ...string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Topics: topics})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// testConfig is a consumer configuration with the short timeouts that keep
// rebalances in tests fast.
func testConfig(brokers []string, topic, group string) Config {
	c := DefaultConfig()
	c.Brokers = brokers
	c.Topic = topic
	c.GroupID = group
	c.MaxWait = 100 * time.Millisecond
	c.CommitInterval = 100 * time.Millisecond
	c.SessionTimeout = 3 * time.Second
	c.HeartbeatInterval = 200 * time.Millisecond
	c.RebalanceTimeout = 2 * time.Second
	c.JoinGroupBackoff = 200 * time.Millisecond
	return c
}

// produce writes n messages valued prefix-i round-robin over the topic's
// partitions, or all to partition when partition >= 0.
func produce(t testing.TB, brokers []string, topic string, partition, n int, prefix string) {
	t.Helper()
	var bal kafka.Balancer = &kafka.RoundRobin{}
	if partition >= 0 {
		bal = kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition })
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     bal,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    1000,
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing %d messages to %s: %v", n, topic, err)
	}
}

// committedOffsets asks the broker for the group's committed offsets of the
// given partitions (-1 for none).
func committedOffsets(t testing.TB, brokers []string, group, topic string, partitions ...int) map[int]int64 {
	t.Helper()
	out, err := fetchCommitted(brokers, group, topic, partitions...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fetchCommitted(brokers []string, group, topic string, partitions ...int) (map[int]int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
		GroupID: group, Topics: map[string][]int{topic: partitions},
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets: %w", err)
	}
	out := make(map[int]int64)
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("fetching committed offset of partition %d: %w", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runConsumer starts a consumer in the background; the returned stop
// function closes it and checks Run's result.
func runConsumer(t testing.TB, cfg Config, factory HandlerFactory, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	c, err := NewConsumer(cfg, factory, reg, testLog(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return after Close")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// delivery is one message as a handler received it.
type delivery struct {
	member    string
	handler   int // index into recorder.opens
	partition int32
	offset    int64
	value     string
	failed    bool // the Handle call that received it returned an error
}

// open records a HandlerFactory call.
type open struct {
	member    string
	partition int32
	start     int64
	// committed is the broker's committed offset when the handler opened
	// (-1 for none).
	committed int64
	closed    bool
}

// recorder records what every handler of a test saw.
type recorder struct {
	t       testing.TB
	brokers []string
	group   string

	mu         sync.Mutex
	opens      []open
	deliveries []delivery
}

func newRecorder(t testing.TB, brokers []string, group string) *recorder {
	return &recorder{t: t, brokers: brokers, group: group}
}

// handlerBehaviour configures a recording handler.
type handlerBehaviour struct {
	// lag holds Committable back by this many messages.
	lag int64
	// fail, when set, is asked before each Handle whether it should fail.
	fail func(partition int32, batch []Message) bool
}

func (r *recorder) factory(member string, b handlerBehaviour) HandlerFactory {
	return func(_ context.Context, topic string, partition int32, start int64) (PartitionHandler, error) {
		offs, err := fetchCommitted(r.brokers, r.group, topic, int(partition))
		if err != nil {
			r.t.Errorf("opening handler: %v", err)
		}
		committed := offs[int(partition)]
		r.mu.Lock()
		defer r.mu.Unlock()
		r.opens = append(r.opens, open{member: member, partition: partition, start: start, committed: committed})
		return &recordingHandler{r: r, id: len(r.opens) - 1, member: member, partition: partition, start: start, next: start, b: b}, nil
	}
}

// snapshot returns copies of the opens and deliveries so far.
func (r *recorder) snapshot() ([]open, []delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]open(nil), r.opens...), append([]delivery(nil), r.deliveries...)
}

// handled returns how many distinct (partition, offset) pairs were handled
// successfully.
func (r *recorder) handled() int {
	_, ds := r.snapshot()
	seen := make(map[[2]int64]bool)
	for _, d := range ds {
		if !d.failed {
			seen[[2]int64{int64(d.partition), d.offset}] = true
		}
	}
	return len(seen)
}

// owned returns the partitions with an open handler, by member.
func (r *recorder) owned() map[string][]int32 {
	os, _ := r.snapshot()
	out := make(map[string][]int32)
	for _, o := range os {
		if !o.closed {
			out[o.member] = append(out[o.member], o.partition)
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	return out
}

type recordingHandler struct {
	r         *recorder
	id        int
	member    string
	partition int32
	start     int64
	next      int64
	b         handlerBehaviour
	closed    bool
}

var errInjected = errors.New("injected handler failure")

func (h *recordingHandler) Handle(_ context.Context, batch []Message) error {
	fail := h.b.fail != nil && h.b.fail(h.partition, batch)
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	for _, m := range batch {
		if m.Partition != h.partition {
			h.r.t.Errorf("handler of partition %d got a message of partition %d", h.partition, m.Partition)
		}
		if m.Offset != h.next && !fail {
			h.r.t.Errorf("partition %d: got offset %d, want %d (gap or duplicate within a handler)", h.partition, m.Offset, h.next)
		}
		h.r.deliveries = append(h.r.deliveries, delivery{
			member: h.member, handler: h.id, partition: m.Partition, offset: m.Offset, value: string(m.Value), failed: fail,
		})
		if !fail {
			h.next = m.Offset + 1
		}
	}
	if fail {
		return errInjected
	}
	return nil
}

func (h *recordingHandler) Committable() int64 {
	off := h.next - h.b.lag
	if off <= h.start {
		return -1
	}
	return off
}

func (h *recordingHandler) Close(context.Context) error {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if h.closed {
		h.r.t.Errorf("handler %d of partition %d closed twice", h.id, h.partition)
	}
	h.closed = true
	h.r.opens[h.id].closed = true
	return nil
}

// metricValue returns the value of the series name{labels} in reg, or -1 if
// it does not exist.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := make(map[string]string)
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}
