package generator

import (
	"bytes"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/telemetry"
)

// feedbackPath is the per-event path of the monitor's feedback stage: decode
// a feedback message, adapt it to an Example and observe it in its model's
// window, every poisoning signal on (the stage's defaults), one example per
// call as the stage observes them.
type feedbackPath struct {
	msgs [][]byte
	dec  *telemetry.Decoder
	ad   poisoning.Adapter
	win  *poisoning.Window
	fb   telemetry.Feedback
	ex   []poisoning.Example
	next int
}

func newFeedbackPath(tb testing.TB, n int) *feedbackPath {
	tb.Helper()
	fbc := DefaultFeedback()
	fbc.Share = 1
	fbc.Attacks = []string{AttackLabelFlip}
	sc := DefaultScenario(1, 16)
	sc.Start = testStart
	sc.Feedback = &fbc
	g, err := New(sc, 1)
	if err != nil {
		tb.Fatal(err)
	}
	var f poisoning.Features
	for _, s := range sc.Models[0].Numeric {
		f.Numeric = append(f.Numeric, s.Name)
	}
	for _, s := range sc.Models[0].Categorical {
		f.Categorical = append(f.Categorical, s.Name)
	}
	p := &feedbackPath{
		dec: telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart.Add(time.Hour) }),
		ad:  poisoning.Adapter{Features: f, SourceFields: []string{access.FieldEndUser}},
		win: poisoning.NewWindow(poisoning.DefaultConfig(), f, sc.Models[0].ID, testStart, testStart.Add(time.Hour)),
		ex:  make([]poisoning.Example, 1),
	}
	var e telemetry.Event
	var out telemetry.Feedback
	for len(p.msgs) < n {
		g.Next(&e)
		if g.NextFeedback(&out) {
			p.msgs = append(p.msgs, g.AppendFeedback(nil, &out))
		}
	}
	// Fill every signal to its bound: the steady state.
	for range 10 {
		p.run(tb, len(p.msgs))
	}
	return p
}

// run takes the next k messages through the path.
func (p *feedbackPath) run(tb testing.TB, k int) {
	for range k {
		m := p.msgs[p.next%len(p.msgs)]
		p.next++
		if err := p.dec.DecodeFeedback(m, &p.fb); err != nil {
			tb.Fatalf("%s: %v", m, err)
		}
		p.ad.Adapt(&p.fb, p.fb.PreviousLabel, &p.ex[0])
		p.win.Observe(p.ex, int64(p.next))
	}
}

// BenchmarkFeedbackPath measures the feedback stage's per-event path in
// steady state: decode, adapt, and every poisoning signal's partial.
func BenchmarkFeedbackPath(b *testing.B) {
	p := newFeedbackPath(b, 4096)
	size := 0
	for _, m := range p.msgs {
		size += len(m)
	}
	b.SetBytes(int64(size / len(p.msgs)))
	b.ReportAllocs()
	for b.Loop() {
		p.run(b, 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// TestFeedbackPathSharesNothingWithMessages checks that the feedback stage's
// per-event path keeps no string of a message, whose strings the decoder's
// fast path does not copy: a window fed from one buffer overwritten after
// every event encodes as one fed from messages left alone.
func TestFeedbackPathSharesNothingWithMessages(t *testing.T) {
	p := newFeedbackPath(t, 1024)
	fresh := func() *poisoning.Window {
		return poisoning.NewWindow(poisoning.DefaultConfig(), p.win.Features, p.win.Model, p.win.Start, p.win.End)
	}
	want, got := fresh(), fresh()
	slow := p.dec.SlowPath()
	var buf []byte
	for i, m := range p.msgs {
		if err := p.dec.DecodeFeedback(m, &p.fb); err != nil {
			t.Fatal(err)
		}
		p.ad.Adapt(&p.fb, p.fb.PreviousLabel, &p.ex[0])
		want.Observe(p.ex, int64(i))

		buf = append(buf[:0], m...)
		if err := p.dec.DecodeFeedback(buf, &p.fb); err != nil {
			t.Fatal(err)
		}
		p.ad.Adapt(&p.fb, p.fb.PreviousLabel, &p.ex[0])
		got.Observe(p.ex, int64(i))
		for j := range buf {
			buf[j] = 'x'
		}
	}
	if n := p.dec.SlowPath() - slow; n != 0 {
		t.Fatalf("%d messages took the slow path: the test would not exercise the fast path's aliasing", n)
	}
	if !bytes.Equal(got.AppendBinary(nil), want.AppendBinary(nil)) {
		t.Error("a window fed from an overwritten buffer differs from one fed from the messages")
	}
}

// TestFeedbackPathDoesNotAllocate pins the no-allocation rule of the
// feedback stage's per-event path in steady state.
func TestFeedbackPathDoesNotAllocate(t *testing.T) {
	p := newFeedbackPath(t, 2048)
	if a := testing.AllocsPerRun(20, func() { p.run(t, 64) }); a != 0 {
		t.Fatalf("%v allocations per 64 feedback events", a)
	}
}
