package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
)

// stationaryEnv reads a comma-separated list from the environment variable
// name, or def.
func stationaryEnv(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

// BenchmarkStationaryPages counts the pages the default configuration
// sends on stationary telemetry, through the embedded broker, the monitor
// and ClickHouse: one model with 9 features (7 numeric, 2 categorical) and
// its outputs, 500 events per window, BENCH_STATIONARY_WINDOWS windows
// (default 4,320: 30 days of 10-minute windows, 3 days of 1-minute ones)
// for each window size of BENCH_STATIONARY_SIZES (default 10m,1m) and seed
// of BENCH_STATIONARY_SEEDS (default 1,2,3). Every notification to a
// webhook receiver counts as a page. It prints one line per run: the pages,
// the alerts they were about, and the windows with a material (warning or
// critical) and with a merely detectable (drifted) drift row. With
// BENCH_STATIONARY_SHIFT_SIGMA set (e.g. 0.5), every numeric feature's mean
// moves by that many standard deviations (and one category flips) for the
// last 10% of the windows, and the line also says how many windows after
// the shift the first alert started (it pages pending_windows later). Run it with -benchtime 1x (make
// stationary).
func BenchmarkStationaryPages(b *testing.B) {
	addr, db := benchClickHouse(b)
	windows, err := strconv.Atoi(stationaryEnv("BENCH_STATIONARY_WINDOWS", "4320")[0])
	if err != nil || windows < 10 {
		b.Fatalf("BENCH_STATIONARY_WINDOWS: want a number of windows of at least 10: %v", err)
	}
	for range b.N {
		for _, size := range stationaryEnv("BENCH_STATIONARY_SIZES", "10m,1m") {
			ws, err := time.ParseDuration(size)
			if err != nil {
				b.Fatalf("BENCH_STATIONARY_SIZES: %v", err)
			}
			for _, s := range stationaryEnv("BENCH_STATIONARY_SEEDS", "1,2,3") {
				seed, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					b.Fatalf("BENCH_STATIONARY_SEEDS: %v", err)
				}
				stationaryRun(b, addr, fmt.Sprintf("%s_%d_%d", db, int(ws.Minutes()), seed), ws, seed, windows)
			}
		}
	}
}

// pageSink is a webhook receiver that keeps every notification.
type pageSink struct {
	mu  sync.Mutex
	got []webhook.Payload
	srv *httptest.Server
}

func newPageSink(b *testing.B) *pageSink {
	s := &pageSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhook.Payload
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err == nil {
			s.mu.Lock()
			s.got = append(s.got, p)
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(s.srv.Close)
	return s
}

func stationaryRun(b *testing.B, addr, db string, ws time.Duration, seed int64, windows int) {
	ctx := context.Background()
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	const perWindow = 500
	sc := generator.DefaultScenario(1, 9)
	sc.EventStep = ws / perWindow
	span := time.Duration(windows) * ws
	sc.Start = time.Now().Add(-span - 2*ws).Truncate(ws)
	var shiftFrom time.Time
	if v := os.Getenv("BENCH_STATIONARY_SHIFT_SIGMA"); v != "" {
		sigma, err := strconv.ParseFloat(v, 64)
		if err != nil || !(sigma > 0) {
			b.Fatalf("BENCH_STATIONARY_SHIFT_SIGMA: want a positive number of standard deviations, got %q", v)
		}
		after := time.Duration(windows-windows/10) * ws
		shiftFrom = sc.Start.Add(after)
		sc.Shift = &generator.Shift{Model: sc.Models[0].ID, After: after, MeanShift: sigma, CategoryFlip: true}
	}
	g, err := generator.New(sc, seed)
	if err != nil {
		b.Fatal(err)
	}
	n := windows * perWindow
	if p, err := generator.Produce(ctx, broker.Brokers(), "telemetry", g, n, nil); err != nil || p != n {
		b.Fatalf("produced %d of %d: %v", p, n, err)
	}
	sink := newPageSink(b)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = broker.Brokers(), "telemetry", "stationary"
	kc.HeartbeatInterval, kc.JoinGroupBackoff, kc.MaxWait = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = ws
	cfg.Analysis.IdleFlush = time.Second
	cfg.Limits.MaxAge = span + 24*time.Hour
	hook := webhook.DefaultConfig()
	hook.Name, hook.URL = "pages", sink.srv.URL
	cfg.Alerting.Webhook = []webhook.Config{hook}
	m, err := New(ctx, cfg, Options{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	start := time.Now()
	for last, since := uint64(0), time.Now(); ; time.Sleep(500 * time.Millisecond) {
		st := m.Stats()
		if st.Decided >= uint64(windows) {
			break
		}
		if st.Decided != last {
			last, since = st.Decided, time.Now()
		} else if time.Since(since) > time.Minute {
			b.Logf("decided %d of %d windows; none for a minute", st.Decided, windows)
			break
		}
	}
	time.Sleep(2 * time.Second) // let the last notifications go out
	cancel()
	<-done
	st := m.Stats()
	var material, drifted uint64
	q := "SELECT uniqExactIf(window_start, severity != 'ok'), uniqExactIf(window_start, drifted = 1) FROM " + db + ".drift_scores"
	rows, err := m.Store().Query(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&material, &drifted); err != nil {
			b.Fatal(err)
		}
	}
	rows.Close()
	m.Close(ctx)
	sink.mu.Lock()
	pages := len(sink.got)
	shifted := ""
	if !shiftFrom.IsZero() {
		// The first alert that started in the shift; it pages after
		// pending_windows windows of it.
		shifted = " first_alert_after_shift=none"
		for _, p := range sink.got {
			if p.Status == "firing" && !p.StartsAt.Before(shiftFrom) {
				shifted = fmt.Sprintf(" first_alert_after_shift=window_%d", int(p.StartsAt.Sub(shiftFrom)/ws))
				break
			}
		}
	}
	about := map[string]int{}
	for _, p := range sink.got {
		if p.Status == "firing" {
			about[strings.TrimPrefix(p.Feature+p.Signal+"/"+p.Subject, "/")]++
		}
	}
	sink.mu.Unlock()
	keys := make([]string, 0, len(about))
	for k, v := range about {
		keys = append(keys, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(keys)
	fmt.Printf("stationary window=%s seed=%d windows_decided=%d events=%d pages=%d material_windows=%d drifted_windows=%d elapsed=%s%s firing=[%s]\n",
		ws, seed, st.Decided, st.Events, pages, material, drifted, time.Since(start).Round(time.Second), shifted, strings.Join(keys, " "))
}
