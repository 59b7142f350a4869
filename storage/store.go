package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// Store reads and writes driftwatch's tables in one ClickHouse database. It is safe for concurrent use.
type Store struct {
	cfg     Config
	conn    driver.Conn
	version version
	log     *slog.Logger
	metrics *metrics
	windows windowWriter // joins overlapping WriteWindows calls

	closeOnce sync.Once
	closeErr  error
}

// Open connects to ClickHouse, creates cfg.Database if it does not exist and returns a Store on it.
// It tries once: a server that is not reachable is an error. It does not migrate: call Migrate.
// reg may be nil (no metrics registered); log may be nil (logs discarded). It logs a warning when cfg
// sets the deprecated Password.
func Open(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.warnDeprecated(log)
	return open(ctx, cfg, reg, log)
}

// open is Open on a valid cfg and a non-nil log, without the deprecation warnings.
func open(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	password, err := cfg.password()
	if err != nil {
		return nil, err
	}
	tc, err := cfg.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("storage config: %w", err)
	}
	log = log.With("addr", cfg.Addr, "database", cfg.Database)

	// The database must exist before a connection can select it, so create it over a connection
	// to the user's default database first.
	boot, err := connect(ctx, cfg, tc, password, "")
	if err != nil {
		return nil, err
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("creating database %s: %w", cfg.Database, err)
	}

	conn, err := connect(ctx, cfg, tc, password, cfg.Database)
	if err != nil {
		return nil, err
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading clickhouse server version: %w", err)
	}
	s := &Store{
		cfg:     cfg,
		conn:    conn,
		version: version{sv.Version.Major, sv.Version.Minor, sv.Version.Patch},
		log:     log,
		metrics: newMetrics(reg),
	}
	s.windows.s = s
	log.Info("connected to clickhouse", "server_version", s.version.String(), "user", cfg.Username, "tls", tc != nil)
	return s, nil
}

// connect opens a connection pool to database db ("" for the user's default) and pings it; tc nil
// is plaintext.
func connect(ctx context.Context, cfg Config, tc *tls.Config, password, db string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.Addr},
		Auth:        clickhouse.Auth{Database: db, Username: cfg.Username, Password: password},
		DialTimeout: cfg.DialTimeout,
		TLS:         tc,
	})
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse connection to %s: %w", cfg.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		var rh tls.RecordHeaderError
		if tc != nil && errors.As(err, &rh) {
			return nil, fmt.Errorf("connecting to clickhouse at %s over TLS: the server does not speak TLS there; "+
				"is it its secure native port (tcp_port_secure, usually 9440)?: %w", cfg.Addr, err)
		}
		return nil, fmt.Errorf("connecting to clickhouse at %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

// ServerVersion returns the ClickHouse server's version as major.minor.patch, e.g. "18.16.1".
func (s *Store) ServerVersion() string { return s.version.String() }

// Query runs a read query in the Store's database and returns its rows, which the caller must close.
// It is meant for tests, the demo summary and status pages, not for the write path.
func (s *Store) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("querying clickhouse: %w", err)
	}
	return rows, nil
}

// Close closes the connections. It is idempotent; writes must not be in flight.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.conn.Close(); err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("closing clickhouse connection: %w", err)
		}
	})
	return s.closeErr
}

// now returns the current time at DateTime precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
