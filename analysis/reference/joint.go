package reference

import (
	"math"
	"slices"

	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// jointFromSamples builds the joint reference of the numeric features from
// their bottom-k samples: the events sampled for every feature (same keys)
// are the rows. It returns nil when there are fewer than two features, not
// more rows than features, or the covariance is singular.
func jointFromSamples(names []string, samples []*sketch.Sample) *stat.Joint {
	if len(names) < 2 {
		return nil
	}
	order, idx := byName(names, func(j int) int { return j })
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

// jointFromRows builds the joint reference of the numeric features names,
// columns cols of rows, from the rows directly: the sampled events that
// carry every one of them, in key order (slots, rows.SlotsInKeyOrder()).
// When every event carries every feature it gives exactly what
// jointFromSamples gives from the samples filled from the same rows. It
// returns nil as jointFromSamples does.
func jointFromRows(names []string, cols []int, rows *sketch.Rows, slots []int) *stat.Joint {
	if len(names) < 2 {
		return nil
	}
	order, idx := byName(names, func(j int) int { return cols[j] })
	// One backing array for every row rather than an allocation per row
	// (NewJoint keeps none of them).
	flat := make([]float64, len(slots)*len(order))
	out := make([][]float64, 0, len(slots))
	for _, slot := range slots {
		row := flat[:len(order):len(order)]
		ok := true
		for i, c := range idx {
			if row[i] = rows.Value(slot, c); math.IsNaN(row[i]) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, row)
			flat = flat[len(order):]
		}
	}
	j, err := stat.NewJoint(order, out)
	if err != nil {
		return nil
	}
	return j
}

// byName returns names sorted, and for each the column col gives its
// position in names: the joint reference's features in name order, so that
// it does not depend on the order they came in.
func byName(names []string, col func(int) int) (order []string, idx []int) {
	order = slices.Clone(names)
	slices.Sort(order)
	idx = make([]int, len(order))
	for i, n := range order {
		idx[i] = col(slices.Index(names, n))
	}
	return order, idx
}
