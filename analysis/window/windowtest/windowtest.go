// Package windowtest holds what the tests of windows, references and
// evaluation share: a small configuration, random and minimal events, and a
// reference lookup.
package windowtest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/telemetry"
)

// T0 is the event time the tests start at.
var T0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// Config returns a valid configuration of 10s windows, 2s lateness, two
// warm-up windows, samples of 200, 16 categories and decisions from 10
// observations.
func Config(t testing.TB) *analysis.Config {
	t.Helper()
	cfg := analysis.DefaultConfig()
	cfg.WindowSize, cfg.AllowedLateness = 10*time.Second, 2*time.Second
	cfg.WarmupWindows, cfg.SampleSize, cfg.MaxCategories, cfg.MinCount = 2, 200, 16, 10
	cfg = cfg.WithDerived()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// RandomEvent returns an event of model m at time at with 4 numeric and 2
// categorical features, some missing, a score and a class.
func RandomEvent(r *rand.Rand, id int, m analysis.ModelKey, at time.Time) *telemetry.Event {
	e := &telemetry.Event{
		PredictionID: fmt.Sprintf("p-%d", id),
		EventTime:    at,
		Model:        telemetry.Model{ID: m.ID, Version: m.Version},
		Features: telemetry.Features{
			Numeric:     telemetry.NumbersOf(map[string]float64{}),
			Categorical: telemetry.CategoriesOf(map[string]string{}),
		},
	}
	for f := range 4 {
		if r.Float64() < 0.1 {
			continue // missing
		}
		e.Features.SetNumeric(fmt.Sprintf("x%d", f), r.NormFloat64()*float64(f+1)+float64(f))
	}
	e.Features.SetCategorical("country", []string{"DE", "FR", "US", "GB", "IT"}[r.IntN(5)])
	if r.Float64() < 0.8 {
		e.Features.SetCategorical("device", []string{"ios", "android", "web"}[r.IntN(3)])
	}
	score := r.Float64()
	e.Prediction.Score = &score
	if score > 0.5 {
		e.Prediction.Class = "fraud"
	} else {
		e.Prediction.Class = "ok"
	}
	return e
}

// Event returns an event of model m at time at with prediction id id and
// one numeric feature x = 1.
func Event(id string, m analysis.ModelKey, at time.Time) *telemetry.Event {
	return &telemetry.Event{PredictionID: id, EventTime: at, Model: telemetry.Model{ID: m.ID, Version: m.Version},
		Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": 1})}}
}

// Lookup returns a reference lookup for window.DecodeWindow that knows refs.
func Lookup(refs ...*reference.Reference) func(analysis.ModelKey, string) *reference.Reference {
	return func(m analysis.ModelKey, id string) *reference.Reference {
		for _, r := range refs {
			if r != nil && r.Model == m && r.ID == id {
				return r
			}
		}
		return nil
	}
}
