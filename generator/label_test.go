package generator

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// labelScenario is a default scenario of two models with labels.
func labelScenario(l Labels) Scenario {
	sc := DefaultScenario(2, 8)
	sc.Start = testStart
	sc.Labels = &l
	return sc
}

// labelRun is what a run of the generator produced: inference events and
// labels in the order a producer sees them.
type labelRun struct {
	events   map[string]telemetry.Event // by prediction id (maps not kept)
	labels   []telemetry.Label
	flushed  int         // the last flushed labels came from FlushLabel
	clocks   []time.Time // the generator's clock when each label came
	lastTime time.Time
}

// runLabels generates n events, draining the due labels after each, then
// flushes the rest; every label must decode with telemetry's DecodeLabel.
func runLabels(t *testing.T, g *Generator, n int) labelRun {
	t.Helper()
	now := testStart
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return now })
	r := labelRun{events: map[string]telemetry.Event{}}
	var e telemetry.Event
	var l, back telemetry.Label
	var buf []byte
	take := func(clock time.Time) {
		buf = AppendLabel(buf[:0], &l)
		now = l.LabelTime
		if err := d.DecodeLabel(buf, &back); err != nil {
			t.Fatalf("label %s does not decode: %v", buf, err)
		}
		if back.PredictionID != l.PredictionID || back.ModelID != l.ModelID || back.Truth.Class != l.Truth.Class ||
			!back.LabelTime.Equal(l.LabelTime) || back.LabelSource != LabelSource || back.Revision != 0 || back.Truth.Value != nil {
			t.Fatalf("label %s decodes as %+v, want %+v", buf, back, l)
		}
		r.labels = append(r.labels, l)
		r.clocks = append(r.clocks, clock)
	}
	for range n {
		g.Next(&e)
		r.events[e.PredictionID] = telemetry.Event{PredictionID: e.PredictionID, EventTime: e.EventTime, Model: e.Model,
			Prediction: telemetry.Prediction{Class: e.Prediction.Class, Score: reuse(nil, *e.Prediction.Score)}}
		r.lastTime = e.EventTime
		for g.NextLabel(&l) {
			take(e.EventTime)
		}
	}
	for g.FlushLabel(&l) {
		r.flushed++
		take(r.lastTime)
	}
	return r
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name  string
		spec  Labels
		n     int
		share float64
	}{
		{"no delay", Labels{}, 3000, 1},
		{"5 minutes of 2 hours", Labels{Delay: 5 * time.Minute}, 7200, 1},
		{"jitter", Labels{Delay: time.Second, Jitter: 2 * time.Second}, 5000, 1},
		{"share", Labels{Delay: 100 * time.Millisecond, Share: 0.3}, 5000, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := labelScenario(tt.spec)
			if tt.name == "5 minutes of 2 hours" {
				sc.EventStep = time.Second
			}
			g, err := New(sc, 3)
			if err != nil {
				t.Fatal(err)
			}
			r := runLabels(t, g, tt.n)
			st := g.LabelStats()
			if st.Dropped != 0 || st.Pending != 0 || st.Generated != int64(len(r.labels)) {
				t.Errorf("stats %+v after %d labels", st, len(r.labels))
			}
			if sd := math.Sqrt(float64(tt.n) * tt.share * (1 - tt.share)); math.Abs(float64(len(r.labels))-float64(tt.n)*tt.share) > 4*sd+0.5 {
				t.Errorf("%d labels for %d events, want a share of %v", len(r.labels), tt.n, tt.share)
			}
			seen := map[string]bool{}
			for i, l := range r.labels {
				e, ok := r.events[l.PredictionID]
				if !ok || e.Model.ID != l.ModelID || seen[l.PredictionID] {
					t.Fatalf("label %d %+v: no such inference, other model or a second label", i, l)
				}
				seen[l.PredictionID] = true
				if l.Truth.Class != ClassPositive && l.Truth.Class != ClassNegative {
					t.Fatalf("label %d: class %q", i, l.Truth.Class)
				}
				delay := l.LabelTime.Sub(e.EventTime)
				if delay < tt.spec.Delay || delay > tt.spec.Delay+tt.spec.Jitter {
					t.Fatalf("label %d: label_time - event_time = %s, want %s + [0, %s]", i, delay, tt.spec.Delay, tt.spec.Jitter)
				}
				// Order: never before the clock reaches label_time, and in label_time order.
				if i < len(r.labels)-r.flushed && l.LabelTime.After(r.clocks[i]) {
					t.Fatalf("label %d due at %s produced at clock %s", i, l.LabelTime, r.clocks[i])
				}
				if i >= len(r.labels)-r.flushed && !l.LabelTime.After(r.lastTime) {
					t.Fatalf("flushed label %d was due at %s, before the last event %s", i, l.LabelTime, r.lastTime)
				}
				if i > 0 && l.LabelTime.Before(r.labels[i-1].LabelTime) {
					t.Fatalf("label %d at %s after label %d at %s", i, l.LabelTime, i-1, r.labels[i-1].LabelTime)
				}
			}
			if len(r.labels) > 0 {
				// The first label comes about Delay of event time into the run.
				first := r.clocks[0].Sub(sc.Start)
				if first < tt.spec.Delay || first > tt.spec.Delay+tt.spec.Jitter+sc.EventStep*20 {
					t.Errorf("first label at %s of event time, want about %s", first, tt.spec.Delay)
				}
			}
		})
	}
}

func TestLabelPendingCap(t *testing.T) {
	g, err := New(labelScenario(Labels{Delay: time.Hour, MaxPending: 10}), 1)
	if err != nil {
		t.Fatal(err)
	}
	var e telemetry.Event
	var l telemetry.Label
	for range 100 {
		g.Next(&e)
		if g.NextLabel(&l) {
			t.Fatal("a label an hour ahead is due")
		}
	}
	if st := g.LabelStats(); st != (LabelStats{Generated: 100, Dropped: 90, Pending: 10}) {
		t.Errorf("stats %+v, want 100 generated, 90 dropped, 10 pending", st)
	}
	n := 0
	for g.FlushLabel(&l) {
		n++
	}
	if st := g.LabelStats(); n != 10 || st.Pending != 0 {
		t.Errorf("flushed %d labels, stats %+v; want 10, none pending", n, st)
	}
	// The default cap.
	g, _ = New(labelScenario(Labels{}), 1)
	if g.lab.spec.MaxPending != DefaultMaxPendingLabels || g.lab.spec.Share != 1 {
		t.Errorf("defaults: %+v", g.lab.spec)
	}
}

// messages returns n inference messages and the label messages of g, in
// the order a producer would write them.
func messages(g *Generator, n int) (events, labels [][]byte) {
	var l telemetry.Label
	for range n {
		key, v := g.NextMessage(nil)
		events = append(events, append([]byte(key+" "), v...))
		for g.NextLabel(&l) {
			labels = append(labels, AppendLabel(nil, &l))
		}
	}
	for g.FlushLabel(&l) {
		labels = append(labels, AppendLabel(nil, &l))
	}
	return events, labels
}

// TestLabelsDeterministic: the same seed gives the same labels, and turning
// labels on leaves the inference messages byte for byte as they were.
func TestLabelsDeterministic(t *testing.T) {
	spec := Labels{Delay: time.Second, Jitter: time.Second, Share: 0.7}
	sc := labelScenario(spec)
	sc.BadFraction = 0.01
	var runs [2][2][][]byte
	for i := range runs {
		g, err := New(sc, 42)
		if err != nil {
			t.Fatal(err)
		}
		runs[i][0], runs[i][1] = messages(g, 5000)
	}
	sc.Labels = nil
	g, _ := New(sc, 42)
	plain, none := messages(g, 5000)
	if len(none) != 0 {
		t.Errorf("%d labels without Labels", len(none))
	}
	for i := range plain {
		if !bytes.Equal(runs[0][0][i], runs[1][0][i]) || !bytes.Equal(runs[0][0][i], plain[i]) {
			t.Fatalf("inference %d differs:\n%s\n%s\n%s", i, runs[0][0][i], runs[1][0][i], plain[i])
		}
	}
	if len(runs[0][1]) == 0 || len(runs[0][1]) != len(runs[1][1]) {
		t.Fatalf("%d and %d labels", len(runs[0][1]), len(runs[1][1]))
	}
	for i := range runs[0][1] {
		if !bytes.Equal(runs[0][1][i], runs[1][1][i]) {
			t.Fatalf("label %d differs:\n%s\n%s", i, runs[0][1][i], runs[1][1][i])
		}
	}
	// Another seed, other labels.
	sc.Labels = &spec
	g, _ = New(sc, 43)
	if _, other := messages(g, 100); bytes.Equal(other[0], runs[0][1][0]) {
		t.Error("seeds 42 and 43 give the same first label")
	}
}

// TestLabelCalibration: a binary classifier's truth is positive with the
// event's positive-class probability.
func TestLabelCalibration(t *testing.T) {
	g, err := New(labelScenario(Labels{}), 11)
	if err != nil {
		t.Fatal(err)
	}
	var e telemetry.Event
	var l telemetry.Label
	n, pos, sumP := 0, 0, 0.0
	for range 200000 {
		g.Next(&e)
		if !g.NextLabel(&l) || l.PredictionID != e.PredictionID {
			t.Fatal("with no delay, each event's label must be due right after it")
		}
		if p := probabilityOf(e.Prediction.Probabilities, ClassPositive); p >= 0.7 && p <= 0.8 {
			n++
			sumP += p
			if l.Truth.Class == ClassPositive {
				pos++
			}
		}
	}
	if n < 2000 {
		t.Fatalf("only %d events with p in [0.7, 0.8]", n)
	}
	share := float64(pos) / float64(n)
	t.Logf("%d of %d events with p in [0.7, 0.8] have a positive truth (%.4f; mean p %.4f)", pos, n, share, sumP/float64(n))
	tol := 4 * math.Sqrt(0.75*0.25/float64(n)) // 4 binomial standard errors
	if math.Abs(share-0.75) > tol || math.Abs(share-sumP/float64(n)) > tol {
		t.Errorf("%d of %d events with p in [0.7, 0.8] are positive (%.4f), mean p %.4f; want 0.75 ± %.4f",
			pos, n, share, sumP/float64(n), tol)
	}
}

// TestConceptDrift: after the shift, only the labels move: agreement of the
// predicted class with the truth falls from a to a(1-f) + (1-a)f, while the
// inference messages are byte-identical to a run without the scenario.
func TestConceptDrift(t *testing.T) {
	const n, after = 80000, 20 * time.Second // 1ms steps: the shift at event 20000
	run := func(scenario string) (events [][]byte, labels []telemetry.Label, class map[string]string) {
		sc := labelScenario(Labels{Delay: 2 * time.Second})
		if scenario != "" {
			sh, err := ShiftFor(scenario, sc.Models[0].ID, after, 1)
			if err != nil {
				t.Fatal(err)
			}
			sc.Shift = sh
		}
		g, err := New(sc, 8)
		if err != nil {
			t.Fatal(err)
		}
		class = map[string]string{}
		var l telemetry.Label
		var e telemetry.Event
		var buf []byte
		for range n {
			g.Next(&e)
			class[e.PredictionID] = e.Prediction.Class
			buf = g.Append(buf[:0], &e)
			events = append(events, bytes.Clone(buf))
			for g.NextLabel(&l) {
				labels = append(labels, l)
			}
		}
		for g.FlushLabel(&l) {
			labels = append(labels, l)
		}
		return events, labels, class
	}
	baseEv, baseLab, class := run("")
	driftEv, driftLab, _ := run(ScenarioConceptDrift)
	for i := range baseEv {
		if !bytes.Equal(baseEv[i], driftEv[i]) {
			t.Fatalf("inference %d differs under concept-drift:\n%s\n%s", i, baseEv[i], driftEv[i])
		}
	}
	model := DefaultScenario(2, 8).Models[0].ID
	shift := testStart.Add(after)
	// agreement returns the share of labels agreeing with the predicted
	// class, for the drifting model before and after the shift and for
	// the other model after it.
	agreement := func(labels []telemetry.Label, delay time.Duration) (before, afterShift, other float64, nAfter int) {
		var c [3][2]float64
		for _, l := range labels {
			k := 0
			switch {
			case l.ModelID != model && l.LabelTime.Add(-delay).Before(shift):
				continue
			case l.ModelID != model:
				k = 2
			case !l.LabelTime.Add(-delay).Before(shift):
				k = 1
			}
			c[k][1]++
			if class[l.PredictionID] == l.Truth.Class {
				c[k][0]++
			}
		}
		return c[0][0] / c[0][1], c[1][0] / c[1][1], c[2][0] / c[2][1], int(c[1][1])
	}
	b0, b1, bo, nAfter := agreement(baseLab, 2*time.Second)
	d0, d1, do, _ := agreement(driftLab, 2*time.Second)
	if b0 != d0 {
		t.Errorf("agreement before the shift: %v without, %v with concept-drift; want equal", b0, d0)
	}
	const f = 0.3
	want := b1*(1-f) + (1-b1)*f
	t.Logf("agreement of %s: %.4f before the shift; after it %.4f without, %.4f with concept-drift (want %.4f); other model %.4f, %.4f",
		model, b0, b1, d1, want, bo, do)
	tol := 4 * math.Sqrt(want*(1-want)/float64(nAfter))
	if math.Abs(d1-want) > tol {
		t.Errorf("agreement after the shift: %.4f, want %.4f ± %.4f (from %.4f without the scenario)", d1, want, tol, b1)
	}
	if b1-d1 < 0.1 {
		t.Errorf("agreement fell only from %.4f to %.4f", b1, d1)
	}
	if math.Abs(bo-do) > 0.02 {
		t.Errorf("other model's agreement: %.4f without, %.4f with the scenario", bo, do)
	}
	// Before the shift, the labels are byte for byte the same.
	for i := range baseLab {
		if baseLab[i].LabelTime.Add(-2 * time.Second).Before(shift) {
			if baseLab[i] != driftLab[i] {
				t.Fatalf("label %d before the shift differs: %+v, %+v", i, baseLab[i], driftLab[i])
			}
		}
	}
}

func TestLabelValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Scenario)
		field string
	}{
		{"share above 1", func(s *Scenario) { s.Labels.Share = 1.5 }, "labels.share"},
		{"NaN share", func(s *Scenario) { s.Labels.Share = math.NaN() }, "labels.share"},
		{"negative delay", func(s *Scenario) { s.Labels.Delay = -time.Second }, "labels.delay"},
		{"negative jitter", func(s *Scenario) { s.Labels.Jitter = -1 }, "labels.jitter"},
		{"overflowing jitter", func(s *Scenario) { s.Labels.Delay, s.Labels.Jitter = time.Hour, math.MaxInt64-time.Minute }, "labels.jitter"},
		{"negative max pending", func(s *Scenario) { s.Labels.MaxPending = -1 }, "labels.max_pending"},
		{"label flip above 1", func(s *Scenario) { s.Shift = &Shift{Model: s.Models[0].ID, LabelFlip: 2} }, "shift.label_flip"},
		{"label flip without labels", func(s *Scenario) { s.Labels, s.Shift = nil, &Shift{Model: s.Models[0].ID, LabelFlip: 0.3} }, "shift.label_flip: changes only labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := labelScenario(Labels{})
			tt.edit(&sc)
			if _, err := New(sc, 1); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestAppendLabel(t *testing.T) {
	v := 0.25
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart })
	tests := []struct {
		name string
		l    telemetry.Label
		want string
	}{
		{"class", telemetry.Label{PredictionID: "p-1", ModelID: "m", Truth: telemetry.Truth{Class: "ok"}, LabelTime: testStart},
			`{"schema_version":"1","prediction_id":"p-1","model_id":"m","label":{"class":"ok"},"label_time":"2026-11-26T14:00:00Z"}`},
		{"value, source and revision", telemetry.Label{SchemaVersion: "1", PredictionID: "p-2", ModelID: "m", Truth: telemetry.Truth{Class: "a \"b\"", Value: &v},
			LabelSource: "generator", LabelTime: testStart.Add(1500 * time.Millisecond), Revision: 3},
			`{"schema_version":"1","prediction_id":"p-2","model_id":"m","label":{"class":"a \"b\"","value":0.25},"label_source":"generator","label_time":"2026-11-26T14:00:01.5Z","revision":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendLabel(nil, &tt.l)
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			var back telemetry.Label
			if err := d.DecodeLabel(got, &back); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkNextLabels is BenchmarkNext with labels on, due 1 s of event time
// (1000 events) later: once the queue has grown, drawing, queueing and
// returning a label allocate nothing.
func BenchmarkNextLabels(b *testing.B) {
	sc := DefaultScenario(4, 16)
	sc.Start = testStart
	sc.Labels = &Labels{Delay: time.Second}
	g, err := New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	var e telemetry.Event
	var l telemetry.Label
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&e)
		for g.NextLabel(&l) {
		}
	}
}
