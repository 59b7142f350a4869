package generator

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/driftwatch/driftwatch/telemetry"
)

func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// readAll reads every message of every partition of topic t.
func readAll(t *testing.T, brokers []string) map[int][]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int][]kafka.Message{}
	for p := 0; p < 3; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], "t", p)
		if err != nil {
			t.Fatalf("dialing partition %d: %v", p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("reading last offset of partition %d: %v", p, err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "t", Partition: p, MaxWait: 100 * time.Millisecond})
		for int64(len(out[p])) < last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading partition %d after %d of %d messages: %v", p, len(out[p]), last, err)
			}
			out[p] = append(out[p], m)
		}
		r.Close()
	}
	return out
}

func TestProduce(t *testing.T) {
	brokers := newCluster(t)
	sc := DefaultScenario(5, 10)
	sc.Start = testStart
	g, err := New(sc, 9)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sent, err := Produce(ctx, brokers, "t", g, n, nil)
	if err != nil || sent != n {
		t.Fatalf("Produce = %d, %v; want %d, nil", sent, err, n)
	}
	parts := readAll(t, brokers)
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart })
	partitionOf := map[string]int{}
	total := 0
	var e telemetry.Event
	for p, msgs := range parts {
		for _, m := range msgs {
			total++
			key := string(m.Key)
			if q, seen := partitionOf[key]; seen && q != p {
				t.Fatalf("model %s in partitions %d and %d", key, q, p)
			}
			partitionOf[key] = p
			if err := d.Decode(m.Value, &e); err != nil {
				t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
			}
			if e.Model.ID != key {
				t.Fatalf("key %q carries an event of model %q", key, e.Model.ID)
			}
		}
	}
	if total != n {
		t.Errorf("read %d messages, wrote %d", total, n)
	}
	if len(partitionOf) != 5 {
		t.Errorf("saw %d models, want 5", len(partitionOf))
	}
	used := map[int]bool{}
	for _, p := range partitionOf {
		used[p] = true
	}
	if len(used) < 2 {
		t.Errorf("5 models hashed to %d partition(s); the Hash balancer should spread them", len(used))
	}
	// Events of one model keep their generation order within the partition.
	lastTime := map[string]time.Time{}
	for _, msgs := range parts {
		for _, m := range msgs {
			if err := d.Decode(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			if e.EventTime.Before(lastTime[e.Model.ID]) {
				t.Fatalf("model %s out of order at offset %d", e.Model.ID, m.Offset)
			}
			lastTime[e.Model.ID] = e.EventTime
		}
	}
}

// TestProducePacing checks that Rate slows writing down to the wall-clock rate
// (a lower bound only: a busy machine can be slower, never faster), and that
// n <= 0 runs until the context ends without an error.
func TestProducePacing(t *testing.T) {
	brokers := newCluster(t)
	sc := DefaultScenario(2, 8)
	sc.Rate = 2000
	g, err := New(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	sent, err := Produce(ctx, brokers, "t", g, 1000, nil)
	if err != nil || sent != 1000 {
		t.Fatalf("Produce = %d, %v", sent, err)
	}
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Errorf("1000 events at 2000/s took %v, want >= 0.5s", el)
	}

	ctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	sent, err = Produce(ctx, brokers, "t", g, 0, nil)
	if err != nil {
		t.Fatalf("Produce until the context ends: %v", err)
	}
	if sent == 0 || sent > 2000*0.4+100 {
		t.Errorf("sent %d in 0.4s at 2000/s", sent)
	}
}

func TestProduceErrors(t *testing.T) {
	g, err := New(DefaultScenario(1, 8), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Produce(context.Background(), nil, "t", g, 1, nil); err == nil {
		t.Error("no brokers accepted")
	}
	if _, err := Produce(context.Background(), []string{"127.0.0.1:1"}, "", g, 1, nil); err == nil {
		t.Error("empty topic accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Nothing listens on port 1: the write must fail, not hang or report success.
	sent, err := Produce(ctx, []string{"127.0.0.1:1"}, "t", g, 10, nil)
	if err == nil || sent != 0 {
		t.Errorf("Produce to a closed port = %d, %v; want an error", sent, err)
	}
}
