package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/internal/backoff"
)

// initialBackoff is the first pause between attempts; it doubles up to Config.MaxRetryBackoff.
const initialBackoff = 100 * time.Millisecond

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

// startupPermanentCodes are the exception codes that end OpenRetrying at once: the server
// answered and refused the user, which a retry does not change.
var startupPermanentCodes = map[int32]bool{
	192: true, // UNKNOWN_USER
	193: true, // WRONG_PASSWORD
	194: true, // REQUIRED_PASSWORD
	497: true, // ACCESS_DENIED
	516: true, // AUTHENTICATION_FAILED
}

// OpenRetrying opens the store and migrates its schema like Open and Migrate, retrying with backoff
// (from 500ms, doubling, at most cfg.MaxRetryBackoff) while ClickHouse cannot be reached or fails,
// as writes do during an outage, and logging each failure; so that a monitor started before its
// database, or during an outage, waits for it instead of exiting. It gives up when ctx ends, and at
// once on an invalid configuration, a refused user or password, a schema error, a server that does
// not answer TLS when tls.enabled is set, or a server certificate that fails verification. Like Open,
// it logs a warning (once, not at each attempt) when cfg sets the deprecated Password.
func OpenRetrying(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.warnDeprecated(log)
	var store *Store
	err := backoff.Retry(ctx, backoff.Policy{
		Initial: 500 * time.Millisecond,
		Max:     max(cfg.MaxRetryBackoff, 500*time.Millisecond),
		OnRetry: func(attempt int, err error, pause time.Duration) {
			log.Warn("ClickHouse not available at start-up, retrying", "addr", cfg.Addr, "attempt", attempt, "backoff", pause, "err", err)
		},
	}, func(ctx context.Context) error {
		s, err := open(ctx, cfg, reg, log)
		if err == nil {
			if err = s.Migrate(ctx); err != nil {
				s.Close()
			}
		}
		if err != nil {
			var ex *clickhouse.Exception
			if errors.As(err, &ex) && (startupPermanentCodes[ex.Code] || permanentCodes[ex.Code]) {
				return backoff.Permanent(err)
			}
			if tlsMismatch(err) {
				return backoff.Permanent(err)
			}
			return err
		}
		store = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return store, nil
}

// isPermanent reports whether err should not be retried: it was marked backoff.Permanent (a row
// that does not fit its column) or is a ClickHouse exception with one of permanentCodes.
func isPermanent(err error) bool {
	if backoff.IsPermanent(err) {
		return true
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return permanentCodes[ex.Code]
	}
	return false
}

// retry runs op until it succeeds, fails permanently, or ctx ends, pausing exponentially from
// initialBackoff up to Config.MaxRetryBackoff. what names the operation in logs and errors
// ("inserting 12 rows into feature_windows").
func (s *Store) retry(ctx context.Context, what string, op func(context.Context) error) error {
	attempts := 0
	err := backoff.Retry(ctx, backoff.Policy{
		Initial: initialBackoff,
		Max:     s.cfg.MaxRetryBackoff,
		OnRetry: func(attempt int, err error, pause time.Duration) {
			s.log.Warn("clickhouse write failed, retrying", "op", what, "attempt", attempt, "backoff", pause, "err", err)
			s.metrics.retries.Inc()
		},
	}, func(ctx context.Context) error {
		attempts++
		err := op(ctx)
		if err != nil && isPermanent(err) {
			return backoff.Permanent(err)
		}
		return err
	})
	switch {
	case err == nil:
		if attempts > 1 {
			s.log.Info("clickhouse write succeeded after retries", "op", what, "attempts", attempts)
		}
		return nil
	case backoff.IsPermanent(err):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempts, err)
	}
}
