// Package chtest gives tests a fresh database on the test ClickHouse server
// and drops it when the test ends. It is for tests only; the server is the
// one scripts/clickhouse.sh starts (make test does).
package chtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/storage"
)

// Addr returns the test server's address: DRIFTWATCH_TEST_CLICKHOUSE, or
// storage.DefaultAddr.
func Addr() string {
	if a := os.Getenv("DRIFTWATCH_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return storage.DefaultAddr
}

// Open creates a database named prefix_<random> on the test server, migrated
// when migrate is true, and returns a store on it, its address and its name.
// The test fails (it does not skip) when the server is unreachable.
func Open(t testing.TB, prefix string, migrate bool) (s *storage.Store, addr, db string) {
	t.Helper()
	addr = Addr()
	db = fmt.Sprintf("%s_%d", prefix, rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := storage.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.DialTimeout = addr, db, 3*time.Second
	s, err := storage.Open(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatalf("ClickHouse not reachable at %s: run scripts/clickhouse.sh start: %v", addr, err)
	}
	t.Cleanup(func() {
		if err := s.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
		s.Close()
	})
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return s, addr, db
}
