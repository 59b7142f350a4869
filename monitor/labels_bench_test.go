package monitor

import (
	"context"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// BenchmarkAddPrediction measures what a counted event costs a partition
// when labels are read (kafka.labels_topic): keeping its prediction for the
// join, in a buffer handed over every labels.prediction_batch events. The
// steady state allocates nothing per event (the buffer of the default
// prediction_batch rows is reused here; in the monitor one buffer is
// allocated per batch handed over).
func BenchmarkAddPrediction(b *testing.B) {
	m := &Monitor{cfg: DefaultConfig()}
	m.cfg.Kafka.LabelsTopic = "labels"
	p := &partition{m: m, writes: make(chan *pendingWrite, 1)}
	score, threshold := 0.73, 0.5
	ev := telemetry.Event{PredictionID: "7f3c0b9e-2d1a-4c55-9a57-0e1f4b2c9d10", EventTime: time.Now(),
		Model:      telemetry.Model{ID: "fraud-scorer", Version: "v3"},
		Prediction: telemetry.Prediction{Score: &score, Class: "positive", Threshold: &threshold}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.addPrediction(ctx, &ev); err != nil {
			b.Fatal(err)
		}
		select {
		case pw := <-p.writes: // a full batch handed over: recycle it as the writer's successor would
			p.preds, p.inflight = pw.predictions[:0], p.inflight[:0]
		default:
		}
	}
}
