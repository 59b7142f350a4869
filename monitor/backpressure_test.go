package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
)

// proxy forwards TCP connections to a target until it is cut: then it drops
// every connection and refuses new ones, as an unreachable server does.
type proxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { lis.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[s] = true, true
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func committed(t *testing.T, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// TestClickHouseOutageBackPressure cuts ClickHouse off while telemetry
// flows: the monitor must keep running, commit nothing new, stop reading
// ahead, and resume by itself, counting every event exactly once.
func TestClickHouseOutageBackPressure(t *testing.T) {
	addr, db := testClickHouse(t)
	px := newProxy(t, addr)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = e.Brokers(), "telemetry", "outage"
	kc.HeartbeatInterval, kc.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
	kc.MaxWait, kc.CommitInterval, kc.MaxBatch = 100*time.Millisecond, 100*time.Millisecond, 200
	kc.StallAfter = time.Second
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database, cfg.ClickHouse.MaxRetryBackoff = px.lis.Addr().String(), db, 500*time.Millisecond
	cfg.Analysis.WindowSize = 2 * time.Second
	cfg.Analysis.AllowedLateness = time.Second
	cfg.Analysis.IdleFlush = time.Second
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()

	sc := generator.DefaultScenario(3, 8)
	sc.Start = time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc.EventStep = time.Millisecond
	g, err := generator.New(sc, 5)
	if err != nil {
		t.Fatal(err)
	}
	produce := func(n int) {
		if sent, err := generator.Produce(ctx, e.Brokers(), "telemetry", g, n, nil); err != nil || sent != n {
			t.Fatalf("produced %d of %d: %v", sent, n, err)
		}
	}
	waitStored := func(want uint64, within time.Duration) {
		s := m.Store()
		deadline := time.Now().Add(within)
		for {
			got := queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL")
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d events stored, want %d", got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	produce(10000) // 10 s of event time
	waitStored(10000, 60*time.Second)
	time.Sleep(500 * time.Millisecond) // let the last commit happen
	before := committed(t, e.Brokers(), "outage", "telemetry")

	px.setDown(true)
	produce(20000) // 20 s more: windows close while ClickHouse is unreachable
	time.Sleep(4 * time.Second)
	during := committed(t, e.Brokers(), "outage", "telemetry")
	for p, off := range during {
		if off != before[p] {
			t.Errorf("partition %d committed %d during the outage (was %d): nothing may be committed while writes fail", p, off, before[p])
		}
	}
	read := m.Stats()
	time.Sleep(2 * time.Second)
	if again := m.Stats(); again.Events+again.Late != read.Events+read.Late {
		t.Errorf("the monitor kept consuming during the outage: %d then %d events", read.Events, again.Events)
	}
	if read.Events >= 30000 {
		t.Errorf("the monitor read all %d events during the outage instead of pausing", read.Events)
	}
	select {
	case err := <-done:
		t.Fatalf("the monitor stopped during the outage: %v", err)
	default:
	}
	// Readiness says why: ClickHouse, and the partitions it holds back; the
	// lag gauge keeps moving although no partition fetches.
	code, body := getReady(t, m.Addr())
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "ClickHouse") || !strings.Contains(body, "stalled") {
		t.Errorf("/readyz during the outage: %d %q, want 503 naming ClickHouse and stalled partitions", code, body)
	}
	lag := func() float64 {
		return metricSum(t, m.Addr(), "driftwatch_ingest_commit_lag_messages", `topic="telemetry"`)
	}
	lag0 := lag()
	produce(1000)
	deadline := time.Now().Add(20 * time.Second)
	for lag() < lag0+1000 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if l := lag(); l < lag0+1000 {
		t.Errorf("commit lag %v after 1000 more messages during the outage (was %v): the gauge froze", l, lag0)
	}
	if s := metricSum(t, m.Addr(), "driftwatch_ingest_partitions_stalled", `topic="telemetry"`); s < 1 {
		t.Errorf("driftwatch_ingest_partitions_stalled = %v during the outage", s)
	}

	px.setDown(false)
	waitStored(31000, 90*time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := getReady(t, m.Addr())
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the outage: %d %q", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	after := committed(t, e.Brokers(), "outage", "telemetry")
	for p, off := range after {
		if off <= before[p] && off != -1 {
			t.Errorf("partition %d did not commit after the outage: %d (before %d)", p, off, before[p])
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("monitor: %v", err)
	}
}

// getReady returns the status and body of /readyz.
func getReady(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricSum sums, from /metrics, the samples of name whose labels contain
// match.
func metricSum(t *testing.T, addr, name, match string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !(strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ")) || !strings.Contains(line, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
