package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// benchEvents is the number of events of BenchmarkPipeline, over
// benchModels models keyed onto benchPartitions partitions: one worker per
// partition, so enough models to spread the load over both cores.
const (
	benchEvents     = 1_000_000
	benchModels     = 6
	benchPartitions = 3
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline measures, in one process, the whole pipeline (kafka-go
// consumer group, decoding, windowing, scoring, ClickHouse writes, commits)
// over 1,000,000 events with 15 features produced to the embedded broker,
// and a consume-only kafka-go consumer over the same messages. CPU time is
// the whole process's, broker included. Run it with -benchtime 1x (make bench).
func BenchmarkPipeline(b *testing.B) {
	addr, db := benchClickHouse(b)
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: benchPartitions})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	ctx := context.Background()
	sc := generator.DefaultScenario(benchModels, 15)
	sc.Start = time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	sc.EventStep = time.Millisecond
	g, err := generator.New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	n, err := generator.Produce(ctx, broker.Brokers(), "telemetry", g, benchEvents, nil)
	if err != nil || n != benchEvents {
		b.Fatalf("produced %d: %v", n, err)
	}
	b.Logf("produced %d events in %s", n, time.Since(t0))
	var valueBytes int64 = 0
	b.ResetTimer()
	for range b.N {
		// Consume only.
		var seen atomic.Int64
		ccfg := ingest.DefaultConfig()
		ccfg.Brokers, ccfg.Topic, ccfg.GroupID = broker.Brokers(), "telemetry", fmt.Sprintf("bench-consume-%d", time.Now().UnixNano())
		ccfg.HeartbeatInterval, ccfg.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
		if err := ccfg.Validate(); err != nil {
			b.Fatal(err)
		}
		var bytes atomic.Int64
		cons, err := ingest.NewConsumer(ccfg, func(context.Context, string, int32, int64) (ingest.PartitionHandler, error) {
			return &countingHandler{n: &seen, bytes: &bytes}, nil
		}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start, cpu0 := time.Now(), cpuTime()
		go func() { _ = cons.Run(cctx); close(done) }()
		for seen.Load() < benchEvents {
			time.Sleep(5 * time.Millisecond)
		}
		consumeWall, consumeCPU := time.Since(start), cpuTime()-cpu0
		cancel()
		<-done
		cons.Close()
		valueBytes = bytes.Load()

		// The whole pipeline.
		cfg := DefaultConfig()
		cfg.Listen, cfg.MaxDriftSeries = "127.0.0.1:0", 1000
		kc := &cfg.Kafka.Consumer
		kc.Brokers, kc.Topic, kc.GroupID = broker.Brokers(), "telemetry", fmt.Sprintf("bench-pipeline-%d", time.Now().UnixNano())
		kc.HeartbeatInterval, kc.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
		cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
		cfg.Analysis.WindowSize = time.Minute
		m, err := New(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		pctx, pcancel := context.WithCancel(ctx)
		pdone := make(chan error, 1)
		if path := os.Getenv("BENCH_PIPELINE_CPUPROFILE"); path != "" {
			// A CPU profile of the pipeline phase alone (not of producing or consuming only).
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		start, cpu0 = time.Now(), cpuTime()
		go func() { pdone <- m.Run(pctx) }()
		for {
			st := m.Stats()
			if st.Events+st.Late+st.Rejected >= benchEvents {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		wall, cpu := time.Since(start), cpuTime()-cpu0
		st := m.Stats()
		pcancel()
		<-pdone
		m.Close(ctx)
		fmt.Printf("pipeline events_per_sec=%.0f cpu_ns_per_event=%.0f windows_stored=%d bytes_per_event=%.0f\n",
			float64(benchEvents)/wall.Seconds(), float64(cpu.Nanoseconds())/benchEvents, st.Windows, float64(valueBytes)/benchEvents)
		fmt.Printf("consume_only events_per_sec=%.0f cpu_ns_per_event=%.0f\n",
			float64(benchEvents)/consumeWall.Seconds(), float64(consumeCPU.Nanoseconds())/benchEvents)
		b.ReportMetric(float64(benchEvents)/wall.Seconds(), "events/s")
		b.ReportMetric(float64(valueBytes)/benchEvents, "bytes/event")
	}
}

type countingHandler struct {
	n, bytes *atomic.Int64
	next     int64
}

func (h *countingHandler) Handle(_ context.Context, batch []ingest.Message) error {
	var sz int64
	for i := range batch {
		sz += int64(len(batch[i].Value))
	}
	h.bytes.Add(sz)
	h.n.Add(int64(len(batch)))
	if len(batch) > 0 {
		h.next = batch[len(batch)-1].Offset + 1
	}
	return nil
}

func (h *countingHandler) Committable() int64          { return h.next }
func (h *countingHandler) Close(context.Context) error { return nil }

func benchClickHouse(b *testing.B) (string, string) {
	addr := storage.DefaultAddr
	if v := envOr("DRIFTWATCH_TEST_CLICKHOUSE", ""); v != "" {
		addr = v
	}
	db := fmt.Sprintf("dw_bench_%d", time.Now().UnixNano()%1e9)
	s, err := storage.Open(context.Background(), clickHouseConfig(addr, "default"), nil, nil)
	if err != nil {
		b.Fatalf("ClickHouse not reachable at %s: run scripts/clickhouse.sh start: %v", addr, err)
	}
	b.Cleanup(func() {
		_ = s.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		s.Close()
	})
	return addr, db
}
