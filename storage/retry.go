package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	pause "github.com/driftwatch/driftwatch/internal/backoff"
)

// initialBackoff is the first pause between attempts; it doubles up to Config.MaxRetryBackoff.
const initialBackoff = 100 * time.Millisecond

// permanentError marks a failure that retrying cannot fix (a row that does not fit its column, a
// schema mismatch).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent wraps err so that retry gives up at once.
func permanent(err error) error { return permanentError{err} }

// permanentCodes are ClickHouse exception codes that a retry cannot fix: the statement or the schema
// is wrong. Everything else (network, too many parts, memory limits, timeouts) is retried.
var permanentCodes = map[int32]bool{
	16: true, // NO_SUCH_COLUMN_IN_TABLE
	47: true, // UNKNOWN_IDENTIFIER
	53: true, // TYPE_MISMATCH
	60: true, // UNKNOWN_TABLE
	62: true, // SYNTAX_ERROR
	81: true, // UNKNOWN_DATABASE
}

// isPermanent reports whether err should not be retried.
func isPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return permanentCodes[ex.Code]
	}
	return false
}

// backoff returns the pause before retry number attempt (1-based): exponential from initialBackoff,
// capped at max, with equal jitter so that writers do not retry in step.
func backoff(attempt int, max time.Duration) time.Duration {
	return pause.Exponential(attempt-1, initialBackoff, max)
}

// retry runs op until it succeeds, fails permanently, or ctx ends. what names the operation in logs
// and errors ("inserting 12 rows into feature_windows").
func (s *Store) retry(ctx context.Context, what string, op func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			if attempt > 1 {
				s.log.Info("clickhouse write succeeded after retries", "op", what, "attempts", attempt)
			}
			return nil
		}
		if isPermanent(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s: gave up after %d attempts: %w (last error: %v)", what, attempt, ctxErr, err)
		}
		pause := backoff(attempt, s.cfg.MaxRetryBackoff)
		s.log.Warn("clickhouse write failed, retrying", "op", what, "attempt", attempt, "backoff", pause, "err", err)
		s.metrics.retries.Inc()
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: gave up after %d attempts: %w (last error: %v)", what, attempt, ctx.Err(), err)
		case <-t.C:
		}
	}
}
