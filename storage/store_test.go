package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testAddr is the ClickHouse server the tests use.
func testAddr() string {
	if a := os.Getenv("DRIFTWATCH_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return DefaultAddr
}

// reachable returns an error saying how to start the server when nothing listens at addr.
func reachable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return fmt.Errorf("ClickHouse not reachable at %s: run scripts/clickhouse.sh start (%v)", addr, err)
	}
	return c.Close()
}

// requireServer fails the test (it does not skip it) when the test server is not there.
func requireServer(t testing.TB) string {
	t.Helper()
	addr := testAddr()
	if err := reachable(addr); err != nil {
		t.Fatal(err)
	}
	return addr
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// randomDatabase returns a fresh database name and drops that database when the test ends.
func randomDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	db := "driftwatch_test_" + hex.EncodeToString(b[:])
	addr := requireServer(t)
	t.Cleanup(func() {
		conn := adminConn(t, addr)
		defer conn.Close()
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("dropping test database %s: %v", db, err)
		}
	})
	return db
}

// adminConn connects to the test server directly, outside any Store.
func adminConn(t testing.TB, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	return conn
}

// newTestStore opens and migrates a Store on DefaultConfig with the test server's address and its
// own random database, changed by edits.
func newTestStore(t testing.TB, reg prometheus.Registerer, edits ...func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = requireServer(t)
	cfg.Database = randomDatabase(t)
	for _, edit := range edits {
		edit(&cfg)
	}
	ctx := testContext(t)
	s, err := Open(ctx, cfg, reg, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// queryInt returns the single integer result of q.
func queryInt(t testing.TB, s *Store, q string, args ...any) uint64 {
	t.Helper()
	rows, err := s.Query(testContext(t), "SELECT toUInt64(("+q+"))", args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no rows (%v)", q, rows.Err())
	}
	var n uint64
	if err := rows.Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestReachableMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = reachable(addr)
	want := "ClickHouse not reachable at " + addr + ": run scripts/clickhouse.sh start"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("reachable(closed port) = %v, want an error starting %q", err, want)
	}
}

func TestOpen(t *testing.T) {
	db := randomDatabase(t)
	s := newTestStore(t, prometheus.NewRegistry(), func(c *Config) { c.Database = db })
	if v := s.ServerVersion(); v == "" || v == "0.0.0" {
		t.Fatalf("ServerVersion() = %q", v)
	}
	if n := queryInt(t, s, "SELECT count() FROM system.databases WHERE name = ?", db); n != 1 {
		t.Fatalf("database %s exists %d times, want 1", db, n)
	}
	// The connection's default database is the configured one.
	rows, err := s.Query(testContext(t), "SELECT currentDatabase()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cur string
	if !rows.Next() || rows.Scan(&cur) != nil || cur != db {
		t.Fatalf("currentDatabase() = %q, want %q", cur, db)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"invalid config", with(func(c *Config) { c.Database = "no-dashes" }), "storage config: database"},
		{"missing password file", with(func(c *Config) { c.Addr, c.PasswordFile = testAddr(), "/nonexistent/pw" }), "reading storage password_file"},
		{"nothing listening", with(func(c *Config) { c.Addr, c.DialTimeout = closed, time.Second }), "connecting to clickhouse at " + closed},
		{"wrong password", with(func(c *Config) { c.Addr, c.Username, c.Password = requireServer(t), "default", "not-the-password" }), "connecting to clickhouse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(testContext(t), tt.cfg, nil, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %q, want it to contain %q", err, tt.want)
			}
			if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Fatalf("Open error %q contains the password", err)
			}
		})
	}
}

func sleep(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

// metricValue returns the value of the counter (or the sample count of the histogram) name whose
// table label is table ("" for an unlabelled metric); 0 when absent.
func metricValue(t testing.TB, g prometheus.Gatherer, name, table string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "table" {
					label = lp.GetValue()
				}
			}
			if label != table {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
