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
//
// Subject "entropy" is the mean normalised prediction entropy, −Σ p ln p /
// ln K over the K class probabilities (for a binary score, over p and
// 1 − p): 0 for a certain prediction, 1 for a uniform one. It is decided
// the same way, its effect the rise of the mean, at the same levels.
type Confidence struct{ Config Config }

// Name returns "confidence".
func (Confidence) Name() string { return "confidence" }

// NewPartial returns an empty partial.
func (s Confidence) NewPartial() signal.Partial {
	return &confidences{s: sketch.NewNumeric(s.Config.SampleSize, 0), h: sketch.NewNumeric(s.Config.SampleSize, 0)}
}

type confidences struct{ s, h sketch.Numeric } // confidence, normalised entropy

// entropyOf returns the normalised entropy of e's prediction, if it has one.
func entropyOf(e *telemetry.Event) (float64, bool) {
	if k := len(e.Prediction.Probabilities); k > 1 {
		var h float64
		for _, cp := range e.Prediction.Probabilities {
			p := cp.P
			if p > 0 {
				h -= p * math.Log(p)
			}
		}
		return min(max(h/math.Log(float64(k)), 0), 1), true
	}
	if sc := e.Prediction.Score; sc != nil && *sc > 0 && *sc < 1 {
		p := *sc
		return -(p*math.Log(p) + (1-p)*math.Log(1-p)) / math.Ln2, true
	}
	if sc := e.Prediction.Score; sc != nil && (*sc == 0 || *sc == 1) {
		return 0, true
	}
	return 0, false
}

// confidenceOf returns the confidence of e's prediction, if it has one.
func confidenceOf(e *telemetry.Event) (float64, bool) {
	if len(e.Prediction.Probabilities) > 0 {
		m := 0.0
		for _, cp := range e.Prediction.Probabilities {
			p := cp.P
			m = max(m, p)
		}
		return m, true
	}
	if sc := e.Prediction.Score; sc != nil && *sc >= 0 && *sc <= 1 {
		return max(*sc, 1-*sc), true
	}
	return 0, false
}

// confidenceAndEntropyOf returns what confidenceOf and entropyOf return, in
// one pass over the class probabilities.
func confidenceAndEntropyOf(e *telemetry.Event) (c float64, ok bool, h float64, hok bool) {
	k := len(e.Prediction.Probabilities)
	if k <= 1 {
		c, ok = confidenceOf(e)
		h, hok = entropyOf(e)
		return c, ok, h, hok
	}
	for _, cp := range e.Prediction.Probabilities {
		p := cp.P
		c = max(c, p)
		if p > 0 {
			h -= p * math.Log(p)
		}
	}
	return c, true, min(max(h/math.Log(float64(k)), 0), 1), true
}

func (p *confidences) Observe(events []*telemetry.Event) {
	for _, e := range events {
		c, ok, h, hok := confidenceAndEntropyOf(e)
		if !ok {
			continue
		}
		key := sketch.SampleKey(e.PredictionID)
		p.s.Observe(c, key, 0)
		if hok {
			p.h.Observe(h, key, 0)
		}
	}
}

func (p *confidences) Merge(o signal.Partial) {
	q := o.(*confidences)
	p.s.Merge(&q.s)
	p.h.Merge(&q.h)
}

func (p *confidences) AppendBinary(b []byte) []byte {
	b = p.s.AppendBinary(b, nil)
	return p.h.AppendBinary(b, p.s.Sample.Keys())
}

func (p *confidences) Decode(d *sketch.Decoder) {
	keys := p.s.Decode(d, "confidence", nil)
	p.h.Decode(d, "entropy", keys)
	for _, n := range []*sketch.Numeric{&p.s, &p.h} {
		if d.Err() == nil && n.Count > 0 && !(n.Mean >= 0 && n.Mean <= 1) {
			d.Fail(fmt.Sprintf("mean confidence or entropy %v", n.Mean))
		}
	}
}

// Score returns the verdicts about the window's confidence and entropy.
func (s Confidence) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*confidences)
	var r *confidences
	if ref != nil {
		r = ref.(*confidences)
	}
	var out []signal.Verdict
	if v, ok := s.decide("*", "confidence", &c.s, r, func(r *confidences) *sketch.Numeric { return &r.s }, -1); ok {
		out = append(out, v)
	}
	if v, ok := s.decide("entropy", "normalised entropy", &c.h, r, func(r *confidences) *sketch.Numeric { return &r.h }, 1); ok {
		out = append(out, v)
	}
	return out
}

// decide is the verdict on one per-call quantity: KS on the samples, the
// effect the change of the mean in direction (−1: a drop is worse).
func (s Confidence) decide(subject, what string, c *sketch.Numeric, ref *confidences, of func(*confidences) *sketch.Numeric, direction float64) (signal.Verdict, bool) {
	if c.Count == 0 {
		return signal.Verdict{}, false
	}
	evidence := fmt.Sprintf("mean %s %.3f over %d calls", what, c.Mean, c.Count)
	if ref == nil || of(ref).Count == 0 {
		return signal.Info(subject, c.Mean, math.NaN(), c.Count, evidence), true
	}
	r := of(ref)
	p := math.NaN()
	if c.Count >= uint64(s.Config.MinCount) && r.Count >= uint64(s.Config.MinCount) {
		p = stat.KolmogorovSmirnov(sorted(r.Sample.Values()), sorted(c.Sample.Values())).PValue
	}
	return signal.Decision(subject, c.Mean, p, direction*(c.Mean-r.Mean), s.Config.Confidence.Warning, s.Config.Confidence.Critical, c.Count,
		fmt.Sprintf("%s (reference %.3f)", evidence, r.Mean)), true
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
