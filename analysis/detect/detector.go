package detect

import (
	"fmt"
	"math"
)

// Detector is a sequential change detector fed one value at a time.
//
// Every implementation in this package follows River's conventions: a
// detection "at i" means DriftDetected reports true right after Update(x[i]),
// counting from 0, and the detector starts afresh on the following Update, so
// x[i+1] is the first value of the new segment. Update ignores NaN and ±Inf:
// they change nothing, not even the reported detection.
type Detector interface {
	// Update feeds the next value of the stream.
	Update(x float64)
	// DriftDetected reports whether the last Update detected a change.
	DriftDetected() bool
}

var (
	_ Detector = (*PageHinkley)(nil)
	_ Detector = (*ADWIN)(nil)
	_ Detector = (*CUSUM)(nil)
	_ Detector = (*EWMA)(nil)
)

// detectorDirection says which side of a one-dimensional chart raises alarms.
type detectorDirection uint8

const (
	detectorBoth detectorDirection = iota
	detectorUp
	detectorDown
)

// parseDetectorMode maps River's mode strings ("up", "down", "both") to a
// direction; the empty string selects "both".
func parseDetectorMode(name, mode string) (detectorDirection, error) {
	switch mode {
	case "", "both":
		return detectorBoth, nil
	case "up":
		return detectorUp, nil
	case "down":
		return detectorDown, nil
	}
	return 0, fmt.Errorf("%s: mode must be \"up\", \"down\" or \"both\", got %q", name, mode)
}

// alarm reports whether the increase or decrease statistic, as the direction
// selects, is strictly above limit.
func (d detectorDirection) alarm(increase, decrease, limit float64) bool {
	switch d {
	case detectorUp:
		return increase > limit
	case detectorDown:
		return decrease > limit
	}
	return increase > limit || decrease > limit
}

// detectorFinite reports whether x is neither NaN nor infinite.
func detectorFinite(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0)
}

// checkDetectorFloat returns an error naming field when v is NaN or infinite.
func checkDetectorFloat(name, field string, v float64) error {
	if !detectorFinite(v) {
		return fmt.Errorf("%s: %s must be a finite number, got %g", name, field, v)
	}
	return nil
}
