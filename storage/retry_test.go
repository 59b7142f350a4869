package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// proxy is a TCP proxy in front of the test server that can refuse connections (its listener is
// closed, so dials get "connection refused", and open connections are cut) and forward again.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.refuse()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				continue
			}
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

// track records a forwarded pair, or closes it when the proxy started refusing meanwhile.
func (p *proxy) track(c ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, x := range c {
			x.Close()
		}
		return false
	}
	for _, x := range c {
		p.conns[x] = true
	}
	return true
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// refuse closes the listener and cuts every forwarded connection.
func (p *proxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// forward listens again on the same address.
func (p *proxy) forward() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWriteWindowsBackPressure(t *testing.T) {
	addr := requireServer(t)
	p := startProxy(t, addr)
	reg := prometheus.NewRegistry()
	db := randomDatabase(t)
	s := newTestStore(t, reg, func(c *Config) {
		c.Addr, c.Database, c.DialTimeout, c.MaxRetryBackoff = p.addr, db, time.Second, 200*time.Millisecond
	})
	direct := newTestStore(t, nil, func(c *Config) { c.Addr, c.Database = addr, db })

	p.refuse()
	b := sampleBatch("telemetry", 0, 0, 0, 99, t0.Add(time.Hour))
	done := make(chan error, 1)
	go func() { done <- s.WriteWindows(context.Background(), b) }()

	waitFor(t, "3 retries", 10*time.Second, func() bool {
		return metricValue(t, reg, "driftwatch_clickhouse_retries_total", "") >= 3
	})
	select {
	case err := <-done:
		t.Fatalf("WriteWindows returned %v while ClickHouse was unreachable; want it to block and retry", err)
	default:
	}
	if n := queryInt(t, direct, "SELECT count() FROM feature_windows"); n != 0 {
		t.Fatalf("%d feature rows written while the proxy refused", n)
	}

	p.forward()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WriteWindows after the server came back: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("WriteWindows did not return within 15s of the server coming back")
	}
	for table, want := range map[string]uint64{"feature_windows": 2, "drift_scores": 2, "inference_windows": 1} {
		if n := queryInt(t, direct, "SELECT count() FROM "+table); n != want {
			t.Errorf("%s has %d rows after the retried write, want %d (each table written once)", table, n, want)
		}
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_insert_errors_total", "feature_windows"); n < 1 {
		t.Errorf("driftwatch_clickhouse_insert_errors_total{table=feature_windows} = %v, want >= 1", n)
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_insert_rows_total", "inference_windows"); n != 1 {
		t.Errorf("driftwatch_clickhouse_insert_rows_total{table=inference_windows} = %v, want 1", n)
	}
}

func TestWriteWindowsCancelled(t *testing.T) {
	addr := requireServer(t)
	p := startProxy(t, addr)
	s := newTestStore(t, nil, func(c *Config) {
		c.Addr, c.DialTimeout, c.MaxRetryBackoff = p.addr, time.Second, 300*time.Millisecond
	})
	p.refuse()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.WriteWindows(ctx, sampleBatch("telemetry", 0, 0, 0, 9, t0)) }()
	time.Sleep(700 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WriteWindows returned %v before cancellation", err)
	default:
	}
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteWindows after cancel = %v, want an error wrapping context.Canceled", err)
		}
		if !strings.Contains(err.Error(), "inserting 2 rows into feature_windows") {
			t.Fatalf("error %q does not say what was being written", err)
		}
		if waited := time.Since(cancelled); waited > 2*time.Second {
			t.Fatalf("WriteWindows took %s to return after cancel", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WriteWindows did not return within 5s of cancel")
	}
}

func TestWriteWindowsPermanentError(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg, func(c *Config) { c.MaxRetryBackoff = 100 * time.Millisecond })
	ctx := testContext(t)
	if err := s.conn.Exec(ctx, "DROP TABLE drift_scores"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := s.WriteWindows(ctx, sampleBatch("telemetry", 0, 0, 0, 9, t0))
	if err == nil || !strings.Contains(err.Error(), "inserting 2 rows into drift_scores") {
		t.Fatalf("WriteWindows with drift_scores missing = %v, want an error about drift_scores", err)
	}
	if time.Since(start) > 5*time.Second || metricValue(t, reg, "driftwatch_clickhouse_retries_total", "") != 0 {
		t.Fatalf("a missing table was retried; want it reported at once")
	}
	// The commit marker was not written, so the window will be redone after a restart.
	if n := queryInt(t, s, "SELECT count() FROM inference_windows"); n != 0 {
		t.Fatalf("inference_windows has %d rows although drift_scores failed", n)
	}
}

func TestInsertAppendErrorIsPermanent(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestStore(t, reg, func(c *Config) { c.MaxRetryBackoff = 100 * time.Millisecond })
	// A field whose Go type does not fit its column (String into UInt32) fails in the client.
	bad := []field[AlertRow]{fieldOf("attempt", func(*AlertRow) string { return "three" })}
	err := insert(testContext(t), s, "alerts", bad, []AlertRow{{}})
	if err == nil || !strings.Contains(err.Error(), "inserting 1 rows into alerts: appending column attempt") {
		t.Fatalf("insert with a mistyped column = %v, want a permanent append error", err)
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_retries_total", ""); n != 0 {
		t.Fatalf("a mistyped column was retried %v times", n)
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_insert_errors_total", "alerts"); n != 1 {
		t.Fatalf("driftwatch_clickhouse_insert_errors_total{table=alerts} = %v, want 1", n)
	}
}

func TestStoresShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newTestStore(t, reg)
	b := newTestStore(t, reg) // registering the same metrics again must not panic
	ctx := testContext(t)
	for _, s := range []*Store{a, b} {
		if err := s.RecordAlerts(ctx, []AlertRow{{AlertKey: "k", Record: "state", State: "firing"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := metricValue(t, reg, "driftwatch_clickhouse_insert_rows_total", "alerts"); n != 2 {
		t.Fatalf("driftwatch_clickhouse_insert_rows_total{table=alerts} = %v over two Stores, want 2", n)
	}
}

// TestOpenRetryingWaitsForTheServer: a monitor started while ClickHouse is
// down waits for it (and says so) instead of exiting; a refused password
// ends the wait at once.
func TestOpenRetryingWaitsForTheServer(t *testing.T) {
	addr := requireServer(t)
	p := startProxy(t, addr)
	p.refuse()
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = p.addr, randomDatabase(t)
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var s *Store
	go func() {
		var err error
		s, err = OpenRetrying(ctx, cfg, prometheus.NewRegistry(), log)
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("OpenRetrying returned while ClickHouse was unreachable: %v", err)
	default:
	}
	p.forward()
	if err := <-done; err != nil {
		t.Fatalf("OpenRetrying after the server came back: %v", err)
	}
	defer s.Close()
	if n := queryInt(t, s, "SELECT count() FROM schema_migrations"); n != uint64(len(migrations)) {
		t.Errorf("%d migrations applied, want %d", n, len(migrations))
	}
	if !strings.Contains(logged.String(), "ClickHouse not available at start-up, retrying") {
		t.Errorf("the wait was not logged: %s", logged.String())
	}

	bad := cfg
	bad.Addr, bad.Password = addr, "wrong"
	start := time.Now()
	if _, err := OpenRetrying(ctx, bad, nil, nil); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a wrong password: %v after %s, want an error at once", err, time.Since(start))
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
