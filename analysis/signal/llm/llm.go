// Package llm holds the signals about generative-AI calls (events with
// OpenTelemetry GenAI usage, telemetry.LLM), per model version and window:
// how often the model refuses (refusal_rate), why its answers end
// (finish_reason), how many tokens it reads, writes and reasons with
// (tokens), and how long its first chunk takes (time_to_first_chunk).
// Calls without GenAI usage are not counted.
//
// They follow the output signals' rules (package outputs): exact mergeable
// partials, tests calibrated under "nothing changed", effects oriented so
// that larger is worse, documented levels, and verdicts that only inform
// without a reference state.
package llm

import (
	"fmt"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Config configures the GenAI signals. Start from DefaultConfig.
type Config struct {
	// MinCount is the smallest number of GenAI calls on each side (window
	// and reference) for a verdict to be tested. Default: 100.
	MinCount int `yaml:"min_count"`
	// MaxSubjects bounds the finish reasons named per window. Default: 16.
	MaxSubjects int `yaml:"max_subjects"`
	// SampleSize bounds the sample of token counts kept per kind and window
	// for the KS test (16 bytes a value). Default: 1000.
	SampleSize int `yaml:"sample_size"`
	// RefusalRate levels the absolute increase of the refusal rate.
	// Default: 0.02 / 0.05.
	RefusalRate outputs.Levels `yaml:"refusal_rate"`
	// FinishReason levels the absolute change of a finish reason's share.
	// Default: 0.05 / 0.15.
	FinishReason outputs.Levels `yaml:"finish_reason"`
	// Tokens levels the relative change of the mean token count (either
	// way: 0.5 is half again as many, or a third fewer... see Tokens).
	// Default: 0.25 / 1.
	Tokens outputs.Levels `yaml:"tokens"`
	// TimeToFirstChunk levels the relative increase of its 95th
	// percentile. Default: 0.25 / 1.
	TimeToFirstChunk outputs.Levels `yaml:"time_to_first_chunk"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MinCount:         100,
		MaxSubjects:      16,
		SampleSize:       1000,
		RefusalRate:      outputs.Levels{Warning: 0.02, Critical: 0.05},
		FinishReason:     outputs.Levels{Warning: 0.05, Critical: 0.15},
		Tokens:           outputs.Levels{Warning: 0.25, Critical: 1},
		TimeToFirstChunk: outputs.Levels{Warning: 0.25, Critical: 1},
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
	if c.SampleSize < 10 || c.SampleSize > 10000 {
		return fmt.Errorf("sample_size: must be between 10 and 10000, got %d", c.SampleSize)
	}
	for _, l := range []struct {
		name string
		l    outputs.Levels
	}{{"refusal_rate", c.RefusalRate}, {"finish_reason", c.FinishReason}, {"tokens", c.Tokens}, {"time_to_first_chunk", c.TimeToFirstChunk}} {
		if err := l.l.Validate(); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

// Signals returns the GenAI signals configured by c (validate it first).
func Signals(c Config) []signal.Signal {
	return []signal.Signal{RefusalRate{c}, FinishReason{c}, Tokens{c}, outputs.Quantiles{
		SignalName: "time_to_first_chunk", Unit: "s", Levels: c.TimeToFirstChunk, MinCount: c.MinCount,
		Value: func(e *telemetry.Event) (float64, bool) {
			if e.LLM == nil || e.LLM.TimeToFirstChunk == nil {
				return 0, false
			}
			return *e.LLM.TimeToFirstChunk, true
		}}}
}

// RefusalRate is the share of a window's GenAI calls the model refused
// (the refusal flag), subject "*".
//
// Decision: the pooled two-proportion z-test against the reference period's
// share, one-sided (an increase); effect: the absolute increase.
type RefusalRate struct{ Config Config }

// Name returns "refusal_rate".
func (RefusalRate) Name() string { return "refusal_rate" }

// NewPartial returns an empty partial.
func (RefusalRate) NewPartial() signal.Partial { return &refusals{c: sketch.NewLabels()} }

type refusals struct{ c sketch.Labels } // N GenAI calls, K refused

func (p *refusals) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.LLM == nil {
			continue
		}
		p.c.N++
		if e.LLM.Refusal {
			p.c.K++
		}
	}
}

func (p *refusals) Merge(o signal.Partial)       { p.c.Merge(&o.(*refusals).c, 0) }
func (p *refusals) AppendBinary(b []byte) []byte { return p.c.AppendBinary(b) }
func (p *refusals) Decode(d *sketch.Decoder)     { p.c.Decode(d, 0) }

// Score returns the verdict about the window's refusals.
func (s RefusalRate) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*refusals).c
	if c.N == 0 {
		return nil
	}
	r := &sketch.Labels{}
	if ref != nil {
		r = &ref.(*refusals).c
	}
	return []signal.Verdict{outputs.Rate("*", c.K, c.N, r.K, r.N, false, s.Config.MinCount, s.Config.RefusalRate,
		fmt.Sprintf("%d of %d GenAI calls refused", c.K, c.N))}
}

// FinishReason is the share of a window's GenAI calls that ended for each
// reason (gen_ai.response.finish_reasons: stop, length, content_filter,
// tool_call, error, or a provider's own), subject: the reason; a call with
// several choices counts under its first choice's reason.
//
// Decision: the pooled two-proportion z-test of the reason's share against
// its share in the reference period, two-sided; effect: the absolute change
// of the share.
type FinishReason struct{ Config Config }

// Name returns "finish_reason".
func (FinishReason) Name() string { return "finish_reason" }

// NewPartial returns an empty partial.
func (s FinishReason) NewPartial() signal.Partial {
	return &reasons{c: sketch.NewLabels(), max: s.Config.MaxSubjects}
}

type reasons struct {
	c   sketch.Labels // N GenAI calls with a reason; Named per reason
	max int
}

func (p *reasons) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.LLM == nil || len(e.LLM.FinishReasons) == 0 {
			continue
		}
		p.c.N++
		p.c.K++
		p.c.Add(e.LLM.FinishReasons[0], 1, p.max)
	}
}

func (p *reasons) Merge(o signal.Partial)       { p.c.Merge(&o.(*reasons).c, p.max) }
func (p *reasons) AppendBinary(b []byte) []byte { return p.c.AppendBinary(b) }

func (p *reasons) Decode(d *sketch.Decoder) { p.c.Decode(d, p.max) }

// Score returns one verdict per reason seen in the window or the reference.
func (s FinishReason) Score(cur, ref signal.Partial) []signal.Verdict {
	var r *sketch.Labels
	if ref != nil {
		r = &ref.(*reasons).c
	}
	return outputs.Shares(&cur.(*reasons).c, r, s.Config.MinCount, s.Config.FinishReason, "GenAI calls")
}
