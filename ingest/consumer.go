package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Message is one Kafka record as handed to a PartitionHandler.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	Time      time.Time
	// Skipped, when not nil, makes the message a stand-in for records the
	// consumer could not read, from Skipped.From to Offset: a handler
	// dead-letters it with Skipped's reason and detail (no key or value),
	// and counts its offsets as handled.
	Skipped *Skipped
}

// Skipped describes records a consumer passed over unread.
type Skipped struct {
	// From is the first offset skipped; the message's Offset is the last.
	From int64
	// Reason is the dead-letter reason (ReasonBatchTooLarge).
	Reason string
	// Detail says why, for the dead letter.
	Detail string
}

// PartitionHandler processes one partition's messages in offset order; all
// calls come from one goroutine.
type PartitionHandler interface {
	// Handle processes a batch. It may block (back-pressure). An error stops
	// this partition's loop (logged, counted) and the loop restarts from the
	// last committed offset after a backoff, closing the handler and opening
	// a new one through the factory; it is never fatal for the process. The
	// batch slice and messages may be reused after Handle returns; their
	// keys and values too when the handler is a Borrower.
	Handle(ctx context.Context, batch []Message) error
	// Committable returns the offset to commit (Kafka semantics: the next
	// offset to read), or -1 for nothing yet.
	Committable() int64
	// Close is called once when the partition is revoked or the consumer
	// stops, after the final commit.
	Close(ctx context.Context) error
}

// A Borrower is a PartitionHandler that keeps nothing of a message's Key
// and Value after Handle returns (it copies what it keeps). The consumer
// then copies the messages of a fetch into one buffer per partition, reused
// from batch to batch, instead of allocating each message's key and value:
// no allocation per message, and memory the processor's cache still holds.
type Borrower interface {
	PartitionHandler
	// BorrowsMessages marks the handler; it is never called.
	BorrowsMessages()
}

// HandlerFactory opens a handler for a newly assigned partition; startOffset
// is where reading starts.
type HandlerFactory func(ctx context.Context, topic string, partition int32, startOffset int64) (PartitionHandler, error)

// closeTimeout bounds a handler's Close and the final commit after the
// partition's generation ended.
const closeTimeout = 10 * time.Second

// fetchGrace is added to MaxWait for the deadline of a fetch, so that a
// silent broker is noticed. A variable so that tests can shorten it.
var fetchGrace = 10 * time.Second

// Consumer reads a topic as a member of a Kafka consumer group, with one
// loop per assigned partition.
type Consumer struct {
	cfg     Config
	factory HandlerFactory
	log     *slog.Logger
	metrics *consumerMetrics
	dialer  *kafka.Dialer
	// client fetches the partitions' messages; its transport keeps a
	// connection per fetch in flight to each broker.
	client *kafka.Client

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	healthMu    sync.Mutex
	loops       map[*partitionLoop]bool
	joined      bool      // a generation was joined and none failed since
	joinErr     error     // the last failure to join, nil after a join
	joinFailing time.Time // since when joining fails
}

// PartitionHealth is the state of one partition this member owns.
type PartitionHealth struct {
	Topic     string
	Partition int32
	// Position is the furthest next offset handed to the handler,
	// HighWatermark the partition's last known end, Committed the last
	// committed offset (-1: none known).
	Position, HighWatermark, Committed int64
	// Stalled says that there are messages to read and the position has not
	// grown for StallAfter, since Since.
	Stalled bool
	Since   time.Time
}

// Health is what the readiness endpoint reports of a consumer.
type Health struct {
	// Topic and Group name the consumer.
	Topic, Group string
	// Joined says that the consumer is in a generation of its group.
	Joined bool
	// JoinError is the last failure to join the group, and JoinFailing
	// since when joining fails; empty once joined.
	JoinError   string
	JoinFailing time.Time
	// Partitions are the partitions it owns.
	Partitions []PartitionHealth
}

// Ready reports whether the consumer is in its group and no partition is
// stalled.
func (h Health) Ready() bool {
	if !h.Joined {
		return false
	}
	for _, p := range h.Partitions {
		if p.Stalled {
			return false
		}
	}
	return true
}

// Health returns the consumer's state now.
func (c *Consumer) Health() Health {
	now := time.Now()
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	h := Health{Topic: c.cfg.Topic, Group: c.cfg.GroupID, Joined: c.joined, JoinFailing: c.joinFailing}
	if c.joinErr != nil {
		h.JoinError = c.joinErr.Error()
	}
	for p := range c.loops {
		h.Partitions = append(h.Partitions, p.health(now))
	}
	slices.SortFunc(h.Partitions, func(a, b PartitionHealth) int { return cmp.Compare(a.Partition, b.Partition) })
	return h
}

// Behind reports whether partition has messages its handler has not been
// handed yet, as far as the consumer knows (the high watermark of its last
// fetch or poll): true while the high watermark is unknown, and for a
// partition this consumer does not run. A handler that waits for its next
// batch while its partition is behind is lagging, not idle.
func (c *Consumer) Behind(partition int32) bool {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	for p := range c.loops {
		if p.partition == partition {
			hwm := p.hwm.Load()
			return hwm < 0 || p.position.Load() < hwm
		}
	}
	return true
}

// track adds (or removes) a running partition loop.
func (c *Consumer) track(p *partitionLoop, running bool) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	if c.loops == nil {
		c.loops = make(map[*partitionLoop]bool)
	}
	if running {
		c.loops[p] = true
	} else {
		delete(c.loops, p)
	}
}

// joinResult records the outcome of an attempt to join the group.
func (c *Consumer) joinResult(err error) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	if err == nil {
		c.joined, c.joinErr, c.joinFailing = true, nil, time.Time{}
		return
	}
	if c.joinErr == nil {
		c.joinFailing = time.Now()
	}
	c.joined, c.joinErr = false, err
}

// NewConsumer completes cfg with its derived default (Config.WithDerived),
// validates it and registers the consumer's metrics with reg (nil registers
// none). It does not connect; Run does.
func NewConsumer(cfg Config, factory HandlerFactory, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	cfg = cfg.WithDerived()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	if factory == nil {
		return nil, errors.New("creating consumer: nil handler factory")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cluster, err := NewCluster(cfg.Brokers, cfg.Security)
	if err != nil {
		return nil, err
	}
	m, err := newConsumerMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering ingest metrics: %w", err)
	}
	for _, reason := range []string{ReasonBatchTooLarge, ReasonBatchUnreadable} {
		// Exported at 0 from the start, so that rate() sees the first skip.
		m.skippedBatches.WithLabelValues(cfg.Topic, reason)
	}
	limitDecompression(cfg.MaxCompressionRatio)
	return &Consumer{
		cfg:     cfg,
		factory: factory,
		log:     log.With("topic", cfg.Topic, "group", cfg.GroupID),
		metrics: m,
		dialer:  cluster.Dialer(),
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: cluster.Transport(cfg.Topic)},
	}, nil
}

// Config returns the validated configuration, derived default filled in.
func (c *Consumer) Config() Config { return c.cfg }

// Run consumes until ctx ends or Close is called, then commits, closes every
// handler and leaves the group before it returns. Failures to reach the
// brokers or join the group are logged and retried with backoff. Run returns
// nil on a normal stop; it may be called only once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("running consumer: consumer is closed")
	}
	if c.running {
		c.mu.Unlock()
		return errors.New("running consumer: already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	c.running, c.cancel, c.done = true, cancel, make(chan struct{})
	c.mu.Unlock()
	defer close(c.done)
	defer cancel()

	startOffset := kafka.FirstOffset
	if c.cfg.StartOffset == StartLatest {
		startOffset = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                c.cfg.GroupID,
		Brokers:           c.cfg.Brokers,
		Dialer:            c.dialer,
		Topics:            []string{c.cfg.Topic},
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		SessionTimeout:    c.cfg.SessionTimeout,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  c.cfg.JoinGroupBackoff,
		StartOffset:       startOffset,
		Logger:            kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger:       kafkaLogger(c.log, slog.LevelDebug),
	})
	if err != nil {
		return fmt.Errorf("creating consumer group: %w", err)
	}
	c.log.Info("consumer started", "brokers", c.cfg.Brokers)
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			// The group backs off JoinGroupBackoff before its next attempt.
			c.log.Warn("joining consumer group failed, retrying", "err", err)
			c.joinResult(err)
			continue
		}
		c.joinResult(nil)
		c.startGeneration(gen)
	}
	// Closing the group ends the generation, waits for every partition loop
	// (final commit, handler Close) and leaves the group.
	if err := group.Close(); err != nil {
		c.log.Warn("leaving consumer group", "err", err)
	}
	if t, ok := c.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	c.healthMu.Lock()
	c.joined = false
	c.healthMu.Unlock()
	c.log.Info("consumer stopped")
	return nil
}

// Close stops Run, waiting until its partitions are committed and closed. It
// is idempotent.
func (c *Consumer) Close() error {
	c.mu.Lock()
	c.closed = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (c *Consumer) startGeneration(gen *kafka.Generation) {
	assigned := gen.Assignments[c.cfg.Topic]
	parts := make([]int, len(assigned))
	for i, a := range assigned {
		parts[i] = a.ID
	}
	c.log.Info("joined generation", "generation", gen.ID, "member", gen.MemberID, "partitions", parts)
	for _, a := range assigned {
		p := newPartitionLoop(c, gen, int32(a.ID), a.Offset)
		gen.Start(p.run)
	}
}

// kafkaLogger adapts slog to kafka-go's printf-style logger.
func kafkaLogger(log *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if log.Enabled(context.Background(), level) {
			log.Log(context.Background(), level, "kafka-go: "+fmt.Sprintf(format, args...))
		}
	})
}
