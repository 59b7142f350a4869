package monitor

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// benchModels models keyed onto benchPartitions partitions: one worker per
// partition, so enough models to spread the load over both cores.
const (
	benchModels     = 6
	benchPartitions = 3
)

// benchEvents is the number of events of BenchmarkPipeline:
// BENCH_PIPELINE_EVENTS, default 1,000,000.
var benchEvents = envCount("BENCH_PIPELINE_EVENTS", 1_000_000, 1)

// envCount returns the count the environment variable name holds when it
// is one of at least least, else def.
func envCount(name string, def, least int64) int64 {
	if n, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && n >= least {
		return n
	}
	return def
}

// benchWarmup is the least number of events BenchmarkPipeline reads before
// its clock starts, in both phases: BENCH_PIPELINE_WARMUP, default 300,000
// (five one-minute windows of the bench's event time: the consumer group
// joined, the queues full; the heap keeps growing after it, from about 35
// MB at the start to 265 MB after 1M events and 296 MB at 1.3M, its first
// touches 0.5–0.8 µs of kernel time per event of a first million). The
// pipeline's warm-up also lasts until every model's reference is built and
// stored (once per model version; the five warm-up windows' decisions come
// 1–3 s after their last event, 300,000–900,000 events later), unless
// BENCH_PIPELINE_WARMUP is 0.
var benchWarmup = envCount("BENCH_PIPELINE_WARMUP", 300_000, 0)

// benchRefSlack is how many events BenchmarkPipeline produces beyond
// benchWarmup and benchEvents, for the pipeline's warm-up to wait for the
// references.
const benchRefSlack = 1_000_000

// rssBytes returns the process's resident set size (VmRSS), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuTime() time.Duration {
	ru := selfUsage()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfUsage returns this process's resource usage so far.
func selfUsage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru
}

// faultsAndSystemTime returns the page faults of this process so far
// (minor and major) and its system CPU time: on virtual machines where a
// page first touched costs the kernel 10 µs, a heap that grows is paid
// for there.
func faultsAndSystemTime() (int64, time.Duration) {
	ru := selfUsage()
	return ru.Minflt + ru.Majflt, time.Duration(ru.Stime.Nano())
}

// clickHouseCPU returns the CPU time of the ClickHouse server that
// scripts/clickhouse.sh started (its pid file under DRIFTWATCH_RUN_DIR),
// false when it cannot be read (a server started otherwise) or its process
// is no ClickHouse server (a stale pid file): on a machine with few cores
// its inserts take a share of them from the pipeline.
func clickHouseCPU() (time.Duration, bool) {
	pidfile := filepath.Join(cmp.Or(os.Getenv("DRIFTWATCH_RUN_DIR"), "/tmp/driftwatch"), "clickhouse", "clickhouse-server.pid")
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || !strings.HasPrefix(string(comm), "clickhouse") {
		return 0, false
	}
	return procCPU(pid)
}

// procStat returns the fields of /proc/<pid>/stat after the command name
// in parentheses (f[0] is field 3, the state), false when /proc cannot
// tell or has fewer than want of them.
func procStat(pid, want int) ([]string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(stat[i+1:]))
	return f, len(f) >= want
}

// procCPU returns the CPU time (user and system) of process pid so far,
// false when /proc cannot tell.
func procCPU(pid int) (time.Duration, bool) {
	// Fields 14 and 15, utime and stime, in clock ticks (USER_HZ, 100 on
	// Linux).
	f, ok := procStat(pid, 13)
	if !ok {
		return 0, false
	}
	utime, uerr := strconv.ParseInt(f[11], 10, 64)
	stime, serr := strconv.ParseInt(f[12], 10, 64)
	if uerr != nil || serr != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// BenchmarkPipeline measures the whole pipeline (kafka-go consumer group,
// decoding, windowing, the partials topic, scoring, ClickHouse writes,
// commits) over BENCH_PIPELINE_EVENTS (default 1,000,000) events with 15
// features produced to the embedded broker, and a consume-only kafka-go
// consumer over the same messages. Run it with -benchtime 1x (make bench).
// Each phase first reads benchWarmup more events, unmeasured, as a monitor
// that has run for a while has, and the pipeline's warm-up lasts until
// every model's reference is stored (a warmup line gives that stretch's
// figures): the figures are the steady state's.
//
// The broker runs in a child process, as brokers run apart from the monitor
// in production: the pipeline and consume_only lines count both processes'
// CPU time and a monitor_only line splits the pipeline's. With
// BENCH_PIPELINE_BROKER=embedded it runs in this process instead, sharing
// the monitor's heap and garbage collector: its fetch handling then costs
// from 0.9 to 3.4 µs per event from run to run, with the monitor's
// allocation rate, so that mode measures the test broker as much as the
// monitor. With BENCH_PIPELINE_SIGNALS=off no signal is registered (input
// drift only); with BENCH_PIPELINE_SIGNALS=access the five caller signals
// run besides the default ones; with BENCH_PIPELINE_SIGNALS=compare (make
// bench) the pipeline runs four times over the same events, the default
// signals, then with the caller signals twice, then the default ones again
// (BENCH_PIPELINE_ROUNDS pairs of phases, default 2, the kinds' order
// alternating), a caller_signals_round line compares each pair, and a
// caller_signals line compares the means of the two: how many fewer
// events per second with the caller signals, and the CPU they add to the
// monitor, the broker and the ClickHouse server per event. Runs minutes
// apart on this machine differ more than that (the same build measured
// 186,000–352,000 events/s in fifteen rounds), so only phases side by side
// compare.
func BenchmarkPipeline(b *testing.B) {
	addr, db := benchClickHouse(b)
	broker := startBenchBroker(b)
	ctx := context.Background()
	sc := generator.DefaultScenario(benchModels, 15)
	sc.Start = time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	sc.EventStep = time.Millisecond
	g, err := generator.New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	total := benchWarmup + benchEvents
	if benchWarmup > 0 {
		total += benchRefSlack
	}
	n, err := generator.Produce(ctx, broker.brokers, "telemetry", g, int(total), nil)
	if err != nil || int64(n) != total {
		b.Fatalf("produced %d: %v", n, err)
	}
	b.Logf("produced %d events in %s", n, time.Since(t0))
	var valueBytes int64 = 0
	b.ResetTimer()
	for range b.N {
		// Consume only.
		var seen atomic.Int64
		ccfg := ingest.DefaultConfig()
		ccfg.Brokers, ccfg.Topic, ccfg.GroupID = broker.brokers, "telemetry", fmt.Sprintf("bench-consume-%d", time.Now().UnixNano())
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
		go func() { _ = cons.Run(cctx); close(done) }()
		for seen.Load() < benchWarmup {
			time.Sleep(time.Millisecond)
		}
		start, cpu0, bcpu0, seen0, bytes0 := time.Now(), cpuTime(), broker.cpu(), seen.Load(), bytes.Load()
		for seen.Load() < benchWarmup+benchEvents {
			time.Sleep(5 * time.Millisecond)
		}
		consumeWall, consumeCPU := time.Since(start), cpuTime()-cpu0+broker.cpu()-bcpu0
		consumed := float64(seen.Load() - seen0)
		cancel()
		<-done
		cons.Close()
		valueBytes = (bytes.Load() - bytes0) * benchEvents / (seen.Load() - seen0)
		consumeRate := consumed / consumeWall.Seconds()
		fmt.Printf("consume_only events_per_sec=%.0f cpu_ns_per_event=%.0f\n", consumeRate, float64(consumeCPU.Nanoseconds())/consumed)

		// The whole pipeline, once per phase.
		phases := benchPhases()
		runs := make([]pipelineRun, len(phases))
		for i, signals := range phases {
			pdb := db
			if i > 0 {
				pdb = fmt.Sprintf("%s_%d", db, i)
				dropOnCleanup(b, addr, pdb)
			}
			profile, heap := os.Getenv("BENCH_PIPELINE_CPUPROFILE"), os.Getenv("BENCH_PIPELINE_HEAPPROFILE")
			if len(phases) > 1 {
				profile, heap = phaseFile(profile, i, signals), phaseFile(heap, i, signals)
			}
			runs[i] = benchPipelinePhase(b, broker, addr, pdb, signals, total, profile, heap, float64(valueBytes)/float64(benchEvents))
			fmt.Printf("pipeline_to_consume_only ratio=%.2f\n", runs[i].eventsPerSec/consumeRate)
			// What the phase leaves is dropped before the next one (or
			// the next iteration's, which reuses the names): its database
			// (and the merges ClickHouse would run on it) and its partials
			// topic (in the test broker's heap).
			dropDatabase(b, addr, pdb)
			deleteTopic(b, broker, "telemetry.partials."+pdb)
		}
		b.ReportMetric(float64(valueBytes)/float64(benchEvents), "bytes/event")
		if len(phases) == 1 {
			r := runs[0]
			b.ReportMetric(r.eventsPerSec, "events/s")
			if !math.IsNaN(r.monitorNs) {
				b.ReportMetric(r.monitorNs, "monitor-cpu-ns/event")
			}
			continue
		}
		for r := 0; r+1 < len(runs); r += 2 {
			def, acc := meanRun(runs[r:r+2], "default"), meanRun(runs[r:r+2], "access")
			fmt.Printf("caller_signals_round round=%d default_events_per_sec=%.0f access_events_per_sec=%.0f fewer_events_per_sec=%.1f%%\n",
				r/2+1, def.eventsPerSec, acc.eventsPerSec, 100*(1-acc.eventsPerSec/def.eventsPerSec))
		}
		def, acc := meanRun(runs, "default"), meanRun(runs, "access")
		fewer := 100 * (1 - acc.eventsPerSec/def.eventsPerSec)
		fmt.Printf("caller_signals rounds=%d default_events_per_sec=%.0f access_events_per_sec=%.0f fewer_events_per_sec=%.1f%%"+
			" monitor_cpu_ns_per_event=%s broker_cpu_ns_per_event=%s clickhouse_cpu_ns_per_event=%s\n",
			len(runs)/2, def.eventsPerSec, acc.eventsPerSec, fewer,
			extra(acc.monitorNs, def.monitorNs), extra(acc.brokerNs, def.brokerNs), extra(acc.clickhouseNs, def.clickhouseNs))
		b.ReportMetric(def.eventsPerSec, "events/s")
		if !math.IsNaN(def.monitorNs) {
			b.ReportMetric(def.monitorNs, "monitor-cpu-ns/event")
		}
		b.ReportMetric(acc.eventsPerSec, "access-events/s")
		b.ReportMetric(fewer, "access-fewer-%")
	}
}

// phaseFile returns the file of phase i's profile, path.<i+1>.<signals>
// ("" when path is).
func phaseFile(path string, i int, signals string) string {
	if path == "" {
		return ""
	}
	return fmt.Sprintf("%s.%d.%s", path, i+1, signals)
}

// benchPhases returns the signals of BenchmarkPipeline's pipeline phases,
// in order, from BENCH_PIPELINE_SIGNALS: one phase of "default" (unset),
// "off" or "access", or, for "compare", BENCH_PIPELINE_ROUNDS rounds
// (default 2) of the two in turn on the same events, default and access
// then access and default, and so on, so that what else the machine does
// at the time, and a drift of it, weighs on both alike.
func benchPhases() []string {
	switch s := os.Getenv("BENCH_PIPELINE_SIGNALS"); s {
	case "off", "access":
		return []string{s}
	case "compare":
		var phases []string
		for r := range envCount("BENCH_PIPELINE_ROUNDS", 2, 1) {
			if r%2 == 0 {
				phases = append(phases, "default", "access")
			} else {
				phases = append(phases, "access", "default")
			}
		}
		return phases
	}
	return []string{"default"}
}

// pipelineRun is what a phase of BenchmarkPipeline measured, per event
// where it says ns: NaN when unknown (clickhouseNs when the server's CPU
// cannot be read; monitorNs and brokerNs apart when the broker is embedded).
type pipelineRun struct {
	signals                           string
	eventsPerSec                      float64
	monitorNs, brokerNs, clickhouseNs float64
}

// meanRun returns the mean of the runs of signals: of their events per
// second, the events over the time they took (each phase measures as
// many); of their CPU per event, the mean, NaN when a run did not know it.
func meanRun(runs []pipelineRun, signals string) pipelineRun {
	m, n, perEvent := pipelineRun{signals: signals}, 0.0, 0.0
	for _, r := range runs {
		if r.signals == signals {
			perEvent += 1 / r.eventsPerSec
			m.monitorNs += r.monitorNs
			m.brokerNs += r.brokerNs
			m.clickhouseNs += r.clickhouseNs
			n++
		}
	}
	m.eventsPerSec, m.monitorNs, m.brokerNs, m.clickhouseNs = n/perEvent, m.monitorNs/n, m.brokerNs/n, m.clickhouseNs/n
	return m
}

// extra formats what a costs more than b per event, "n/a" when either is
// unknown.
func extra(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	return fmt.Sprintf("%+.0f", a-b)
}

// benchPipelinePhase runs a monitor with signals over the "telemetry" topic
// of broker (total events) from its start, storing in database db: it
// reads until its warm-up is over (benchWarmup events and every model's
// reference stored), then measures benchEvents, prints its figures and
// returns them. profile, when set, is the file of a CPU profile of the
// measured stretch, heap that of heap profiles at its start (heap.start)
// and when 90% of its events are read; bytesPerEvent is the events' mean size, for the
// figures.
func benchPipelinePhase(b *testing.B, broker *benchBroker, addr, db, signals string, total int64, profile, heap string, bytesPerEvent float64) pipelineRun {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := newBenchMonitor(b, broker, addr, db, reg, signals)
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan error, 1)
	// A CPU profile of the pipeline's measured stretch alone (not of
	// producing, consuming only or the warm-up).
	startProfile, stopProfile := func() {}, func() {}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		startProfile = func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
		}
		stopProfile = pprof.StopCPUProfile
	}
	// Resident memory of the pipeline: what producing, consuming and the
	// phases before left is returned first; sampled as it runs.
	runtime.GC()
	debug.FreeOSMemory()
	rssStart, rss1M, rssPeak := rssBytes(), int64(0), int64(0)
	var mem0, mem1 runtime.MemStats
	counted := func() int64 {
		st := m.Stats()
		return int64(st.Events + st.Late + st.Rejected)
	}
	// The warm-up's start, then the measurement's.
	wfaults0, _ := faultsAndSystemTime()
	wstart, wcpu0, wbcpu0 := time.Now(), cpuTime(), broker.cpu()
	go func() { pdone <- m.Run(pctx) }()
	pinned := func() float64 { return metricValue(b, reg, "driftwatch_analysis_references_pinned_total") }
	for counted() < benchWarmup || benchWarmup > 0 && pinned() < benchModels {
		if counted() >= total-benchEvents {
			b.Fatalf("%.0f of %d references stored after %d events: the warm-up cannot end", pinned(), benchModels, counted())
		}
		wait := time.Millisecond
		if counted() >= benchWarmup {
			wait = 10 * time.Millisecond // each look at pinned gathers the registry
		}
		time.Sleep(wait)
	}
	c0, st0 := counted(), m.Stats()
	end := c0 + benchEvents
	if end > total {
		b.Fatalf("the warm-up ended after %d events, too late to measure %d of the %d produced", c0, benchEvents, total)
	}
	warmWall, warmCPU, warmBrokerCPU := time.Since(wstart), cpuTime()-wcpu0, broker.cpu()-wbcpu0
	runtime.ReadMemStats(&mem0)
	read0, inserts0 := topicReads(b, reg), insertCounts(b, reg)
	faults0, sys0 := faultsAndSystemTime()
	warmFaults := faults0 - wfaults0
	ch0, chOK0 := clickHouseCPU()
	startProfile()
	start, cpu0, bcpu0, bfaults0 := time.Now(), cpuTime(), broker.cpu(), broker.faults()
	if heap != "" {
		// Its base: what was allocated before the measurement.
		writeHeapProfile(b, heap+".start")
	}
	heapWritten := false
	for i := 0; ; i++ {
		c := counted()
		if i%20 == 0 || c >= end {
			r := rssBytes()
			rssPeak = max(rssPeak, r)
			if rss1M == 0 && c >= 1_000_000 {
				rss1M = r
			}
		}
		if c >= end {
			break
		}
		if heap != "" && !heapWritten && c >= c0+benchEvents*9/10 {
			// The live heap near the end of the pipeline phase.
			heapWritten = true
			writeHeapProfile(b, heap)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopProfile()
	wall, selfCPU, brokerCPU, brokerFaults := time.Since(start), cpuTime()-cpu0, broker.cpu()-bcpu0, broker.faults()-bfaults0
	measured := float64(counted() - c0)
	faults1, sys1 := faultsAndSystemTime()
	ch1, chOK1 := clickHouseCPU()
	runtime.ReadMemStats(&mem1)
	cpu := selfCPU + brokerCPU
	st := m.Stats()
	pcancel()
	<-pdone
	m.Close(ctx)
	run := pipelineRun{signals: signals, eventsPerSec: measured / wall.Seconds(), monitorNs: math.NaN(), brokerNs: math.NaN(), clickhouseNs: math.NaN()}
	if benchWarmup > 0 {
		fmt.Printf("warmup events=%d events_per_sec=%.0f cpu_ns_per_event=%.0f monitor_cpu_ns_per_event=%.0f page_faults=%d\n",
			c0, float64(c0)/warmWall.Seconds(), float64((warmCPU+warmBrokerCPU).Nanoseconds())/float64(c0),
			float64(warmCPU.Nanoseconds())/float64(c0), warmFaults)
	}
	// The partition windows stored and the model windows decided in the
	// measured stretch: work a change moves past its end shows here.
	fmt.Printf("pipeline events_per_sec=%.0f cpu_ns_per_event=%.0f windows_stored=%d windows_decided=%d bytes_per_event=%.0f signals=%s\n",
		run.eventsPerSec, float64(cpu.Nanoseconds())/measured, st.Windows-st0.Windows, st.Decided-st0.Decided, bytesPerEvent, signals)
	// What the monitor allocated while it read the events, the garbage
	// collections that cost, the pages it touched for the first time
	// (or again, once returned; in all) and its CPU time in the kernel
	// per event (those, and the network); with the broker embedded,
	// the broker's too.
	fmt.Printf("pipeline_heap alloc_bytes_per_event=%.0f allocs_per_event=%.2f gc_cycles=%d page_faults=%d system_ns_per_event=%.0f\n",
		float64(mem1.TotalAlloc-mem0.TotalAlloc)/measured, float64(mem1.Mallocs-mem0.Mallocs)/measured, mem1.NumGC-mem0.NumGC,
		faults1-faults0, float64((sys1-sys0).Nanoseconds())/measured)
	fmt.Printf("read_by_topic %s\n", topicReads(b, reg).since(read0, measured))
	fmt.Printf("clickhouse_inserts %s\n", insertsByTable(b, reg, inserts0))
	fmt.Printf("rss_mib events=%d start=%.0f at_1M=%.0f end=%.0f peak=%.0f\n", end,
		float64(rssStart)/(1<<20), float64(rss1M)/(1<<20), float64(rssBytes())/(1<<20), float64(rssPeak)/(1<<20))
	if chOK0 && chOK1 {
		// The cores the ClickHouse server takes from the pipeline on
		// this machine (its inserts and their merges).
		run.clickhouseNs = float64((ch1 - ch0).Nanoseconds()) / measured
		fmt.Printf("clickhouse_server cpu_ns_per_event=%.0f\n", run.clickhouseNs)
	}
	if broker.child != nil {
		run.monitorNs, run.brokerNs = float64(selfCPU.Nanoseconds())/measured, float64(brokerCPU.Nanoseconds())/measured
		fmt.Printf("monitor_only cpu_ns_per_event=%.0f broker_cpu_ns_per_event=%.0f broker_page_faults=%d\n",
			run.monitorNs, run.brokerNs, brokerFaults)
	}
	return run
}

// writeHeapProfile writes the heap profile (after a garbage collection) to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// newBenchMonitor returns the monitor of the pipeline benchmarks over the
// "telemetry" topic of broker, storing in database db at addr, with
// one-minute windows and signals: "default", "off" (no signal registered)
// or "access" (the caller signals besides the default ones).
func newBenchMonitor(b *testing.B, broker *benchBroker, addr, db string, reg *prometheus.Registry, signals string) *Monitor {
	cfg := DefaultConfig()
	cfg.Listen, cfg.MaxDriftSeries = "127.0.0.1:0", 1000
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = broker.brokers, "telemetry", fmt.Sprintf("bench-pipeline-%d", time.Now().UnixNano())
	kc.HeartbeatInterval, kc.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
	// A partials topic of its own: a monitor that reads the partials an
	// earlier one published (a phase before, over the same events) decides
	// their windows or drops them too.
	cfg.Kafka.PartialsTopic = "telemetry.partials." + db
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = time.Minute
	opt := Options{Registry: reg, Logger: slog.New(slog.DiscardHandler)}
	switch signals {
	case "off":
		opt.Signals = []signal.Signal{} // input drift only: what the signals cost
	case "access":
		cfg.Signals.Access.Enabled = true // the default signals and the five caller signals
	}
	m, err := New(context.Background(), cfg, opt)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// metricValue returns the sum of metric name's samples in reg.
func metricValue(b testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// insertsByTable returns the ClickHouse inserts the pipeline made per
// table since the counts since, and their total: on ClickHouse 18.16 an insert costs the server
// 7–36 ms of CPU (a part written, then merged), whatever its rows.
func insertsByTable(b *testing.B, reg *prometheus.Registry, since map[string]float64) string {
	n := insertCounts(b, reg)
	var total float64
	for t := range n {
		n[t] -= since[t]
		total += n[t]
	}
	out := []string{fmt.Sprintf("total=%.0f", total)}
	for _, t := range slices.Sorted(maps.Keys(n)) {
		if n[t] > 0 {
			out = append(out, fmt.Sprintf("%s=%.0f", t, n[t]))
		}
	}
	return strings.Join(out, " ")
}

// reads are the messages and bytes the pipeline has read so far from each
// topic (driftwatch_ingest_messages_total and _bytes_total): the telemetry,
// and what the two stages exchange.
type reads struct{ msgs, bytes map[string]float64 }

func topicReads(b *testing.B, reg *prometheus.Registry) reads {
	return reads{metricByLabel(b, reg, "driftwatch_ingest_messages_total", "topic"), metricByLabel(b, reg, "driftwatch_ingest_bytes_total", "topic")}
}

// since returns the messages and bytes per event read from each topic
// since r0, over events events.
func (r reads) since(r0 reads, events float64) string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(r.msgs)) {
		out = append(out, fmt.Sprintf("%s=%.4fmsg/%.1fB", t, (r.msgs[t]-r0.msgs[t])/events, (r.bytes[t]-r0.bytes[t])/events))
	}
	return strings.Join(out, " ")
}

// benchBrokerConfig is the embedded broker of BenchmarkPipeline.
var benchBrokerConfig = ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: benchPartitions}

// benchBroker is BenchmarkPipeline's broker: embedded in this process, or
// the embedded broker of a child process (BENCH_PIPELINE_BROKER=process).
type benchBroker struct {
	brokers []string
	child   *exec.Cmd // nil when embedded here
}

// startBenchBroker starts the broker with the benchmark's topics and stops
// it when b ends.
func startBenchBroker(b *testing.B) *benchBroker {
	switch mode := os.Getenv("BENCH_PIPELINE_BROKER"); mode {
	case "embedded":
		broker, err := ingest.StartEmbedded(benchBrokerConfig)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { broker.Close() })
		return &benchBroker{brokers: broker.Brokers()}
	case "", "process":
	default:
		b.Fatalf("BENCH_PIPELINE_BROKER=%q: want embedded or process", mode)
	}
	// The child is this test binary running TestBenchBrokerProcess.
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBenchBrokerProcess$")
	cmd.Env = append(os.Environ(), benchBrokerChild+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child closes its broker and exits
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "broker "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return &benchBroker{brokers: strings.Split(addr, ","), child: cmd}
		}
	}
	b.Fatalf("the broker process exited without an address: %v", lines.Err())
	return nil
}

// cpu returns the CPU time (user and system) of the broker's process so
// far; 0 for a broker in this process, whose time cpuTime counts.
func (k *benchBroker) cpu() time.Duration {
	if k.child == nil {
		return 0
	}
	d, _ := procCPU(k.child.Process.Pid)
	return d
}

// faults returns the page faults (minor and major) of the broker's process
// so far; 0 for a broker in this process.
func (k *benchBroker) faults() int64 {
	if k.child == nil {
		return 0
	}
	// Fields 10 and 12, minflt and majflt.
	f, ok := procStat(k.child.Process.Pid, 10)
	if !ok {
		return 0
	}
	minflt, _ := strconv.ParseInt(f[7], 10, 64)
	majflt, _ := strconv.ParseInt(f[9], 10, 64)
	return minflt + majflt
}

// benchBrokerGOGC is the garbage collector's target percentage in the
// broker's process (TestBenchBrokerProcess).
const benchBrokerGOGC = 25

// benchBrokerChild marks the environment of BenchmarkPipeline's broker
// process.
const benchBrokerChild = "DRIFTWATCH_BENCH_BROKER_CHILD"

// TestBenchBrokerProcess is BenchmarkPipeline's broker in a process of its
// own (BENCH_PIPELINE_BROKER=process): it prints "broker <address>" and
// serves until its standard input closes. It skips unless started so.
func TestBenchBrokerProcess(t *testing.T) {
	if os.Getenv(benchBrokerChild) == "" {
		t.Skip("the broker process of BenchmarkPipeline")
	}
	// The broker holds every produced record in its heap (about 1 GB for
	// 1M events) and copies each fetched batch into a new response. At
	// GOGC=100 its heap then grows to twice that while the monitor reads,
	// each page touched for the first time (about 11 µs a page on these
	// virtual machines) and collected: consume-only measured 264,000-382,000
	// events/s at 3.5-4.8 µs of CPU per event (both processes), against
	// 715,000-1,133,000 at 1.5-2.1 µs with the garbage collected at a
	// quarter. A Kafka broker serves from its page cache.
	debug.SetGCPercent(benchBrokerGOGC)
	broker, err := ingest.StartEmbedded(benchBrokerConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	fmt.Printf("broker %s\n", strings.Join(broker.Brokers(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
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

// BorrowsMessages: the consume-only consumer reads as the pipeline's does.
func (*countingHandler) BorrowsMessages() {}

func (h *countingHandler) Committable() int64          { return h.next }
func (h *countingHandler) Close(context.Context) error { return nil }

func benchClickHouse(b *testing.B) (string, string) {
	addr := storage.DefaultAddr
	if v := envOr("DRIFTWATCH_TEST_CLICKHOUSE", ""); v != "" {
		addr = v
	}
	db := fmt.Sprintf("dw_bench_%d", time.Now().UnixNano()%1e9)
	dropOnCleanup(b, addr, db)
	return addr, db
}

// dropOnCleanup drops database db of the ClickHouse server at addr when b
// ends.
func dropOnCleanup(b *testing.B, addr, db string) {
	dropDatabase(b, addr, "")
	b.Cleanup(func() { dropDatabase(b, addr, db) })
}

// dropDatabase drops database db of the ClickHouse server at addr (none
// when db is "": a check that the server is reachable).
func dropDatabase(b *testing.B, addr, db string) {
	s, err := storage.Open(context.Background(), clickHouseConfig(addr, "default"), nil, nil)
	if err != nil {
		b.Fatalf("ClickHouse not reachable at %s: run scripts/clickhouse.sh start: %v", addr, err)
	}
	defer s.Close()
	if db != "" {
		if err := s.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			b.Errorf("dropping database %s: %v", db, err)
		}
	}
}

// deleteTopic deletes topic from the test broker.
func deleteTopic(b *testing.B, broker *benchBroker, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10_000
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	req.TopicNames = append(req.TopicNames, topic)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		b.Fatalf("deleting topic %s: %v", topic, err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			b.Errorf("deleting topic %s: error code %d", topic, rt.ErrorCode)
		}
	}
}

// TestBenchPhases: make bench's compare mode runs rounds of the two kinds
// of phase, their order alternating, so that a drift of the machine weighs
// on both alike.
func TestBenchPhases(t *testing.T) {
	for _, tt := range []struct{ signals, rounds, want string }{
		{"", "", "default"},
		{"access", "3", "access"},
		{"compare", "", "default access access default"},
		{"compare", "1", "default access"},
		{"compare", "3", "default access access default default access"},
		{"compare", "0", "default access access default"},
	} {
		t.Setenv("BENCH_PIPELINE_SIGNALS", tt.signals)
		t.Setenv("BENCH_PIPELINE_ROUNDS", tt.rounds)
		if got := strings.Join(benchPhases(), " "); got != tt.want {
			t.Errorf("BENCH_PIPELINE_SIGNALS=%q BENCH_PIPELINE_ROUNDS=%q: phases %q, want %q", tt.signals, tt.rounds, got, tt.want)
		}
	}
}
