package detect

import (
	"fmt"
	"math"
)

// PageHinkleyConfig configures a PageHinkley detector. A zero field takes its
// default, so a Delta of exactly 0 cannot be expressed (use a tiny value).
type PageHinkleyConfig struct {
	// MinInstances is how many values the detector sees before it may
	// report a change. Default: 30.
	MinInstances int
	// Delta is the magnitude of change tolerated per value (δ), in data
	// units. Default: 0.005.
	Delta float64
	// Threshold is the detection threshold λ, in data units: on a stream
	// with a standard deviation far from 1, scale it or standardise the
	// stream first. Default: 50.
	Threshold float64
	// Alpha is the fading factor applied to the cumulative sums, in (0, 1].
	// Default: 1 - 0.0001.
	Alpha float64
	// Mode selects the changes watched: "up" (increases of the mean),
	// "down" (decreases) or "both". Default: "both".
	Mode string
}

// DefaultPageHinkleyConfig returns River's defaults.
func DefaultPageHinkleyConfig() PageHinkleyConfig {
	return PageHinkleyConfig{MinInstances: 30, Delta: 0.005, Threshold: 50, Alpha: 1 - 0.0001, Mode: "both"}
}

// PageHinkley is River's two-sided Page–Hinkley test (river.drift.PageHinkley,
// current version): faded cumulative sums of the deviations from the running
// mean, compared with their running extremes.
type PageHinkley struct {
	minInstances int
	delta        float64
	threshold    float64
	alpha        float64
	dir          detectorDirection

	n           int
	mean        float64
	sumIncrease float64
	sumDecrease float64
	minIncrease float64
	maxDecrease float64
	drift       bool
}

// NewPageHinkley validates c, fills its zero fields with defaults and returns a
// fresh detector.
func NewPageHinkley(c PageHinkleyConfig) (*PageHinkley, error) {
	const name = "page_hinkley"
	d := DefaultPageHinkleyConfig()
	if c.MinInstances == 0 {
		c.MinInstances = d.MinInstances
	}
	if c.Delta == 0 {
		c.Delta = d.Delta
	}
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.MinInstances < 1 {
		return nil, fmt.Errorf("%s: min_instances must be at least 1, got %d", name, c.MinInstances)
	}
	for _, f := range []struct {
		field string
		v     float64
	}{{"delta", c.Delta}, {"threshold", c.Threshold}, {"alpha", c.Alpha}} {
		if err := checkDetectorFloat(name, f.field, f.v); err != nil {
			return nil, err
		}
	}
	if c.Delta < 0 {
		return nil, fmt.Errorf("%s: delta must not be negative, got %g", name, c.Delta)
	}
	if c.Threshold <= 0 {
		return nil, fmt.Errorf("%s: threshold must be positive, got %g", name, c.Threshold)
	}
	if c.Alpha <= 0 || c.Alpha > 1 {
		return nil, fmt.Errorf("%s: alpha must be in (0, 1], got %g", name, c.Alpha)
	}
	dir, err := parseDetectorMode(name, c.Mode)
	if err != nil {
		return nil, err
	}
	p := &PageHinkley{minInstances: c.MinInstances, delta: c.Delta, threshold: c.Threshold, alpha: c.Alpha, dir: dir}
	p.reset()
	return p, nil
}

// reset forgets everything seen so far.
func (p *PageHinkley) reset() {
	p.n = 0
	p.mean = 0
	p.sumIncrease = 0
	p.sumDecrease = 0
	p.minIncrease = math.Inf(1)
	p.maxDecrease = -1 // River's initial value
	p.drift = false
}

// Update feeds x. After a detection, it first resets the detector.
func (p *PageHinkley) Update(x float64) {
	if !detectorFinite(x) {
		return
	}
	if p.drift {
		p.reset()
	}
	p.n++
	p.mean += (x - p.mean) / float64(p.n)
	dev := x - p.mean
	p.sumIncrease = p.alpha*p.sumIncrease + dev - p.delta
	p.sumDecrease = p.alpha*p.sumDecrease + dev + p.delta
	if p.sumIncrease < p.minIncrease {
		p.minIncrease = p.sumIncrease
	}
	if p.sumDecrease > p.maxDecrease {
		p.maxDecrease = p.sumDecrease
	}
	if p.n >= p.minInstances {
		p.drift = p.dir.alarm(p.sumIncrease-p.minIncrease, p.maxDecrease-p.sumDecrease, p.threshold)
	}
}

// DriftDetected reports whether the last Update detected a change.
func (p *PageHinkley) DriftDetected() bool { return p.drift }
