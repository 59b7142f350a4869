package monitor

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/partial"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/storage"
)

// mergedPartition is the kafka_partition of feature_windows and drift_scores
// rows: they describe a window merged over every source partition.
const mergedPartition = -1

// windowRow is the inference_windows row of a window closed on one source
// partition: its counts and the offsets it covered.
func windowRow(topic string, partition int32, w *window.Window) storage.WindowRow {
	return storage.WindowRow{
		ModelID: w.Model.ID, ModelVersion: w.Model.Version,
		WindowStart: w.Start, WindowEnd: w.End,
		Events: w.Events, LateEvents: w.Late, RejectedEvents: w.Rejected,
		KafkaTopic: topic, KafkaPartition: partition,
		FirstOffset: w.FirstOffset, LastOffset: w.LastOffset,
		ReferenceID: w.RefID(),
	}
}

// decisionRows converts a window merged over partitions and its scores,
// taken against scoreRef, into its model_windows, feature_windows and
// drift_scores rows.
func decisionRows(b *storage.WindowBatch, c *partial.Complete, scoreRef *reference.Reference, scores []evaluate.Score) {
	w := c.Window
	refID := w.RefID()
	mw := storage.ModelWindowRow{
		ModelID: w.Model.ID, ModelVersion: w.Model.Version, WindowStart: w.Start, WindowEnd: w.End,
		Events: w.Events, LateEvents: w.Late, RejectedEvents: w.Rejected,
		Partitions: uint32(c.Partials), MixedReferences: c.MixedReferences, ReferenceID: refID,
	}
	for _, s := range c.Missing {
		mw.MissingPartitions = append(mw.MissingPartitions, s.Partition)
	}
	b.Models = append(b.Models, mw)
	const partition = mergedPartition
	base := storage.FeatureRow{ModelID: w.Model.ID, ModelVersion: w.Model.Version,
		WindowStart: w.Start, WindowEnd: w.End, KafkaPartition: partition, ReferenceID: refID}
	for i, name := range w.NumericNames() {
		s := &w.Numeric[i]
		r := base
		r.Feature, r.Kind = name, analysis.KindNumeric
		r.Count, r.Missing = s.Count, w.Missing(s.Count)
		r.Mean, r.Variance = s.Mean, s.Variance()
		r.Min, r.Max = finite(s.Min), finite(s.Max)
		if s.Bins != nil && w.Ref != nil {
			if nr := w.Ref.Numeric[name]; nr != nil {
				r.BinEdges = nr.Edges
			}
			r.BinCounts = s.Bins
		}
		b.Features = append(b.Features, r)
	}
	for i, name := range w.CategoricalNames() {
		s := &w.Categorical[i]
		r := base
		r.Feature, r.Kind = name, analysis.KindCategorical
		r.Count, r.Missing = s.Count, w.Missing(s.Count)
		r.Mean, r.Variance, r.Min, r.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.OtherCount, r.UnseenCount = s.Other, s.Unseen
		if s.Counts != nil && w.Ref != nil {
			if cr := w.Ref.Categorical[name]; cr != nil {
				r.Categories, r.CategoryCounts = cr.Categories, s.Counts
			}
		} else {
			for _, v := range slices.Sorted(maps.Keys(s.Tracked)) {
				r.Categories = append(r.Categories, v)
				r.CategoryCounts = append(r.CategoryCounts, s.Tracked[v])
			}
		}
		b.Features = append(b.Features, r)
	}
	if scoreRef != nil {
		refID = scoreRef.ID
	}
	for _, sc := range scores {
		b.Scores = append(b.Scores, storage.ScoreRow{
			ModelID: w.Model.ID, ModelVersion: w.Model.Version,
			WindowStart: w.Start, WindowEnd: w.End, KafkaPartition: partition,
			Feature: sc.Feature, Kind: sc.Kind, Test: sc.Test,
			Statistic: sc.Statistic, PValue: sc.PValue, Effect: sc.Effect, Threshold: sc.Threshold,
			Severity: string(sc.Severity), Drifted: sc.Drifted,
			NReference: sc.NReference, NCurrent: sc.NCurrent, ReferenceID: refID,
		})
	}
}

// finite maps the ±Inf extremes of an empty state to NaN.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

// observations groups a window's scores per feature into alert observations:
// one per feature, with the worst severity of its tests.
func observations(w *window.Window, scores []evaluate.Score) []alerting.Observation {
	var out []alerting.Observation
	index := map[string]int{}
	for _, sc := range scores {
		i, ok := index[sc.Feature]
		if !ok {
			i = len(out)
			index[sc.Feature] = i
			out = append(out, alerting.Observation{
				ModelID: w.Model.ID, ModelVersion: w.Model.Version, Feature: sc.Feature,
				WindowStart: w.Start, WindowEnd: w.End, Severity: alerting.SeverityOK,
			})
		}
		o := &out[i]
		o.Tests = append(o.Tests, alerting.TestResult{Test: sc.Test, Statistic: sc.Statistic, PValue: sc.PValue, Threshold: sc.Threshold,
			Severity: sc.Severity, Samples: int(sc.NCurrent)})
		if sc.Severity.Rank() > o.Severity.Rank() {
			o.Severity = sc.Severity
		}
	}
	return out
}

// signalObservations turns a window's signal verdicts into alert
// observations, one per (signal, subject): the alerts of signals share the
// lifecycle of the drift alerts. Verdicts that only inform are observed as
// ok (they neither open nor keep an alert), and so are the <signal>_history
// verdicts unless analysis.sequential.history_pages is set.
func (m *Monitor) signalObservations(mv analysis.ModelKey, start, end time.Time, verdicts []evaluate.SignalVerdict) []alerting.Observation {
	out := make([]alerting.Observation, 0, len(verdicts))
	for _, v := range verdicts {
		sev := v.Severity
		if !m.cfg.Analysis.Sequential.HistoryPages && strings.HasSuffix(v.Signal, "_history") {
			sev = verdict.SeverityOK
		}
		out = append(out, alerting.Observation{
			ModelID: mv.ID, ModelVersion: mv.Version, Signal: v.Signal, Subject: v.Subject,
			WindowStart: start, WindowEnd: end, Severity: sev,
			Tests: []alerting.TestResult{{Test: v.Signal, Statistic: v.Statistic, PValue: v.PValue, Threshold: v.Threshold, Severity: sev,
				Samples: int(v.N)}},
		})
	}
	return out
}

// KindSignal is the kind of the references rows that hold a signal's
// reference state (feature: the signal's name; state: its encoding).
const KindSignal = "signal"

// ReferenceRows converts a reference into its rows of the references table;
// set names its signal states.
func ReferenceRows(ref *reference.Reference, set *signal.Set) []storage.ReferenceRow {
	var rows []storage.ReferenceRow
	base := storage.ReferenceRow{ModelID: ref.Model.ID, ModelVersion: ref.Model.Version, ReferenceID: ref.ID,
		CreatedAt: ref.CreatedAt, Source: ref.Source, Windows: uint32(ref.Windows)}
	for name, n := range ref.Numeric {
		r := base
		r.Feature, r.Kind = name, analysis.KindNumeric
		r.N, r.Mean, r.Variance, r.Min, r.Max = n.N, n.Mean, n.Variance, n.Min, n.Max
		r.BinEdges, r.BinCounts, r.Sample = n.Edges, n.Counts, n.Sample
		rows = append(rows, r)
	}
	for name, c := range ref.Categorical {
		r := base
		r.Feature, r.Kind = name, analysis.KindCategorical
		r.N = c.N
		r.Mean, r.Variance, r.Min, r.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.Categories, r.CategoryCounts = c.Categories, c.Counts
		// The count outside the categories is stored as the trailing bin count.
		r.BinCounts = []uint64{c.Other}
		rows = append(rows, r)
	}
	for i, p := range ref.Signals {
		if p == nil || i >= set.Len() {
			continue
		}
		// A signal's merged reference state, encoded as in partials.
		r := base
		r.Feature, r.Kind = set.At(i).Name(), KindSignal
		r.Mean, r.Variance, r.Min, r.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.State = string(p.AppendBinary(nil))
		rows = append(rows, r)
	}
	if j := ref.Joint; j != nil {
		// The joint reference: feature names in categories, means in
		// bin_edges, the covariance (row-major) in sample.
		r := base
		r.Feature, r.Kind = evaluate.JointFeature, evaluate.KindMultivariate
		r.N = j.N
		r.Mean, r.Variance, r.Min, r.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.Categories, r.BinEdges, r.Sample = j.Features, j.Mean, j.Covariance
		rows = append(rows, r)
	}
	return rows
}

// ReferencesFromRows rebuilds references from rows of the references table
// (any number of references, grouped by reference_id). Call Prepare on each
// before scoring with it (reference.Store.Set does). Signal states are read for
// the signals of set; a state of another signal, or one that does not
// decode, is left out (that signal is then scored against nothing).
func ReferencesFromRows(rows []storage.ReferenceRow, set *signal.Set) []*reference.Reference {
	byID := map[string]*reference.Reference{}
	var out []*reference.Reference
	for _, r := range rows {
		if r.Kind == KindFeedbackReference {
			continue // the reference feedback of the poisoning signals (feedback.go)
		}
		ref := byID[r.ReferenceID]
		if ref == nil {
			ref = &reference.Reference{ID: r.ReferenceID, Model: analysis.ModelKey{ID: r.ModelID, Version: r.ModelVersion},
				CreatedAt: r.CreatedAt.UTC(), Source: r.Source, Windows: int(r.Windows),
				Numeric: map[string]*reference.Numeric{}, Categorical: map[string]*reference.Categorical{}}
			byID[r.ReferenceID] = ref
			out = append(out, ref)
		}
		switch r.Kind {
		case analysis.KindNumeric:
			ref.Numeric[r.Feature] = &reference.Numeric{Edges: r.BinEdges, Counts: r.BinCounts, N: r.N,
				Mean: r.Mean, Variance: r.Variance, Min: r.Min, Max: r.Max, Sample: r.Sample}
		case analysis.KindCategorical:
			c := &reference.Categorical{Categories: r.Categories, Counts: r.CategoryCounts, N: r.N}
			if len(r.BinCounts) == 1 {
				c.Other = r.BinCounts[0]
			}
			c.Complete = c.Other == 0
			c.Index()
			ref.Categorical[r.Feature] = c
		case evaluate.KindMultivariate:
			ref.Joint = &stat.Joint{Features: r.Categories, Mean: r.BinEdges, Covariance: r.Sample, N: r.N}
		case KindSignal:
			i, ok := set.Index(r.Feature)
			if !ok {
				continue
			}
			p := set.At(i).NewPartial()
			d := sketch.NewDecoder([]byte(r.State))
			if p.Decode(d); d.Err() != nil || d.Remaining() != 0 {
				continue
			}
			if ref.Signals == nil {
				ref.Signals = make([]signal.Partial, set.Len())
			}
			ref.Signals[i] = p
		}
	}
	return out
}

// ReferenceFromStore merges the stored windows of model m with window_start
// in [from, to) into a reference (reference.FromWindows) and returns
// it with the number of feature rows read; (nil, 0, nil) when none is stored.
func ReferenceFromStore(ctx context.Context, s *storage.Store, m analysis.ModelKey, from, to time.Time, cfg analysis.Config) (*reference.Reference, int, error) {
	rows, err := s.FeatureWindows(ctx, m.ID, m.Version, from, to)
	if err != nil || len(rows) == 0 {
		return nil, 0, err
	}
	fws := make([]reference.FeatureWindow, len(rows))
	for i, r := range rows {
		fws[i] = reference.FeatureWindow{Start: r.WindowStart, Feature: r.Feature, Kind: r.Kind, Count: r.Count,
			Mean: r.Mean, Variance: r.Variance, Min: r.Min, Max: r.Max, Edges: r.BinEdges, BinCounts: r.BinCounts,
			Categories: r.Categories, CategoryCounts: r.CategoryCounts, Other: r.OtherCount}
	}
	ref, err := reference.FromWindows(fws, m, from, to, cfg, time.Now())
	return ref, len(rows), err
}

// callerRows adds the caller_windows rows of window w's tracked callers
// that cfg stores (access.Config.Stored), of cs (evaluate.Decision's
// Callers), vs being the window's verdicts, and puts the others' names,
// calls and overcounts in w's model_windows row, b.Models[model]
// (decisionRows adds it), and returns how many those are.
func callerRows(b *storage.WindowBatch, model int, w *window.Window, cs []access.CallerSummary, vs []evaluate.SignalVerdict, cfg access.Config) int {
	if len(cs) == 0 {
		return 0
	}
	named := make([]string, 0, len(vs))
	for _, v := range vs {
		if v.Subject != "*" {
			named = append(named, v.Subject)
		}
	}
	slices.Sort(named)
	stored, light := cfg.Stored(cs, slices.Compact(named))
	if len(light) > 0 {
		mw := &b.Models[model]
		mw.LightCallers = make([]string, len(light))
		mw.LightCalls, mw.LightCallsOvercount = make([]uint64, len(light)), make([]uint64, len(light))
		for j, c := range light {
			mw.LightCallers[j], mw.LightCalls[j], mw.LightCallsOvercount[j] = c.Caller, c.Calls, c.CallsOvercount
		}
	}
	b.Callers = slices.Grow(b.Callers, len(stored))
	for _, c := range stored {
		b.Callers = append(b.Callers, storage.CallerRow{ModelID: w.Model.ID, ModelVersion: w.Model.Version, WindowStart: w.Start, WindowEnd: w.End,
			Caller: c.Caller, Calls: c.Calls, CallsOvercount: c.CallsOvercount, ScoredCalls: c.ScoredCalls, ScoredOvercount: c.ScoredOvercount,
			Probes: c.Probes, InputCalls: c.InputCalls, InputOvercount: c.InputOvercount, DistinctInputs: c.DistinctInputs,
			OODSampled: c.OODSampled, OODOutside: c.OODOutside, ClassCalls: c.ClassCalls, Classes: c.Classes, ClassEntropy: c.ClassEntropy})
	}
	return len(light)
}

// signalRows adds the rows of the signals' verdicts about model version
// m's window [start, end), scored against the reference refID names (""
// during warm-up).
func signalRows(b *storage.WindowBatch, m analysis.ModelKey, start, end time.Time, refID string, verdicts []evaluate.SignalVerdict) {
	for _, v := range verdicts {
		b.Signals = append(b.Signals, storage.SignalRow{ModelID: m.ID, ModelVersion: m.Version,
			WindowStart: start, WindowEnd: end, Signal: v.Signal, Subject: v.Subject,
			Statistic: v.Statistic, PValue: v.PValue, Effect: v.Effect, Threshold: v.Threshold,
			Severity: string(v.Severity), N: v.N, ReferenceID: refID, Evidence: v.Evidence})
	}
}

// feedbackRow adds the FeedbackSignal row of a decided feedback window: its
// examples, how it was merged, and served (what decideFeedback says of the
// serving reference its features were tested against, or ""). Every decided feedback window has one; a
// restarted decider reads them to know which windows are decided.
func feedbackRow(b *storage.WindowBatch, c *partial.FeedbackComplete, served string) {
	w := c.Window
	ev := fmt.Sprintf("%d examples from %d feedback partitions", w.Examples, c.Partials)
	if len(c.Missing) > 0 {
		parts := make([]string, len(c.Missing))
		for i, s := range c.Missing {
			parts[i] = strconv.Itoa(int(s.Partition))
		}
		ev += "; decided without partitions " + strings.Join(parts, ",")
	}
	if c.MixedReferences {
		ev += "; partials over other features merged in part (label flips and concentration only)"
	}
	ev += served
	b.Signals = append(b.Signals, storage.SignalRow{ModelID: w.Model, WindowStart: w.Start, WindowEnd: w.End,
		Signal: FeedbackSignal, Subject: "*", Statistic: float64(w.Examples), PValue: math.NaN(), Effect: math.NaN(),
		Threshold: math.NaN(), Severity: string(alerting.SeverityOK), N: w.Examples, Evidence: ev})
}
