package performance

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

// TestRealizedAgainstScikitLearn checks the metrics on the examples of
// scikit-learn's docstrings (f1_score, precision_score, recall_score,
// roc_auc_score via roc_curve), whose published values are the reference.
func TestRealizedAgainstScikitLearn(t *testing.T) {
	// y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]:
	// f1_score macro 0.2666…, weighted 0.2666…; precision_score macro and
	// weighted 0.2222…; recall_score macro and weighted 0.3333….
	r := Realized{Classified: 6, Correct: 2, Confusion: map[[2]string]uint64{
		{"0", "0"}: 2, {"1", "2"}: 1, {"2", "1"}: 2, {"1", "0"}: 1,
	}}
	macro, weighted := r.F1()
	near(t, "f1 macro", macro, 0.26666666666666666, 1e-12)
	near(t, "f1 weighted", weighted, 0.26666666666666666, 1e-12)
	pm, pw := r.Precision()
	rm, rw := r.Recall()
	near(t, "precision macro", pm, 0.2222222222222222, 1e-12)
	near(t, "precision weighted", pw, 0.2222222222222222, 1e-12)
	near(t, "recall macro", rm, 0.3333333333333333, 1e-12)
	near(t, "recall weighted", rw, 0.3333333333333333, 1e-12)
	near(t, "accuracy", r.Accuracy(), 1.0/3, 1e-12)

	// roc_curve's example: y = [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8]:
	// roc_auc_score 0.75.
	b := Realized{Scored: 4, Positives: 2, BinsPositive: make([]uint64, 100), BinsNegative: make([]uint64, 100), BinsScoreSum: make([]float64, 100)}
	b.BinsNegative[10], b.BinsNegative[40], b.BinsPositive[35], b.BinsPositive[80] = 1, 1, 1, 1
	near(t, "roc_auc", b.ROCAUC(), 0.75, 1e-12)
	// Ties in one bin count half: one positive and one negative in bin 50.
	tie := Realized{BinsPositive: make([]uint64, 100), BinsNegative: make([]uint64, 100)}
	tie.BinsPositive[50], tie.BinsNegative[50] = 1, 1
	near(t, "roc_auc of a tie", tie.ROCAUC(), 0.5, 1e-12)
	near(t, "roc_auc without negatives", (&Realized{BinsPositive: []uint64{1}, BinsNegative: []uint64{0}}).ROCAUC(), math.NaN(), 0)

	// brier_score_loss's example: y = [0, 1, 1, 0], p = [0.1, 0.9, 0.8, 0.3]: 0.0375.
	br := Realized{Scored: 4, BrierSum: 0.01 + 0.01 + 0.04 + 0.09}
	near(t, "brier", br.Brier(), 0.0375, 1e-12)
}

// TestECEByHand: ten bins; scores 0.05 (negative), 0.15 ×2 (one positive),
// 0.95 (positive). ECE = (1·|0.05−0| + 2·|0.15−0.5| + 1·|0.95−1|)/4 = 0.2.
func TestECEByHand(t *testing.T) {
	r := Realized{Scored: 4, BinsPositive: make([]uint64, 100), BinsNegative: make([]uint64, 100), BinsScoreSum: make([]float64, 100)}
	r.BinsNegative[5], r.BinsScoreSum[5] = 1, 0.05
	r.BinsPositive[15], r.BinsNegative[15], r.BinsScoreSum[15] = 1, 1, 0.30
	r.BinsPositive[95], r.BinsScoreSum[95] = 1, 0.95
	near(t, "ece", r.ECE(10), 0.2, 1e-12)
	near(t, "ece with bins not dividing", r.ECE(7), math.NaN(), 0)
}

// TestRealizedAccuracyDecision: 40 of 100 right against 50 of 100 in the
// reference period: pooled p 0.45, z = 0.1/√(0.45·0.55·0.02) = 1.42134,
// one-sided p = norm.sf(1.42134) = 0.07761.
func TestRealizedAccuracyDecision(t *testing.T) {
	cfg := DefaultConfig()
	cur := &Realized{Predictions: 200, Labeled: 100, Classified: 100, Correct: 40}
	ref := &Realized{Classified: 100, Correct: 50}
	vs := RealizedVerdicts(cfg, cur, ref, 0.52, 0.47)
	acc := find(t, vs, "accuracy")
	if !acc.Decides() {
		t.Fatalf("accuracy does not decide: %+v", acc)
	}
	near(t, "accuracy", acc.Statistic, 0.4, 1e-12)
	near(t, "p", acc.PValue, 0.07761, 2e-5)
	near(t, "effect", acc.Effect, 0.1, 1e-12)
	near(t, "coverage", find(t, vs, "coverage").Statistic, 0.5, 1e-12)
	if acc.Evidence != "40 of 100 labeled predictions right (coverage 0.500); estimated before labels 0.520 (calibrated on the reference period's labels 0.470); reference period 50 of 100 right (0.500)" {
		t.Errorf("evidence %q", acc.Evidence)
	}
	// Fewer than min_count on a side: measured, not tested.
	small := RealizedVerdicts(cfg, &Realized{Classified: 99, Correct: 10}, ref, math.NaN(), math.NaN())
	if a := find(t, small, "accuracy"); !math.IsNaN(a.PValue) {
		t.Errorf("p with 99 classified = %g, want NaN", a.PValue)
	}
	// All right on both sides: no drop, p = 1.
	same := RealizedVerdicts(cfg, &Realized{Classified: 100, Correct: 100}, &Realized{Classified: 100, Correct: 100}, math.NaN(), math.NaN())
	near(t, "p when all right", find(t, same, "accuracy").PValue, 1, 0)
	// Without a reference period: informs.
	if a := find(t, RealizedVerdicts(cfg, cur, nil, math.NaN(), math.NaN()), "accuracy"); a.Decides() {
		t.Errorf("accuracy decides without a reference: %+v", a)
	}
}

// TestRealizedAccuracyNullRate: on stationary data (every prediction right
// with probability 0.9), the one-sided test at α = 0.05 rejects in
// [α/2, 2α] of the windows.
func TestRealizedAccuracyNullRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	draw := func(n int) *Realized {
		r := &Realized{Classified: uint64(n)}
		for range n {
			if rng.Float64() < 0.9 {
				r.Correct++
			}
		}
		return r
	}
	ref := draw(5000)
	const windows = 4000
	rejected := 0
	for range windows {
		a := find(t, RealizedVerdicts(DefaultConfig(), draw(500), ref, math.NaN(), math.NaN()), "accuracy")
		if a.PValue <= 0.05 {
			rejected++
		}
	}
	rate := float64(rejected) / windows
	if rate < 0.025 || rate > 0.10 {
		t.Errorf("false-positive rate %.4f outside [0.025, 0.10]", rate)
	}
	t.Logf("false-positive rate %.4f at α = 0.05", rate)
}

func find(t *testing.T, vs []signal.Verdict, subject string) signal.Verdict {
	t.Helper()
	for _, v := range vs {
		if v.Subject == subject {
			return v
		}
	}
	t.Fatalf("no verdict about %q in %+v", subject, vs)
	return signal.Verdict{}
}

// TestCalibrationByHand: bin 90 of the reference period held 8 positives
// and 2 negatives (0.8), bin 10 one positive (below the minimum count of
// 5), the others nothing.
func TestCalibrationByHand(t *testing.T) {
	ref := &Realized{BinsPositive: make([]uint64, 100), BinsNegative: make([]uint64, 100)}
	ref.BinsPositive[90], ref.BinsNegative[90], ref.BinsPositive[10] = 8, 2, 1
	c := Calibration(ref, 5)
	for i, v := range c {
		want := -1.0
		if i == 90 {
			want = 0.8
		}
		if v != want {
			t.Errorf("bin %d: %g, want %g", i, v, want)
		}
	}
}
