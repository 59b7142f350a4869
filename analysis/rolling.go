package analysis

import (
	"fmt"
	"slices"
	"time"
)

// Reference modes: which reference each window of a model is scored against.
const (
	// ModePinned scores against the pinned reference (warm-up or imported).
	ModePinned = "pinned"
	// ModePreviousWindow scores against the model version's previous window.
	ModePreviousWindow = "previous_window"
	// ModePreviousDay scores against the same window one day earlier.
	ModePreviousDay = "previous_day"
	// ModePreviousWeek scores against the same window one week earlier.
	ModePreviousWeek = "previous_week"
)

// validMode reports whether m is a reference mode.
func validMode(m string) bool {
	return m == ModePinned || m == ModePreviousWindow || m == ModePreviousDay || m == ModePreviousWeek
}

// Mode returns the reference mode of a model: its entry in ReferenceModes,
// else ModePinned.
func (c *Config) Mode(modelID string) string {
	if m, ok := c.ReferenceModes[modelID]; ok {
		return m
	}
	return ModePinned
}

// Lookback returns how far back the same window lies for the previous_day
// and previous_week modes, 0 for the others.
func Lookback(mode string) time.Duration {
	switch mode {
	case ModePreviousDay:
		return 24 * time.Hour
	case ModePreviousWeek:
		return 7 * 24 * time.Hour
	}
	return 0
}

// ReferenceFromWindow builds a rolling reference from a closed window that
// was opened against a reference: the same bins and categories, the window's
// counts, moments and sample. It returns nil for a warm-up window.
func ReferenceFromWindow(w *Window, now time.Time) *Reference {
	if w.Ref == nil {
		return nil
	}
	ref := &Reference{
		Model: w.Model, CreatedAt: now.UTC().Truncate(time.Second),
		Source:  fmt.Sprintf("%s:%s", ModePreviousWindow, w.Start.Format(time.RFC3339)),
		Windows: 1,
		Numeric: make(map[string]*NumericReference), Categorical: make(map[string]*CategoricalReference),
		Signals: w.Signals,
	}
	subsample := w.cfg.SampleSize
	for i, name := range w.NumericNames() {
		s, opened := &w.Numeric[i], w.Ref.Numeric[name]
		if s.Count == 0 || s.Bins == nil || opened == nil {
			continue
		}
		nr := &NumericReference{Edges: opened.Edges, Counts: slices.Clone(s.Bins), N: s.Count,
			Mean: s.Mean, Variance: s.Variance(), Min: s.Min, Max: s.Max, Sample: s.Sample.InKeyOrder()}
		nr.prepare(subsample)
		ref.Numeric[name] = nr
	}
	for i, name := range w.CategoricalNames() {
		s, opened := &w.Categorical[i], w.Ref.Categorical[name]
		if s.Count == 0 || s.Counts == nil || opened == nil {
			continue
		}
		cr := &CategoricalReference{Categories: opened.Categories, Counts: slices.Clone(s.Counts), Other: s.Other,
			N: s.Count, Complete: opened.Complete}
		cr.Index()
		ref.Categorical[name] = cr
	}
	ref.ID = ref.Hash()
	return ref
}
