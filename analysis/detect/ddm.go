package detect

import (
	"fmt"
	"math"
)

// DDMConfig configures a DDM detector. A zero field takes its default.
type DDMConfig struct {
	// WarmStart is how many values the detector sees before it may warn or
	// detect. Default: 30.
	WarmStart int
	// WarningThreshold is the warning level w, in standard deviations of
	// the error rate above its minimum. Default: 2.
	WarningThreshold float64
	// DriftThreshold is the drift level d. Default: 3.
	DriftThreshold float64
}

// DefaultDDMConfig returns River's defaults.
func DefaultDDMConfig() DDMConfig {
	return DDMConfig{WarmStart: 30, WarningThreshold: 2, DriftThreshold: 3}
}

// DDM is the Drift Detection Method of Gama et al. (2004) on a stream of
// bits (1: an error or a failure, 0: a success), run as River's
// river.drift.binary.DDM runs it: with p the running error rate and
// s = √(p(1−p)/n), it remembers (p_min, s_min) where p + s was smallest
// (after WarmStart values) and warns when p + s > p_min + w·s_min, detects
// when p + s > p_min + d·s_min, and starts afresh on the update after a
// detection.
type DDM struct {
	cfg        DDMConfig
	n          float64
	p          float64 // running mean of the bits
	pMin, sMin float64
	psMin      float64
	warning    bool
	drift      bool
}

var _ Detector = (*DDM)(nil)

// NewDDM returns a detector; it rejects a negative warm start and levels
// that are not finite, positive and ordered (warning ≤ drift).
func NewDDM(c DDMConfig) (*DDM, error) {
	d := DefaultDDMConfig()
	if c.WarmStart != 0 {
		d.WarmStart = c.WarmStart
	}
	if c.WarningThreshold != 0 {
		d.WarningThreshold = c.WarningThreshold
	}
	if c.DriftThreshold != 0 {
		d.DriftThreshold = c.DriftThreshold
	}
	switch {
	case d.WarmStart < 0:
		return nil, fmt.Errorf("ddm: warm_start must not be negative, got %d", d.WarmStart)
	case !detectorFinite(d.WarningThreshold) || d.WarningThreshold <= 0:
		return nil, fmt.Errorf("ddm: warning_threshold must be a finite positive number, got %g", d.WarningThreshold)
	case !detectorFinite(d.DriftThreshold) || d.DriftThreshold < d.WarningThreshold:
		return nil, fmt.Errorf("ddm: drift_threshold must be finite and at least warning_threshold (%g), got %g", d.WarningThreshold, d.DriftThreshold)
	}
	m := &DDM{cfg: d}
	m.reset()
	return m, nil
}

func (m *DDM) reset() {
	m.n, m.p, m.pMin, m.sMin, m.psMin = 0, 0, 0, 0, math.Inf(1)
	m.warning, m.drift = false, false
}

// Update feeds the next bit (any finite value is averaged as River does;
// NaN and ±Inf are ignored).
func (m *DDM) Update(x float64) {
	if !detectorFinite(x) {
		return
	}
	if m.drift {
		m.reset()
	}
	m.n++
	m.p += (x - m.p) / m.n
	m.check()
}

// UpdateCounts feeds a batch of n bits of which k are 1 (a window's
// failures among its calls, whose order within the window is not known or
// depends on partitioning): the running error rate and count become exactly
// those after n Updates, and the minimum, warning and drift are checked once,
// after the batch, instead of after every bit. So a batch detects a change
// when its end is past the drift level (River's DDM could have detected it,
// and started afresh, within the batch), and the batch counts as WarmStart
// values like n single bits. Unlike River, batches set no minimum while the
// stream has had no failure at all (its spread is 0, so the first failure
// would always be a change). k > n or n = 0 is ignored.
func (m *DDM) UpdateCounts(k, n uint64) {
	if n == 0 || k > n {
		return
	}
	if m.drift {
		m.reset()
	}
	total := m.n + float64(n)
	m.p = (m.p*m.n + float64(k)) / total
	m.n = total
	// A stream that has not failed yet has s = 0: River would record
	// p_min + s_min = 0 and detect a change at the very first failure. A
	// window-level stream of a healthy service starts that way, so batches
	// record no minimum, and test no level, until the rate has a spread.
	if m.p == 0 && math.IsInf(m.psMin, 1) {
		return
	}
	m.check()
}

// check updates the minimum and the warning and drift flags after a value.
func (m *DDM) check() {
	s := math.Sqrt(m.p * (1 - m.p) / m.n)
	if m.n <= float64(m.cfg.WarmStart) {
		return
	}
	if m.p+s <= m.psMin {
		m.pMin, m.sMin, m.psMin = m.p, s, m.p+s
	}
	m.warning = m.p+s > m.pMin+m.cfg.WarningThreshold*m.sMin
	if m.p+s > m.pMin+m.cfg.DriftThreshold*m.sMin {
		m.drift, m.warning = true, false
	}
}

// DriftDetected reports whether the last Update detected a change.
func (m *DDM) DriftDetected() bool { return m.drift }

// WarningDetected reports whether the last Update put the detector in its
// warning zone (false when it detected a change).
func (m *DDM) WarningDetected() bool { return m.warning }

// ErrorRate returns the running error rate since the last change.
func (m *DDM) ErrorRate() float64 { return m.p }
