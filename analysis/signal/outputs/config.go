package outputs

import (
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal"
)

// Levels are the warning and critical levels of a signal's effect.
type Levels struct {
	Warning  float64 `yaml:"warning"`
	Critical float64 `yaml:"critical"`
}

// Config configures the output signals. Start from DefaultConfig.
type Config struct {
	// MinCount is the smallest number of observations on each side (window
	// and reference) for a verdict to be tested. Default: 100.
	MinCount int `yaml:"min_count"`
	// MaxSubjects bounds the error types and classes counted per window;
	// further values are counted as "other". Default: 16.
	MaxSubjects int `yaml:"max_subjects"`
	// ErrorRate levels the absolute increase of the error rate (overall and
	// per error type) over the reference's. Default: 0.01 / 0.05.
	ErrorRate Levels `yaml:"error_rate"`
	// Latency levels the relative increase of the 95th latency percentile
	// over the reference's (0.25: 25% slower). Default: 0.25 / 1.
	Latency Levels `yaml:"latency"`
	// ClassShare levels the absolute change of a predicted class's share of
	// the window. Default: 0.05 / 0.15.
	ClassShare Levels `yaml:"class_share"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MinCount:    100,
		MaxSubjects: 16,
		ErrorRate:   Levels{Warning: 0.01, Critical: 0.05},
		Latency:     Levels{Warning: 0.25, Critical: 1},
		ClassShare:  Levels{Warning: 0.05, Critical: 0.15},
	}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	if c.MinCount < 1 {
		return fmt.Errorf("min_count: must be positive, got %d", c.MinCount)
	}
	if c.MaxSubjects < 1 || c.MaxSubjects > 1000 {
		return fmt.Errorf("max_subjects: must be between 1 and 1000, got %d", c.MaxSubjects)
	}
	for _, l := range []struct {
		name string
		l    Levels
	}{{"error_rate", c.ErrorRate}, {"latency", c.Latency}, {"class_share", c.ClassShare}} {
		w, cr := l.l.Warning, l.l.Critical
		if !(w >= 0) || !(cr >= w) || math.IsInf(cr, 0) {
			return fmt.Errorf("%s: levels must be finite, warning >= 0 and critical >= warning, got %g / %g", l.name, w, cr)
		}
	}
	return nil
}

// Signals returns the output signals configured by c (validate it first).
func Signals(c Config) []signal.Signal {
	return []signal.Signal{ErrorRate{c}, Latency{c}, ClassShare{c}}
}
