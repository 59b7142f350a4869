// Package performance holds the signals about whether a model is still
// right. Estimated is confidence-based performance estimation (CBPE, as
// NannyML does it) for binary classifiers that send calibrated
// probabilities: the expected confusion matrix of a window from its scores
// alone, before any label arrives.
package performance

import (
	"encoding/binary"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// aucBins is the resolution of the estimated ROC AUC: scores are summed in
// this many equal bins of [0, 1] (ties within a bin count half).
const aucBins = 200

// Config configures a performance decision, estimated or realized: the
// minimum counts and the levels of the accuracy drop.
type Config struct {
	// MinCount is the smallest number of scored calls (estimated) or
	// classified labeled predictions (realized) on each side for the
	// accuracy decision. Default: 100.
	MinCount int `yaml:"min_count"`
	// Accuracy levels the drop of the accuracy below the reference
	// period's. Default: 0.02 / 0.05.
	Accuracy outputs.Levels `yaml:"accuracy"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MinCount: 100, Accuracy: outputs.Levels{Warning: 0.02, Critical: 0.05}}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	if c.MinCount < 1 {
		return fmt.Errorf("min_count: must be positive, got %d", c.MinCount)
	}
	if err := c.Accuracy.Validate(); err != nil {
		return fmt.Errorf("accuracy: %w", err)
	}
	return nil
}

// Estimated is the performance of a binary classifier estimated from its
// calibrated probabilities (prediction.score, the probability of the
// positive class, with prediction.threshold: the call predicts positive
// when score ≥ threshold). With p the score and ŷ the predicted class, the
// expected confusion matrix is TP = Σ_{ŷ=1} p, FP = Σ_{ŷ=1} (1−p),
// FN = Σ_{ŷ=0} p, TN = Σ_{ŷ=0} (1−p) (Guide to CBPE, NannyML), giving
// estimated accuracy, precision, recall and F1 (subjects "accuracy",
// "precision", "recall", "f1") and ROC AUC ("roc_auc": the expected true and
// false positive rates over score bins). It assumes the scores are
// calibrated on the serving data: when they are not, the estimate is off by
// the miscalibration, which realized performance from labels reveals.
//
// Decision (accuracy only): the drop of the estimated accuracy below the
// reference period's, tested with z = (â_ref − â)/√(V_ref + V), where
// V = Σ q(1−q)/n² is the variance of the window's accuracy when each call is
// right with probability q (p when it predicts positive, else 1 − p):
// one-sided. The other subjects inform.
type Estimated struct{ Config Config }

// Name returns "estimated_performance".
func (Estimated) Name() string { return "estimated_performance" }

// NewPartial returns an empty partial.
func (Estimated) NewPartial() signal.Partial { return &expected{} }

type expected struct {
	n              uint64
	tp, fp, fn, tn float64 // expected confusion matrix
	varSum         float64 // Σ q(1−q)
	pos, neg       [aucBins]float64
}

func (p *expected) Observe(events []*telemetry.Event) {
	for _, e := range events {
		sc, th := e.Prediction.Score, e.Prediction.Threshold
		if sc == nil || th == nil || !(*sc >= 0 && *sc <= 1) {
			continue
		}
		s := *sc
		p.n++
		q := 1 - s
		if s >= *th {
			p.tp += s
			p.fp += 1 - s
			q = s
		} else {
			p.fn += s
			p.tn += 1 - s
		}
		p.varSum += q * (1 - q)
		b := min(int(s*aucBins), aucBins-1)
		p.pos[b] += s
		p.neg[b] += 1 - s
	}
}

func (p *expected) Merge(o signal.Partial) {
	q := o.(*expected)
	p.n += q.n
	p.tp, p.fp, p.fn, p.tn, p.varSum = p.tp+q.tp, p.fp+q.fp, p.fn+q.fn, p.tn+q.tn, p.varSum+q.varSum
	for i := range p.pos {
		p.pos[i] += q.pos[i]
		p.neg[i] += q.neg[i]
	}
}

func (p *expected) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.n)
	for _, v := range []float64{p.tp, p.fp, p.fn, p.tn, p.varSum} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	if p.n == 0 {
		return b
	}
	for i := range p.pos {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.pos[i]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.neg[i]))
	}
	return b
}

func (p *expected) Decode(d *sketch.Decoder) {
	p.n = d.Uvarint()
	sums := []*float64{&p.tp, &p.fp, &p.fn, &p.tn, &p.varSum}
	for _, v := range sums {
		*v = d.Float()
	}
	if d.Err() != nil || p.n == 0 {
		return
	}
	for i := range p.pos {
		p.pos[i], p.neg[i] = d.Float(), d.Float()
	}
	if d.Err() != nil {
		return
	}
	// Every sum is of values in [0, 1] over at most n calls.
	n := float64(p.n)
	ok := p.tp+p.fp+p.fn+p.tn <= n*(1+1e-9) && p.varSum <= n/4*(1+1e-9)
	for _, v := range sums {
		ok = ok && *v >= 0 && *v <= n*(1+1e-9)
	}
	for i := range p.pos {
		ok = ok && p.pos[i] >= 0 && p.neg[i] >= 0
	}
	if !ok {
		d.Fail("estimated confusion sums out of range")
	}
}

func (p *expected) accuracy() float64 { return (p.tp + p.tn) / float64(p.n) }

// auc returns the expected ROC AUC over the score bins, from the highest:
// the area under (FPR, TPR) with the expected positives and negatives of
// each bin, ties within a bin counted half (the trapezoid).
func (p *expected) auc() float64 {
	var totalPos, totalNeg float64
	for i := range p.pos {
		totalPos += p.pos[i]
		totalNeg += p.neg[i]
	}
	if totalPos <= 0 || totalNeg <= 0 {
		return math.NaN()
	}
	var area, tp float64
	for i := aucBins - 1; i >= 0; i-- {
		// Trapezoid over this bin: its negatives times the positives above
		// plus half its own.
		area += p.neg[i] * (tp + p.pos[i]/2)
		tp += p.pos[i]
	}
	return area / (totalPos * totalNeg)
}

// Score returns the estimates; the accuracy decides against the reference
// period's estimate.
func (s Estimated) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*expected)
	if c.n == 0 {
		return nil
	}
	nan := math.NaN()
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return nan
		}
		return a / b
	}
	acc := c.accuracy()
	evidence := fmt.Sprintf("expected confusion TP %.1f FP %.1f FN %.1f TN %.1f over %d calls", c.tp, c.fp, c.fn, c.tn, c.n)
	accV := signal.Info("accuracy", acc, nan, c.n, evidence)
	if ref != nil {
		if r := ref.(*expected); r.n > 0 {
			p := nan
			if c.n >= uint64(s.Config.MinCount) && r.n >= uint64(s.Config.MinCount) {
				v := c.varSum/float64(c.n*c.n) + r.varSum/float64(r.n*r.n)
				if v > 0 {
					p = distuv.UnitNormal.Survival((r.accuracy() - acc) / math.Sqrt(v))
				}
			}
			accV = signal.Decision("accuracy", acc, p, r.accuracy()-acc, s.Config.Accuracy.Warning, s.Config.Accuracy.Critical, c.n,
				fmt.Sprintf("%s (reference accuracy %.3f)", evidence, r.accuracy()))
		}
	}
	return []signal.Verdict{
		accV,
		signal.Info("precision", ratio(c.tp, c.tp+c.fp), nan, c.n, ""),
		signal.Info("recall", ratio(c.tp, c.tp+c.fn), nan, c.n, ""),
		signal.Info("f1", ratio(2*c.tp, 2*c.tp+c.fp+c.fn), nan, c.n, ""),
		signal.Info("roc_auc", c.auc(), nan, c.n, ""),
	}
}
