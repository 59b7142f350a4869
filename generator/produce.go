package generator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/segmentio/kafka-go"
)

// maxChunk bounds the messages written per WriteMessages call.
const maxChunk = 1000

// Produce writes n events from g (n <= 0: until ctx ends) to topic with
// kafka-go's Writer: RequiredAcks RequireAll, the Murmur2 balancer (the Java client's default partitioner) on the key
// (the model id, so all events of one model land in one partition), batched,
// with a 5ms BatchTimeout. When the scenario's Rate is > 0 it paces the writes
// to Rate in wall time. It returns the number of messages acknowledged. When
// n <= 0 the end of ctx is the normal stop and not an error.
func Produce(ctx context.Context, brokers []string, topic string, g *Generator, n int, log *slog.Logger) (int, error) {
	if len(brokers) == 0 {
		return 0, errors.New("producing telemetry: no brokers")
	}
	if topic == "" {
		return 0, errors.New("producing telemetry: no topic")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    maxChunk,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}
	chunk := maxChunk
	rate := g.sc.Rate
	if rate > 0 {
		// About 20 writes a second keeps the pace smooth without tiny batches.
		chunk = int(min(math.Max(1, math.Ceil(rate/20)), maxChunk))
	}
	msgs := make([]kafka.Message, chunk)
	bufs := make([][]byte, chunk)
	keys := map[string][]byte{}
	start := time.Now()
	sent := 0
	var err error
	for n <= 0 || sent < n {
		k := chunk
		if n > 0 {
			k = min(k, n-sent)
		}
		for i := 0; i < k; i++ {
			key, value := g.NextMessage(bufs[i])
			bufs[i] = value
			kb, ok := keys[key]
			if !ok {
				kb = []byte(key)
				keys[key] = kb
			}
			msgs[i] = kafka.Message{Key: kb, Value: value}
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent+k) / rate * float64(time.Second)))
			if err = sleep(ctx, time.Until(due)); err != nil {
				break
			}
		}
		if err = w.WriteMessages(ctx, msgs[:k]...); err != nil {
			// Messages of the batch that were acknowledged still count.
			var werrs kafka.WriteErrors
			if errors.As(err, &werrs) && len(werrs) == k {
				for _, e := range werrs {
					if e == nil {
						sent++
					}
				}
			}
			err = fmt.Errorf("producing telemetry to %s: %w", topic, err)
			break
		}
		sent += k
	}
	if cerr := w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing telemetry writer: %w", cerr)
	}
	if n <= 0 && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	elapsed := time.Since(start)
	log.Info("produced telemetry", "topic", topic, "messages", sent,
		"seconds", elapsed.Seconds(), "rate", float64(sent)/max(elapsed.Seconds(), 1e-9), "error", err)
	return sent, err
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
