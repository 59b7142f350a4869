package dashboards

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/storage"
)

// fixture is the rows a test stores, kept so that a part of them can be stored again elsewhere.
type fixture struct {
	stale  storage.WindowBatch // written first, then replaced by newer rows of batch
	batch  storage.WindowBatch
	alerts []storage.AlertRow
}

func (f *fixture) add(g fixture) {
	f.stale.Windows = append(f.stale.Windows, g.stale.Windows...)
	f.batch.Windows = append(f.batch.Windows, g.batch.Windows...)
	f.batch.Features = append(f.batch.Features, g.batch.Features...)
	f.batch.Scores = append(f.batch.Scores, g.batch.Scores...)
	f.batch.Signals = append(f.batch.Signals, g.batch.Signals...)
	f.batch.Callers = append(f.batch.Callers, g.batch.Callers...)
	f.alerts = append(f.alerts, g.alerts...)
}

// write stores the rows of the model versions keep accepts (every row when keep is nil) with the
// Store's writers.
func (f fixture) write(t *testing.T, ctx context.Context, s *storage.Store, keep func(model, version string) bool) {
	t.Helper()
	stale := storage.WindowBatch{Windows: kept(f.stale.Windows, keep, func(r storage.WindowRow) (string, string) { return r.ModelID, r.ModelVersion })}
	batch := storage.WindowBatch{
		Windows:  kept(f.batch.Windows, keep, func(r storage.WindowRow) (string, string) { return r.ModelID, r.ModelVersion }),
		Features: kept(f.batch.Features, keep, func(r storage.FeatureRow) (string, string) { return r.ModelID, r.ModelVersion }),
		Scores:   kept(f.batch.Scores, keep, func(r storage.ScoreRow) (string, string) { return r.ModelID, r.ModelVersion }),
		Signals:  kept(f.batch.Signals, keep, func(r storage.SignalRow) (string, string) { return r.ModelID, r.ModelVersion }),
		Callers:  kept(f.batch.Callers, keep, func(r storage.CallerRow) (string, string) { return r.ModelID, r.ModelVersion }),
	}
	if err := s.WriteWindows(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindows(ctx, batch); err != nil {
		t.Fatal(err)
	}
	alerts := kept(f.alerts, keep, func(r storage.AlertRow) (string, string) { return r.ModelID, r.ModelVersion })
	if err := s.RecordAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
}

func kept[R any](rows []R, keep func(model, version string) bool, key func(R) (string, string)) []R {
	if keep == nil {
		return rows
	}
	var out []R
	for _, r := range rows {
		if keep(key(r)) {
			out = append(out, r)
		}
	}
	return out
}

// fraudFixture is ten minutes of windows for fraud/v1 (two partitions, a numeric and a categorical
// feature, drift from minute 5) and one window of churn/v7, plus alert history.
func fraudFixture(base time.Time) fixture {
	var b storage.WindowBatch
	score := func(m int, p int32, feature, kind, test string, stat, pv, thr float64, sev string) {
		start := base.Add(time.Duration(m) * time.Minute)
		b.Scores = append(b.Scores, storage.ScoreRow{
			ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
			KafkaPartition: p, Feature: feature, Kind: kind, Test: test, Statistic: stat, PValue: pv, Threshold: thr,
			Severity: sev, Drifted: sev != "ok", NReference: 1000, NCurrent: 100, ReferenceID: "ref-1"})
	}
	for m := range 10 {
		start := base.Add(time.Duration(m) * time.Minute)
		for p := range int32(2) {
			events := uint64(50)
			if p == 0 {
				events = uint64(100 + m)
			}
			b.Windows = append(b.Windows, storage.WindowRow{
				ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
				Events: events, LateEvents: 1, RejectedEvents: 2, KafkaTopic: "telemetry", KafkaPartition: p,
				FirstOffset: int64(1000 * m), LastOffset: int64(1000*m + int(events) - 1), ReferenceID: "ref-1"})
			b.Features = append(b.Features,
				storage.FeatureRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
					KafkaPartition: p, Feature: "amount", Kind: "numeric", Count: events, Mean: 10, Variance: 4, Min: 1, Max: 20,
					BinEdges: []float64{5, 10, 15}, BinCounts: []uint64{events / 4, events / 4, events / 4, events - 3*(events/4)},
					ReferenceID: "ref-1"},
				storage.FeatureRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
					KafkaPartition: p, Feature: "country", Kind: "categorical", Count: events,
					Categories: []string{"DE", "FR"}, CategoryCounts: []uint64{events / 2, events - events/2}, ReferenceID: "ref-1"})
			psi, ks, sev := 0.02, 0.4, "ok"
			if m >= 5 {
				psi, ks, sev = 0.4, 1e-9, "critical"
			}
			score(m, p, "amount", "numeric", "psi", psi, math.NaN(), 0.25, sev)
			score(m, p, "amount", "numeric", "js", psi/2, math.NaN(), 0.2, sev)
			score(m, p, "amount", "numeric", "wasserstein_norm", psi/2, math.NaN(), 0.2, sev)
			score(m, p, "amount", "numeric", "ks", 0.3, ks, 1e-6, sev)
			countrySev := "ok"
			if m >= 7 {
				countrySev = "warning"
			}
			score(m, p, "country", "categorical", "psi", 0.12, math.NaN(), 0.1, countrySev)
			score(m, p, "country", "categorical", "js", 0.05, math.NaN(), 0.1, "ok")
			score(m, p, "country", "categorical", "chi2", 30, 0.01, 1e-3, "ok")
		}
		// One decision per model window: the error rate rises from minute 6,
		// and the estimated performance.
		errSev, rate := "ok", 0.01
		if m >= 6 {
			errSev, rate = "warning", 0.04
		}
		for _, sg := range []storage.SignalRow{
			{Signal: "error_rate", Subject: "*", Statistic: rate, PValue: 0.5 / float64(m+1), Effect: rate - 0.01, Threshold: 0.01, Severity: errSev, Evidence: "failed calls"},
			{Signal: "error_rate", Subject: "timeout", Statistic: rate / 2, PValue: math.NaN(), Effect: math.NaN(), Threshold: math.NaN(), Severity: "ok"},
			{Signal: "estimated_performance", Subject: "accuracy", Statistic: 0.9 - rate, PValue: math.NaN(), Effect: math.NaN(), Threshold: math.NaN(), Severity: "ok"},
			{Signal: "estimated_performance", Subject: "roc_auc", Statistic: 0.95, PValue: math.NaN(), Effect: math.NaN(), Threshold: math.NaN(), Severity: "ok"},
			{Signal: "realized_performance", Subject: "accuracy", Statistic: 0.91 - 2*rate, PValue: 0.2, Effect: 2 * rate, Threshold: 0.02, Severity: "ok", Evidence: "labeled predictions right"},
		} {
			sg.ModelID, sg.ModelVersion, sg.WindowStart, sg.WindowEnd, sg.N, sg.ReferenceID = "fraud", "v1", start, start.Add(time.Minute), 150+uint64(m), "ref-1"
			b.Signals = append(b.Signals, sg)
		}
		// Two callers per window; the second probes the boundary from minute 5,
		// when caller_probing names it, critical.
		probes := uint64(3)
		if m >= 5 {
			probes = 90
			b.Signals = append(b.Signals, storage.SignalRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
				Signal: "caller_probing", Subject: "prober-1", Statistic: 0.9, PValue: 1e-12, Effect: 0.85, Threshold: 0.3, Severity: "critical",
				N: 100, Evidence: "90 of 100 scored calls within 0.05 of the threshold", ReferenceID: "ref-1"})
		}
		for _, c := range []storage.CallerRow{
			{Caller: "batch-svc", Calls: 60, ScoredCalls: 60, Probes: 3},
			{Caller: "prober-1", Calls: 100, ScoredCalls: 100, Probes: probes},
		} {
			c.ModelID, c.ModelVersion, c.WindowStart, c.WindowEnd = "fraud", "v1", start, start.Add(time.Minute)
			b.Callers = append(b.Callers, c)
		}
	}
	b.Windows = append(b.Windows, storage.WindowRow{ModelID: "churn", ModelVersion: "v7", WindowStart: base,
		WindowEnd: base.Add(time.Minute), Events: 7, KafkaTopic: "telemetry", KafkaPartition: 2, LastOffset: 6})
	b.Features = append(b.Features, storage.FeatureRow{ModelID: "churn", ModelVersion: "v7", WindowStart: base,
		WindowEnd: base.Add(time.Minute), KafkaPartition: 2, Feature: "tenure", Kind: "numeric", Count: 7})

	// A stale first write of minute 0, partition 0 (as after a crash before the offset commit): the
	// rewrite, flushed later, replaces it, so FINAL must count 100 events, not 999 + 100.
	stale := storage.WindowBatch{Windows: []storage.WindowRow{b.Windows[0]}}
	stale.Windows[0].Events = 999
	stale.Windows[0].FlushedAt = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

	at := base.Add(7 * time.Minute)
	alert := storage.AlertRow{AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1", Feature: "amount",
		Severity: "critical", Statistic: 0.4, Threshold: 0.25, Summary: "PSI of amount 0.40 > 0.25"}
	rows := []storage.AlertRow{alert, alert, alert, alert}
	rows[0].EventTime, rows[0].Record, rows[0].State = base.Add(6*time.Minute), "state", "pending"
	rows[1].EventTime, rows[1].Record, rows[1].State = at, "state", "firing"
	rows[2].EventTime, rows[2].Record, rows[2].State = at, "delivery", "firing"
	rows[2].Receiver, rows[2].Attempt, rows[2].Outcome, rows[2].HTTPStatus, rows[2].Error = "slack", 1, "retry", 503, "service unavailable"
	rows[3].EventTime, rows[3].Record, rows[3].State = at.Add(time.Second), "delivery", "firing"
	rows[3].Receiver, rows[3].Attempt, rows[3].Outcome, rows[3].HTTPStatus = "slack", 2, "success", 200
	return fixture{stale: stale, batch: b, alerts: rows}
}

// hostileFixture is three minutes of windows of model for each of its versions: every feature scored
// by every test, the first feature critical in the last minute, and one firing alert. Counts and
// statistics differ per model (i) and version so that rows of one cannot pass for another's.
func hostileFixture(i int, model string, versions, features []string, base time.Time) fixture {
	var f fixture
	for vi, version := range versions {
		for m := range 3 {
			start := base.Add(time.Duration(m) * time.Minute)
			events := uint64(1000*(i+1) + 100*vi + m)
			f.batch.Windows = append(f.batch.Windows, storage.WindowRow{ModelID: model, ModelVersion: version,
				WindowStart: start, WindowEnd: start.Add(time.Minute), Events: events, LateEvents: uint64(i), RejectedEvents: uint64(vi),
				KafkaTopic: "telemetry", KafkaPartition: int32(i), FirstOffset: int64(events), LastOffset: int64(2 * events)})
			for fi, feature := range features {
				f.batch.Features = append(f.batch.Features, storage.FeatureRow{ModelID: model, ModelVersion: version,
					WindowStart: start, WindowEnd: start.Add(time.Minute), KafkaPartition: int32(i), Feature: feature,
					Kind: "numeric", Count: events, Mean: float64(i), Variance: 1, Min: 0, Max: float64(events)})
				for _, test := range []string{"psi", "js", "wasserstein_norm", "ks", "chi2"} {
					sev, pv := "ok", math.NaN()
					if m == 2 && fi == 0 {
						sev = "critical"
					}
					if test == "ks" || test == "chi2" {
						pv = 1 / float64(events)
					}
					f.batch.Scores = append(f.batch.Scores, storage.ScoreRow{ModelID: model, ModelVersion: version,
						WindowStart: start, WindowEnd: start.Add(time.Minute), KafkaPartition: int32(i), Feature: feature,
						Kind: "numeric", Test: test, Statistic: float64(i) + float64(vi)/10 + float64(fi)/100 + float64(m)/1000,
						PValue: pv, Threshold: 0.25, Severity: sev, Drifted: sev != "ok", NReference: 1000, NCurrent: events})
				}
			}
		}
		for m := range 3 {
			start := base.Add(time.Duration(m) * time.Minute)
			sev := "ok"
			if m == 2 {
				sev = "critical"
			}
			// Subjects come from telemetry too: the hostile feature names serve as error types.
			for _, sg := range []storage.SignalRow{
				{Signal: "error_rate", Subject: features[0], Statistic: float64(i) + float64(vi)/10 + float64(m)/1000, PValue: 0.01, Effect: 0.1, Threshold: 0.05, Severity: sev, Evidence: "evidence of " + features[0]},
				{Signal: "estimated_performance", Subject: "accuracy", Statistic: 0.5 + float64(i)/100 + float64(vi)/1000, PValue: math.NaN(), Effect: math.NaN(), Threshold: math.NaN(), Severity: "ok"},
			} {
				sg.ModelID, sg.ModelVersion, sg.WindowStart, sg.WindowEnd, sg.N = model, version, start, start.Add(time.Minute), uint64(1000*(i+1)+m)
				f.batch.Signals = append(f.batch.Signals, sg)
			}
			// Callers are named by producers too: the hostile feature names serve as callers.
			f.batch.Callers = append(f.batch.Callers, storage.CallerRow{ModelID: model, ModelVersion: version, WindowStart: start,
				WindowEnd: start.Add(time.Minute), Caller: features[0], Calls: uint64(100*(i+1) + vi), ScoredCalls: 50, Probes: uint64(m)})
		}
		f.alerts = append(f.alerts, storage.AlertRow{EventTime: base.Add(2 * time.Minute),
			AlertKey: model + "/" + version + "/" + features[0] + "/psi", ModelID: model, ModelVersion: version,
			Feature: features[0], Record: "state", State: "firing", Severity: "critical", Statistic: float64(i),
			Threshold: 0.25, Summary: "PSI of " + features[0]})
	}
	return f
}
