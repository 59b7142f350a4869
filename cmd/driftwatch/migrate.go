package main

import (
	"context"
	"fmt"
	"io"

	"github.com/driftwatch/driftwatch/monitor"
	"github.com/driftwatch/driftwatch/storage"
)

const migrateExamples = `  driftwatch migrate --clickhouse-addr 127.0.0.1:19000
  driftwatch migrate --config driftwatch.yaml
`

// cmdMigrate creates or upgrades the ClickHouse schema.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("migrate", "Create or upgrade driftwatch's ClickHouse database and tables. Safe to run any number\n"+
		"of times; 'run' does it at start too.", migrateExamples, stdout, stderr)
	path := fs.String("config", "", "YAML configuration file (only its clickhouse section is used)")
	chAddr := fs.String("clickhouse-addr", "", "ClickHouse native address host:port (overrides clickhouse.addr)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := monitor.LoadConfig(*path, env)
	if err != nil {
		return err
	}
	if *chAddr != "" {
		cfg.ClickHouse.Addr = *chAddr
	}
	if err := cfg.ClickHouse.Validate(); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	log, _ := newLogger(stderr, "warn")
	s, err := storage.Open(ctx, cfg.ClickHouse, nil, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema up to date on ClickHouse %s\n", s.ServerVersion())
	return nil
}
