// Package alerttest holds what the notifier tests share: a scripted httptest
// receiver that validates payloads, and a driver that pushes observations
// through a real alerting.Manager and returns its records and logs. It is for
// tests only.
package alerttest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting"
)

// Reply is one scripted answer of a Server.
type Reply struct {
	Status int
	Body   string
	Header http.Header
}

// Request is one request a Server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Server is an httptest receiver that checks every request with check and
// answers with the scripted replies in order (the last one repeats).
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []Request
	script []Reply
}

// NewServer starts a Server on 127.0.0.1, closed when the test ends. A request
// that fails check is reported with t.Errorf and answered 400.
func NewServer(t testing.TB, check func(r *http.Request, body []byte) error, script ...Reply) *Server {
	t.Helper()
	if len(script) == 0 {
		script = []Reply{{Status: http.StatusOK}}
	}
	s := &Server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		i := len(s.reqs)
		s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()})
		rep := s.script[min(i, len(s.script)-1)]
		s.mu.Unlock()
		if check != nil {
			if err := check(r, body); err != nil {
				t.Errorf("request %d to %s does not follow the format: %v\nbody: %s", i+1, r.URL.Path, err, body)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		for k, vs := range rep.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(rep.Status)
		_, _ = io.WriteString(w, rep.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Result is what a Drive run produced.
type Result struct {
	Manager *alerting.Manager
	Records []alerting.Record
	Logs    string
	OK      int
	Failed  int
}

// Deliveries returns the delivery records, in order.
func (r *Result) Deliveries() []alerting.Record {
	var out []alerting.Record
	for _, rec := range r.Records {
		if rec.Kind == alerting.KindDelivery {
			out = append(out, rec)
		}
	}
	return out
}

// FastConfig is a lifecycle config for notifier tests: fire on the first
// drifted window, resolve on the first clean one, millisecond back-offs.
func FastConfig() alerting.Config {
	c := alerting.DefaultConfig()
	c.PendingWindows, c.ResolveWindows, c.MaxAttempts = 1, 1, 5
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, 5*time.Second
	return c
}

// Drive runs a Manager delivering to n (receiver name "test"), observes each
// batch in turn, waits until done deliveries ended (success or not) and closes
// the manager.
func Drive(t testing.TB, cfg alerting.Config, n alerting.Notifier, done int, batches ...[]alerting.Observation) *Result {
	t.Helper()
	var (
		mu   sync.Mutex
		recs []alerting.Record
		logs bytes.Buffer
	)
	rec := alerting.RecorderFunc(func(_ context.Context, rs []alerting.Record) error {
		mu.Lock()
		recs = append(recs, rs...)
		mu.Unlock()
		return nil
	})
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"test": n}, rec, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatalf("NewWithNotifiers: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { _ = m.Run(ctx); close(runDone) }()
	for _, b := range batches {
		m.Observe(ctx, b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, failed := m.Delivered()
		if ok+failed >= done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s only %d of %d deliveries ended", ok+failed, done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-runDone
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := m.Close(cctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ok, failed := m.Delivered()
	mu.Lock()
	defer mu.Unlock()
	return &Result{Manager: m, Records: recs, Logs: logs.String(), OK: ok, Failed: failed}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// T0 is the start of the first window used by tests: 2026-11-26 14:00 UTC.
var T0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

// Window returns the observation of one-minute window i (starting at T0+i min).
func Window(i int, model, version, feature string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation {
	return alerting.Observation{
		ModelID: model, ModelVersion: version, Feature: feature,
		WindowStart: T0.Add(time.Duration(i) * time.Minute), WindowEnd: T0.Add(time.Duration(i+1) * time.Minute),
		Severity: sev, Tests: tests,
	}
}

// SignalWindow returns the observation of signal's verdict about subject in
// one-minute window i (starting at T0+i min).
func SignalWindow(i int, model, version, signal, subject string, sev alerting.Severity, tests ...alerting.TestResult) alerting.Observation {
	o := Window(i, model, version, "", sev, tests...)
	o.Signal, o.Subject = signal, subject
	return o
}

// Rate returns the test result of a rate signal named name: statistic stat,
// p-value p, threshold 0.05.
func Rate(name string, stat, p float64, sev alerting.Severity) alerting.TestResult {
	return alerting.TestResult{Test: name, Statistic: stat, PValue: p, Threshold: 0.05, Severity: sev}
}

// PSI returns a PSI test result with threshold 0.25 (no p-value).
func PSI(stat float64, sev alerting.Severity) alerting.TestResult {
	return alerting.TestResult{Test: "psi", Statistic: stat, PValue: math.NaN(), Threshold: 0.25, Severity: sev}
}

// KS returns a KS test result with threshold 0.1 and the given p-value.
func KS(stat, p float64, sev alerting.Severity) alerting.TestResult {
	return alerting.TestResult{Test: "ks", Statistic: stat, PValue: p, Threshold: 0.1, Severity: sev}
}
