package monitor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// feedbackPipeline starts an embedded broker of 3 partitions with the
// telemetry, dead-letter, labels and feedback topics and returns it, the
// test configuration over it (pipelineTest's, with kafka.labels_topic, so
// that predictions are stored, and kafka.feedback_topic) and a context
// that ends after timeout or with the test.
func feedbackPipeline(t *testing.T, timeout time.Duration) (*ingest.Embedded, Config, context.Context) {
	t.Helper()
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq", "labels", "feedback"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Analysis.WarmupWindows = 2
	cfg.Kafka.LabelsTopic, cfg.Kafka.FeedbackTopic = "labels", "feedback"
	// The feedback samples keyed by a secret, as they should be where
	// feedback producers are not trusted.
	cfg.Signals.Poisoning.SampleKeyFile = filepath.Join(t.TempDir(), "sample.key")
	if err := os.WriteFile(cfg.Signals.Poisoning.SampleKeyFile, []byte("a secret of the test's instances\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, cfg, ctx
}

// flipScenario generates n inferences of one model ("fraud") from start
// (one every millisecond: 2,000 per window of the test configuration) with
// feedback on half of them from 5 honest annotators and, for a tenth of
// the feedback from after on, "mallory" flipping the model's labels. It
// returns the inference and the feedback messages, the feedback keyed by its
// id (spread over the partitions).
func flipScenario(t *testing.T, seed int64, start time.Time, after time.Duration, n int) (events, feedback []kafka.Message) {
	t.Helper()
	sc := generator.DefaultScenario(1, 6)
	sc.Models[0].ID = "fraud"
	sc.Start, sc.EventStep, sc.KeyByPrediction = start, time.Millisecond, true
	sc.Feedback = &generator.Feedback{Share: 0.5, Annotators: 5, Attacks: []string{generator.AttackLabelFlip}, AttackShare: 0.1, After: after}
	g, err := generator.New(sc, seed)
	if err != nil {
		t.Fatal(err)
	}
	var fb telemetry.Feedback
	for range n {
		key, value := g.NextMessage(nil)
		events = append(events, kafka.Message{Key: []byte(key), Value: value})
		if g.NextFeedback(&fb) {
			feedback = append(feedback, kafka.Message{Key: []byte(fb.FeedbackID), Value: g.AppendFeedback(nil, &fb)})
		}
	}
	return events, feedback
}

// waitFeedbackWindows waits until at least want feedback windows of model
// fraud are decided (their poisoning_feedback rows), or fails at deadline.
func waitFeedbackWindows(t *testing.T, s *storage.Store, want uint64, deadline time.Time) {
	t.Helper()
	const q = "SELECT count() FROM signals FINAL WHERE model_id = 'fraud' AND model_version = '' AND signal = '" + FeedbackSignal + "'"
	for queryUint(t, s, q) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d feedback windows decided, want %d", queryUint(t, s, q), want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestFeedbackLabelFlipNamesTheAttacker sends a model's inferences, then
// the training feedback about them (spread over 3 partitions): honest for
// the first two windows, which make the model's reference feedback, then
// with "mallory" proposing the other class for every prediction it labels.
// Every window's feedback is merged over the partitions and counted exactly
// once; each attacked window's poisoning_label_flip verdicts name mallory
// (warning or critical), its overall flip rate is decided against the
// reference, and no poisoning signal names an honest annotator critical.
func TestFeedbackLabelFlipNamesTheAttacker(t *testing.T) {
	e, cfg, ctx := feedbackPipeline(t, 3*time.Minute)
	cfg.Signals.Poisoning.ReferenceWindows = 2
	m := runHostile(t, ctx, cfg)
	const windows, attackFrom = 6, 2
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	events, feedback := flipScenario(t, 7, start, attackFrom*cfg.Analysis.WindowSize, windows*2000+600)
	writeMessages(t, ctx, e.Brokers(), "telemetry", events)
	s := m.Store()
	// The predictions are stored before their windows are decided.
	waitDecided(t, s, time.Now().Add(2*time.Minute))
	writeMessages(t, ctx, e.Brokers(), "feedback", feedback)
	// The last window, partial, is sealed once the partitions are idle.
	waitFeedbackWindows(t, s, windows+1, time.Now().Add(2*time.Minute))

	if got := queryUint(t, s, "SELECT sum(n) FROM signals FINAL WHERE model_id = 'fraud' AND signal = ?", FeedbackSignal); got != uint64(len(feedback)) {
		t.Errorf("%d feedback events counted in the decided windows, want %d (each once); by outcome: %v counted, %v late, %v rejected, %v dropped",
			got, len(feedback), metricSum(t, m.Addr(), "driftwatch_feedback_events_total", "counted"),
			metricSum(t, m.Addr(), "driftwatch_feedback_events_total", "late"), metricSum(t, m.Addr(), "driftwatch_feedback_events_total", "rejected"),
			metricSum(t, m.Addr(), "driftwatch_feedback_dropped_total", ""))
	}
	rows, err := s.Query(ctx, `SELECT toUInt32(window_start), signal, subject, severity, effect, evidence FROM signals FINAL
WHERE model_id = 'fraud' AND model_version = '' AND signal LIKE 'poisoning_%' AND subject != '*' ORDER BY window_start, subject`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	named := map[uint32]string{}
	for rows.Next() {
		var at uint32
		var sig, subject, severity, evidence string
		var effect float64
		if err := rows.Scan(&at, &sig, &subject, &severity, &effect, &evidence); err != nil {
			t.Fatal(err)
		}
		switch {
		case sig == "poisoning_label_flip" && subject == "mallory":
			named[at] = severity
			if !strings.Contains(evidence, "differ from the model's prediction") || !strings.Contains(evidence, "ids fb-") {
				t.Errorf("mallory's evidence %q does not say what drives it", evidence)
			}
		case strings.HasPrefix(subject, "annotator-") && severity == "critical":
			t.Errorf("honest source %s named critical by %s in the window at %d (effect %.3f: %s)", subject, sig, at, effect, evidence)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("mallory's label-flip severity by window: %v", named)
	for i := range windows {
		at := uint32(start.Add(time.Duration(i) * cfg.Analysis.WindowSize).Unix())
		sev, ok := named[at]
		if i < attackFrom && ok {
			t.Errorf("window %d: mallory named before the attack", i)
		}
		if i >= attackFrom && sev != "warning" && sev != "critical" {
			t.Errorf("window %d: mallory's label flips %q, want warning or critical", i, sev)
		}
	}
	// The windows after the reference's are scored against it: the
	// overall flip rate decides.
	overall := queryUint(t, s, `SELECT count() FROM signals FINAL WHERE model_id = 'fraud' AND signal = 'poisoning_label_flip'
AND subject = '*' AND reference_id = 'feedback' AND severity IN ('warning', 'critical')`)
	if overall < windows-attackFrom {
		t.Errorf("%d attacked windows with a decided overall flip rate against the reference, want %d", overall, windows-attackFrom)
	}
	// The verdicts went the way of the other signals' alerts.
	if got := queryUint(t, s, "SELECT count() FROM signals FINAL WHERE model_id = 'fraud' AND signal LIKE 'poisoning_%' AND signal != ?", FeedbackSignal); got == 0 {
		t.Error("no poisoning verdicts stored")
	}
}

// TestFeedbackMalformedIsDeadLettered: a feedback event that does not
// decode, one that lacks a required field and one of another kind land in
// the dead-letter topic with the decoder's reasons; the good ones are
// counted.
func TestFeedbackMalformedIsDeadLettered(t *testing.T) {
	e, cfg, ctx := feedbackPipeline(t, 2*time.Minute)
	m := runHostile(t, ctx, cfg)
	at := time.Now().Add(-time.Hour).Truncate(time.Minute)
	good := func(id string) []byte {
		return []byte(`{"schema_version":"1","feedback_id":"` + id + `","event_time":"` + at.Format(time.RFC3339Nano) +
			`","model_id":"fraud","kind":"label_override","proposed_label":"positive","principal":{"enduser.id":"ann"}}`)
	}
	msgs := []kafka.Message{
		{Key: []byte("fraud"), Value: good("fb-1")},
		{Key: []byte("fraud"), Value: []byte(`{"feedback_id": "broken`)},
		{Key: []byte("fraud"), Value: []byte(`{"schema_version":"1","event_time":"` + at.Format(time.RFC3339Nano) + `","model_id":"fraud","kind":"thumbs"}`)},
		{Key: []byte("fraud"), Value: good("fb-2"), Headers: []kafka.Header{{Key: "ce_type", Value: []byte(telemetry.TypeLabel)}}},
		{Key: []byte("fraud"), Value: good("fb-3")},
	}
	writeMessages(t, ctx, e.Brokers(), "feedback", msgs)
	waitFeedbackWindows(t, m.Store(), 1, time.Now().Add(time.Minute))
	if got := queryUint(t, m.Store(), "SELECT sum(n) FROM signals FINAL WHERE model_id = 'fraud' AND signal = ?", FeedbackSignal); got != 2 {
		t.Errorf("%d feedback events counted, want the 2 good ones", got)
	}
	reasons := map[string]string{}
	for _, msg := range readAllDeadLetters(t, ctx, e.Brokers(), 3) {
		if header(msg, ingest.HeaderOrigTopic) == "feedback" {
			reasons[header(msg, ingest.HeaderOrigOffset)] = header(msg, ingest.HeaderErrorReason)
		}
	}
	want := map[string]string{"1": telemetry.ReasonInvalidJSON, "2": telemetry.ReasonMissingField, "3": telemetry.ReasonUnknownType}
	for off, reason := range want {
		if reasons[off] != reason {
			t.Errorf("dead letter of offset %s: reason %q, want %q (all: %v)", off, reasons[off], reason, reasons)
		}
	}
	if len(reasons) != len(want) {
		t.Errorf("dead letters of the feedback topic: %v, want offsets 1, 2 and 3 once each", reasons)
	}
}

// readAllDeadLetters reads every message of the dead-letter topic's
// partitions.
func readAllDeadLetters(t *testing.T, ctx context.Context, brokers []string, partitions int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "telemetry.dlq", Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			msg, err := r.ReadMessage(rctx)
			rcancel()
			if err != nil {
				break
			}
			out = append(out, msg)
		}
		r.Close()
	}
	return out
}

// TestFeedbackReplayDoesNotDoubleCount decides the feedback windows of the
// label-flip scenario, then starts a second monitor under another consumer
// group, which reads the telemetry, feedback and partials topics again from
// their start: its feedback partials are duplicates or already decided,
// and no feedback window is decided, counted or stored twice.
func TestFeedbackReplayDoesNotDoubleCount(t *testing.T) {
	e, cfg, ctx := feedbackPipeline(t, 4*time.Minute)
	cfg.Signals.Poisoning.ReferenceWindows = 2
	const windows = 2
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	events, feedback := flipScenario(t, 7, start, 0, windows*2000+600)
	writeMessages(t, ctx, e.Brokers(), "telemetry", events)

	first, stop := startMonitor(t, ctx, cfg)
	s := first.Store()
	waitDecided(t, s, time.Now().Add(2*time.Minute))
	writeMessages(t, ctx, e.Brokers(), "feedback", feedback)
	waitFeedbackWindows(t, s, windows+1, time.Now().Add(2*time.Minute))
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	const markers = "SELECT count() FROM signals WHERE model_id = 'fraud' AND signal = '" + FeedbackSignal + "'"
	const counted = "SELECT sum(n) FROM signals WHERE model_id = 'fraud' AND signal = '" + FeedbackSignal + "'"
	const flips = "SELECT count() FROM signals WHERE model_id = 'fraud' AND signal = 'poisoning_label_flip'"
	const refWindows = "SELECT toUInt64(max(windows)) FROM references FINAL WHERE model_id = 'fraud' AND model_version = '#feedback' AND kind = '" + KindFeedbackReference + "'"
	check, err := storage.Open(ctx, cfg.ClickHouse, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	wantMarkers, wantCounted, wantFlips := queryUint(t, check, markers), queryUint(t, check, counted), queryUint(t, check, flips)
	if wantCounted != uint64(len(feedback)) {
		t.Fatalf("first run: %d feedback events counted, want %d", wantCounted, len(feedback))
	}
	if got := queryUint(t, check, refWindows); got != 2 {
		t.Fatalf("first run: the reference feedback holds %d windows, want reference_windows (2)", got)
	}

	cfg.Kafka.Consumer.GroupID = "replay"
	reg := prometheus.NewRegistry()
	second, err := New(ctx, cfg, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	runCtx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(runCtx2) }()
	defer func() {
		stop2()
		<-done2
		second.Close(context.Background())
	}()
	// Every feedback partial is read again: the first run's (3 partitions ×
	// 3 windows, each window's partial once per partition it had events on)
	// and the second run's publications of the same windows.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		replayed := counterValue(t, reg, "driftwatch_merge_feedback_partials_total", "already_decided") +
			counterValue(t, reg, "driftwatch_merge_feedback_partials_total", "duplicate")
		if replayed >= 2*3*(windows+1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v feedback partials replayed in time", replayed)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if merged := counterValue(t, reg, "driftwatch_merge_feedback_partials_total", "merged"); merged != 0 {
		t.Errorf("the replay merged %v feedback partials again", merged)
	}
	if got := queryUint(t, check, markers); got != wantMarkers {
		t.Errorf("%d feedback window rows after the replay, %d before", got, wantMarkers)
	}
	if got := queryUint(t, check, counted); got != wantCounted {
		t.Errorf("%d feedback events counted after the replay, %d before", got, wantCounted)
	}
	if got := queryUint(t, check, flips); got != wantFlips {
		t.Errorf("%d label-flip rows after the replay, %d before", got, wantFlips)
	}
	if got := queryUint(t, check, refWindows); got != 2 {
		t.Errorf("after the replay the reference feedback holds %d windows, want 2", got)
	}

	// New feedback, a minute later: the second monitor's deciders score it
	// against the reference feedback the first one stored.
	later := start.Add(time.Minute)
	events, feedback = flipScenario(t, 8, later, 0, windows*2000+600)
	writeMessages(t, ctx, e.Brokers(), "telemetry", events)
	deadline = time.Now().Add(2 * time.Minute)
	for queryUint(t, check, "SELECT count() FROM model_windows FINAL") < 2*(windows+1) {
		if time.Now().After(deadline) {
			t.Fatal("the later inference windows were not decided in time")
		}
		time.Sleep(300 * time.Millisecond)
	}
	writeMessages(t, ctx, e.Brokers(), "feedback", feedback)
	waitFeedbackWindows(t, check, 2*(windows+1), time.Now().Add(2*time.Minute))
	if got := queryUint(t, check, `SELECT count() FROM signals FINAL WHERE model_id = 'fraud' AND signal = 'poisoning_label_flip'
AND subject = '*' AND window_start >= ? AND reference_id = 'feedback'`, later); got != windows+1 {
		t.Errorf("%d of the %d later windows scored against the stored reference feedback", got, windows+1)
	}
	if got := queryUint(t, check, refWindows); got != 2 {
		t.Errorf("the reference feedback grew to %d windows, want 2", got)
	}
}

// counterValue returns the value of the counter name{outcome} in reg (0
// when it has none).
func counterValue(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	return metricByLabel(t, reg, name, "outcome")[outcome]
}

// TestFeedbackReferencesOfMoreModelsThanHeld: the decider holds the
// reference feedback of analysis.max_models models (1 here, one held
// already) and drops one for a model it does not hold. Two models' first
// four feedback windows are decided in one call, their windows in turn (as
// a decider catching up decides them), so that each model's reference is
// dropped before its next window. Each reference still takes exactly its
// model's first reference_windows (3) windows, and the fourth is decided
// against it: one grown in the same call is not read again from storage,
// where it is not yet (before, each window of a model started its reference
// afresh: it held 1 window, and the fourth was merged into it).
func TestFeedbackReferencesOfMoreModelsThanHeld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, db := testClickHouse(t)
	m := deciderTestMonitor(t, ctx, addr, db)
	m.cfg.Analysis.MaxModels = 1
	pc := m.cfg.Signals.Poisoning
	want := pc.ReferenceWindows
	d := &decider{m: m, fref: map[string]*feedbackRef{"old": {}}}
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	size := m.cfg.Analysis.WindowSize
	var ready []partial.FeedbackComplete
	for i := range want + 1 {
		for _, model := range []string{"fraud", "churn"} {
			ws := start.Add(time.Duration(i) * size)
			w := poisoning.NewWindow(pc.Config, poisoning.Features{}, model, ws, ws.Add(size))
			var es []poisoning.Example
			for j := range 50 {
				es = append(es, poisoning.Example{ID: fmt.Sprintf("fb-%d-%d", i, j), Source: fmt.Sprint("annotator-", j%5), ProposedLabel: "positive"})
			}
			w.Observe(es, int64(i*50))
			ready = append(ready, partial.FeedbackComplete{Window: w, Partials: 1})
		}
	}
	var b storage.WindowBatch
	var counts []func()
	_, refs, err := d.decideFeedback(ctx, ready, &b, &counts)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]uint32{}
	for _, r := range refs {
		held[r.ModelID] = r.Windows
	}
	fourth := start.Add(time.Duration(want) * size)
	for _, model := range []string{"fraud", "churn"} {
		if held[model] != uint32(want) {
			t.Errorf("model %s: the reference feedback holds %d windows, want reference_windows (%d)", model, held[model], want)
		}
		against := 0
		for _, r := range b.Signals {
			if r.ModelID == model && r.ReferenceID == feedbackRefID {
				if r.WindowStart.Before(fourth) {
					t.Errorf("model %s: window %s decided against the reference feedback it makes: %+v", model, r.WindowStart, r)
				}
				against++
			}
		}
		if against == 0 {
			t.Errorf("model %s: its window %s decided against no reference feedback", model, fourth)
		}
	}
}

// TestServingReferencesTakeNoPlaceOfHeldOnes: feedback naming models
// whose reference is stored but whose telemetry this instance does not
// decide (retired models, or names chosen by a hostile producer) is tested
// against what they served, read from storage and kept by the decider: the
// reference store, bounded by analysis.max_versions (2 here), keeps the
// reference it holds and the warm-up in progress (before, each such model's
// reference was pinned there, evicting the warm-up and then the reference
// of versions decided here; each round's reads kept them the most recently
// used).
func TestServingReferencesTakeNoPlaceOfHeldOnes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, db := testClickHouse(t)
	m := deciderTestMonitor(t, ctx, addr, db)
	m.cfg.Analysis.MaxVersions, m.cfg.Analysis.WarmupWindows = 2, 3
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	sketches := func(mv analysis.ModelKey) reference.Sketches {
		w := window.NewWindow(&m.cfg.Analysis, mv, start, nil)
		for i := range 30 {
			e := &telemetry.Event{PredictionID: fmt.Sprint(i), EventTime: start, Model: telemetry.Model{ID: mv.ID, Version: mv.Version},
				Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": float64(i)})}}
			w.Observe(e, int64(i))
		}
		w.EndBatch()
		return w.Sketches()
	}
	build := func(mv analysis.ModelKey) *reference.Reference {
		r := reference.Build(sketches(mv), 10, 100, "warmup", 1, time.Now())
		r.ID = r.Hash()
		return r
	}
	live, fresh := analysis.ModelKey{ID: "live", Version: "v1"}, analysis.ModelKey{ID: "fresh", Version: "v1"}
	held := build(live)
	m.refs.Set(held)
	if m.refs.Contribute(sketches(fresh)) != nil {
		t.Fatal("a warm-up of 3 windows pinned after one")
	}
	retired := []string{"retired-1", "retired-2", "retired-3"}
	for _, id := range retired {
		if err := m.store.SaveReference(ctx, ReferenceRows(build(analysis.ModelKey{ID: id, Version: "v7"}), m.cfg.Analysis.Signals)); err != nil {
			t.Fatal(err)
		}
	}
	d := &decider{m: m}
	for round := range 2 {
		for _, id := range retired {
			s, err := d.servedFeatures(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if s.features == nil || s.features("x") == nil || s.version != "v7" {
				t.Fatalf("round %d: model %s serves %+v, want its stored reference of v7 with feature x", round, id, s)
			}
		}
	}
	refs, warm, evictedRefs, evictedWarmups := m.refs.Held()
	if m.refs.Peek(live) != held || !m.refs.Warming(fresh) || refs != 1 || warm != 1 || evictedRefs+evictedWarmups != 0 {
		t.Errorf("reference store: %d references and %d warm-ups held (%d and %d evicted), live's held %v, fresh warming %v; want live's and fresh's kept",
			refs, warm, evictedRefs, evictedWarmups, m.refs.Peek(live) == held, m.refs.Warming(fresh))
	}
}

// TestServingVersionIsTheOneWithTheTraffic: what model "fraud" serves, for
// the feedback's serving drift, is the version with the most inferences in
// its newest windows (v1, 10,000 a window), not a version a producer made up
// (v-evil, 100 a window, warmed up and pinned last, so its reference is the
// newest); a model with no decided window is taken to serve the version of
// its newest reference.
func TestServingVersionIsTheOneWithTheTraffic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, db := testClickHouse(t)
	m := deciderTestMonitor(t, ctx, addr, db)
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	save := func(mv analysis.ModelKey, x float64, at time.Time) {
		w := window.NewWindow(&m.cfg.Analysis, mv, start, nil)
		for i := range 30 {
			e := &telemetry.Event{PredictionID: fmt.Sprint(i), EventTime: start, Model: telemetry.Model{ID: mv.ID, Version: mv.Version},
				Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": x + float64(i)})}}
			w.Observe(e, int64(i))
		}
		w.EndBatch()
		r := reference.Build(w.Sketches(), 10, 100, "warmup", 1, at)
		r.ID = r.Hash()
		rows := ReferenceRows(r, m.cfg.Analysis.Signals)
		for i := range rows {
			rows[i].CreatedAt = at
		}
		if err := m.store.SaveReference(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	v1, evil := analysis.ModelKey{ID: "fraud", Version: "v1"}, analysis.ModelKey{ID: "fraud", Version: "v-evil"}
	save(v1, 0, time.Now().Add(-time.Hour))
	save(evil, 1000, time.Now())
	var b storage.WindowBatch
	size := m.cfg.Analysis.WindowSize
	for i := range 5 {
		ws := start.Add(time.Duration(i) * size)
		b.Models = append(b.Models,
			storage.ModelWindowRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: ws, WindowEnd: ws.Add(size), Events: 10_000, Partitions: 1},
			storage.ModelWindowRow{ModelID: "fraud", ModelVersion: "v-evil", WindowStart: ws, WindowEnd: ws.Add(size), Events: 100, Partitions: 1})
	}
	if err := m.store.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}
	d := &decider{m: m}
	s, err := d.servedFeatures(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if s.version != "v1" || s.features == nil || s.features("x") == nil || s.features("x").Mean > 100 {
		t.Errorf("fraud serves version %q, want v1, the version with the traffic (v-evil's reference is the newest)", s.version)
	}
	save(analysis.ModelKey{ID: "retired", Version: "v3"}, 0, time.Now().Add(-2*time.Hour))
	save(analysis.ModelKey{ID: "retired", Version: "v4"}, 0, time.Now().Add(-time.Hour))
	if s, err := d.servedFeatures(ctx, "retired"); err != nil || s.version != "v4" {
		t.Errorf("a model with no decided window serves %q (%v), want v4, the version of its newest reference", s.version, err)
	}
}

// TestFeedbackBoundsOpenWindows drives a feedback partition directly: with
// signals.poisoning.max_windows 1 and max_models 1, feedback that would open
// a second window of a model, or a window of a second model, is counted as
// dropped; a window is published once the watermark passes its end plus
// the lateness, and the partition commits up to the first event of the
// window still open.
func TestFeedbackBoundsOpenWindows(t *testing.T) {
	addr, db := testClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness, cfg.Analysis.IdleFlush = 2*time.Second, 3*time.Second, time.Hour
	cfg.Kafka.Consumer.Topic = "telemetry"
	cfg.Signals.Poisoning.MaxWindows, cfg.Signals.Poisoning.MaxModels = 1, 1
	m := partitionTestMonitor(t, ctx, addr, db, cfg, 1)
	h, err := m.openFeedbacker(ctx, "feedback", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	event := func(off int64, model string, t0 time.Duration) ingest.Message {
		return ingest.Message{Topic: "feedback", Offset: off, Key: []byte(model), Value: []byte(`{"schema_version":"1","feedback_id":"fb-` +
			string(rune('a'+off)) + `","event_time":"` + at.Add(t0).Format(time.RFC3339Nano) + `","model_id":"` + model +
			`","kind":"thumbs","proposed_label":"yes","principal":{"enduser.id":"ann"}}`)}
	}
	batch := []ingest.Message{
		event(0, "fraud", 0),                     // opens window [0, 2s)
		event(1, "fraud", 2500*time.Millisecond), // window [2s, 4s): beyond max_windows
		event(2, "churn", 100*time.Millisecond),  // a second model: beyond max_models
		event(3, "fraud", time.Second),           // counted
	}
	if err := h.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got := counterOf(t, m.met.feedbackDropped.WithLabelValues("max_windows")); got != 1 {
		t.Errorf("%v dropped at max_windows, want 1", got)
	}
	if got := counterOf(t, m.met.feedbackDropped.WithLabelValues("max_models")); got != 1 {
		t.Errorf("%v dropped at max_models, want 1", got)
	}
	if got := counterOf(t, m.met.feedback.WithLabelValues("counted")); got != 2 {
		t.Errorf("%v counted, want 2", got)
	}
	if c := h.Committable(); c != 0 {
		t.Errorf("committable %d with window [0, 2s) open, want its first offset 0", c)
	}
	// An event at 5s: the watermark passes 2s + 3s, the window is sealed
	// and published, and the one it opens holds the commit.
	if err := h.Handle(ctx, []ingest.Message{event(4, "fraud", 5*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := counterOf(t, m.met.feedbackWindows); got != 1 {
		t.Errorf("%v windows published, want 1", got)
	}
	if c := h.Committable(); c != 4 {
		t.Errorf("committable %d, want 4 (the first event of the window still open)", c)
	}
}

// counterOf returns c's value.
func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var mt dto.Metric
	if err := c.Write(&mt); err != nil {
		t.Fatal(err)
	}
	return mt.GetCounter().GetValue()
}
