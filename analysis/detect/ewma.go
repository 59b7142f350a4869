package detect

import (
	"fmt"
	"math"
)

// EWMAConfig configures an EWMA detector. A zero field takes its default.
type EWMAConfig struct {
	// Alpha is the weight λ of the newest value in the chart statistic, in
	// (0, 1]. Default: 0.1.
	Alpha float64
	// Threshold is the width L of the control limits, in standard errors of
	// the chart statistic. Default: 4.
	Threshold float64
	// MinInstances is how many values the detector sees before it may
	// report a change when Sigma is 0. Default: 30.
	MinInstances int
	// Mode selects the shifts watched: "up", "down" or "both". Default: "both".
	Mode string
	// Mean is the known in-control mean μ₀. It is used only when Sigma > 0.
	Mean float64
	// Sigma is the known in-control standard deviation σ. When it is
	// positive the detector is the textbook chart of Roberts (1959): z₀ = μ₀
	// and the limits are μ₀ ± Lσ√(λ/(2−λ)·(1−(1−λ)^{2i})) from the first
	// value on, MinInstances being ignored. When it is 0 the reference is
	// the running mean and σ an exponentially weighted estimate, as River
	// does. Default: 0.
	Sigma float64
}

// DefaultEWMAConfig returns River's defaults.
func DefaultEWMAConfig() EWMAConfig {
	return EWMAConfig{Alpha: 0.1, Threshold: 4, MinInstances: 30, Mode: "both"}
}

// EWMA is the exponentially weighted moving-average control chart (Roberts
// 1959) with time-varying limits, run as River's river.drift.EWMA runs it:
// z = λx + (1−λ)z, alarming when |z − reference| exceeds
// Lσ√(λ/(2−λ)·(1−(1−λ)^{2n})). Without a known σ, the reference is the
// running mean of all values since the last reset and σ² is the
// exponentially weighted variance (weight λ) of the values, both including x.
type EWMA struct {
	alpha        float64
	threshold    float64
	minInstances int
	dir          detectorDirection
	known        bool
	knownMean    float64
	knownSigma   float64

	n      int
	z      float64
	mean   float64 // running mean
	ewMean float64 // exponentially weighted mean of x
	ewSq   float64 // exponentially weighted mean of x²
	drift  bool
}

// NewEWMA validates c, fills its zero fields with defaults and returns a
// fresh detector.
func NewEWMA(c EWMAConfig) (*EWMA, error) {
	const name = "ewma"
	d := DefaultEWMAConfig()
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.MinInstances == 0 {
		c.MinInstances = d.MinInstances
	}
	for _, f := range []struct {
		field string
		v     float64
	}{{"alpha", c.Alpha}, {"threshold", c.Threshold}, {"mean", c.Mean}, {"sigma", c.Sigma}} {
		if err := checkDetectorFloat(name, f.field, f.v); err != nil {
			return nil, err
		}
	}
	if c.Alpha <= 0 || c.Alpha > 1 {
		return nil, fmt.Errorf("%s: alpha must be in (0, 1], got %g", name, c.Alpha)
	}
	if c.Threshold <= 0 {
		return nil, fmt.Errorf("%s: threshold must be positive, got %g", name, c.Threshold)
	}
	if c.MinInstances < 1 {
		return nil, fmt.Errorf("%s: min_instances must be at least 1, got %d", name, c.MinInstances)
	}
	if c.Sigma < 0 {
		return nil, fmt.Errorf("%s: sigma must not be negative, got %g", name, c.Sigma)
	}
	dir, err := parseDetectorMode(name, c.Mode)
	if err != nil {
		return nil, err
	}
	e := &EWMA{
		alpha:        c.Alpha,
		threshold:    c.Threshold,
		minInstances: c.MinInstances,
		dir:          dir,
		known:        c.Sigma > 0,
		knownMean:    c.Mean,
		knownSigma:   c.Sigma,
	}
	e.reset()
	return e, nil
}

// reset forgets everything seen so far.
func (e *EWMA) reset() {
	e.n = 0
	e.z = e.knownMean
	e.mean, e.ewMean, e.ewSq = 0, 0, 0
	e.drift = false
}

// Update feeds x. After a detection, it first resets the detector.
func (e *EWMA) Update(x float64) {
	if !detectorFinite(x) {
		return
	}
	if e.drift {
		e.reset()
	}
	e.n++
	if e.known {
		e.z = e.alpha*x + (1-e.alpha)*e.z
		dev := e.z - e.knownMean
		e.drift = e.dir.alarm(dev, -dev, e.threshold*e.knownSigma*e.stdErrFactor())
		return
	}
	if e.n == 1 {
		e.z = x
		e.ewMean = x
		e.ewSq = x * x
	} else {
		e.z = e.alpha*x + (1-e.alpha)*e.z
		e.ewMean = e.alpha*x + (1-e.alpha)*e.ewMean
		e.ewSq = e.alpha*(x*x) + (1-e.alpha)*e.ewSq
	}
	e.mean += (x - e.mean) / float64(e.n)
	if e.n < e.minInstances {
		e.drift = false
		return
	}
	sigma := math.Sqrt(math.Max(e.ewSq-e.ewMean*e.ewMean, 0))
	dev := e.z - e.mean
	e.drift = e.dir.alarm(dev, -dev, e.threshold*sigma*e.stdErrFactor())
}

// stdErrFactor is √(λ/(2−λ)·(1−(1−λ)^{2n})), the standard deviation of the
// chart statistic in units of σ after n values.
func (e *EWMA) stdErrFactor() float64 {
	return math.Sqrt((e.alpha / (2 - e.alpha)) * (1 - math.Pow(1-e.alpha, float64(2*e.n))))
}

// DriftDetected reports whether the last Update detected a change.
func (e *EWMA) DriftDetected() bool { return e.drift }

// Statistic returns the chart statistic z after the last Update.
func (e *EWMA) Statistic() float64 { return e.z }
