package analysis

import (
	"fmt"
	"math"
	"time"
)

// Config controls windows, references and drift decisions.
type Config struct {
	// WindowSize is the length of the event-time tumbling windows. Default: 1m.
	WindowSize time.Duration `yaml:"window_size"`
	// AllowedLateness is how long after a window's end, in event time, its
	// events are still accepted. Default: 10s.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// IdleFlush closes, after this much wall-clock time without events on a
	// partition, the open windows whose end plus lateness has passed. Default: 2 × WindowSize.
	IdleFlush time.Duration `yaml:"idle_flush"`
	// WarmupWindows is how many closed windows of a model version make its
	// reference when none was imported. Default: 5.
	WarmupWindows int `yaml:"warmup_windows"`
	// SampleSize bounds the uniform sample kept per numeric feature and window,
	// and in a reference. At most 10000, so KS p-values are exact. Default: 1000.
	SampleSize int `yaml:"sample_size"`
	// Bins is the number of reference-quantile bins of numeric features. Default: 10 (deciles).
	Bins int `yaml:"bins"`
	// MaxCategories bounds the categories tracked per categorical feature;
	// the rest are counted as "other". Default: 64.
	MaxCategories int `yaml:"max_categories"`
	// MaxFeatures bounds the features tracked per model version; events'
	// further features are counted in driftwatch_analysis_untracked_features_total. Default: 256.
	MaxFeatures int `yaml:"max_features"`
	// MaxModels bounds the model versions tracked per partition. Default: 1000.
	MaxModels int `yaml:"max_models"`
	// MinCount is the smallest number of observations on each side for a
	// test to decide drift. Default: 100.
	MinCount int `yaml:"min_count"`
	// Thresholds are the warning and critical thresholds per test.
	Thresholds Thresholds `yaml:"thresholds"`
}

// Threshold is a pair of warning and critical levels for one test. For tests
// decided on a statistic (psi, js, wasserstein_norm) a value at or above the
// level reaches it; for tests decided on a p-value (ks, chi2) a p-value below
// the level reaches it. A zero pair disables the test's decision.
type Threshold struct {
	Warning  float64 `yaml:"warning"`
	Critical float64 `yaml:"critical"`
}

// Thresholds holds one Threshold per test.
type Thresholds struct {
	// PSI on reference bins. Default: 0.1 / 0.25.
	PSI Threshold `yaml:"psi"`
	// JS is the Jensen–Shannon distance (base 2) on reference bins. Default: 0.1 / 0.2.
	JS Threshold `yaml:"js"`
	// WassersteinNorm is Wasserstein-1 divided by the reference standard deviation. Default: 0.1 / 0.2.
	WassersteinNorm Threshold `yaml:"wasserstein_norm"`
	// KS is the Kolmogorov–Smirnov p-value. Default: 0.001 / 0.000001.
	KS Threshold `yaml:"ks"`
	// Chi2 is the chi-square p-value of categorical features. Default: 0.001 / 0.000001.
	Chi2 Threshold `yaml:"chi2"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		WindowSize:      time.Minute,
		AllowedLateness: 10 * time.Second,
		WarmupWindows:   5,
		SampleSize:      1000,
		Bins:            10,
		MaxCategories:   64,
		MaxFeatures:     256,
		MaxModels:       1000,
		MinCount:        100,
		Thresholds: Thresholds{
			PSI:             Threshold{Warning: 0.1, Critical: 0.25},
			JS:              Threshold{Warning: 0.1, Critical: 0.2},
			WassersteinNorm: Threshold{Warning: 0.1, Critical: 0.2},
			KS:              Threshold{Warning: 1e-3, Critical: 1e-6},
			Chi2:            Threshold{Warning: 1e-3, Critical: 1e-6},
		},
	}
}

// Validate fills zero values with defaults and names the first invalid field.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.WindowSize == 0 {
		c.WindowSize = d.WindowSize
	}
	if c.WindowSize < time.Second || c.WindowSize%time.Second != 0 {
		return fmt.Errorf("window_size: must be a whole number of seconds >= 1s, got %s", c.WindowSize)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("allowed_lateness: must not be negative, got %s", c.AllowedLateness)
	}
	if c.IdleFlush == 0 {
		c.IdleFlush = 2 * c.WindowSize
	}
	if c.IdleFlush < 0 {
		return fmt.Errorf("idle_flush: must not be negative, got %s", c.IdleFlush)
	}
	ints := []struct {
		name     string
		v        *int
		def, min int
		max      int
	}{
		{"warmup_windows", &c.WarmupWindows, d.WarmupWindows, 1, 10000},
		{"sample_size", &c.SampleSize, d.SampleSize, 10, 10000},
		{"bins", &c.Bins, d.Bins, 2, 1000},
		{"max_categories", &c.MaxCategories, d.MaxCategories, 2, 100000},
		{"max_features", &c.MaxFeatures, d.MaxFeatures, 1, 100000},
		{"max_models", &c.MaxModels, d.MaxModels, 1, 1000000},
		{"min_count", &c.MinCount, d.MinCount, 1, math.MaxInt32},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < f.min || *f.v > f.max {
			return fmt.Errorf("%s: must be between %d and %d, got %d", f.name, f.min, f.max, *f.v)
		}
	}
	ths := []struct {
		name   string
		t      *Threshold
		def    Threshold
		pvalue bool
	}{
		{"thresholds.psi", &c.Thresholds.PSI, d.Thresholds.PSI, false},
		{"thresholds.js", &c.Thresholds.JS, d.Thresholds.JS, false},
		{"thresholds.wasserstein_norm", &c.Thresholds.WassersteinNorm, d.Thresholds.WassersteinNorm, false},
		{"thresholds.ks", &c.Thresholds.KS, d.Thresholds.KS, true},
		{"thresholds.chi2", &c.Thresholds.Chi2, d.Thresholds.Chi2, true},
	}
	for _, th := range ths {
		if *th.t == (Threshold{}) {
			*th.t = th.def
		}
		w, cr := th.t.Warning, th.t.Critical
		if w < 0 || cr < 0 || math.IsNaN(w) || math.IsNaN(cr) {
			return fmt.Errorf("%s: levels must be non-negative numbers", th.name)
		}
		if th.pvalue && (w > 1 || cr > w) {
			return fmt.Errorf("%s: p-value levels need 0 <= critical <= warning <= 1, got warning %g critical %g", th.name, w, cr)
		}
		if !th.pvalue && cr < w {
			return fmt.Errorf("%s: critical (%g) must not be below warning (%g)", th.name, cr, w)
		}
	}
	return nil
}
