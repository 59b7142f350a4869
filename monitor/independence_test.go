package monitor

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
)

// partitionedRun is what one run of the independence test stored.
type partitionedRun struct {
	name     string
	counts   map[string][3]uint64 // model/version/window → events, late, rejected (inference_windows, summed)
	decided  map[string]uint64    // model/version/window → events (model_windows)
	scores   map[string][]float64 // model/version/window/feature/test → statistic, p_value, effect, drifted, n_ref, n_cur
	features map[string][]float64 // model/version/window/feature → count, missing, mean, variance, bins...
	drifted  int                  // drifted score rows
	meta     map[string]string    // model/version/window/feature/test → severity
	dupes    uint64               // drift_scores rows beyond one per decision (without FINAL)
	parts    map[string]uint32    // model/version/window → partitions merged
	signals  map[string][]float64 // model/version/window/signal/subject → statistic, effect, n, p-value (signals)
}

// TestResultsDoNotDependOnPartitioning sends the same events, keyed by
// prediction id so that every model spreads over all partitions, through 1,
// 4 and 12 partitions with one monitor, and through 12 partitions with three
// monitors in one consumer group. Every run must store the same per-window
// counts, one decision per (model, version, window, feature, test), and the
// same statistics, p-values, effects and decisions (to 1e-9).
func TestResultsDoNotDependOnPartitioning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four pipelines")
	}
	const events = 24000
	runs := []struct {
		partitions, instances int
	}{{1, 1}, {4, 1}, {12, 1}, {12, 3}}
	var base *partitionedRun
	for _, r := range runs {
		got := runPartitioned(t, r.partitions, r.instances, events)
		if base == nil {
			base = got
			if len(got.scores) == 0 || got.drifted == 0 || got.drifted == len(got.scores) {
				t.Fatalf("%s: %d score rows, %d drifted: the test needs drifted and stable decisions", got.name, len(got.scores), got.drifted)
			}
			continue
		}
		compareRuns(t, base, got)
	}
}

func runPartitioned(t *testing.T, partitions, instances, n int) *partitionedRun {
	t.Helper()
	name := fmt.Sprintf("%d partitions, %d instances", partitions, instances)
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	kc := &cfg.Kafka.Consumer
	kc.Brokers, kc.Topic, kc.GroupID = e.Brokers(), "telemetry", "independence"
	kc.HeartbeatInterval, kc.JoinGroupBackoff, kc.SessionTimeout = 200*time.Millisecond, 200*time.Millisecond, 6*time.Second
	kc.RebalanceTimeout, kc.MaxWait, kc.CommitInterval = 6*time.Second, 100*time.Millisecond, 200*time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize = 2 * time.Second
	cfg.Analysis.AllowedLateness = time.Second
	cfg.Analysis.IdleFlush = time.Second
	cfg.Analysis.WarmupWindows = 3
	var store *storage.Store
	var stops []func()
	for i := range instances {
		m, err := New(ctx, cfg, Options{Signals: append(outputs.Signals(outputs.DefaultConfig()), signaltest.Classes{})})
		if err != nil {
			t.Fatalf("%s: instance %d: %v", name, i, err)
		}
		defer m.Close(context.Background())
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(runCtx) }()
		stops = append(stops, func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("%s: instance %d: %v", name, i, err)
			}
		})
		store = m.Store()
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	if instances > 1 {
		time.Sleep(3 * time.Second) // let the group settle before telemetry flows
	}

	sc := generator.DefaultScenario(2, 10)
	sc.Start = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	sc.EventStep = time.Millisecond // 24 s of event time: 12 windows of about 1,000 events per model
	sc.KeyByPrediction = true
	sc.Shift = &generator.Shift{Model: sc.Models[0].ID, After: 14 * time.Second, MeanShift: 0.5, CategoryFlip: true}
	g, err := generator.New(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	if sent, err := generator.Produce(ctx, e.Brokers(), "telemetry", g, n, nil); err != nil || sent != n {
		t.Fatalf("%s: produced %d of %d: %v", name, sent, n, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for queryUint(t, store, "SELECT sum(events) FROM inference_windows FINAL") != uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not every event was stored in time", name)
		}
		time.Sleep(300 * time.Millisecond)
	}
	waitDecided(t, store, deadline)
	out := &partitionedRun{name: name, counts: map[string][3]uint64{}, decided: map[string]uint64{}, scores: map[string][]float64{},
		features: map[string][]float64{}, meta: map[string]string{}, parts: map[string]uint32{}, signals: map[string][]float64{}}
	rows, err := store.Query(ctx, `SELECT model_id, model_version, toUInt32(window_start), sum(events), sum(late_events), sum(rejected_events)
FROM inference_windows FINAL GROUP BY model_id, model_version, window_start`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v string
		var start uint32
		var c [3]uint64
		if err := rows.Scan(&id, &v, &start, &c[0], &c[1], &c[2]); err != nil {
			t.Fatal(err)
		}
		out.counts[fmt.Sprint(id, "/", v, "/", start)] = c
	}
	rows.Close()
	rows, err = store.Query(ctx, `SELECT model_id, model_version, toUInt32(window_start), events, partitions FROM model_windows FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v string
		var start, parts uint32
		var ev uint64
		if err := rows.Scan(&id, &v, &start, &ev, &parts); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprint(id, "/", v, "/", start)
		out.decided[k], out.parts[k] = ev, parts
	}
	rows.Close()
	rows, err = store.Query(ctx, `SELECT model_id, model_version, toUInt32(window_start), feature, test, statistic, p_value, effect,
    drifted, n_reference, n_current, severity, kafka_partition
FROM drift_scores FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v, feature, test, severity string
		var start uint32
		var stat, p, eff float64
		var drifted uint8
		var nRef, nCur uint64
		var part int32
		if err := rows.Scan(&id, &v, &start, &feature, &test, &stat, &p, &eff, &drifted, &nRef, &nCur, &severity, &part); err != nil {
			t.Fatal(err)
		}
		if part != mergedPartition {
			t.Errorf("%s: drift_scores row of partition %d, want %d (merged)", name, part, mergedPartition)
		}
		k := fmt.Sprint(id, "/", v, "/", start, "/", feature, "/", test)
		out.scores[k] = []float64{stat, p, eff, float64(drifted), float64(nRef), float64(nCur)}
		out.meta[k] = severity
		if drifted == 1 {
			out.drifted++
		}
	}
	rows.Close()
	out.dupes = queryUint(t, store, `SELECT toUInt64(count() - uniqExact(model_id, model_version, window_start, feature, test)) FROM drift_scores`)
	rows, err = store.Query(ctx, `SELECT model_id, model_version, toUInt32(window_start), feature, count, missing, mean, variance,
    bin_counts, category_counts, other_count
FROM feature_windows FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v, feature string
		var start uint32
		var count, missing, other uint64
		var mean, variance float64
		var bins, cats []uint64
		if err := rows.Scan(&id, &v, &start, &feature, &count, &missing, &mean, &variance, &bins, &cats, &other); err != nil {
			t.Fatal(err)
		}
		vals := []float64{float64(count), float64(missing), mean, variance, float64(other)}
		for _, b := range append(bins, cats...) {
			vals = append(vals, float64(b))
		}
		out.features[fmt.Sprint(id, "/", v, "/", start, "/", feature)] = vals
	}
	rows.Close()
	rows, err = store.Query(ctx, `SELECT model_id, model_version, toUInt32(window_start), signal, subject, statistic, effect, n, p_value
FROM signals FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v, sig, subject string
		var start uint32
		var stat, eff, p float64
		var n uint64
		if err := rows.Scan(&id, &v, &start, &sig, &subject, &stat, &eff, &n, &p); err != nil {
			t.Fatal(err)
		}
		out.signals[fmt.Sprint(id, "/", v, "/", start, "/", sig, "/", subject)] = []float64{stat, eff, float64(n), p}
	}
	rows.Close()
	if dupes := queryUint(t, store, `SELECT toUInt64(count() - uniqExact(model_id, model_version, window_start, signal, subject)) FROM signals`); dupes != 0 {
		t.Errorf("%s: %d signals rows beyond one per (model, version, window, signal, subject)", name, dupes)
	}
	for k, c := range out.counts {
		if out.decided[k] != c[0] {
			t.Errorf("%s: window %s: model_windows has %d events, inference_windows %d", name, k, out.decided[k], c[0])
		}
		if sig := out.signals[k+"/classes/*"]; len(sig) == 0 || sig[2] != float64(c[0]) {
			t.Errorf("%s: window %s: the classes signal saw %v events, inference_windows %d", name, k, sig, c[0])
		}
		// Every generated event has a latency: the latency signal saw them all.
		if sig := out.signals[k+"/latency/*"]; len(sig) == 0 || sig[2] != float64(c[0]) {
			t.Errorf("%s: window %s: the latency signal saw %v events, inference_windows %d", name, k, sig, c[0])
		}
	}
	for k, c := range out.counts {
		if out.decided[k] != c[0] {
			t.Errorf("%s: window %s: model_windows has %d events, inference_windows %d", name, k, out.decided[k], c[0])
		}
	}
	if out.dupes != 0 {
		t.Errorf("%s: %d drift_scores rows beyond one per (model, version, window, feature, test)", name, out.dupes)
	}
	t.Logf("%s: %d windows, %d decisions (%d drifted), %d feature rows", name, len(out.decided), len(out.scores), out.drifted, len(out.features))
	return out
}

func compareRuns(t *testing.T, base, got *partitionedRun) {
	t.Helper()
	if len(got.counts) != len(base.counts) || len(got.scores) != len(base.scores) || len(got.features) != len(base.features) {
		t.Errorf("%s: %d windows, %d scores, %d feature rows; %s: %d, %d, %d", got.name, len(got.counts), len(got.scores), len(got.features),
			base.name, len(base.counts), len(base.scores), len(base.features))
	}
	for k, c := range base.counts {
		if got.counts[k] != c {
			t.Errorf("%s: window %s counts %v, %s: %v", got.name, k, got.counts[k], base.name, c)
		}
	}
	same := func(a, b float64) bool {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.IsNaN(a) && math.IsNaN(b)
		}
		return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	}
	bad := 0
	for k, want := range base.scores {
		have, ok := got.scores[k]
		if !ok {
			t.Errorf("%s: no score %s", got.name, k)
			bad++
		}
		for i := range want {
			if ok && !same(have[i], want[i]) {
				t.Errorf("%s: score %s = %v, %s: %v", got.name, k, have, base.name, want)
				bad++
				break
			}
		}
		if got.meta[k] != base.meta[k] && ok {
			t.Errorf("%s: score %s severity %s, %s: %s", got.name, k, got.meta[k], base.name, base.meta[k])
		}
		if bad > 10 {
			t.Fatal("too many differences")
		}
	}
	if len(got.signals) != len(base.signals) {
		t.Errorf("%s: %d signals rows, %s: %d", got.name, len(got.signals), base.name, len(base.signals))
	}
	for k, want := range base.signals {
		have, ok := got.signals[k]
		if !ok || !same(have[0], want[0]) || !same(have[1], want[1]) || have[2] != want[2] || !same(have[3], want[3]) {
			t.Errorf("%s: signal %s = %v, %s: %v", got.name, k, have, base.name, want)
		}
	}
	for k, want := range base.features {
		have := got.features[k]
		if len(have) != len(want) {
			t.Errorf("%s: feature row %s = %v, %s: %v", got.name, k, have, base.name, want)
			continue
		}
		for i := range want {
			if !same(have[i], want[i]) {
				t.Errorf("%s: feature row %s = %v, %s: %v", got.name, k, have, base.name, want)
				break
			}
		}
	}
}
