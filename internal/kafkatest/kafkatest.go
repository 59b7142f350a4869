// Package kafkatest reads back what tests wrote to a broker (the embedded
// one, over TCP through kafka-go). It is for tests only.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadTopic reads every message of topic's partitions 0 to partitions-1, up
// to their last offsets when called, partition by partition, failing t on
// any error or after a minute.
func ReadTopic(t testing.TB, brokers []string, topic string, partitions int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	for p := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatalf("dialing %s/%d: %v", topic, p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("reading the last offset of %s/%d: %v", topic, p, err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for i := int64(0); i < last; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("reading %s/%d after %d of %d messages: %v", topic, p, i, last, err)
			}
			out = append(out, m)
		}
		r.Close()
	}
	return out
}
