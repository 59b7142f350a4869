package telemetry

import (
	"fmt"
	"time"
)

// Defaults of Limits (see DefaultLimits).
const (
	DefaultMaxBytes       = 64 << 10
	DefaultMaxFeatures    = 256
	DefaultMaxNameLength  = 128
	DefaultMaxValueLength = 256
	DefaultMaxFuture      = time.Hour
	DefaultMaxAge         = 7 * 24 * time.Hour
)

// Limits bound what one event may carry. Start from DefaultLimits: a zero
// field is taken as it is, not as its default, and Validate rejects the
// zero limits that would refuse every event. Lengths are counted in bytes of
// the UTF-8 encoding.
type Limits struct {
	// MaxBytes bounds the size of one message body; larger bodies are refused
	// before parsing. At least 1. Default: 65536 (64 KiB).
	MaxBytes int `yaml:"max_bytes"`
	// MaxFeatures bounds the number of features of one event, numeric and
	// categorical together. At least 1. Default: 256.
	MaxFeatures int `yaml:"max_features"`
	// MaxNameLength bounds feature names and attribute keys. At least 1. Default: 128.
	MaxNameLength int `yaml:"max_name_length"`
	// MaxValueLength bounds categorical values, ids, versions, classes and other
	// string values. At least 1. Default: 256.
	MaxValueLength int `yaml:"max_value_length"`
	// MaxFuture is how far ahead of now an event time may be; 0 refuses
	// every event time after now. Default: 1h.
	MaxFuture time.Duration `yaml:"max_future"`
	// MaxAge is how far behind now an event time may be. Positive. Default: 168h (7 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:       DefaultMaxBytes,
		MaxFeatures:    DefaultMaxFeatures,
		MaxNameLength:  DefaultMaxNameLength,
		MaxValueLength: DefaultMaxValueLength,
		MaxFuture:      DefaultMaxFuture,
		MaxAge:         DefaultMaxAge,
	}
}

// Validate reports the first invalid field by its configuration name. It
// does not change l.
func (l Limits) Validate() error {
	ints := []struct {
		name string
		v    int
	}{
		{"max_bytes", l.MaxBytes},
		{"max_features", l.MaxFeatures},
		{"max_name_length", l.MaxNameLength},
		{"max_value_length", l.MaxValueLength},
	}
	for _, f := range ints {
		if f.v < 1 {
			return fmt.Errorf("validating telemetry limits: %s must be at least 1, got %d", f.name, f.v)
		}
	}
	if l.MaxFuture < 0 {
		return fmt.Errorf("validating telemetry limits: max_future must not be negative, got %s", l.MaxFuture)
	}
	if l.MaxAge <= 0 {
		return fmt.Errorf("validating telemetry limits: max_age must be positive, got %s", l.MaxAge)
	}
	return nil
}
