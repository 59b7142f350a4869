package outputs

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Confidence is how sure the model is of its answers: per call, the largest
// class probability (prediction.probabilities; for a binary score without
// them, max(score, 1 − score)), subject "*", statistic its mean over the
// window. A model whose confidence collapses answers near chance while its
// inputs may look unchanged.
//
// Decision: the two-sample Kolmogorov–Smirnov test of the window's
// per-call confidences against the reference period's (bottom-k samples
// keyed by prediction id, so merged partials hold the sample of all calls;
// exact p-values as scipy's for samples of up to 10,000); effect: the drop of
// the mean confidence (0.1: ten points less sure).
type Confidence struct{ Config Config }

// Name returns "confidence".
func (Confidence) Name() string { return "confidence" }

// NewPartial returns an empty partial.
func (s Confidence) NewPartial() signal.Partial {
	return &confidences{s: sketch.NewNumeric(s.Config.SampleSize, 0)}
}

type confidences struct{ s sketch.Numeric }

// confidenceOf returns the confidence of e's prediction, if it has one.
func confidenceOf(e *telemetry.Event) (float64, bool) {
	if len(e.Prediction.Probabilities) > 0 {
		m := 0.0
		for _, p := range e.Prediction.Probabilities {
			m = max(m, p)
		}
		return m, true
	}
	if sc := e.Prediction.Score; sc != nil && *sc >= 0 && *sc <= 1 {
		return max(*sc, 1-*sc), true
	}
	return 0, false
}

func (p *confidences) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if c, ok := confidenceOf(e); ok {
			p.s.Observe(c, sketch.SampleKey(e.PredictionID), 0)
		}
	}
}

func (p *confidences) Merge(o signal.Partial)       { p.s.Merge(&o.(*confidences).s) }
func (p *confidences) AppendBinary(b []byte) []byte { return p.s.AppendBinary(b, nil) }
func (p *confidences) Decode(d *sketch.Decoder) {
	p.s.Decode(d, "confidence", nil)
	if d.Err() == nil && p.s.Count > 0 && !(p.s.Mean >= 0 && p.s.Mean <= 1) {
		d.Fail(fmt.Sprintf("mean confidence %v", p.s.Mean))
	}
}

// Score returns the verdict about the window's confidence.
func (s Confidence) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*confidences).s
	if c.Count == 0 {
		return nil
	}
	evidence := fmt.Sprintf("mean confidence %.3f over %d calls", c.Mean, c.Count)
	var r *sketch.Numeric
	if ref != nil {
		r = &ref.(*confidences).s
	}
	if r == nil || r.Count == 0 {
		return []signal.Verdict{signal.Info("*", c.Mean, math.NaN(), c.Count, evidence)}
	}
	p := math.NaN()
	if c.Count >= uint64(s.Config.MinCount) && r.Count >= uint64(s.Config.MinCount) {
		p = stat.KolmogorovSmirnov(sorted(r.Sample.Values()), sorted(c.Sample.Values())).PValue
	}
	return []signal.Verdict{signal.Decision("*", c.Mean, p, r.Mean-c.Mean, s.Config.Confidence.Warning, s.Config.Confidence.Critical, c.Count,
		fmt.Sprintf("%s (reference %.3f)", evidence, r.Mean))}
}

func sorted(v []float64) []float64 {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

// MarginDensity is the share of a window's scored calls whose score lies
// within Config.Margin of their decision threshold (prediction.score and
// prediction.threshold both present), subject "*": the calls the model
// barely decided, which grow when it drifts towards its boundary or is
// probed there.
//
// Decision: the pooled two-proportion z-test of the share against the
// reference period's, one-sided (an increase); effect: the absolute
// increase of the share.
type MarginDensity struct{ Config Config }

// Name returns "margin_density".
func (MarginDensity) Name() string { return "margin_density" }

// NewPartial returns an empty partial.
func (s MarginDensity) NewPartial() signal.Partial {
	return &margins{c: sketch.NewLabels(), margin: s.Config.Margin}
}

type margins struct {
	c      sketch.Labels // n scored calls, k near the threshold; no labels
	margin float64
}

func (p *margins) Observe(events []*telemetry.Event) {
	for _, e := range events {
		sc, th := e.Prediction.Score, e.Prediction.Threshold
		if sc == nil || th == nil {
			continue
		}
		p.c.N++
		if math.Abs(*sc-*th) <= p.margin {
			p.c.K++
		}
	}
}

func (p *margins) Merge(o signal.Partial)       { p.c.Merge(&o.(*margins).c, 0) }
func (p *margins) AppendBinary(b []byte) []byte { return p.c.AppendBinary(b) }
func (p *margins) Decode(d *sketch.Decoder)     { p.c.Decode(d, 0) }

// Score returns the verdict about the window's calls near the threshold.
func (s MarginDensity) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*margins).c
	if c.N == 0 {
		return nil
	}
	share := float64(c.K) / float64(c.N)
	evidence := fmt.Sprintf("%d of %d scored calls within %g of the threshold", c.K, c.N, s.Config.Margin)
	var r *sketch.Labels
	if ref != nil {
		if r = &ref.(*margins).c; r.N == 0 {
			r = nil
		}
	}
	if r == nil {
		return []signal.Verdict{signal.Info("*", share, math.NaN(), c.N, evidence)}
	}
	refShare := float64(r.K) / float64(r.N)
	p := math.NaN()
	if c.N >= uint64(s.Config.MinCount) && r.N >= uint64(s.Config.MinCount) {
		p = distuv.UnitNormal.Survival(stat.TwoProportionZ(float64(c.K), float64(c.N), float64(r.K), float64(r.N)))
	}
	return []signal.Verdict{signal.Decision("*", share, p, share-refShare, s.Config.MarginDensity.Warning, s.Config.MarginDensity.Critical, c.N,
		fmt.Sprintf("%s (%.1f%%; reference %.1f%%)", evidence, 100*share, 100*refShare))}
}
