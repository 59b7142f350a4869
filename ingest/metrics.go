package ingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// consumerMetrics are the Consumer's Prometheus series. Per-partition series
// are bounded by the number of partitions this member owns and are removed on
// revocation.
type consumerMetrics struct {
	messages        *prometheus.CounterVec
	bytes           *prometheus.CounterVec
	commits         prometheus.Counter
	commitErrors    prometheus.Counter
	committedOffset *prometheus.GaugeVec
	commitLag       *prometheus.GaugeVec
	partitionErrors prometheus.Counter
	skippedBatches  *prometheus.CounterVec
	stalled         *prometheus.GaugeVec
}

func newConsumerMetrics(reg prometheus.Registerer) (*consumerMetrics, error) {
	m := &consumerMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_ingest_messages_total",
			Help: "Messages read from Kafka and passed to a partition handler.",
		}, []string{"topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_ingest_bytes_total",
			Help: "Key and value bytes of the messages read from Kafka.",
		}, []string{"topic"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_commits_total",
			Help: "Offset commits acknowledged by the group coordinator.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_commit_errors_total",
			Help: "Offset commits that failed.",
		}),
		committedOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_ingest_committed_offset",
			Help: "Last offset committed for a partition owned by this member (the next offset to read).",
		}, []string{"topic", "partition"}),
		commitLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_ingest_commit_lag_messages",
			Help: "High watermark minus committed offset of a partition owned by this member.",
		}, []string{"topic", "partition"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_ingest_partitions_stalled",
			Help: "Partitions owned by this member with messages to read and no read progress for stall_after.",
		}, []string{"topic"}),
		partitionErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_partition_errors_total",
			Help: "Partition loops stopped by a fetch or handler error and restarted from the committed offset.",
		}),
		skippedBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_ingest_skipped_batches_total",
			Help: "Record batches passed over unread, their offsets dead-lettered with the reason: batch_too_large (decompressing beyond max_compression_ratio) or batch_unreadable (refused by its codec).",
		}, []string{"topic", "reason"}),
	}
	var err error
	if m.messages, err = register(reg, m.messages); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	if m.commits, err = register(reg, m.commits); err != nil {
		return nil, err
	}
	if m.commitErrors, err = register(reg, m.commitErrors); err != nil {
		return nil, err
	}
	if m.committedOffset, err = register(reg, m.committedOffset); err != nil {
		return nil, err
	}
	if m.commitLag, err = register(reg, m.commitLag); err != nil {
		return nil, err
	}
	if m.partitionErrors, err = register(reg, m.partitionErrors); err != nil {
		return nil, err
	}
	if m.skippedBatches, err = register(reg, m.skippedBatches); err != nil {
		return nil, err
	}
	if m.stalled, err = register(reg, m.stalled); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg, or returns the collector registered before
// under the same name, so that several consumers or writers can share one
// registry. A nil reg registers nothing.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
