package ingest

import (
	"errors"
	"fmt"
	"time"
)

// Start positions for a partition that has no committed offset.
const (
	// StartEarliest reads a partition from its first retained message.
	StartEarliest = "earliest"
	// StartLatest reads only messages produced after the consumer joined.
	StartLatest = "latest"
)

// Config configures a Consumer. Start from DefaultConfig, which holds every
// documented default: a zero field is taken as it is, and Validate rejects
// it where zero makes no sense. One default is derived from another field:
// an empty DeadLetterTopic means <topic>.dlq, filled in by WithDerived
// (which NewConsumer applies) after the file and the environment are read.
type Config struct {
	// Brokers are the bootstrap addresses (host:port). Required.
	Brokers []string `yaml:"brokers"`
	// Topic is the telemetry topic to consume. Required.
	Topic string `yaml:"topic"`
	// GroupID is the Kafka consumer group.
	// Default: driftwatch
	GroupID string `yaml:"group_id"`
	// DeadLetterTopic receives messages that cannot be processed. It must
	// exist and accept the principal's writes (the monitor checks both at
	// start-up).
	// Default: "", which WithDerived makes <topic>.dlq
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// StartOffset is where a partition without a committed offset starts:
	// "earliest" or "latest".
	// Default: earliest
	StartOffset string `yaml:"start_offset"`
	// MaxBatch is the largest number of messages passed to one Handle call.
	// Default: 1000
	MaxBatch int `yaml:"max_batch"`
	// MaxWait is how long the broker may hold a fetch while it waits for
	// MinBytes of data.
	// Default: 250ms
	MaxWait time.Duration `yaml:"max_wait"`
	// CommitInterval is the least time between two commits of a partition;
	// 0 commits after every batch. The final commit on revocation or
	// shutdown is made regardless.
	// Default: 1s
	CommitInterval time.Duration `yaml:"commit_interval"`
	// MinBytes is the least data a fetch waits for (up to MaxWait).
	// Default: 1
	MinBytes int `yaml:"min_bytes"`
	// MaxBytes bounds the data returned by one fetch of one partition.
	// Default: 4194304 (4 MiB)
	MaxBytes int `yaml:"max_bytes"`
	// MaxCompressionRatio bounds what a compressed record batch may
	// decompress to, as a multiple of its compressed size: kafka-go
	// decompresses a fetch's batches whole, so a fetch takes at most
	// MaxBytes × MaxCompressionRatio. A batch beyond it (a decompression
	// bomb) is skipped, its offsets dead-lettered as one record with reason
	// batch_too_large. Telemetry JSON compresses 4–7× (gzip, zstd, lz4,
	// snappy). The limit is process-wide (kafka-go's codecs are): the
	// largest of the process's consumers.
	// Default: 32
	MaxCompressionRatio int `yaml:"max_compression_ratio"`
	// SessionTimeout is how long the coordinator waits for a heartbeat
	// before it evicts this member.
	// Default: 30s
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is the time between heartbeats; it must be less
	// than SessionTimeout.
	// Default: 3s
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long the coordinator waits for all members to
	// rejoin during a rebalance.
	// Default: 30s
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// JoinGroupBackoff is the pause after a failed attempt to join the group.
	// Default: 2s
	JoinGroupBackoff time.Duration `yaml:"join_group_backoff"`
	// StallAfter is how long a partition with messages to read may make no
	// read progress before it counts as stalled (metric
	// driftwatch_ingest_partitions_stalled, the readiness endpoint). Its
	// high watermark is polled every StallAfter/4 (at most every 10s), so
	// that the lag gauge moves even while a handler is blocked.
	// Default: 1m
	StallAfter time.Duration `yaml:"stall_after"`
	// Security is the TLS and SASL of every connection to the brokers
	// (tls.*, sasl.*). Default: plaintext, no authentication.
	Security `yaml:",inline"`
}

// Defaults of Config.
const (
	DefaultGroupID           = "driftwatch"
	DefaultMaxBatch          = 1000
	DefaultMaxWait           = 250 * time.Millisecond
	DefaultCommitInterval    = time.Second
	DefaultMinBytes          = 1
	DefaultMaxBytes          = 4 << 20
	DefaultCompressionRatio  = 32
	DefaultSessionTimeout    = 30 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultRebalanceTimeout  = 30 * time.Second
	DefaultJoinGroupBackoff  = 2 * time.Second
	DefaultStallAfter        = time.Minute
)

// DefaultConfig returns the documented defaults. Brokers and Topic have
// none; DeadLetterTopic is left empty, to be derived by WithDerived.
func DefaultConfig() Config {
	return Config{
		GroupID:             DefaultGroupID,
		StartOffset:         StartEarliest,
		MaxBatch:            DefaultMaxBatch,
		MaxWait:             DefaultMaxWait,
		CommitInterval:      DefaultCommitInterval,
		MinBytes:            DefaultMinBytes,
		MaxBytes:            DefaultMaxBytes,
		MaxCompressionRatio: DefaultCompressionRatio,
		SessionTimeout:      DefaultSessionTimeout,
		HeartbeatInterval:   DefaultHeartbeatInterval,
		RebalanceTimeout:    DefaultRebalanceTimeout,
		JoinGroupBackoff:    DefaultJoinGroupBackoff,
		StallAfter:          DefaultStallAfter,
	}
}

// WithDerived returns c with its derived default filled in: an empty
// DeadLetterTopic becomes <topic>.dlq. It is idempotent and does not change c.
func (c Config) WithDerived() Config {
	if c.DeadLetterTopic == "" && c.Topic != "" {
		c.DeadLetterTopic = c.Topic + ".dlq"
	}
	return c
}

// Validate reports the first invalid field by its configuration name. It
// checks c as WithDerived completes it, and does not change c.
func (c Config) Validate() error {
	c = c.WithDerived()
	if len(c.Brokers) == 0 {
		return errors.New("brokers: at least one broker address is required")
	}
	for i, b := range c.Brokers {
		if b == "" {
			return fmt.Errorf("brokers[%d]: empty address", i)
		}
	}
	if c.Topic == "" {
		return errors.New("topic: required")
	}
	if c.GroupID == "" {
		return errors.New("group_id: required")
	}
	if err := c.Security.Validate(); err != nil {
		return err
	}
	if c.DeadLetterTopic == c.Topic {
		return fmt.Errorf("dead_letter_topic: must differ from topic %q", c.Topic)
	}
	switch c.StartOffset {
	case StartEarliest, StartLatest:
	default:
		return fmt.Errorf("start_offset: %q is neither %q nor %q", c.StartOffset, StartEarliest, StartLatest)
	}
	ints := []struct {
		name string
		v    int
	}{
		{"max_batch", c.MaxBatch},
		{"min_bytes", c.MinBytes},
		{"max_bytes", c.MaxBytes},
		{"max_compression_ratio", c.MaxCompressionRatio},
	}
	for _, f := range ints {
		if f.v < 1 {
			return fmt.Errorf("%s: must be at least 1, got %d", f.name, f.v)
		}
	}
	if c.MaxCompressionRatio > 1<<20 {
		return fmt.Errorf("max_compression_ratio: at most %d, got %d", 1<<20, c.MaxCompressionRatio)
	}
	if c.MinBytes > c.MaxBytes {
		return fmt.Errorf("min_bytes: %d exceeds max_bytes %d", c.MinBytes, c.MaxBytes)
	}
	durations := []struct {
		name   string
		v      time.Duration
		zeroOK bool
	}{
		{"max_wait", c.MaxWait, false},
		{"commit_interval", c.CommitInterval, true},
		{"session_timeout", c.SessionTimeout, false},
		{"heartbeat_interval", c.HeartbeatInterval, false},
		{"rebalance_timeout", c.RebalanceTimeout, false},
		{"join_group_backoff", c.JoinGroupBackoff, false},
		{"stall_after", c.StallAfter, false},
	}
	for _, f := range durations {
		if f.v < 0 || (f.v == 0 && !f.zeroOK) {
			return fmt.Errorf("%s: must be positive, got %s", f.name, f.v)
		}
		// The group protocol carries these in int32 milliseconds.
		if f.v/time.Millisecond >= 1<<31-1 {
			return fmt.Errorf("%s: %s is too long", f.name, f.v)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return fmt.Errorf("heartbeat_interval: %s must be less than session_timeout %s", c.HeartbeatInterval, c.SessionTimeout)
	}
	return nil
}
