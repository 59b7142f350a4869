package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
}

// PartitionHandler processes one partition's messages in offset order; all
// calls come from one goroutine.
type PartitionHandler interface {
	// Handle processes a batch. It may block (back-pressure). An error stops
	// this partition's loop (logged, counted) and the loop restarts from the
	// last committed offset after a backoff, closing the handler and opening
	// a new one through the factory; it is never fatal for the process. The
	// batch slice and messages may be reused after Handle returns.
	Handle(ctx context.Context, batch []Message) error
	// Committable returns the offset to commit (Kafka semantics: the next
	// offset to read), or -1 for nothing yet.
	Committable() int64
	// Close is called once when the partition is revoked or the consumer
	// stops, after the final commit.
	Close(ctx context.Context) error
}

// HandlerFactory opens a handler for a newly assigned partition; startOffset
// is where reading starts.
type HandlerFactory func(ctx context.Context, topic string, partition int32, startOffset int64) (PartitionHandler, error)

// closeTimeout bounds a handler's Close and the final commit after the
// partition's generation ended.
const closeTimeout = 10 * time.Second

// fetchGrace is added to MaxWait for the socket deadline of a fetch, so that a
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

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
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
	return &Consumer{
		cfg:     cfg,
		factory: factory,
		log:     log.With("topic", cfg.Topic, "group", cfg.GroupID),
		metrics: m,
		dialer:  cluster.Dialer(),
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
			continue
		}
		c.startGeneration(gen)
	}
	// Closing the group ends the generation, waits for every partition loop
	// (final commit, handler Close) and leaves the group.
	if err := group.Close(); err != nil {
		c.log.Warn("leaving consumer group", "err", err)
	}
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
