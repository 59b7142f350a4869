package window

import (
	"maps"
	"slices"

	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Rebind turns w, a window opened without a reference (warm-up state), into
// the state it would have had if it had been opened against ref, when that
// can be done exactly: every numeric feature's sample holds all of its
// observations (so bin counts against ref's edges can be counted from it)
// and no categorical feature overflowed its tracked values. It reports
// whether it rebound w; otherwise w is left as it was.
//
// A reference pinned by a decider reaches the partitions a moment later, so
// windows opened meanwhile carry warm-up state; rebinding scores them exactly
// like the windows opened after. Their samples (of whole events, or per
// feature) are cut to the bottom SampleSize keys, the sample a window
// opened against ref keeps.
func (w *Window) Rebind(ref *reference.Reference) bool {
	if w.Ref != nil || ref == nil || ref.Model != w.Model {
		return false
	}
	// A window sampling whole events is read from its rows: filling the
	// features' samples from them (Sync) would copy every row, which the
	// rebound window drops.
	if !w.byRows {
		w.Sync()
	}
	for i := range w.Numeric {
		if s := &w.Numeric[i]; uint64(w.sampled(i)) < s.Count {
			return false
		}
	}
	for i := range w.Categorical {
		if w.Categorical[i].Other > 0 {
			return false
		}
	}
	w.Ref = ref
	k := w.cfg.SampleSize
	var rows sketch.Rows
	if w.byRows {
		rows = w.rows.Cut(k)
	}
	w.numEdges, w.numScan = w.numEdges[:0], w.numScan[:0]
	for i, name := range w.NumericNames() {
		var edges []float64
		if nr := ref.Numeric[name]; nr != nil {
			edges = nr.Edges
		}
		w.numEdges = append(w.numEdges, edges)
		w.numScan = append(w.numScan, scannable(edges))
		old := &w.Numeric[i]
		s := sketch.Numeric{Count: old.Count, Mean: old.Mean, M2: old.M2, Min: old.Min, Max: old.Max, Sample: sketch.NewSample(k)}
		if edges != nil {
			s.Bins = make([]uint64, len(edges)+1)
		}
		if w.byRows {
			if s.Bins != nil {
				w.rows.EachValue(i, func(v float64) { s.Bins[stat.BinIndex(edges, v)]++ })
			}
		} else {
			keys := old.Sample.Keys()
			for j, v := range old.Sample.Values() {
				if s.Bins != nil {
					s.Bins[stat.BinIndex(edges, v)]++
				}
				s.Sample.Add(keys[j], v)
			}
		}
		w.Numeric[i] = s
	}
	if w.byRows {
		w.rows, w.dirty = rows, true
	}
	w.catIdx = w.catIdx[:0]
	for i, name := range w.CategoricalNames() {
		cr := ref.Categorical[name]
		w.catIdx = append(w.catIdx, cr.Lookup())
		old := &w.Categorical[i]
		s := sketch.NewCategorical(cr.Lookup())
		if cr == nil {
			// A feature the reference lacks keeps counting values as in warm-up.
			s.Count, s.Tracked = old.Count, old.Tracked
		} else {
			for _, v := range slices.Sorted(maps.Keys(old.Tracked)) {
				s.ObserveN(v, old.Tracked[v], cr.Lookup())
			}
		}
		w.Categorical[i] = s
	}
	return true
}

// sampled returns how many values of numeric feature i w's sample holds:
// the rows that carry it when w samples whole events (what Sync would
// fill its sample with), its sample's otherwise.
func (w *Window) sampled(i int) int {
	if w.byRows {
		return w.rows.Present(i)
	}
	return w.Numeric[i].Sample.Len()
}
