package reference

import (
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
)

// Rolling builds a rolling reference from s, the state of a closed window
// that was opened against opened: the same bins and categories, the
// window's counts, moments and sample. subsample, the window sample size,
// is no longer used (see Reference.Prepare).
// It returns nil when opened is nil (a warm-up window).
func Rolling(s Sketches, opened *Reference, subsample int, now time.Time) *Reference {
	if opened == nil {
		return nil
	}
	ref := &Reference{
		Model: s.Model, CreatedAt: now.UTC().Truncate(time.Second),
		Source:  fmt.Sprintf("%s:%s", analysis.ModePreviousWindow, s.Start.Format(time.RFC3339)),
		Windows: 1,
		Numeric: make(map[string]*Numeric), Categorical: make(map[string]*Categorical),
		Signals: s.Signals,
	}
	for i, name := range s.NumericNames {
		st, on := &s.Numeric[i], opened.Numeric[name]
		if st.Count == 0 || st.Bins == nil || on == nil {
			continue
		}
		nr := &Numeric{Edges: on.Edges, Counts: slices.Clone(st.Bins), N: st.Count,
			Mean: st.Mean, Variance: st.Variance(), Min: st.Min, Max: st.Max, Sample: st.Sample.InKeyOrder()}
		nr.prepare()
		ref.Numeric[name] = nr
	}
	for i, name := range s.CategoricalNames {
		st, on := &s.Categorical[i], opened.Categorical[name]
		if st.Count == 0 || st.Counts == nil || on == nil {
			continue
		}
		cr := &Categorical{Categories: on.Categories, Counts: slices.Clone(st.Counts), Other: st.Other,
			N: st.Count, Complete: on.Complete}
		cr.Index()
		ref.Categorical[name] = cr
	}
	ref.ID = ref.Hash()
	return ref
}
