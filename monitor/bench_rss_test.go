package monitor

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/driftwatch/driftwatch/generator"
)

// rssEvents is the number of events of BenchmarkPipelineRSS:
// BENCH_RSS_EVENTS, default 10,000,000.
var rssEvents = envCount("BENCH_RSS_EVENTS", 10_000_000, 1)

// rssChunk is how many events BenchmarkPipelineRSS produces at a time.
const rssChunk = 1_000_000

// BenchmarkPipelineRSS measures the monitor's resident memory over
// BENCH_RSS_EVENTS (default 10,000,000) events: the pipeline of
// BenchmarkPipeline (6 models, 15 features, one-minute windows, the broker
// in a process of its own), fed a million events at a time. Once the
// monitor has counted a million, the broker deletes them (DeleteRecords up
// to the high watermark), so that the test broker, which keeps its log in
// memory, holds one million at a time, and the next million is produced.
// It prints the resident set size and the Go heap in use after each million
// and at the peak: a monitor whose memory is bounded by its configuration
// shows the same figures at 2M as at 10M. The producer shares the process,
// so this benchmark reports memory only; BenchmarkPipeline measures
// throughput. Run it with -benchtime 1x (make
// bench-rss).
func BenchmarkPipelineRSS(b *testing.B) {
	addr, db := benchClickHouse(b)
	broker := startBenchBroker(b)
	ctx := context.Background()
	sc := generator.DefaultScenario(benchModels, 15)
	// Event time ends about now: a millisecond per event.
	sc.EventStep = time.Millisecond
	sc.Start = time.Now().Add(-time.Duration(rssEvents)*sc.EventStep - 10*time.Minute).Truncate(time.Minute)
	g, err := generator.New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.ResetTimer()
	for range b.N {
		m := newBenchMonitor(b, broker, addr, db, prometheus.NewRegistry(), benchPhases()[0])
		pctx, pcancel := context.WithCancel(ctx)
		pdone := make(chan error, 1)
		go func() { pdone <- m.Run(pctx) }()
		var (
			rss, heap []string
			rssPeak   int64
			produced  int64
			ms        runtime.MemStats
		)
		for produced < rssEvents {
			n := min(rssChunk, rssEvents-produced)
			if p, err := generator.Produce(ctx, broker.brokers, "telemetry", g, int(n), nil); err != nil || int64(p) != n {
				b.Fatalf("produced %d of %d: %v", p, n, err)
			}
			produced += n
			for {
				st := m.Stats()
				if int64(st.Events+st.Late+st.Rejected) >= produced {
					break
				}
				rssPeak = max(rssPeak, rssBytes())
				time.Sleep(20 * time.Millisecond)
			}
			if err := deleteRecords(ctx, cl, "telemetry", benchPartitions); err != nil {
				b.Fatal(err)
			}
			r := rssBytes()
			rssPeak = max(rssPeak, r)
			runtime.ReadMemStats(&ms)
			rss = append(rss, fmt.Sprintf("%dM=%.0f", produced/1_000_000, float64(r)/(1<<20)))
			heap = append(heap, fmt.Sprintf("%dM=%.0f", produced/1_000_000, float64(ms.HeapInuse)/(1<<20)))
		}
		st := m.Stats()
		pcancel()
		<-pdone
		m.Close(ctx)
		debug.FreeOSMemory()
		fmt.Printf("rss_mib events=%d %s peak=%.0f\n", rssEvents, strings.Join(rss, " "), float64(rssPeak)/(1<<20))
		fmt.Printf("heap_inuse_mib %s\n", strings.Join(heap, " "))
		fmt.Printf("pipeline_rss events=%d windows_stored=%d (throughput: BenchmarkPipeline)\n", st.Events, st.Windows)
		b.ReportMetric(float64(rssPeak)/(1<<20), "peak-rss-MiB")
	}
}

// deleteRecords deletes every record of the topic's partitions up to their
// high watermarks.
func deleteRecords(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10_000
	t := kmsg.NewDeleteRecordsRequestTopic()
	t.Topic = topic
	for p := range partitions {
		pp := kmsg.NewDeleteRecordsRequestTopicPartition()
		pp.Partition, pp.Offset = p, -1
		t.Partitions = append(t.Partitions, pp)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("deleting the records of %s: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				return fmt.Errorf("deleting the records of %s/%d: error code %d", topic, rp.Partition, rp.ErrorCode)
			}
		}
	}
	return nil
}
