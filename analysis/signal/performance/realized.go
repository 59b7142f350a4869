package performance

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// RealizedName is the signal name of realized performance verdicts.
const RealizedName = "realized_performance"

// Realized holds the counts realized performance is computed from: the
// predictions of one window (or of several, added) and the labels joined to
// them. Every field adds up over windows (Add), so performance over any
// period is the performance of its windows' sum.
type Realized struct {
	// Predictions counts the predictions; Labeled those labeled within the
	// allowed delay; Classified those of them with a true and a predicted
	// class; Correct those predicting the true class.
	Predictions, Labeled, Classified, Correct uint64
	// Confusion counts classified predictions per (truth, predicted) class;
	// ConfusionOther those beyond the stored cells.
	Confusion      map[[2]string]uint64
	ConfusionOther uint64
	// Binary classifiers: Scored counts the classified predictions with a
	// score in [0, 1] and a threshold, Positives those truly positive (the
	// class predicted at or above the threshold), BrierSum Σ (score − y)²,
	// LogLossSum Σ −ln P(truth); per equal score bin of [0, 1] the
	// positives, negatives and Σ score.
	Scored, Positives       uint64
	BrierSum, LogLossSum    float64
	BinsPositive            []uint64
	BinsNegative            []uint64
	BinsScoreSum            []float64
	Regressed               uint64  // labeled with a value, predicting a score and no class
	AbsErrorSum, SqErrorSum float64 // Σ |score − value|, Σ (score − value)²
}

// Add adds o's counts to r's. Score bins add when both have the same
// number (or r has none yet).
func (r *Realized) Add(o *Realized) {
	r.Predictions += o.Predictions
	r.Labeled += o.Labeled
	r.Classified += o.Classified
	r.Correct += o.Correct
	if len(o.Confusion) > 0 && r.Confusion == nil {
		r.Confusion = make(map[[2]string]uint64, len(o.Confusion))
	}
	for k, n := range o.Confusion {
		r.Confusion[k] += n
	}
	r.ConfusionOther += o.ConfusionOther
	r.Scored += o.Scored
	r.Positives += o.Positives
	r.BrierSum += o.BrierSum
	r.LogLossSum += o.LogLossSum
	if len(r.BinsPositive) == 0 {
		r.BinsPositive = make([]uint64, len(o.BinsPositive))
		r.BinsNegative = make([]uint64, len(o.BinsNegative))
		r.BinsScoreSum = make([]float64, len(o.BinsScoreSum))
	}
	if len(o.BinsPositive) == len(r.BinsPositive) && len(o.BinsNegative) == len(r.BinsNegative) && len(o.BinsScoreSum) == len(r.BinsScoreSum) {
		for i := range r.BinsPositive {
			r.BinsPositive[i] += o.BinsPositive[i]
			r.BinsNegative[i] += o.BinsNegative[i]
			r.BinsScoreSum[i] += o.BinsScoreSum[i]
		}
	}
	r.Regressed += o.Regressed
	r.AbsErrorSum += o.AbsErrorSum
	r.SqErrorSum += o.SqErrorSum
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// Accuracy is Correct / Classified (NaN without classified predictions).
func (r *Realized) Accuracy() float64 { return ratio(float64(r.Correct), float64(r.Classified)) }

// Coverage is Labeled / Predictions: the share of predictions labeled so far.
func (r *Realized) Coverage() float64 { return ratio(float64(r.Labeled), float64(r.Predictions)) }

// ClassScores are the precision, recall and F1 of one class.
type ClassScores struct {
	Class                 string
	Precision, Recall, F1 float64
	Support               uint64 // classified predictions whose truth is Class
	Predicted             uint64 // classified predictions of Class
	TruePositives         uint64
}

// Classes returns the per-class scores of the confusion matrix, by class
// name. A class never predicted has precision NaN, one never true recall
// NaN, as scikit-learn's zero_division=nan; F1 is NaN when either is.
func (r *Realized) Classes() []ClassScores {
	by := map[string]*ClassScores{}
	get := func(c string) *ClassScores {
		s := by[c]
		if s == nil {
			s = &ClassScores{Class: c}
			by[c] = s
		}
		return s
	}
	for k, n := range r.Confusion {
		get(k[0]).Support += n
		get(k[1]).Predicted += n
		if k[0] == k[1] {
			get(k[0]).TruePositives += n
		}
	}
	out := make([]ClassScores, 0, len(by))
	for _, s := range by {
		s.Precision = ratio(float64(s.TruePositives), float64(s.Predicted))
		s.Recall = ratio(float64(s.TruePositives), float64(s.Support))
		s.F1 = math.NaN()
		if !math.IsNaN(s.Precision) && !math.IsNaN(s.Recall) {
			s.F1 = 0
			if s.Precision+s.Recall > 0 {
				s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
			}
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

// F1 returns the macro F1 (the mean over every class true or predicted at
// least once; a class never predicted or never true counts 0) and the
// weighted F1 (by support), as scikit-learn's f1_score with
// zero_division=0.
func (r *Realized) F1() (macro, weighted float64) {
	return r.average(func(c ClassScores) float64 { return c.F1 })
}

// Precision returns the macro and weighted precision, as scikit-learn's
// precision_score with zero_division=0.
func (r *Realized) Precision() (macro, weighted float64) {
	return r.average(func(c ClassScores) float64 { return c.Precision })
}

// Recall returns the macro and weighted recall, as scikit-learn's
// recall_score with zero_division=0.
func (r *Realized) Recall() (macro, weighted float64) {
	return r.average(func(c ClassScores) float64 { return c.Recall })
}

// average returns the mean of score over the classes (NaN counting 0) and
// its mean weighted by support.
func (r *Realized) average(score func(ClassScores) float64) (macro, weighted float64) {
	var sum, wsum, support float64
	n := 0
	for _, c := range r.Classes() {
		f := score(c)
		if math.IsNaN(f) {
			f = 0
		}
		sum += f
		n++
		wsum += f * float64(c.Support)
		support += float64(c.Support)
	}
	return ratio(sum, float64(n)), ratio(wsum, support)
}

// ROCAUC returns the ROC AUC of the binary scores from their bins: each
// (positive, negative) pair ordered right counts 1, a pair in the same bin
// ½ (so the value is the exact AUC when no two scores of opposite truth
// share a bin, and within the share of such pairs of it otherwise). NaN
// without both classes.
func (r *Realized) ROCAUC() float64 {
	var pos, neg float64
	for i := range r.BinsPositive {
		pos += float64(r.BinsPositive[i])
		neg += float64(r.BinsNegative[i])
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	var area, above float64
	for i := len(r.BinsPositive) - 1; i >= 0; i-- {
		p, n := float64(r.BinsPositive[i]), float64(r.BinsNegative[i])
		area += n * (above + p/2)
		above += p
	}
	return area / (pos * neg)
}

// ECE returns the expected calibration error of the binary scores over
// bins equal-width bins of [0, 1] (10 is customary; it must divide the
// stored bins): Σ_b n_b/n · |mean score_b − share of positives_b|.
func (r *Realized) ECE(bins int) float64 {
	if bins <= 0 || len(r.BinsPositive)%bins != 0 || r.Scored == 0 {
		return math.NaN()
	}
	per := len(r.BinsPositive) / bins
	var ece, total float64
	for b := range bins {
		var n, p, s float64
		for i := b * per; i < (b+1)*per; i++ {
			n += float64(r.BinsPositive[i] + r.BinsNegative[i])
			p += float64(r.BinsPositive[i])
			s += r.BinsScoreSum[i]
		}
		if n > 0 {
			ece += math.Abs(s/n-p/n) * n
			total += n
		}
	}
	return ratio(ece, total)
}

// Brier is the mean (score − y)² of the binary scores.
func (r *Realized) Brier() float64 { return ratio(r.BrierSum, float64(r.Scored)) }

// LogLoss is the mean −ln P(truth) of the binary scores (P clipped at 1e-15).
func (r *Realized) LogLoss() float64 { return ratio(r.LogLossSum, float64(r.Scored)) }

// MAE is the mean absolute error of the regressions.
func (r *Realized) MAE() float64 { return ratio(r.AbsErrorSum, float64(r.Regressed)) }

// RMSE is the root mean squared error of the regressions.
func (r *Realized) RMSE() float64 { return math.Sqrt(ratio(r.SqErrorSum, float64(r.Regressed))) }

// Calibration returns, per score bin of the reference period's binary
// predictions, the share whose truth was the class predicted at or above
// the threshold (histogram binning, Zadrozny and Elkan 2001): the
// calibration of the scores that CBPE applies before estimating, as NannyML
// calibrates on the reference period's labels. A bin with fewer than
// minCount labeled predictions gets −1 (its scores are taken as they are).
func Calibration(ref *Realized, minCount uint64) []float64 {
	out := make([]float64, len(ref.BinsPositive))
	for i := range out {
		n := ref.BinsPositive[i] + ref.BinsNegative[i]
		out[i] = -1
		if n >= minCount && n > 0 {
			out[i] = float64(ref.BinsPositive[i]) / float64(n)
		}
	}
	return out
}

// RealizedVerdicts returns the realized performance of a window (subjects
// "accuracy", "f1_macro", "f1_weighted", "precision_macro",
// "precision_weighted", "recall_macro", "recall_weighted", "roc_auc", "brier", "log_loss",
// "ece", "mae", "rmse", "coverage"; those without data are left out) against
// ref, the sum of the reference period's windows (nil: none yet).
//
// Decision (accuracy only): the drop of the accuracy below the reference
// period's, by the pooled two-proportion z-test, one-sided, with at least
// MinCount classified predictions on each side; its effect is the drop.
// The other subjects inform. estimated and calibrated, when not NaN, are the
// window's accuracy estimated from its scores before the labels (CBPE), as
// they are and calibrated on the reference period's labels, shown in the
// evidence next to the realized one.
func RealizedVerdicts(cfg Config, cur, ref *Realized, estimated, calibrated float64) []signal.Verdict {
	nan := math.NaN()
	var out []signal.Verdict
	if cur.Classified > 0 {
		acc := cur.Accuracy()
		evidence := fmt.Sprintf("%d of %d labeled predictions right (coverage %.3f)", cur.Correct, cur.Classified, cur.Coverage())
		if !math.IsNaN(estimated) {
			evidence += fmt.Sprintf("; estimated before labels %.3f", estimated)
			if !math.IsNaN(calibrated) {
				evidence += fmt.Sprintf(" (calibrated on the reference period's labels %.3f)", calibrated)
			}
		}
		v := signal.Info("accuracy", acc, nan, cur.Classified, evidence)
		if ref != nil && ref.Classified > 0 {
			p := nan
			if cur.Classified >= uint64(cfg.MinCount) && ref.Classified >= uint64(cfg.MinCount) {
				z := stat.TwoProportionZ(float64(ref.Correct), float64(ref.Classified), float64(cur.Correct), float64(cur.Classified))
				switch {
				case !math.IsNaN(z):
					p = distuv.UnitNormal.Survival(z)
				case cur.Correct == cur.Classified || ref.Correct == 0:
					// Both all right, or both all wrong: no drop.
					p = 1
				}
			}
			v = signal.Decision("accuracy", acc, p, ref.Accuracy()-acc, cfg.Accuracy.Warning, cfg.Accuracy.Critical, cur.Classified,
				fmt.Sprintf("%s; reference period %d of %d right (%.3f)", evidence, ref.Correct, ref.Classified, ref.Accuracy()))
		}
		out = append(out, v)
		for _, m := range []struct {
			name string
			f    func() (float64, float64)
		}{{"f1", cur.F1}, {"precision", cur.Precision}, {"recall", cur.Recall}} {
			macro, weighted := m.f()
			out = append(out, signal.Info(m.name+"_macro", macro, nan, cur.Classified, ""), signal.Info(m.name+"_weighted", weighted, nan, cur.Classified, ""))
		}
	}
	if cur.Scored > 0 {
		out = append(out,
			signal.Info("roc_auc", cur.ROCAUC(), nan, cur.Scored, ""),
			signal.Info("brier", cur.Brier(), nan, cur.Scored, ""),
			signal.Info("log_loss", cur.LogLoss(), nan, cur.Scored, ""),
			signal.Info("ece", cur.ECE(10), nan, cur.Scored, ""))
	}
	if cur.Regressed > 0 {
		out = append(out, signal.Info("mae", cur.MAE(), nan, cur.Regressed, ""), signal.Info("rmse", cur.RMSE(), nan, cur.Regressed, ""))
	}
	if cur.Predictions > 0 {
		out = append(out, signal.Info("coverage", cur.Coverage(), nan, cur.Predictions, ""))
	}
	return out
}
