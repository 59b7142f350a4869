package analysis

import "time"

// ModelKey identifies a model version.
type ModelKey struct {
	ID      string
	Version string
}

// Feature kinds.
const (
	KindNumeric     = "numeric"
	KindCategorical = "categorical"
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
