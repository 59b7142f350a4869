package partial

import (
	"bytes"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
)

// feedbackWindow is a feedback window of model m at start with n examples
// of source src, each flipping the model's label.
func feedbackWindow(m string, start time.Time, n int, src string) *poisoning.Window {
	w := poisoning.NewWindow(poisoning.DefaultConfig(), poisoning.Features{Numeric: []string{"x"}}, m, start, start.Add(time.Minute))
	for i := range n {
		w.Observe([]poisoning.Example{{ID: src + string(rune('a'+i%26)), Source: src, ProposedLabel: "yes", PredictedLabel: "no",
			Numeric: []float64{float64(i)}}}, int64(i))
	}
	return w
}

// TestFeedbackRecordsRoundTrip: a feedback window cut into small chunks is
// parsed and assembled (chunks in any order) into the same source and
// window; its identity names the feedback topic, so that it never collides
// with an inference partial's.
func TestFeedbackRecordsRoundTrip(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w := feedbackWindow("fraud", start, 200, "mallory")
	src := Source{Topic: "feedback", Partition: 2}
	recs := EncodeFeedback(src, w, 512)
	if len(recs) < 3 {
		t.Fatalf("%d chunks, want several", len(recs))
	}
	a := NewAssembler(1 << 20)
	var payload []byte
	for i := len(recs) - 1; i >= 0; i-- {
		r, err := Parse(recs[i])
		if err != nil || r.Kind != KindFeedback {
			t.Fatalf("chunk %d: kind %q, %v", i, r.Kind, err)
		}
		p, _, err := a.Add(r, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		if p != nil {
			payload = p
		}
	}
	got, back, err := DecodeFeedback(poisoning.DefaultConfig(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if got != src || !bytes.Equal(back.AppendBinary(nil), w.AppendBinary(nil)) {
		t.Fatalf("decoded %v, a window of %d examples", got, back.Examples)
	}
	if _, _, err := DecodeFeedback(poisoning.DefaultConfig(), payload[:len(payload)-3]); err == nil {
		t.Error("a truncated feedback partial decoded")
	}
	r, _ := Parse(recs[0])
	if s, mv, startMs, ok := parseIdentity(r.Identity); !ok || s != src || mv != (analysis.ModelKey{ID: "fraud"}) || startMs != start.UnixMilli() {
		t.Errorf("identity names %v %v %d", s, mv, startMs)
	}
}

// TestFeedbackMergerMergesOnceAcrossPartitions: the partials of a feedback
// window from two partitions merge into one window, decided once both
// partitions passed it; a partial published again (a replay) is a
// duplicate before the decision and already decided after it.
func TestFeedbackMergerMergesOnceAcrossPartitions(t *testing.T) {
	now := time.Now()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	m := NewFeedbackMerger(Config{Lateness: time.Second, Timeout: time.Hour, IdleWait: time.Hour, MaxModels: 4, MaxWindows: 4})
	m.Expect("feedback", 2)
	a, b := Source{"feedback", 0}, Source{"feedback", 1}
	if got := m.Add(a, feedbackWindow("fraud", start, 60, "mallory"), 10, now); got != Merged {
		t.Fatalf("first partial: %v", got)
	}
	if got := m.Add(b, feedbackWindow("fraud", start, 40, "ann"), 20, now); got != Merged {
		t.Fatalf("second partial: %v", got)
	}
	if got := m.Add(a, feedbackWindow("fraud", start, 60, "mallory"), 30, now); got != Duplicate {
		t.Fatalf("a replayed partial: %v, want Duplicate", got)
	}
	if m.Accepts(Source{"telemetry", 0}) || m.Add(Source{"telemetry", 0}, feedbackWindow("fraud", start, 1, "x"), 40, now) != Dropped {
		t.Error("a partial of another topic was taken")
	}
	end := start.Add(time.Minute).Add(time.Second).UnixMilli()
	m.Advance(a, end, false)
	if got := m.Ready(now); len(got) != 0 {
		t.Fatalf("decided before partition 1 passed the window: %d", len(got))
	}
	if m.Committable(100) != 10 {
		t.Errorf("committable %d while the window is merged, want its first offset 10", m.Committable(100))
	}
	m.Advance(b, end, false)
	got := m.Ready(now)
	if len(got) != 1 || got[0].Window.Examples != 100 || got[0].Partials != 2 || len(got[0].Missing) != 0 {
		t.Fatalf("decided %+v", got)
	}
	if m.Add(b, feedbackWindow("fraud", start, 40, "ann"), 50, now) != AlreadyDecided {
		t.Error("a partial of a decided window was taken")
	}
	if m.Committable(100) != 100 {
		t.Errorf("committable %d with nothing merged, want 100", m.Committable(100))
	}
	// A restarted merger knows the decided windows from storage.
	r := NewFeedbackMerger(Config{Lateness: time.Second, Timeout: time.Hour, IdleWait: time.Hour, MaxModels: 4, MaxWindows: 4})
	r.Expect("feedback", 2)
	r.Restore(map[analysis.ModelKey]time.Time{{ID: "fraud"}: start.Add(time.Minute)})
	if r.Add(a, feedbackWindow("fraud", start, 60, "mallory"), 0, now) != AlreadyDecided {
		t.Error("a replayed partial of a window decided before the restart was taken")
	}
}
