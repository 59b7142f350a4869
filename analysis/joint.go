package analysis

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
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

// jointFromSamples builds the joint reference of the numeric features from
// their bottom-k samples: the events sampled for every feature (same keys)
// are the rows. It returns nil when there are fewer than two features, not
// more rows than features, or the covariance is singular.
func jointFromSamples(names []string, samples []*sketch.Sample) *stat.Joint {
	if len(names) < 2 {
		return nil
	}
	order := slices.Clone(names)
	slices.Sort(order)
	idx := make([]int, len(order))
	for i, n := range order {
		idx[i] = slices.Index(names, n)
	}
	byKey := make([]map[uint64]float64, len(order))
	for i, j := range idx {
		s := samples[j]
		vals := s.Values()
		byKey[i] = make(map[uint64]float64, s.Len())
		for k, key := range s.Keys() {
			byKey[i][key] = vals[k]
		}
	}
	first := samples[idx[0]]
	keys := slices.Clone(first.Keys())
	slices.Sort(keys)
	var rows [][]float64
	for _, key := range keys {
		row := make([]float64, len(order))
		ok := true
		for i := range order {
			v, found := byKey[i][key]
			if !found {
				ok = false
				break
			}
			row[i] = v
		}
		if ok {
			rows = append(rows, row)
		}
	}
	j, err := stat.NewJoint(order, rows)
	if err != nil {
		return nil
	}
	return j
}

// scoreJoint scores the window mean of the joint features against the joint
// reference: d = Mahalanobis distance (the effect, in reference standard
// deviations), significance from d²/(1/n_cur + 1/n_ref) ~ χ²_p (Hotelling,
// large n). Windows missing a joint feature are not scored.
func (c *Config) scoreJoint(out []Score, w *Window, j *stat.Joint) []Score {
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
