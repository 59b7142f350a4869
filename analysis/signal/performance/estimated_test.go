package performance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

func scored(id int, score float64) *telemetry.Event {
	th := 0.5
	return &telemetry.Event{PredictionID: fmt.Sprint(id), Prediction: telemetry.Prediction{Score: &score, Threshold: &th}}
}

// TestEstimatedByHand: scores 0.9, 0.8, 0.3, 0.1 at threshold 0.5 give the
// expected confusion TP = 1.7, FP = 0.3, FN = 0.4, TN = 1.6, hence accuracy
// 3.3/4 = 0.825, precision 0.85, recall 1.7/2.1, F1 3.4/4.1; the expected
// AUC (one score per bin) sums, from the highest bin, each bin's negative
// mass times the positive mass above it plus half its own, over P·N:
// (0.1·0.45 + 0.2·1.3 + 0.7·1.85 + 0.9·2.05)/(2.1·1.9).
func TestEstimatedByHand(t *testing.T) {
	sig := Estimated{DefaultConfig()}
	p := sig.NewPartial()
	p.Observe([]*telemetry.Event{scored(1, 0.9), scored(2, 0.8), scored(3, 0.3), scored(4, 0.1), {}})
	vs := sig.Score(p, nil)
	want := map[string]float64{
		"accuracy": 0.825, "precision": 0.85, "recall": 1.7 / 2.1, "f1": 3.4 / 4.1,
		"roc_auc": (0.1*0.45 + 0.2*1.3 + 0.7*1.85 + 0.9*2.05) / (2.1 * 1.9),
	}
	for subject, w := range want {
		if v := signaltest.Verdict(t, vs, subject); math.Abs(v.Statistic-w) > 1e-12 || v.N != 4 {
			t.Errorf("%s = %v (n %d), want %v", subject, v.Statistic, v.N, w)
		}
	}
}

// TestEstimatedAgreesWithRealized: on data whose labels follow the scores
// (each call positive with probability its score), the estimated accuracy
// and AUC agree with those the labels give, within the estimate's stated
// standard error (accuracy) and 0.01 (AUC), over 20 windows of 2,000 calls;
// and a window whose scores collapse towards the threshold is flagged as an
// accuracy drop while one like the reference is not.
func TestEstimatedAgreesWithRealized(t *testing.T) {
	sig := Estimated{DefaultConfig()}
	r := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, spread float64) (signal.Partial, float64, float64) {
		p := sig.NewPartial()
		var events []*telemetry.Event
		var right int
		var pos, neg []float64
		for i := range n {
			s := 1 / (1 + math.Exp(-spread*r.NormFloat64()))
			events = append(events, scored(i, s))
			label := r.Float64() < s
			if label == (s >= 0.5) {
				right++
			}
			if label {
				pos = append(pos, s)
			} else {
				neg = append(neg, s)
			}
		}
		p.Observe(events)
		// Realized AUC: the share of (positive, negative) pairs ordered right.
		var good float64
		for _, a := range pos {
			for _, b := range neg {
				switch {
				case a > b:
					good++
				case a == b:
					good += 0.5
				}
			}
		}
		return p, float64(right) / float64(n), good / float64(len(pos)*len(neg))
	}
	var outside int
	for w := range 20 {
		p, realized, realizedAUC := draw(2000, 2.5)
		e := p.(*expected)
		se := math.Sqrt(e.varSum) / float64(e.n)
		if math.Abs(e.accuracy()-realized) > 3*se {
			outside++
			t.Logf("window %d: estimated accuracy %.4f, realized %.4f, standard error %.4f", w, e.accuracy(), realized, se)
		}
		if math.Abs(e.auc()-realizedAUC) > 0.01+3*se {
			t.Errorf("window %d: estimated AUC %.4f, realized %.4f", w, e.auc(), realizedAUC)
		}
	}
	if outside > 1 {
		t.Errorf("%d of 20 windows beyond 3 standard errors", outside)
	}
	ref, _, _ := draw(5000, 2.5)
	same, _, _ := draw(2000, 2.5)
	collapsed, _, _ := draw(2000, 0.8)
	if v := signaltest.Verdict(t, sig.Score(same, ref), "accuracy"); v.PValue < 0.01 || !v.Decides() {
		t.Errorf("same scores: %+v", v)
	}
	if v := signaltest.Verdict(t, sig.Score(collapsed, ref), "accuracy"); !(v.PValue < 1e-9) || v.Effect < 0.1 {
		t.Errorf("collapsed scores: %+v", v)
	}
	// The partial travels and merges.
	a, b := sig.NewPartial(), sig.NewPartial()
	a.Merge(same)
	d := sketch.NewDecoder(a.AppendBinary(nil))
	b.Decode(d)
	if d.Err() != nil || b.(*expected).n != same.(*expected).n || math.Abs(b.(*expected).auc()-same.(*expected).auc()) > 1e-12 {
		t.Fatalf("decode: %v", d.Err())
	}
	bad := sig.NewPartial()
	d = sketch.NewDecoder(append(same.AppendBinary(nil)[:1], make([]byte, 40)...))
	bad.Decode(d)
	if d.Err() == nil {
		t.Error("a truncated state decoded")
	}
}
