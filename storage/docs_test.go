package storage

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const docsPath = "../docs/clickhouse.md"

// docExamples returns the statements of every ```sql block of docs/clickhouse.md, comment lines removed.
func docExamples(t *testing.T) []string {
	t.Helper()
	md, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(md), -1) {
		for _, stmt := range regexp.MustCompile(`;\s*(?:\n|$)`).Split(m[1], -1) {
			var lines []string
			for _, l := range strings.Split(stmt, "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "--") {
					lines = append(lines, l)
				}
			}
			if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestDocExamples runs every SQL example of docs/clickhouse.md on the test server, over rows written
// by the Store's own writers. (storage/testdata/chdb_check.js runs them on a current ClickHouse.)
func TestDocExamples(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	recent := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	batches := []WindowBatch{
		sampleBatch("telemetry", 0, 0, 0, 99, t0.Add(time.Hour)),
		sampleBatch("telemetry", 0, 0, 0, 120, t0.Add(2*time.Hour)), // a replayed window
		sampleBatch("telemetry", 1, 0, 0, 49, t0.Add(time.Hour)),
		sampleBatch("telemetry", 0, 1, 121, 200, t0.Add(time.Hour)),
	}
	last := sampleBatch("telemetry", 0, 0, 500, 600, recent.Add(time.Minute))
	for i := range last.Scores {
		last.Scores[i].WindowStart, last.Scores[i].WindowEnd = recent, recent.Add(time.Minute)
	}
	batches = append(batches, last)
	for _, b := range batches {
		for i := range b.Features {
			b.Features[i].ReferenceID = "ref-new"
		}
		if err := s.WriteWindows(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveReference(ctx, referenceRows("fraud", "v1", "ref-old", t0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReference(ctx, referenceRows("fraud", "v1", "ref-new", t0.Add(time.Minute), 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAlerts(ctx, []AlertRow{
		{EventTime: t0, AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1", Feature: "amount",
			Record: "state", State: "firing", Severity: "critical", Statistic: 0.31, Threshold: 0.25, Summary: "PSI 0.31"},
		{EventTime: t0, AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1", Feature: "amount",
			Record: "delivery", State: "firing", Severity: "critical", Receiver: "slack", Attempt: 1,
			Outcome: "retry", HTTPStatus: 503, Error: "service unavailable"},
		{EventTime: t0.Add(time.Minute), AlertKey: "fraud/v1/country", ModelID: "fraud", ModelVersion: "v1", Feature: "country",
			Record: "state", State: "firing", Severity: "warning", Statistic: 0.2, Threshold: 0.1, Summary: "PSI 0.2", Outcome: "silenced"},
	}); err != nil {
		t.Fatal(err)
	}
	// A model's alert and budget state, stored twice (the newer wins), and its budget's fast burn page.
	for v, firing := range []uint8{0, 1} {
		if err := s.SaveAlertState(ctx, []AlertStateRow{{ModelID: "fraud-eu", Instance: "host/1", Version: uint64(v + 1),
			State: `{"alerts":[{"key":"driftwatch/fraud-eu/7/amount","state":"firing"}]}`, Budget: "fraud", Period: "30d", WindowEnd: t0,
			Windows: 43200, Observed: 60, Breached: 18, Allowed: 864, Consumed: 18.0 / 864, Remaining: 1 - 18.0/864,
			BurnAlerts: []string{"fast", "slow"}, BurnSeverities: []string{"page", "page"}, BurnThresholds: []float64{14.4, 6},
			BurnLongWindows: []string{"1h", "6h"}, BurnLongRates: []float64{15, 2.5}, BurnShortWindows: []string{"5m", "30m"},
			BurnShortRates: []float64{50, 30}, BurnFiring: []uint8{firing, 0}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAlerts(ctx, []AlertRow{{EventTime: t0, AlertKey: "driftwatch-budget/fraud-eu/fraud/fast", ModelID: "fraud-eu",
		Signal: "risk_budget", Subject: "fraud/fast", Record: "state", State: "firing", Severity: "critical", Statistic: 15, Threshold: 14.4,
		Summary: "risk budget fraud of fraud-eu: fast burn 15× over 1h and 50× over 5m (page at 14.4×), 2.08% of 30d spent"}}); err != nil {
		t.Fatal(err)
	}
	// A silence in force, and one expired early.
	for _, m := range []string{"model_id=fraud*", "model_id=churn"} {
		sr, err := s.AddSilence(ctx, SilenceRow{Matchers: []string{m}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "ana", Comment: "retrain"})
		if err != nil {
			t.Fatal(err)
		}
		if m == "model_id=churn" {
			if _, err := s.ExpireSilence(ctx, sr.ID, "bo"); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Two labeled predictions of a binary classifier, their realized performance as the decider computes
	// it, and the window's estimated accuracy.
	if err := s.WritePredictions(ctx, []PredictionRow{
		{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, PredictionID: "p1", EventTime: t0, PredictedClass: "fraud", Score: 0.9, HasScore: true, Threshold: 0.5, HasThreshold: true},
		{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, PredictionID: "p2", EventTime: t0, PredictedClass: "ok", Score: 0.2, HasScore: true, Threshold: 0.5, HasThreshold: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLabels(ctx, []LabelRow{
		{ModelID: "fraud", PredictionID: "p1", TruthClass: "fraud", LabelTime: t0.Add(time.Hour)},
		{ModelID: "fraud", PredictionID: "p2", TruthClass: "ok", LabelTime: t0.Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	perf, err := s.ComputePerformance(ctx, LabeledWindow{"fraud", "v1", t0}, t0.Add(time.Minute), 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePerformance(ctx, []PerformanceRow{perf}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindows(ctx, WindowBatch{Signals: []SignalRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, WindowEnd: t0.Add(time.Minute),
		Signal: "estimated_performance", Subject: "accuracy", Statistic: 0.85, PValue: math.NaN(), Effect: math.NaN(), Threshold: math.NaN(), Severity: "ok", N: 2}}}); err != nil {
		t.Fatal(err)
	}

	// A caller the access signals tracked in the last hour and named.
	if err := s.WriteWindows(ctx, WindowBatch{
		Callers: []CallerRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: recent, WindowEnd: recent.Add(time.Minute), Caller: "harvester-7",
			Calls: 600, ScoredCalls: 600, Probes: 540, InputCalls: 600, DistinctInputs: 590.5, OODSampled: 32, OODOutside: 9,
			ClassCalls: 600, Classes: 4, ClassEntropy: 0.98}},
		Signals: []SignalRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: recent, WindowEnd: recent.Add(time.Minute), Signal: "caller_probing",
			Subject: "harvester-7", Statistic: 0.9, PValue: 1e-30, Effect: 0.85, Threshold: 0.3, Severity: "critical", N: 600,
			Evidence: "540 of 600 scored calls near the threshold"},
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: recent, WindowEnd: recent.Add(time.Minute), Signal: "caller_ood",
				Subject: "harvester-7", Statistic: 0.28, PValue: 1e-4, Effect: 0.2, Threshold: 0.1, Severity: "warning", N: 32,
				Evidence: "9 of 32 sampled inputs out of range"},
			// Another caller's verdict in the same window names someone else.
			{ModelID: "fraud", ModelVersion: "v1", WindowStart: recent, WindowEnd: recent.Add(time.Minute), Signal: "caller_volume",
				Subject: "batch-svc", Statistic: 900, Effect: 8, Threshold: 5, Severity: "warning", N: 900}},
	}); err != nil {
		t.Fatal(err)
	}
	// A feedback source the label-flip signal named in the last hour (feedback windows have no version).
	if err := s.WriteWindows(ctx, WindowBatch{Signals: []SignalRow{{ModelID: "fraud", WindowStart: recent, WindowEnd: recent.Add(time.Minute),
		Signal: "poisoning_label_flip", Subject: "mallory", Statistic: 0.62, PValue: 1e-12, Effect: 0.55, Threshold: 0.3, Severity: "critical", N: 120,
		Evidence: `74 of 120 proposed labels differ from the model's prediction, against 0.070 of the other sources' 900; ids "fb-1", "fb-7"`}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindows(ctx, WindowBatch{Callers: []CallerRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0, WindowEnd: t0.Add(time.Minute),
		Caller: "batch-svc", Calls: 900, ScoredCalls: 900, Probes: 40}}}); err != nil {
		t.Fatal(err)
	}
	// The window before, in which the same caller was light: model_windows keeps its calls.
	lightWindow := recent.Add(-time.Minute)
	if err := s.WriteWindows(ctx, WindowBatch{Models: []ModelWindowRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: lightWindow,
		WindowEnd: recent, Events: 900, Partitions: 1, ReferenceID: "ref-new",
		LightCallers: []string{"u-1", "harvester-7"}, LightCalls: []uint64{3, 7}, LightCallsOvercount: []uint64{1, 2}}}}); err != nil {
		t.Fatal(err)
	}

	examples := docExamples(t)
	if len(examples) < 10 {
		t.Fatalf("found %d SQL examples in %s, want at least 10", len(examples), docsPath)
	}
	for i, q := range examples {
		t.Run(fmt.Sprintf("example%02d", i+1), func(t *testing.T) {
			rows, err := s.Query(ctx, q)
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			if n == 0 {
				t.Errorf("no rows over the seeded data; the example is wrong or the seed misses it:\n%s", q)
			}
		})
	}
	// Everything harvester-7 did: its stored window with its figures and
	// the verdicts that named it (not another caller's), and its light
	// window from model_windows' arrays.
	var caller string
	for _, q := range examples {
		if strings.Contains(q, "caller = 'harvester-7' AND window_start") {
			caller = q
		}
	}
	if caller == "" {
		t.Fatal("no example of everything caller 'harvester-7' did")
	}
	var got []string
	err = s.queryRows(ctx, caller, nil, func(scan func(...any) error) error {
		var start time.Time
		var model, verdicts string
		var stored uint8
		var calls, overcount, probes uint64
		var distinct, ood, entropy float64
		if err := scan(&start, &model, &stored, &calls, &overcount, &probes, &distinct, &ood, &entropy, &verdicts); err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s stored=%d calls=%d/%d probes=%d distinct=%v ood=%v entropy=%v %s", start.UTC().Format("15:04"),
			model, stored, calls, overcount, probes, distinct, ood, entropy, verdicts))
		return nil
	})
	want := []string{
		lightWindow.Format("15:04") + " fraud stored=0 calls=7/2 probes=0 distinct=0 ood=0 entropy=0 ",
		recent.Format("15:04") + " fraud stored=1 calls=600/0 probes=540 distinct=0.984 ood=0.281 entropy=0.98 " +
			"caller_ood warning: 9 of 32 sampled inputs out of range | caller_probing critical: 540 of 600 scored calls near the threshold",
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("everything harvester-7 did: %q (%v), want %q", got, err, want)
	}
}

// TestDocsShowStartupQueries keeps the start-up reads shown in docs/clickhouse.md identical to the code's.
func TestDocsShowStartupQueries(t *testing.T) {
	md, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		loadReferencesQuery,
		fillParams(budgetPagesQuery, "'2024-05-01 00:00:00'", "'fraud-eu'", "'fraud-eu'"),
		fillParams(performanceSQL, "2592000", "'fraud'", "'v1'", "'2024-05-01 10:00:00'", "'fraud'", "'fraud'", "'v1'", "'2024-05-01 10:00:00'"),
		strings.NewReplacer("kafka_topic = ?", "kafka_topic = 'telemetry'", "kafka_partition = ?", "kafka_partition = 0",
			">= ?", ">= 100").Replace(flushedWindowsQuery),
	} {
		if !strings.Contains(string(md), q) {
			t.Errorf("%s does not show this query of the code verbatim:\n%s", docsPath, q)
		}
	}
}

// fillParams replaces the ? placeholders of q, in order, with vals.
func fillParams(q string, vals ...string) string {
	for _, v := range vals {
		q = strings.Replace(q, "?", v, 1)
	}
	return q
}
