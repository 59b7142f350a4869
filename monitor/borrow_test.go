package monitor

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestPartitionKeepsNothingOfItsMessages: the telemetry partition is an
// ingest.Borrower, so the consumer reuses the bytes of the messages it
// hands to Handle once Handle returns. The fast decoder's strings share
// those bytes: whatever outlives Handle (windows, their signals, the
// predictions kept for labels, dead letters) must have been copied. The
// same events (some with a ce_type header, some of another kind) go
// through two partitions, one whose messages, headers included, are
// overwritten with 'X' as soon as each Handle returns; their closed
// windows' partials, dead letters and stored predictions must be the same
// byte for byte.
func TestPartitionKeepsNothingOfItsMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, ok := any(&partition{}).(ingest.Borrower); !ok {
		t.Fatal("the telemetry partition is no ingest.Borrower: the consumer allocates each message")
	}
	sc := generator.DefaultScenario(3, 15)
	sc.Start = time.Now().Add(-time.Hour).Truncate(time.Minute)
	sc.EventStep = time.Millisecond
	g, err := generator.New(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	// 9 s of events in 2 s windows, one in 50 broken in a way that is
	// dead-lettered.
	var msgs []ingest.Message
	for i := range 9000 {
		key, value := g.NextMessage(nil)
		if i%50 == 7 {
			value = append(value[:len(value)/2:len(value)/2], `"}`...)
		}
		msg := ingest.Message{Topic: "telemetry", Offset: int64(i), Key: []byte(key), Value: value}
		switch {
		case i%97 == 5: // another kind of event: dead-lettered
			msg.Headers = []kafka.Header{{Key: "ce_type", Value: []byte(telemetry.TypeLabel)}}
		case i%3 == 0:
			msg.Headers = []kafka.Header{{Key: "ce_type", Value: []byte(telemetry.TypeInference)}}
		}
		msgs = append(msgs, msg)
	}

	type outcome struct {
		partials, dead [][]byte
		predictions    []string
	}
	run := func(scribble bool) outcome {
		addr, db := testClickHouse(t)
		cfg := DefaultConfig()
		cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness = 2*time.Second, time.Second
		cfg.Kafka.LabelsTopic = "telemetry.labels" // predictions are kept for labels
		cfg.Labels.PredictionBatch = 500
		cfg.Signals.Access.Enabled = true
		set, err := signal.NewSet(cfg.Signals.List()...)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Analysis.Signals = set
		m := partitionTestMonitor(t, ctx, addr, db, cfg, 1)
		if err := m.store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		m.evidence = evaluate.NewEvidence(m.cfg.Analysis.Sequential)
		h, err := m.openPartition(ctx, "telemetry", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for start := 0; start < len(msgs); start += 300 {
			batch := make([]ingest.Message, 0, 300)
			for _, msg := range msgs[start:min(start+300, len(msgs))] {
				msg.Key, msg.Value = bytes.Clone(msg.Key), bytes.Clone(msg.Value)
				msg.Headers = slices.Clone(msg.Headers)
				for i := range msg.Headers {
					msg.Headers[i].Value = bytes.Clone(msg.Headers[i].Value)
				}
				batch = append(batch, msg)
			}
			if err := h.Handle(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if scribble {
				for _, msg := range batch {
					for i := range msg.Key {
						msg.Key[i] = 'X'
					}
					for i := range msg.Value {
						msg.Value[i] = 'X'
					}
					for _, h := range msg.Headers {
						for i := range h.Value {
							h.Value[i] = 'X'
						}
					}
				}
			}
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
		var out outcome
		for _, msg := range readTopic(t, ctx, m.kafka.Brokers, "telemetry.partials") {
			if r, err := partial.Parse(msg.Value); err != nil {
				t.Fatalf("partials record at offset %d: %v", msg.Offset, err)
			} else if r.Kind == partial.KindChunk {
				// A publication's nonce is drawn at random: compare
				// the rest.
				out.partials = append(out.partials, fmt.Appendf(nil, "%q %d/%d %q", r.Identity, r.Index, r.Count, r.Data))
			}
		}
		for _, msg := range readTopic(t, ctx, m.kafka.Brokers, "telemetry.dlq") {
			out.dead = append(out.dead, msg.Value)
		}
		rows, err := m.store.Query(ctx, "SELECT concat(model_id, '|', model_version, '|', prediction_id, '|', predicted_class) FROM predictions ORDER BY prediction_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.predictions = append(out.predictions, s)
		}
		if !scribble && (len(out.partials) < 4 || len(out.dead) < 100 || len(out.predictions) < 5000) {
			t.Fatalf("%d partial records, %d dead letters, %d predictions stored: too few to compare", len(out.partials), len(out.dead), len(out.predictions))
		}
		return out
	}
	kept, scribbled := run(false), run(true)
	// The windows of a partition's models are published in no particular
	// order.
	slices.SortFunc(kept.partials, bytes.Compare)
	slices.SortFunc(scribbled.partials, bytes.Compare)
	if !slices.EqualFunc(kept.partials, scribbled.partials, bytes.Equal) {
		for i := range min(len(kept.partials), len(scribbled.partials)) {
			if !bytes.Equal(kept.partials[i], scribbled.partials[i]) {
				t.Errorf("partial record %d differs once its messages are overwritten after Handle: %.200q, want %.200q", i, scribbled.partials[i], kept.partials[i])
				break
			}
		}
		t.Errorf("%d partial records with messages overwritten after Handle, %d without", len(scribbled.partials), len(kept.partials))
	}
	if !slices.EqualFunc(kept.dead, scribbled.dead, bytes.Equal) {
		t.Errorf("dead letters differ once their messages are overwritten after Handle")
	}
	if !slices.Equal(kept.predictions, scribbled.predictions) {
		t.Errorf("stored predictions differ once their messages are overwritten after Handle")
	}
}

// readTopic returns every record of partition 0 of topic.
func readTopic(t *testing.T, ctx context.Context, brokers []string, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for off := first; off < last; off++ {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, err := conn.ReadMessage(8 << 20)
		if err != nil {
			t.Fatalf("reading %s at offset %d: %v", topic, off, err)
		}
		out = append(out, msg)
	}
	return out
}
