package telemetry

import (
	"fmt"
	"time"
)

// Default limits applied by Limits.Validate and NewDecoder to zero fields.
const (
	DefaultMaxBytes       = 64 << 10
	DefaultMaxFeatures    = 256
	DefaultMaxNameLength  = 128
	DefaultMaxValueLength = 256
	DefaultMaxFuture      = time.Hour
	DefaultMaxAge         = 7 * 24 * time.Hour
)

// Limits bound what one event may carry. Zero values take the defaults.
// Lengths are counted in bytes of the UTF-8 encoding.
type Limits struct {
	// MaxBytes bounds the size of one message body; larger bodies are refused
	// before parsing. Default: 65536 (64 KiB).
	MaxBytes int `yaml:"max_bytes"`
	// MaxFeatures bounds the number of features of one event, numeric and
	// categorical together. Default: 256.
	MaxFeatures int `yaml:"max_features"`
	// MaxNameLength bounds feature names and attribute keys. Default: 128.
	MaxNameLength int `yaml:"max_name_length"`
	// MaxValueLength bounds categorical values, ids, versions, classes and other
	// string values. Default: 256.
	MaxValueLength int `yaml:"max_value_length"`
	// MaxFuture is how far ahead of now an event time may be. Default: 1h.
	MaxFuture time.Duration `yaml:"max_future"`
	// MaxAge is how far behind now an event time may be. Default: 168h (7 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// Validate applies the defaults to zero fields and reports the first negative
// field by its configuration name.
func (l *Limits) Validate() error {
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"max_bytes", &l.MaxBytes, DefaultMaxBytes},
		{"max_features", &l.MaxFeatures, DefaultMaxFeatures},
		{"max_name_length", &l.MaxNameLength, DefaultMaxNameLength},
		{"max_value_length", &l.MaxValueLength, DefaultMaxValueLength},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return fmt.Errorf("validating telemetry limits: %s must not be negative, got %d", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"max_future", &l.MaxFuture, DefaultMaxFuture},
		{"max_age", &l.MaxAge, DefaultMaxAge},
	}
	for _, f := range durs {
		if *f.v < 0 {
			return fmt.Errorf("validating telemetry limits: %s must not be negative, got %s", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return nil
}

// withDefaults returns l with every zero or negative field set to its default.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFeatures <= 0 {
		l.MaxFeatures = DefaultMaxFeatures
	}
	if l.MaxNameLength <= 0 {
		l.MaxNameLength = DefaultMaxNameLength
	}
	if l.MaxValueLength <= 0 {
		l.MaxValueLength = DefaultMaxValueLength
	}
	if l.MaxFuture <= 0 {
		l.MaxFuture = DefaultMaxFuture
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultMaxAge
	}
	return l
}
