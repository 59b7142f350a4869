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

// TestProduceFeedback: feedback events arrive on the feedback topic keyed
// by model id, with the CloudEvents headers, one for each the generator
// made, each FeedbackDelay after its inference (its event_time), and decode
// with telemetry's DecodeFeedback; beyond FeedbackMaxPending they are
// dropped and counted; the options are checked.
func TestProduceFeedback(t *testing.T) {
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Topics: []string{"t", "labels", "fb"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Brokers()
	// One start for every generator: the reference and the produced ones
	// must make the same events (a start read per call could fall on
	// either side of a second).
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	scenario := func() *Generator {
		sc := DefaultScenario(2, 8)
		sc.Start = start
		fb := DefaultFeedback()
		fb.Attacks = []string{AttackBackdoor}
		sc.Feedback = &fb
		g, err := New(sc, 4)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// What the generator makes, for comparison: the same seed, run alone.
	want := map[string]telemetry.Feedback{}
	inferences := map[string]time.Time{}
	ref := scenario()
	var e telemetry.Event
	var f telemetry.Feedback
	for range 3000 {
		ref.Next(&e)
		inferences[e.PredictionID] = e.EventTime
		if ref.NextFeedback(&f) {
			want[f.FeedbackID] = f
		}
	}
	const delay = 500 * time.Millisecond // 500 events
	p, err := ProduceWith(ctx, brokers, "t", scenario(), 3000, ProduceOptions{FeedbackTopic: "fb", FeedbackDelay: delay}, nil)
	if err != nil || p.Events != 3000 || p.Feedback != len(want) || p.DroppedFeedback != 0 {
		t.Fatalf("produced %+v, %v; want 3000 events and %d feedback events", p, err, len(want))
	}
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), time.Now)
	msgs := kafkatest.ReadTopic(t, brokers, "fb", 2)
	if len(msgs) != len(want) {
		t.Fatalf("%d feedback messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		var got telemetry.Feedback
		if err := d.DecodeFeedback(m.Value, &got); err != nil {
			t.Fatalf("decoding %s: %v", m.Value, err)
		}
		w, ok := want[got.FeedbackID]
		if !ok || got.Principal.EndUserID != w.Principal.EndUserID || got.ProposedLabel != w.ProposedLabel || got.Kind != w.Kind {
			t.Fatalf("feedback %s, want %+v", m.Value, w)
		}
		if got.PredictionID != "" && got.EventTime.Sub(inferences[got.PredictionID]) != delay {
			t.Errorf("feedback %s: %s after its inference, want %s", m.Value, got.EventTime.Sub(inferences[got.PredictionID]), delay)
		}
		if !got.EventTime.Equal(w.EventTime.Add(delay)) {
			t.Errorf("feedback %s: event_time %s, want %s", m.Value, got.EventTime, w.EventTime.Add(delay))
		}
		hdr := map[string]string{}
		for _, h := range m.Headers {
			hdr[h.Key] = string(h.Value)
		}
		if string(m.Key) != got.ModelID || hdr["ce_type"] != telemetry.TypeFeedback || hdr["ce_id"] != got.FeedbackID ||
			hdr["ce_specversion"] != "1.0" || hdr["ce_source"] != labelCESource || hdr["content-type"] != "application/json" || hdr["ce_time"] == "" {
			t.Fatalf("feedback %s: key %s, headers %v", m.Value, m.Key, hdr)
		}
	}

	// A bound of 10 pending with a delay longer than the run drops the rest.
	p, err = ProduceWith(ctx, brokers, "t", scenario(), 3000, ProduceOptions{FeedbackTopic: "fb", FeedbackDelay: time.Hour, FeedbackMaxPending: 10}, nil)
	if err != nil || p.Feedback != 10 || p.DroppedFeedback != int64(len(want)-10) {
		t.Errorf("with 10 pending at most: %+v, %v; want 10 written, %d dropped", p, err, len(want)-10)
	}

	for _, tc := range []struct {
		opts ProduceOptions
		g    *Generator
		says string
	}{
		{ProduceOptions{}, scenario(), "feedback topic: required"},
		{ProduceOptions{FeedbackTopic: "t"}, scenario(), `feedback topic "t" is the inference or the labels topic`},
		{ProduceOptions{FeedbackTopic: "fb"}, withoutFeedback(t), `feedback topic "fb" given, but the scenario has no feedback`},
	} {
		if _, err := ProduceWith(ctx, brokers, "t", tc.g, 10, tc.opts, nil); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.says)
		}
	}
}

// withoutFeedback returns a generator without feedback.
func withoutFeedback(t *testing.T) *Generator {
	g, err := New(DefaultScenario(1, 8), 1)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
