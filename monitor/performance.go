package monitor

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/detect"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/performance"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/storage"
)

// relabel marks a window of a model version for the computation of its
// realized performance at the end of the decider's batch. Called with mu
// held.
func (d *decider) relabel(w storage.LabeledWindow) {
	if d.m.cfg.Kafka.LabelsTopic == "" {
		return
	}
	if d.labeled == nil {
		d.labeled = map[storage.LabeledWindow]bool{}
	}
	// One representation of the instant, whatever its origin, for the key.
	w.WindowStart = time.UnixMilli(w.WindowStart.UnixMilli()).UTC()
	d.labeled[w] = true
}

// perform computes the realized performance of every window marked by
// relabel: from the stored predictions and labels (one performance_windows
// row each), graded against the reference period (the version's first
// analysis.warmup_windows decided windows, with the labels landed for them
// so far) into realized_performance verdicts, stored in signals, exported
// and handed to the alert manager.
// Called with mu held, by the model's one decider, so that one writer
// computes a model's performance.
func (d *decider) perform(ctx context.Context) error {
	if len(d.labeled) == 0 {
		return nil
	}
	todo := make([]storage.LabeledWindow, 0, len(d.labeled))
	for w := range d.labeled {
		todo = append(todo, w)
	}
	sort.Slice(todo, func(i, j int) bool {
		a, b := todo[i], todo[j]
		if a.ModelID != b.ModelID {
			return a.ModelID < b.ModelID
		}
		if a.ModelVersion != b.ModelVersion {
			return a.ModelVersion < b.ModelVersion
		}
		return a.WindowStart.Before(b.WindowStart)
	})
	cfg := &d.m.cfg
	var rows []storage.PerformanceRow
	var batch storage.WindowBatch
	var obs []alerting.Observation
	var counts []func()                         // the metrics' counts, once the rows are stored
	computed := map[storage.LabeledWindow]int{} // index in rows
	// What each model version's windows need of the version's other
	// windows is read once per call: up to the newest window of the call.
	hist := map[[2]string]*versionHistory{}
	last := map[[2]string]time.Time{}
	for _, w := range todo {
		last[[2]string{w.ModelID, w.ModelVersion}] = w.WindowStart
	}
	for _, w := range todo {
		end := w.WindowStart.Add(cfg.Analysis.WindowSize)
		r, err := d.m.store.ComputePerformance(ctx, w, end, cfg.Labels.MaxDelay)
		if err != nil {
			return err
		}
		if r.Predictions == 0 {
			continue
		}
		computed[w] = len(rows)
		rows = append(rows, r)
		h, err := d.history(ctx, hist, w, last)
		if err != nil {
			return err
		}
		refRows := h.reference(w, rows, computed, cfg.Analysis.WarmupWindows)
		var ref *performance.Realized
		if refRows != nil {
			ref = &performance.Realized{}
			for i := range refRows {
				ref.Add(realizedOf(&refRows[i]))
			}
		}
		var verdicts []signal.Verdict
		calibrated := math.NaN()
		if ref != nil && ref.Scored >= uint64(cfg.Labels.Realized.MinCount) {
			// CBPE calibrated on the reference period's labels: the
			// window's accuracy expected from its scores, before its own
			// labels (and next to them).
			n, acc, v, err := d.m.store.CalibratedAccuracy(ctx, w, performance.Calibration(ref, calibrationMinCount))
			if err != nil {
				return err
			}
			if n > 0 {
				calibrated = acc
				vs := []evaluate.SignalVerdict{{Signal: performance.Estimated{}.Name(), Verdict: signal.Info("accuracy_calibrated", acc, math.NaN(), n,
					fmt.Sprintf("expected from %d scores calibrated on %d labeled predictions of the reference period (standard error %.3f)", n, ref.Scored, math.Sqrt(v)))}}
				d.add(&batch, &obs, &counts, w, end, refRowsID(refRows), vs)
			}
		}
		if r.Labeled == 0 {
			continue
		}
		est, err := d.m.store.SignalStatistic(ctx, w.ModelID, w.ModelVersion, w.WindowStart, performance.Estimated{}.Name(), "accuracy")
		if err != nil {
			return err
		}
		verdicts = performance.RealizedVerdicts(cfg.Labels.Realized, realizedOf(&r), ref, est, calibrated)
		vs := make([]evaluate.SignalVerdict, len(verdicts))
		for i, v := range verdicts {
			vs[i] = evaluate.SignalVerdict{Signal: performance.RealizedName, Verdict: v}
		}
		evaluate.DecideSignals(cfg.Analysis.FDR, vs)
		vs = append(vs, errorDDM(h.errors(w, rows, computed), rows[computed[w]].Classified))
		d.add(&batch, &obs, &counts, w, end, refRowsID(refRows), vs)
	}
	if err := d.m.store.WritePerformance(ctx, rows); err != nil {
		return fmt.Errorf("storing the performance of %d windows: %w", len(rows), err)
	}
	if err := d.m.store.WriteWindows(ctx, batch); err != nil {
		return fmt.Errorf("storing the realized performance verdicts of %d windows: %w", len(rows), err)
	}
	for _, count := range counts {
		count()
	}
	d.m.met.performance.Add(float64(len(rows)))
	if d.m.alerts != nil && len(obs) > 0 {
		d.m.alerts.Observe(ctx, obs)
	}
	clear(d.labeled)
	return nil
}

// maxErrorWindows bounds the windows the realized error DDM runs over.
const maxErrorWindows = 10000

// versionHistory is what perform reads once per model version and call:
// the version's first windows (the reference period) and the error counts
// of its last windows, as stored.
type versionHistory struct {
	first  []storage.PerformanceRow
	recent []storage.WindowErrors
}

// history returns w's version's history, reading it on first use, up to
// the version's newest window of the call (last).
func (d *decider) history(ctx context.Context, hist map[[2]string]*versionHistory, w storage.LabeledWindow, last map[[2]string]time.Time) (*versionHistory, error) {
	k := [2]string{w.ModelID, w.ModelVersion}
	if h := hist[k]; h != nil {
		return h, nil
	}
	upTo := last[k]
	first, err := d.m.store.FirstPerformance(ctx, w.ModelID, w.ModelVersion, upTo.Add(time.Nanosecond), d.m.cfg.Analysis.WarmupWindows)
	if err != nil {
		return nil, err
	}
	recent, err := d.m.store.RecentErrors(ctx, w.ModelID, w.ModelVersion, upTo, maxErrorWindows)
	if err != nil {
		return nil, err
	}
	h := &versionHistory{first: first, recent: recent}
	hist[k] = h
	return h, nil
}

// reference returns the reference period of w: the version's first n
// windows, all before w, with the rows computed earlier in this call
// (computed: index in rows) in place of their stored ones; nil when there
// are not n of them yet.
func (h *versionHistory) reference(w storage.LabeledWindow, rows []storage.PerformanceRow, computed map[storage.LabeledWindow]int, n int) []storage.PerformanceRow {
	by := map[int64]storage.PerformanceRow{}
	for _, r := range h.first {
		by[r.WindowStart.UnixMilli()] = r
	}
	for k, j := range computed {
		if k.ModelID == w.ModelID && k.ModelVersion == w.ModelVersion {
			by[k.WindowStart.UnixMilli()] = rows[j]
		}
	}
	var out []storage.PerformanceRow
	for start, r := range by {
		if start < w.WindowStart.UnixMilli() {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].WindowStart.Before(out[j].WindowStart) })
	if len(out) < n {
		return nil
	}
	return out[:n]
}

// errors returns the error counts of the version's last maxErrorWindows
// windows up to w, with the rows computed in this call in place of their
// stored ones.
func (h *versionHistory) errors(w storage.LabeledWindow, rows []storage.PerformanceRow, computed map[storage.LabeledWindow]int) []storage.WindowErrors {
	by := map[int64]storage.WindowErrors{}
	for _, e := range h.recent {
		by[e.WindowStart.UnixMilli()] = e
	}
	for k, j := range computed {
		if k.ModelID == w.ModelID && k.ModelVersion == w.ModelVersion {
			r := rows[j]
			by[k.WindowStart.UnixMilli()] = storage.WindowErrors{WindowStart: k.WindowStart, Wrong: r.Classified - r.Correct, Classified: r.Classified}
		}
	}
	var out []storage.WindowErrors
	for start, e := range by {
		if start <= w.WindowStart.UnixMilli() {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].WindowStart.Before(out[j].WindowStart) })
	return out[max(0, len(out)-maxErrorWindows):]
}

// errorDDM runs a DDM (River's semantics, at window granularity:
// detect.DDM.UpdateCounts) over the wrong and classified labeled
// predictions of a version's windows up to the one graded (recent, oldest
// first, as labeled so far) and returns its verdict there: signal
// realized_error_ddm, the error rate since its last change, a warning when
// it detects one at that window. It runs again from the stored counts each
// time a window's labels land, so labels arriving late or out of order
// change the counts it sees, never the order of its stream.
func errorDDM(recent []storage.WindowErrors, n uint64) evaluate.SignalVerdict {
	ddm, err := detect.NewDDM(detect.DefaultDDMConfig())
	if err != nil {
		panic("BUG: DDM defaults rejected: " + err.Error())
	}
	for _, e := range recent {
		ddm.UpdateCounts(e.Wrong, e.Classified)
	}
	v := signal.Info("*", ddm.ErrorRate(), math.NaN(), n, "")
	switch {
	case ddm.DriftDetected():
		v.Severity = verdict.SeverityWarning
		v.Evidence = fmt.Sprintf("DDM over %d windows of labeled predictions detected a change: error rate %.4g", len(recent), ddm.ErrorRate())
	case ddm.WarningDetected():
		v.Evidence = fmt.Sprintf("DDM over %d windows of labeled predictions in its warning zone: error rate %.4g", len(recent), ddm.ErrorRate())
	}
	return evaluate.SignalVerdict{Signal: "realized_error_ddm", Verdict: v}
}

// calibrationMinCount is the fewest labeled reference predictions a score
// bin needs for its calibration (fewer: its scores are taken as they are).
const calibrationMinCount = 10

// refRowsID names the reference period of realized performance.
func refRowsID(refRows []storage.PerformanceRow) string {
	if len(refRows) == 0 {
		return ""
	}
	return fmt.Sprintf("labels:%s..%s", refRows[0].WindowStart.Format(time.RFC3339), refRows[len(refRows)-1].WindowEnd.Format(time.RFC3339))
}

// add appends the rows and alert observations of the verdicts vs of
// window w, and their export to counts, to be counted once the rows are
// stored (a failed write is taken again, and would count them twice).
func (d *decider) add(batch *storage.WindowBatch, obs *[]alerting.Observation, counts *[]func(), w storage.LabeledWindow, end time.Time, refID string, vs []evaluate.SignalVerdict) {
	mv := analysis.ModelKey{ID: w.ModelID, Version: w.ModelVersion}
	signalRows(batch, mv, w.WindowStart, end, refID, vs)
	*counts = append(*counts, func() { d.m.met.signalVerdicts(mv, vs) })
	*obs = append(*obs, d.m.signalObservations(mv, w.WindowStart, end, vs)...)
}

// realizedOf converts a performance_windows row into the counts of
// realized performance.
func realizedOf(r *storage.PerformanceRow) *performance.Realized {
	out := &performance.Realized{
		Predictions: r.Predictions, Labeled: r.Labeled, Classified: r.Classified, Correct: r.Correct,
		ConfusionOther: r.ConfusionOther, Scored: r.Scored, Positives: r.Positives, BrierSum: r.BrierSum, LogLossSum: r.LogLossSum,
		BinsPositive: r.BinsPositive, BinsNegative: r.BinsNegative, BinsScoreSum: r.BinsScoreSum,
		Regressed: r.Regressed, AbsErrorSum: r.AbsErrorSum, SqErrorSum: r.SquaredErrSum,
	}
	if n := min(len(r.ConfusionTruth), len(r.ConfusionPredicted), len(r.ConfusionCount)); n > 0 {
		out.Confusion = make(map[[2]string]uint64, n)
		for i := range n {
			out.Confusion[[2]string{r.ConfusionTruth[i], r.ConfusionPredicted[i]}] += r.ConfusionCount[i]
		}
	}
	return out
}
