package llm

import (
	"fmt"
	"math"
	"slices"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// tokenKinds are the subjects of Tokens, in partial order.
var tokenKinds = []string{"input", "output", "reasoning"}

// Tokens is how many tokens a window's GenAI calls read, write and reason
// with (gen_ai.usage.input_tokens, output_tokens and
// reasoning.output_tokens), subjects "input", "output" and "reasoning",
// statistic the mean per call. Output inflating (a prompt change, a jailbreak
// making the model ramble) or collapsing (truncation) is the common case.
//
// Decision: the two-sample Kolmogorov–Smirnov test of the window's per-call
// counts against the reference period's (bottom-k samples keyed by
// prediction id); effect: the relative change of the mean, either way,
// |mean − reference mean| / reference mean (0.5: half again as many, or
// half as many).
type Tokens struct{ Config Config }

// Name returns "tokens".
func (Tokens) Name() string { return "tokens" }

// NewPartial returns an empty partial.
func (s Tokens) NewPartial() signal.Partial {
	p := &tokens{}
	for i := range p.s {
		p.s[i] = sketch.NewNumeric(s.Config.SampleSize, 0)
	}
	return p
}

type tokens struct{ s [3]sketch.Numeric } // input, output, reasoning

func (p *tokens) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.LLM == nil {
			continue
		}
		key := sketch.SampleKey(e.PredictionID)
		for i, v := range [3]*int64{e.LLM.InputTokens, e.LLM.OutputTokens, e.LLM.ReasoningTokens} {
			if v != nil && *v >= 0 {
				p.s[i].Observe(float64(*v), key, 0)
			}
		}
	}
}

func (p *tokens) Merge(o signal.Partial) {
	q := o.(*tokens)
	for i := range p.s {
		p.s[i].Merge(&q.s[i])
	}
}

func (p *tokens) AppendBinary(b []byte) []byte {
	var prev []uint64
	for i := range p.s {
		b = p.s[i].AppendBinary(b, prev)
		prev = p.s[i].Sample.Keys()
	}
	return b
}

func (p *tokens) Decode(d *sketch.Decoder) {
	var prev []byte
	for i := range p.s {
		prev = p.s[i].Decode(d, tokenKinds[i]+" tokens", prev)
		if d.Err() == nil && p.s[i].Count > 0 && !(p.s[i].Min >= 0) {
			d.Fail(fmt.Sprintf("negative %s token count", tokenKinds[i]))
		}
	}
}

// Score returns a verdict per kind of tokens the window's calls report.
func (s Tokens) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*tokens)
	var r *tokens
	if ref != nil {
		r = ref.(*tokens)
	}
	var out []signal.Verdict
	for i, kind := range tokenKinds {
		cs := &c.s[i]
		if cs.Count == 0 {
			continue
		}
		evidence := fmt.Sprintf("mean %.1f %s tokens over %d calls", cs.Mean, kind, cs.Count)
		if r == nil || r.s[i].Count == 0 || !(r.s[i].Mean > 0) {
			out = append(out, signal.Info(kind, cs.Mean, math.NaN(), cs.Count, evidence))
			continue
		}
		rs := &r.s[i]
		p := math.NaN()
		if cs.Count >= uint64(s.Config.MinCount) && rs.Count >= uint64(s.Config.MinCount) {
			p = stat.KolmogorovSmirnov(sortedCopy(rs.Sample.Values()), sortedCopy(cs.Sample.Values())).PValue
		}
		out = append(out, signal.Decision(kind, cs.Mean, p, math.Abs(cs.Mean-rs.Mean)/rs.Mean, s.Config.Tokens.Warning, s.Config.Tokens.Critical,
			cs.Count, fmt.Sprintf("%s (reference %.1f)", evidence, rs.Mean)))
	}
	return out
}

func sortedCopy(v []float64) []float64 {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}
