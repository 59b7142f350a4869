package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/internal/backoff"
)

// writeRetrying writes msgs with w and returns once every one is
// acknowledged. A failed attempt is counted in failures and logged as
// "<what> failed, retrying"; only the messages that failed are written
// again (no duplicates of the others), with backoff between initial and
// max, until ctx ends or, when permanent is not nil, an error it calls
// permanent stops at once. On failure it returns how many messages were not
// written and the last error.
func writeRetrying(ctx context.Context, w *kafka.Writer, msgs []kafka.Message, initial, max time.Duration,
	log *slog.Logger, what string, failures prometheus.Counter, permanent func(error) bool) (int, error) {
	pending := msgs
	err := backoff.Retry(ctx, backoff.Policy{
		Initial: initial,
		Max:     max,
		OnRetry: func(_ int, err error, pause time.Duration) {
			log.Warn(what+" failed, retrying", "messages", len(pending), "backoff", pause, "err", err)
		},
	}, func(ctx context.Context) error {
		err := w.WriteMessages(ctx, pending...)
		if err == nil {
			return nil
		}
		failures.Inc()
		if permanent != nil && permanent(err) {
			return backoff.Permanent(err)
		}
		pending = failedMessages(pending, err)
		return err
	})
	if err != nil {
		return len(pending), err
	}
	return 0, nil
}

// failedMessages returns the messages of a failed write that failed, to retry only them and
// avoid duplicates: all of them unless err says message by message.
func failedMessages(pending []kafka.Message, err error) []kafka.Message {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(pending) {
		return pending
	}
	failed := pending[:0:0]
	for i, e := range werrs {
		if e != nil {
			failed = append(failed, pending[i])
		}
	}
	return failed
}
