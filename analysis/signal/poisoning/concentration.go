package poisoning

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Concentration is poisoning_concentration: who contributes the window's
// feedback. Per window, the examples of each source are counted in a table
// of MaxSources counters (Space-Saving), with the ids of a few of each
// source's examples; examples without a source are counted apart.
//
// "*": the Herfindahl–Hirschman index of the sources' shares, estimated
// without bias as H = Σ nᵢ(nᵢ − 1)/(N(N − 1)) (the probability that two
// examples drawn without replacement share their source). Against a
// reference with MinCount examples on each side it decides: effect
// H − H_ref, p-value one-sided from z = (H − H_ref)/√(V + V_ref), V the
// variance of H as a U-statistic of degree 2,
// V = 4(N−2)/(N(N−1))·(Σp³ − (Σp²)²) + 2/(N(N−1))·(Σp² − (Σp²)²), with the
// shares p = nᵢ/N plugged in. Without a reference it informs.
//
// New sources, against a reference only: each source with at least
// MinCount examples counted under its own counter that is not among the
// reference's sources, tested one-sided for a share of the window above
// NewSource.Warning (binomial), Benjamini–Hochberg across them; effect: its
// share. A new source in volume is a warning; it takes a NewSource.Critical
// share of the window to be critical.
//
// H is exact while the window has fewer than MaxSources sources; beyond,
// the sources without a counter are missing from it and its evidence gives
// the bound they allow.
type Concentration struct{ Config Config }

var (
	_ Signal  = Concentration{}
	_ Partial = (*contributors)(nil)
)

// Name returns "poisoning_concentration".
func (Concentration) Name() string { return "poisoning_concentration" }

// NewPartial returns an empty partial.
func (s Concentration) NewPartial() Partial {
	return &contributors{sources: newTable(s.Config.MaxSources, maxKey, idsPerKey)}
}

type contributors struct {
	sources   *table // examples per source; ids: a few of each source's
	anonymous uint64 // examples without a source
	key       []byte // scratch
}

func (p *contributors) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		if e.Source == "" {
			p.anonymous++
			continue
		}
		p.key = shorten(p.key[:0], e.Source, maxKey)
		p.sources.add(p.key, 0, e.ID, "", e.ID != "")
	}
}

func (p *contributors) Merge(o Partial) {
	q := o.(*contributors)
	p.sources.merge(q.sources)
	p.anonymous += q.anonymous
}

func (p *contributors) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.anonymous)
	return p.sources.appendBinary(b)
}

func (p *contributors) Decode(d *sketch.Decoder) {
	p.anonymous = d.Uvarint()
	p.sources.decode(d, "sources")
}

// herfindahl is the concentration of a table's keys.
type herfindahl struct {
	n            uint64
	h, variance  float64 // unbiased H and its plug-in variance
	upper        float64 // H's upper bound given the keys without a counter
	keys         int
	top          string // the heaviest key and its exact count
	topCount     uint64
	exact        bool
	sumP3, sumP2 float64
}

func concentration(t *table) herfindahl {
	r := herfindahl{n: t.n, keys: t.slots()}
	if t.n < 2 {
		return r
	}
	n := float64(t.n)
	var pairs, known float64
	order := t.order() // sums in one order, whatever the slots' layout
	for _, s := range order {
		c := float64(t.count[s] - t.err[s])
		known += c
		pairs += c * (c - 1)
		p := c / n
		r.sumP2 += p * p
		r.sumP3 += p * p * p
	}
	if len(order) > 0 {
		r.top, r.topCount = string(t.key(order[0])), t.count[order[0]]-t.err[order[0]]
	}
	denom := n * (n - 1)
	r.h = pairs / denom
	rest := n - known // events not under their key's counter, each key of them at most floor
	r.exact = rest == 0
	r.upper = (pairs + rest*math.Max(float64(t.floor())-1, 0)) / denom
	r.variance = hhiVariance(n, r.sumP2, r.sumP3)
	return r
}

// hhiVariance returns the variance of the unbiased HHI of n draws from
// shares p with Σp² = p2 and Σp³ = p3: the variance of a U-statistic of
// degree 2 with kernel 1[x = y], 4(n−2)/(n(n−1))·ζ₁ + 2/(n(n−1))·ζ₂ with
// ζ₁ = p3 − p2² and ζ₂ = p2 − p2².
func hhiVariance(n, p2, p3 float64) float64 {
	denom := n * (n - 1)
	return 4*(n-2)/denom*math.Max(p3-p2*p2, 0) + 2/denom*math.Max(p2-p2*p2, 0)
}

func (h herfindahl) String() string {
	s := fmt.Sprintf("HHI %.4f of %d sources (effective number %.1f", h.h, h.keys, 1/math.Max(h.h, 1/float64(max(h.keys, 1))))
	if h.keys > 0 {
		s += fmt.Sprintf("; largest %q with %d of %d", cut(h.top, 48), h.topCount, h.n)
	}
	if !h.exact {
		s += fmt.Sprintf("; sources beyond the bound allow up to %.4f", h.upper)
	}
	return s + ")"
}

// Score returns the window's concentration verdicts.
func (s Concentration) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*contributors)
	if c.sources.n == 0 {
		return nil
	}
	cfg := s.Config
	hc := concentration(c.sources)
	r, _ := ref.(*contributors)
	if r == nil || r.sources.n < uint64(cfg.MinCount) || c.sources.n < uint64(cfg.MinCount) {
		return []signal.Verdict{signal.Info("*", hc.h, math.NaN(), c.sources.n,
			cut(fmt.Sprintf("%s; %d examples without a source", hc, c.anonymous), MaxEvidence))}
	}
	hr := concentration(r.sources)
	diff := hc.h - hr.h
	p := 1.0
	if sd := math.Sqrt(hc.variance + hr.variance); sd > 0 {
		p = normalSurvival(diff / sd)
	} else if diff > 0 {
		p = 0
	}
	out := []signal.Verdict{signal.Decision("*", hc.h, p, diff, cfg.Concentration.Warning, cfg.Concentration.Critical, c.sources.n,
		cut(fmt.Sprintf("%s, against %.4f of %d sources in the reference", hc, hr.h, hr.keys), MaxEvidence))}

	total := c.sources.n + c.anonymous
	var ts []test
	for _, sl := range c.sources.order() {
		k := c.sources.count[sl] - c.sources.err[sl]
		if k < uint64(cfg.MinCount) {
			continue
		}
		if _, _, _, seen := r.sources.lookup(c.sources.key(sl)); seen {
			continue
		}
		share := float64(k) / float64(total)
		ts = append(ts, test{subject: string(c.sources.key(sl)), statistic: share, effect: share, n: k,
			p: stat.BinomialSurvival(k, total, cfg.NewSource.Warning),
			evidence: evidence(fmt.Sprintf("new source: not among the reference's %d sources; %d of the window's %d examples (%.1f%%)",
				r.sources.slots(), k, total, 100*share), c.sources.ids(sl))})
	}
	return append(out, decisions(ts, cfg.NewSource, cfg.MaxSubjects)...)
}
