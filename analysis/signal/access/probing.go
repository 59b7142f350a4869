package access

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Probing is caller_probing: boundary probing, the pattern of model
// extraction and of attacks that search for inputs the model barely
// accepts. Per window, the scored calls (prediction.score and
// prediction.threshold) of each caller are counted over the counters of
// the Space-Saving summary of MaxCallers counters it shares with
// caller_volume (table.go), with those within ProbeMargin of the threshold
// (probes).
//
// Decision, per caller with at least MinCount scored calls counted under
// its own counter (Count − Err: the calls whose probes are known): the
// one-sided exact binomial test of its probes against the other callers'
// probe share p₀ (P(X ≥ k) for X ~ Binomial(n, p₀)), Benjamini–Hochberg
// across the callers tested, the MaxSubjects smallest adjusted p-values
// reported (and adjusted again with the window's other decisions); effect:
// the caller's probe share minus p₀. Boundary probing is an output pattern,
// so it may be critical. "*" informs with the population's probe share.
type Probing struct{ Config Config }

// Name returns "caller_probing".
func (Probing) Name() string { return "caller_probing" }

// NewPartial returns an empty partial.
func (s Probing) NewPartial() signal.Partial {
	f := resolveFields(s.Config.CallerFields)
	return &probes{ref: tableRef{col: &callerSlots, capacity: s.Config.MaxCallers, fields: f}, margin: s.Config.ProbeMargin}
}

type probes struct {
	// h is the partial's own summary of scored calls once it is settled
	// (decoded, merged or scored), Aux the probes; nil while it observes:
	// the callers are counted in ref's summary, which it shares with
	// caller_volume, and their scored calls and probes in kind.
	h            *sketch.HeavyHitters
	ref          tableRef
	kind         kindCounts // exact: scored calls; aux: probes
	scored, near uint64     // every scored call and probe, callers or not
	margin       float64
	own          signal.Batch // for Observe
	hs           []slotHitter // AppendBinary's
}

func (p *probes) Observe(events []*telemetry.Event) { observeOwn(p, &p.own, events) }

func (p *probes) ObserveBatch(b *signal.Batch) {
	for i, v := range p.ref.observing(&p.h, &p.kind, b, &p.own) {
		e := b.Events[i]
		sc, th := e.Prediction.Score, e.Prediction.Threshold
		scored := sc != nil && th != nil
		var near uint64
		if scored {
			if math.Abs(*sc-*th) <= p.margin {
				near = 1
			}
			p.scored++
			p.near += near
		}
		slot, taken, _, ok := slotOf(v)
		if !ok {
			if scored && v == uncounted {
				p.kind.n++
			}
			continue
		}
		ex, aux := p.kind.at(slot, taken)
		if scored {
			*ex++
			*aux += near
			p.kind.n++
		}
	}
}

// settle makes p's summary its own.
func (p *probes) settle() {
	if p.h == nil {
		*p = *settle(p, &probes{ref: p.ref, margin: p.margin})
	}
}

// Reset empties p for the next window, keeping its memory.
func (p *probes) Reset() {
	p.h = nil
	p.ref.reset()
	p.kind.reset()
	p.scored, p.near = 0, 0
}

func (p *probes) Merge(o signal.Partial) {
	q := o.(*probes)
	p.settle()
	q.settle()
	p.h.Merge(q.h)
	p.scored += q.scored
	p.near += q.near
}

func (p *probes) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.scored)
	b = binary.AppendUvarint(b, p.near)
	if p.h != nil {
		return appendFloor(p.h.AppendBinary(b), p.h.Floor())
	}
	p.hs = p.kind.hitters(&p.ref, p.hs)
	return appendFloor(appendHitters(b, p.kind.n, p.hs), p.kind.floor(&p.ref))
}

func (p *probes) Decode(d *sketch.Decoder) {
	p.scored, p.near = d.Uvarint(), d.Uvarint()
	p.h = sketch.NewHeavyHitters(p.ref.capacity)
	if d.Err() == nil && p.near > p.scored {
		d.Fail(fmt.Sprintf("%d probes of %d scored calls", p.near, p.scored))
		return
	}
	p.h.Decode(d)
	if d.Err() != nil {
		return
	}
	if p.h.N > p.scored {
		d.Fail(fmt.Sprintf("callers with %d of %d scored calls", p.h.N, p.scored))
		return
	}
	// Each caller's probes are exact and disjoint: together at most near.
	var probes uint64
	for _, r := range ranked(p.h) {
		h := r.Hitter
		if h.Aux > p.near-probes {
			d.Fail(fmt.Sprintf("callers with more than the %d probes", p.near))
			return
		}
		probes += h.Aux
	}
	decodeFloor(d, p.h)
}

// Score returns the window's probing verdicts.
func (s Probing) Score(cur, _ signal.Partial) []signal.Verdict {
	c := cur.(*probes)
	c.settle()
	if c.scored == 0 {
		return nil
	}
	nan := math.NaN()
	out := []signal.Verdict{signal.Info("*", float64(c.near)/float64(c.scored), nan, c.scored,
		fmt.Sprintf("%d of %d scored calls within %g of the threshold", c.near, c.scored, s.Config.ProbeMargin))}
	type tested struct {
		h        sketch.Hitter
		n        uint64
		p, share float64
		base     float64
	}
	var ts []tested
	for _, r := range ranked(c.h) {
		h := r.Hitter
		n := h.Count - h.Err
		if n < uint64(s.Config.MinCount) || n > c.scored || h.Aux > c.near {
			continue
		}
		restN, restK := c.scored-n, c.near-h.Aux
		if restN < uint64(s.Config.MinCount) {
			continue
		}
		p0 := float64(restK) / float64(restN)
		var pv float64
		switch {
		case p0 <= 0 && h.Aux > 0:
			pv = 0
		case p0 <= 0:
			pv = 1
		case p0 >= 1:
			pv = 1
		default:
			pv = stat.BinomialSurvival(h.Aux, n, p0)
		}
		ts = append(ts, tested{h: h, n: n, p: pv, share: float64(h.Aux) / float64(n), base: p0})
	}
	if len(ts) == 0 {
		return out
	}
	ps := make([]float64, len(ts))
	for i, t := range ts {
		ps[i] = t.p
	}
	_, adj := stat.BenjaminiHochberg(ps, 1)
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return adj[order[a]] < adj[order[b]] })
	for _, i := range order[:min(len(order), s.Config.MaxSubjects)] {
		t := ts[i]
		out = append(out, signal.Decision(strings.Clone(t.h.Key), t.share, adj[i], t.share-t.base, s.Config.Probing.Warning, s.Config.Probing.Critical, t.n,
			fmt.Sprintf("%d of %d scored calls within %g of the threshold, against %.3f of the other callers' (p %.3g before adjustment across %d callers)",
				t.h.Aux, t.n, s.Config.ProbeMargin, t.base, t.p, len(ts))))
	}
	return out
}
