package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Record is a message to publish.
type Record struct {
	// Key is the message key; with Partition < 0 it chooses the partition
	// (murmur2, as Java clients do).
	Key []byte
	// Value is the payload.
	Value []byte
	// Partition is the target partition, or -1 to choose it by Key.
	Partition int
}

// headerPartition carries an explicit target partition to the balancer (and
// is sent along: it does no harm and shows where a record was aimed).
const headerPartition = "x-driftwatch-partition"

// Backoff bounds for retrying a publication.
const (
	publishBackoffMin = 100 * time.Millisecond
	publishBackoffMax = 5 * time.Second
)

// Publisher writes records to one topic and returns once every in-sync
// replica has them. It is safe for concurrent use.
type Publisher struct {
	w       *kafka.Writer
	topic   string
	brokers []string
	dialer  *kafka.Dialer
	log     *slog.Logger
	errors  prometheus.Counter

	mu         sync.Mutex
	partitions int
	checked    time.Time
}

// partitionsTTL is how long a topic's partition count is trusted.
const partitionsTTL = time.Minute

// NewPublisher returns a publisher to topic on cluster. Its metrics are
// registered with reg (nil registers none); it connects lazily.
func NewPublisher(cluster *Cluster, topic string, reg prometheus.Registerer, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		w: &kafka.Writer{
			Addr:         kafka.TCP(cluster.Brokers...),
			Topic:        topic,
			Balancer:     explicitBalancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond,
			// A produce request per partition must stay under the brokers'
			// message.max.bytes (1 MiB by default): records are at most a
			// chunk (256 KiB) each, so batches of up to 900 KiB fit.
			BatchBytes:  900 << 10,
			MaxAttempts: 1, // Publish retries with its own backoff.
			// A transport of its own: kafka-go's shared default caches the
			// cluster's metadata for 6s, so a topic created a moment ago
			// (the partials topic at first start) would be refused as
			// unknown until that cache expires.
			Transport: cluster.Transport(topic),
		},
		topic:   topic,
		brokers: cluster.Brokers,
		dialer:  cluster.Dialer(),
		log:     log.With("topic", topic),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "driftwatch_ingest_publish_errors_total",
			Help:        "Failed attempts to publish to an internal topic (each is retried).",
			ConstLabels: prometheus.Labels{"topic": topic},
		}),
	}
	var err error
	if p.errors, err = register(reg, p.errors); err != nil {
		p.log.Warn("registering publisher metrics", "err", err)
	}
	return p
}

// PartitionOfKey returns the partition, of n, that Publisher (and the Java
// client) choose for a record keyed key: murmur2 of the key, as
// kafka.Murmur2Balancer computes it.
func PartitionOfKey(key []byte, n int) int {
	if n <= 1 {
		return 0
	}
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, parts...)
}

// explicitBalancer sends a message to the partition its header names, and
// otherwise chooses by key like the Java client.
type explicitBalancer struct{ murmur kafka.Murmur2Balancer }

func (b explicitBalancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key == headerPartition {
			if p, err := strconv.Atoi(string(h.Value)); err == nil {
				return p
			}
		}
	}
	return b.murmur.Balance(msg, partitions...)
}

// Publish writes recs in order per partition. It retries the records that
// failed, with backoff, until ctx ends, and then returns the last error.
func (p *Publisher) Publish(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
		if r.Partition >= 0 {
			msgs[i].Headers = []kafka.Header{{Key: headerPartition, Value: []byte(strconv.Itoa(r.Partition))}}
		}
	}
	if n, err := writeRetrying(ctx, p.w, msgs, publishBackoffMin, publishBackoffMax, p.log, "publishing", p.errors, permanent); err != nil {
		return fmt.Errorf("publishing %d messages to %s: %w", n, p.topic, err)
	}
	return nil
}

// permanent reports whether a publication can never succeed as it is: a
// record or batch beyond the brokers' size limit, or no right to write.
func permanent(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && !permanent(e) {
				return false
			}
		}
		return len(werrs) > 0
	}
	return errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge) ||
		errors.Is(err, kafka.TopicAuthorizationFailed) || errors.Is(err, kafka.InvalidTopic)
}

// Partitions returns the topic's partition count, read from the brokers at
// most once a minute.
func (p *Publisher) Partitions(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.partitions > 0 && time.Since(p.checked) < partitionsTTL {
		return p.partitions, nil
	}
	n, err := PartitionCount(ctx, p.dialer, p.brokers, p.topic)
	if err != nil {
		if p.partitions > 0 {
			return p.partitions, nil // keep the last known count while brokers are away
		}
		return 0, err
	}
	p.partitions, p.checked = n, time.Now()
	return n, nil
}

// Brokers returns the bootstrap addresses the publisher writes to.
func (p *Publisher) Brokers() []string { return append([]string(nil), p.brokers...) }

// Close flushes and closes the writer. It is idempotent.
func (p *Publisher) Close() error { return p.w.Close() }

// PartitionCount returns the number of partitions of topic, asking the
// brokers in turn.
func PartitionCount(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string) (int, error) {
	if dialer == nil {
		dialer = Plaintext(brokers).Dialer()
	}
	var last error
	for _, b := range brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			last = err
			continue
		}
		if len(parts) == 0 {
			return 0, fmt.Errorf("topic %q has no partitions", topic)
		}
		return len(parts), nil
	}
	return 0, fmt.Errorf("reading the partitions of topic %q: %w", topic, last)
}

// EnsureTopic checks that topic exists and creates it with partitions
// partitions (replication factor min(3, brokers)) when it does not. An error
// names the topic and says what to do.
func EnsureTopic(ctx context.Context, cluster *Cluster, topic string, partitions int) (int, error) {
	dialer, brokers := cluster.Dialer(), cluster.Brokers
	if n, err := PartitionCount(ctx, dialer, brokers, topic); err == nil {
		return n, nil
	}
	var last error
	for _, b := range brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		ctrl, err := conn.Controller()
		conn.Close()
		if err != nil {
			last = err
			continue
		}
		cc, err := dialer.DialContext(ctx, "tcp", fmt.Sprintf("%s:%d", ctrl.Host, ctrl.Port))
		if err != nil {
			last = err
			continue
		}
		brokersSeen, _ := cc.Brokers()
		rf := min(3, max(1, len(brokersSeen)))
		err = cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: rf})
		cc.Close()
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			last = err
			continue
		}
		// Metadata may lag the creation for a moment.
		for attempt := 0; attempt < 20; attempt++ {
			if n, err := PartitionCount(ctx, dialer, brokers, topic); err == nil {
				return n, nil
			}
			if !sleep(ctx, 100*time.Millisecond) {
				break
			}
		}
		last = fmt.Errorf("created but not visible")
	}
	return 0, fmt.Errorf("topic %q does not exist and could not be created (create it with %d partitions, or grant the monitor's principal CreateTopics): %w",
		topic, partitions, last)
}

// sleep waits for d or until ctx ends; it reports whether the full pause
// elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
