package evaluate

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Multivariate scores are stored under this feature name and kind.
const (
	// JointFeature names the multivariate score of all numeric features
	// (a name the telemetry decoder reserves).
	JointFeature = telemetry.AllNumericFeature
	// KindMultivariate is its kind.
	KindMultivariate = "multivariate"
	// TestMahalanobis is the Mahalanobis distance of the window mean.
	TestMahalanobis = "mahalanobis"
)

// scoreJoint scores the window mean of the joint features against the joint
// reference: d = Mahalanobis distance (the effect, in reference standard
// deviations), significance from d²/(1/n_cur + 1/n_ref) ~ χ²_p (Hotelling,
// large n). Windows missing a joint feature are not scored.
func scoreJoint(c *analysis.Config, out []Score, w *window.Window, j *stat.Joint) []Score {
	if j == nil || !j.Prepared() {
		return out
	}
	means := make([]float64, len(j.Features))
	nCur := uint64(math.MaxUint64)
	for i, name := range j.Features {
		k := slices.Index(w.NumericNames(), name)
		if k < 0 || w.Numeric[k].Count == 0 {
			return out
		}
		means[i] = w.Numeric[k].Mean
		nCur = min(nCur, w.Numeric[k].Count)
	}
	d, err := j.Distance(means)
	if err != nil {
		return out
	}
	p := math.NaN()
	if j.N > 0 {
		t := d * d / (1/float64(nCur) + 1/float64(j.N))
		p = distuv.ChiSquared{K: float64(len(j.Features))}.Survival(t)
	}
	return append(out, Score{Feature: JointFeature, Kind: KindMultivariate, Test: TestMahalanobis,
		Statistic: d, PValue: p, Effect: d, NReference: j.N, NCurrent: nCur})
}
