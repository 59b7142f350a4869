package generator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/internal/kafkatest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestProduceLabels: labels arrive on the labels topic keyed by model id,
// with the CloudEvents headers of docs/telemetry.md, one for each inference,
// and decode with telemetry's DecodeLabel.
func TestProduceLabels(t *testing.T) {
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Topics: []string{"t", "labels"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Brokers()
	sc := DefaultScenario(3, 8)
	sc.Start = testStart
	// 3000 events 1 ms apart, labels 2 s later: some are due during the
	// run, the rest are flushed at its end.
	sc.Labels = &Labels{Delay: 2 * time.Second}
	g, err := New(sc, 4)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := ProduceWith(ctx, brokers, "t", g, n, ProduceOptions{LabelsTopic: "labels"}, nil)
	if err != nil || p != (Produced{Events: n, Labels: n}) {
		t.Fatalf("ProduceWith = %+v, %v; want %d events and labels", p, err, n)
	}
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart })
	eventTime := map[string]time.Time{}
	var e telemetry.Event
	for _, m := range kafkatest.ReadTopic(t, brokers, "t", 2) {
		if err := d.Decode(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		if len(m.Headers) != 0 {
			t.Fatalf("inference message with headers %v", m.Headers)
		}
		eventTime[e.PredictionID] = e.EventTime
	}
	labels := kafkatest.ReadTopic(t, brokers, "labels", 2)
	if len(labels) != n || len(eventTime) != n {
		t.Fatalf("read %d labels and %d events, want %d", len(labels), len(eventTime), n)
	}
	var l telemetry.Label
	for _, m := range labels {
		if err := d.DecodeLabel(m.Value, &l); err != nil {
			t.Fatalf("label %s: %v", m.Value, err)
		}
		if string(m.Key) != l.ModelID {
			t.Fatalf("key %q carries a label of model %q", m.Key, l.ModelID)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		ceTime, err := time.Parse(time.RFC3339Nano, h["ce_time"])
		if err != nil || time.Since(ceTime) > time.Minute {
			t.Errorf("ce_time %q: %v", h["ce_time"], err)
		}
		delete(h, "ce_time")
		want := map[string]string{"ce_specversion": "1.0", "ce_type": telemetry.TypeLabel, "ce_id": l.PredictionID,
			"ce_source": "/driftwatch-generate", "content-type": "application/json"}
		if len(h) != len(want) {
			t.Fatalf("headers %v, want %v and ce_time", h, want)
		}
		for k, v := range want {
			if h[k] != v {
				t.Fatalf("header %s = %q, want %q", k, h[k], v)
			}
		}
		if kind, err := telemetry.KindOf(h["ce_type"]); err != nil || kind != telemetry.KindLabel {
			t.Fatalf("KindOf(%q) = %v, %v", h["ce_type"], kind, err)
		}
		et, ok := eventTime[l.PredictionID]
		if !ok || !l.LabelTime.Equal(et.Add(2*time.Second)) {
			t.Fatalf("label %s for an event at %s (found %v)", m.Value, et, ok)
		}
		delete(eventTime, l.PredictionID)
	}
}

func TestProduceLabelsErrors(t *testing.T) {
	with, err := New(labelScenario(Labels{}), 1)
	if err != nil {
		t.Fatal(err)
	}
	without, err := New(DefaultScenario(1, 8), 1)
	if err != nil {
		t.Fatal(err)
	}
	brokers := []string{"127.0.0.1:1"}
	tests := []struct {
		name   string
		g      *Generator
		labels string
		says   string
	}{
		{"labels without a topic", with, "", "labels topic: required"},
		{"a topic without labels", without, "l", "has no labels"},
		{"the inference topic", with, "t", "is the inference topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ProduceWith(context.Background(), brokers, "t", tt.g, 1, ProduceOptions{LabelsTopic: tt.labels}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("got %v, want an error saying %q", err, tt.says)
			}
		})
	}
	if _, err := Produce(context.Background(), brokers, "t", with, 1, nil); err == nil {
		t.Error("Produce of a scenario with labels accepted: its labels would pile up unread")
	}
}

// TestProduceLabelsUntilStopped: a paced run until the context ends still
// writes the labels pending at its end (here all of them: they are due 10 s
// of event time after their inferences), and keying the inferences by
// prediction id leaves the labels keyed by model id.
func TestProduceLabelsUntilStopped(t *testing.T) {
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Topics: []string{"t", "labels"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Brokers()
	sc := labelScenario(Labels{Delay: 10 * time.Second, Share: 0.5})
	sc.Rate = 2000
	sc.KeyByPrediction = true
	g, err := New(sc, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	p, err := ProduceWith(ctx, brokers, "t", g, 0, ProduceOptions{LabelsTopic: "labels"}, nil)
	if err != nil || p.Events == 0 || p.Labels == 0 || p.Labels != int(g.LabelStats().Generated) || g.LabelStats().Pending != 0 {
		t.Fatalf("ProduceWith = %+v, %v; stats %+v", p, err, g.LabelStats())
	}
	events := kafkatest.ReadTopic(t, brokers, "t", 2)
	ids := map[string]bool{}
	var e telemetry.Event
	// The events' clock, not the wall clock: they start at testStart, which
	// ages past the decoder's max_age a week after it.
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return sc.Start })
	for _, m := range events {
		if err := d.Decode(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != e.PredictionID {
			t.Fatalf("inference keyed %q, want its prediction id %q", m.Key, e.PredictionID)
		}
		ids[e.PredictionID] = true
	}
	labels := kafkatest.ReadTopic(t, brokers, "labels", 2)
	if len(events) != p.Events || len(labels) != p.Labels {
		t.Fatalf("read %d events and %d labels, ProduceWith said %+v", len(events), len(labels), p)
	}
	var l telemetry.Label
	for _, m := range labels {
		if err := d.DecodeLabel(m.Value, &l); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != l.ModelID || !ids[l.PredictionID] {
			t.Fatalf("label %s keyed %q: want the model id, and an inference written", m.Value, m.Key)
		}
	}
}
