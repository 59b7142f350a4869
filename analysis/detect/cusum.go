package detect

import (
	"fmt"
	"math"
)

// CUSUMConfig configures a CUSUM detector. A zero field takes its default, so
// a Slack of exactly 0 cannot be expressed (use a tiny value).
type CUSUMConfig struct {
	// MinInstances is how many first values estimate the in-control mean and
	// standard deviation when Sigma is 0; the sums start at the last of
	// them. Default: 30.
	MinInstances int
	// Slack is the allowance k, in standard deviations. Default: 0.5.
	Slack float64
	// Threshold is the decision interval h, in standard deviations. Default: 5.
	Threshold float64
	// Mode selects the shifts watched: "up", "down" or "both". Default: "both".
	Mode string
	// Mean is the known in-control mean μ₀. It is used only when Sigma > 0.
	Mean float64
	// Sigma is the known in-control standard deviation σ. When it is
	// positive the chart uses Mean and Sigma from the first value on and
	// MinInstances is ignored; when it is 0 both are estimated, as River
	// does. Default: 0.
	Sigma float64
}

// DefaultCUSUMConfig returns River's defaults.
func DefaultCUSUMConfig() CUSUMConfig {
	return CUSUMConfig{MinInstances: 30, Slack: 0.5, Threshold: 5, Mode: "both"}
}

// CUSUM is the tabular cumulative-sum chart of Page (1954), run as River's
// river.drift.CUSUM runs it:
//
//	S⁺ = max(0, S⁺ + x − μ₀ − kσ),  S⁻ = max(0, S⁻ − (x − μ₀) − kσ),
//
// alarming when a watched sum is strictly above hσ. μ₀ and σ are either
// given or estimated once from the first MinInstances values (σ with
// ddof = 1) and then frozen.
type CUSUM struct {
	minInstances int
	slack        float64
	threshold    float64
	dir          detectorDirection
	known        bool
	knownMean    float64
	knownSigma   float64

	n           int
	mean        float64 // running mean of the values seen
	variance    float64 // running variance (ddof = 1), Welford
	ready       bool    // reference and sigma are set
	reference   float64
	sigma       float64
	sumIncrease float64
	sumDecrease float64
	drift       bool
}

// NewCUSUM validates c, fills its zero fields with defaults and returns a
// fresh detector.
func NewCUSUM(c CUSUMConfig) (*CUSUM, error) {
	const name = "cusum"
	d := DefaultCUSUMConfig()
	if c.MinInstances == 0 {
		c.MinInstances = d.MinInstances
	}
	if c.Slack == 0 {
		c.Slack = d.Slack
	}
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.MinInstances < 1 {
		return nil, fmt.Errorf("%s: min_instances must be at least 1, got %d", name, c.MinInstances)
	}
	for _, f := range []struct {
		field string
		v     float64
	}{{"slack", c.Slack}, {"threshold", c.Threshold}, {"mean", c.Mean}, {"sigma", c.Sigma}} {
		if err := checkDetectorFloat(name, f.field, f.v); err != nil {
			return nil, err
		}
	}
	if c.Slack < 0 {
		return nil, fmt.Errorf("%s: slack must not be negative, got %g", name, c.Slack)
	}
	if c.Threshold <= 0 {
		return nil, fmt.Errorf("%s: threshold must be positive, got %g", name, c.Threshold)
	}
	if c.Sigma < 0 {
		return nil, fmt.Errorf("%s: sigma must not be negative, got %g", name, c.Sigma)
	}
	dir, err := parseDetectorMode(name, c.Mode)
	if err != nil {
		return nil, err
	}
	s := &CUSUM{
		minInstances: c.MinInstances,
		slack:        c.Slack,
		threshold:    c.Threshold,
		dir:          dir,
		known:        c.Sigma > 0,
		knownMean:    c.Mean,
		knownSigma:   c.Sigma,
	}
	s.reset()
	return s, nil
}

// reset forgets everything seen so far.
func (s *CUSUM) reset() {
	s.n = 0
	s.mean, s.variance = 0, 0
	s.ready = s.known
	s.reference, s.sigma = s.knownMean, s.knownSigma
	s.sumIncrease, s.sumDecrease = 0, 0
	s.drift = false
}

// Update feeds x. After a detection, it first resets the detector, which
// re-estimates μ₀ and σ unless they are known.
func (s *CUSUM) Update(x float64) {
	if !detectorFinite(x) {
		return
	}
	if s.drift {
		s.reset()
	}
	if !s.ready {
		s.n++
		old := s.mean
		s.mean += (x - s.mean) / float64(s.n)
		if s.n > 1 {
			s.variance += ((x-old)*(x-s.mean) - s.variance) / float64(s.n-1)
		}
		if s.n < s.minInstances {
			return
		}
		s.reference = s.mean
		s.sigma = math.Sqrt(math.Max(s.variance, 0))
		s.ready = true
	}
	k := s.slack * s.sigma
	limit := s.threshold * s.sigma
	dev := x - s.reference
	s.sumIncrease = math.Max(0, s.sumIncrease+dev-k)
	s.sumDecrease = math.Max(0, s.sumDecrease-dev-k)
	s.drift = s.dir.alarm(s.sumIncrease, s.sumDecrease, limit)
}

// DriftDetected reports whether the last Update detected a change.
func (s *CUSUM) DriftDetected() bool { return s.drift }

// Sums returns the upper and lower cumulative sums S⁺ and S⁻ after the last
// Update, in data units.
func (s *CUSUM) Sums() (upper, lower float64) { return s.sumIncrease, s.sumDecrease }
