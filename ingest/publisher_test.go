package ingest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// readPartition reads every message of partition p of topic.
func readPartition(t *testing.T, brokers []string, topic string, p int) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for int64(len(out)) < last {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := conn.ReadMessage(4 << 20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestPublisherWritesLargeRecordsInOrderToTheirPartitions publishes records
// that add up to several MiB for one partition (each 256 KiB, the size of a
// partial's chunk) to explicit partitions and by key: every one arrives, in
// order, where it was aimed, although one produce request to a partition
// may not exceed the broker's 1 MiB.
func TestPublisherWritesLargeRecordsInOrderToTheirPartitions(t *testing.T) {
	e := startBroker(t, "partials")
	if err := e.CreateTopic("wide", 4); err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(Plaintext(e.Brokers()), "wide", nil, testLog(t))
	defer p.Close()
	if n, err := p.Partitions(context.Background()); err != nil || n != 4 {
		t.Fatalf("partitions %d, %v", n, err)
	}
	// 20 records (5 MiB) to partition 0, then one to each partition.
	target := func(i int) int { return max(0, i-20) }
	var recs []Record
	for i := range 24 {
		v := bytes.Repeat([]byte{byte(i)}, 256<<10)
		recs = append(recs, Record{Value: v, Partition: target(i)})
	}
	recs = append(recs, Record{Key: []byte("fraud"), Value: []byte("keyed"), Partition: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Publish(ctx, recs); err != nil {
		t.Fatal(err)
	}
	keyed := 0
	for part := range 4 {
		msgs := readPartition(t, e.Brokers(), "wide", part)
		var got []byte
		for _, m := range msgs {
			if string(m.Value) == "keyed" {
				keyed++
				continue
			}
			got = append(got, m.Value[0])
		}
		want := []byte{}
		for i := range 24 {
			if target(i) == part {
				want = append(want, byte(i))
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("partition %d holds records %v, want %v", part, got, want)
		}
	}
	if keyed != 1 {
		t.Errorf("the keyed record arrived %d times", keyed)
	}
}

// TestPublisherFailsAtOnceOnARecordTooLarge: a record beyond the brokers'
// limit can never be written; Publish says so instead of retrying forever.
func TestPublisherFailsAtOnceOnARecordTooLarge(t *testing.T) {
	e := startBroker(t, "partials")
	p := NewPublisher(Plaintext(e.Brokers()), "partials", nil, testLog(t))
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, []Record{{Value: bytes.Repeat([]byte("x"), 2<<20), Partition: 0}})
	if err == nil || ctx.Err() != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("publishing 2 MiB: %v after %s", err, time.Since(start))
	}
	t.Log(err)
}

// TestPublisherWritesAtOnceToATopicCreatedAfterOthersWereUsed: kafka-go's
// shared transport caches the cluster's metadata for seconds, so a topic
// created after it was filled (the partials topic at a first start) would
// be refused as unknown until the cache expires. The publisher's first
// write to a topic created a moment ago succeeds without a retry.
func TestPublisherWritesAtOnceToATopicCreatedAfterOthersWereUsed(t *testing.T) {
	e := startBroker(t, "telemetry")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Fill the shared transport's metadata cache before the topic exists.
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := EnsureTopic(ctx, Plaintext(e.Brokers()), "fresh", 2); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p := NewPublisher(Plaintext(e.Brokers()), "fresh", reg, testLog(t))
	defer p.Close()
	start := time.Now()
	if err := p.Publish(ctx, []Record{{Value: []byte("a"), Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	if failed := metricValue(t, reg, "driftwatch_ingest_publish_errors_total", map[string]string{"topic": "fresh"}); failed != 0 {
		t.Fatalf("%v failed attempts before the first write to a new topic succeeded (%s)", failed, time.Since(start))
	}
	if got := readPartition(t, e.Brokers(), "fresh", 1); len(got) != 1 || string(got[0].Value) != "a" {
		t.Fatalf("read %d messages", len(got))
	}
}

// TestPartitionOfKeyIsWhereThePublisherWrites: for 40 model ids published
// by key to a topic of 5 partitions, PartitionOfKey names the partition each
// record landed in (what a decider uses to know the models it owns).
func TestPartitionOfKeyIsWhereThePublisherWrites(t *testing.T) {
	e := startBroker(t, "partials")
	if err := e.CreateTopic("five", 5); err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(Plaintext(e.Brokers()), "five", nil, testLog(t))
	defer p.Close()
	var recs []Record
	for i := range 40 {
		id := fmt.Sprintf("model-%d", i)
		recs = append(recs, Record{Key: []byte(id), Value: []byte(id), Partition: -1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Publish(ctx, recs); err != nil {
		t.Fatal(err)
	}
	seen, used := 0, map[int]bool{}
	for part := range 5 {
		for _, m := range readPartition(t, e.Brokers(), "five", part) {
			seen++
			used[part] = true
			if got := PartitionOfKey(m.Key, 5); got != part {
				t.Errorf("%s landed in partition %d, PartitionOfKey says %d", m.Key, part, got)
			}
		}
	}
	if seen != 40 || len(used) < 3 || PartitionOfKey([]byte("x"), 1) != 0 {
		t.Fatalf("%d records over %d partitions", seen, len(used))
	}
}
