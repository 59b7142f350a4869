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

// Validate checks that the levels are finite, warning ≥ 0 and critical ≥
// warning.
func (l Levels) Validate() error {
	if !(l.Warning >= 0) || !(l.Critical >= l.Warning) || math.IsInf(l.Critical, 0) {
		return fmt.Errorf("levels must be finite, warning >= 0 and critical >= warning, got %g / %g", l.Warning, l.Critical)
	}
	return nil
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
	// Confidence levels the drop of the mean confidence (largest class
	// probability). Default: 0.05 / 0.15.
	Confidence Levels `yaml:"confidence"`
	// MarginDensity levels the absolute increase of the share of scores
	// within Margin of their threshold. Default: 0.05 / 0.15.
	MarginDensity Levels `yaml:"margin_density"`
	// Margin is the distance from the threshold within which a score sketch.Labels
	// for margin_density. Default: 0.05.
	Margin float64 `yaml:"margin"`
	// SampleSize bounds the uniform sample of per-call confidences kept per
	// window for the KS test (at most 10000, where KS p-values are exact).
	// Memory: 16 bytes per value. Default: 1000.
	SampleSize int `yaml:"sample_size"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MinCount:      100,
		MaxSubjects:   16,
		ErrorRate:     Levels{Warning: 0.01, Critical: 0.05},
		Latency:       Levels{Warning: 0.25, Critical: 1},
		ClassShare:    Levels{Warning: 0.05, Critical: 0.15},
		Confidence:    Levels{Warning: 0.05, Critical: 0.15},
		MarginDensity: Levels{Warning: 0.05, Critical: 0.15},
		Margin:        0.05,
		SampleSize:    1000,
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
	}{{"error_rate", c.ErrorRate}, {"latency", c.Latency}, {"class_share", c.ClassShare},
		{"confidence", c.Confidence}, {"margin_density", c.MarginDensity}} {
		if err := l.l.Validate(); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if !(c.Margin > 0 && c.Margin < 1) {
		return fmt.Errorf("margin: must be in (0, 1), got %g", c.Margin)
	}
	if c.SampleSize < 10 || c.SampleSize > 10000 {
		return fmt.Errorf("sample_size: must be between 10 and 10000, got %d", c.SampleSize)
	}
	return nil
}

// Signals returns the output signals configured by c (validate it first).
func Signals(c Config) []signal.Signal {
	return []signal.Signal{ErrorRate{c}, Latency(c), ClassShare{c}, Confidence{c}, MarginDensity{c}}
}
