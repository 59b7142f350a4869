package access

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// hllError is the relative standard error of a caller's distinct count
// (1.04/√m).
var hllError = 1.04 / math.Sqrt(sketch.HLLRegisters)

// Diversity is caller_diversity: how much of the input space a caller
// covers for its volume, the pattern of scrapers and of extraction attacks
// that spray the input space, against the other callers of the window.
// Each call's input vector is quantized on a fixed grid (gridCell: sign and
// octave of each numeric feature, each categorical value as it is) and
// hashed; per window, the calls of each caller are counted over the
// Space-Saving summary of InputCallers counters it shares with caller_ood
// and caller_harvest (table.go), and each counted
// caller's quantized inputs in a HyperLogLog sketch of 1 KiB
// (sketch.HLL, relative standard error 3.25 %), with one more sketch for
// every call's, callers or not.
//
// Statistic, per caller with at least MinCount calls counted under its own
// counter (n = Count − Err, the calls its sketch has seen): its distinct
// share ρ = min(D̂/n, 1), D̂ the sketch's estimate of its distinct inputs.
// With at least three such callers, the population's share ρ₀ is their
// median ρ (a caller's inputs repeat more the more it calls, so the median
// of callers is what an ordinary caller does; a few attackers do not move
// it). Decision, per caller above ρ₀: the one-sided exact binomial test of
// k = ⌊D̂·(1 − 2·1.04/√m)⌋ new inputs (the estimate less two standard
// errors) in n calls against ρ₀, Benjamini–Hochberg across the callers
// tested, the MaxSubjects smallest adjusted p-values reported; effect:
// ρ − ρ₀. The test treats each call as new with probability ρ₀, an
// approximation that the sketch's error and the median's noise make
// conservative only in part: the effect levels, not the p-value, grade.
//
// Severity: diversity alone is at most a warning by default (Diversity's
// critical level 1 is above any effect): within a window, a scraper and a
// batch service re-scoring a portfolio larger than its window's calls both
// send every input once. A diverse caller is critical only through an
// abnormal input (caller_ood) or output (caller_harvest) pattern, which
// have their own verdicts. "*" informs with the distinct share of every
// call.
type Diversity struct{ Config Config }

// Name returns "caller_diversity".
func (Diversity) Name() string { return "caller_diversity" }

// NewPartial returns an empty partial.
func (s Diversity) NewPartial() signal.Partial {
	return &diversity{ref: inputTable(s.Config)}
}

var (
	_ signal.Signal  = Diversity{}
	_ signal.Partial = (*diversity)(nil)
)

type diversity struct {
	// h is the partial's own summary of calls with inputs once it is
	// settled (decoded, merged or scored); nil while it observes: the
	// callers are counted in ref's summary, shared with caller_ood and
	// caller_harvest, and their calls with inputs in kind.
	h     *sketch.HeavyHitters
	ref   tableRef
	kind  kindCounts
	sk    []sketch.HLL   // per slot: the caller's inputs since it has its counter
	added []recentInputs // per slot: its sketch's hashes while they are few
	pop   sketch.HLL     // every call's inputs
	calls uint64         // every call with inputs, callers or not
	own   signal.Batch   // for Observe
	hs    []slotHitter   // AppendBinary's
}

// inputTable is the hold of the signals of inputs (caller_diversity,
// caller_ood, caller_harvest) on their shared summary.
func inputTable(c Config) tableRef {
	return tableRef{col: &inputCallerSlots, capacity: c.InputCallers, fields: resolveFields(c.CallerFields)}
}

func (p *diversity) Observe(events []*telemetry.Event) { observeOwn(p, &p.own, events) }

func (p *diversity) ObserveBatch(b *signal.Batch) {
	hashes := b.Uint64s(&inputHashes)
	for i, v := range p.ref.observing(&p.h, &p.kind, b, &p.own) {
		c, slot, caller, tracked := p.kind.call(v, p.slot)
		if !hasInputs(b.Events[i]) {
			continue
		}
		hash := hashes[i]
		p.calls++
		p.pop.Add(hash)
		if !p.kind.count(c, caller, tracked) {
			continue
		}
		p.sk[slot].Add(hash)
		if a := &p.added[slot]; a.n < len(a.hashes) {
			a.hashes[a.n] = hash
			a.n++
		} else {
			a.n = len(a.hashes) + 1 // too many to clear one by one
		}
	}
}

// slot readies slot's sketch for a new caller: a new slot's empty, a
// reused one's cleared.
func (p *diversity) slot(slot int) {
	if slot >= len(p.sk) {
		for slot >= len(p.sk) {
			p.sk = append(p.sk, sketch.HLL{})
			p.added = append(p.added, recentInputs{})
		}
		return
	}
	// Most callers lose their counter after a call or two: clear only the
	// registers they set.
	if a := &p.added[slot]; a.n <= len(a.hashes) {
		p.sk[slot].ResetAdded(a.hashes[:a.n])
	} else {
		p.sk[slot].Reset()
	}
	p.added[slot].n = 0
}

// settle makes p's summary its own.
func (p *diversity) settle() {
	if p.h == nil {
		*p = *settle(p, &diversity{ref: p.ref})
	}
}

// recentInputs is the hashes a caller's sketch has counted while they are
// at most 6; n is beyond that when there were more.
type recentInputs struct {
	hashes [6]uint64
	n      int
}

// forgetInputs marks every slot's sketch as holding more hashes than
// recentInputs keeps, as after a merge or a decode: it is reset in full when
// its slot changes hands.
func (p *diversity) forgetInputs() {
	p.added = make([]recentInputs, len(p.sk))
	for i := range p.added {
		p.added[i].n = len(p.added[i].hashes) + 1
	}
}

// Reset empties p for the next window, keeping its memory: a slot's
// sketch is cleared when the slot is taken again (ObserveBatch appends it).
func (p *diversity) Reset() {
	p.h = nil
	p.ref.reset()
	p.kind.reset()
	p.sk, p.added = p.sk[:0], p.added[:0]
	p.pop.Reset()
	p.calls = 0
}

func (p *diversity) Merge(o signal.Partial) {
	q := o.(*diversity)
	p.settle()
	q.settle()
	fromP, fromQ := p.h.MergeSlots(q.h)
	sk := make([]sketch.HLL, len(fromP))
	for i := range sk {
		if j := fromP[i]; j >= 0 {
			sk[i].Merge(&p.sk[j])
		}
		if j := fromQ[i]; j >= 0 {
			sk[i].Merge(&q.sk[j])
		}
	}
	p.sk = sk
	p.forgetInputs()
	p.pop.Merge(&q.pop)
	p.calls += q.calls
}

func (p *diversity) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.calls)
	b = p.pop.AppendBinary(b)
	if p.h == nil {
		p.hs = p.kind.hitters(&p.ref, p.hs)
		b = appendHitters(b, p.kind.n, p.hs)
		for _, h := range p.hs {
			b = p.sk[h.slot].AppendBinary(b)
		}
		return appendFloor(b, p.kind.floor(&p.ref))
	}
	b = p.h.AppendBinary(b)
	for _, slot := range p.h.Ranked() {
		b = p.sk[slot].AppendBinary(b)
	}
	return appendFloor(b, p.h.Floor())
}

func (p *diversity) Decode(d *sketch.Decoder) {
	p.calls = d.Uvarint()
	p.pop.Decode(d)
	p.h = sketch.NewHeavyHitters(p.ref.capacity)
	p.h.Decode(d)
	if d.Err() != nil {
		return
	}
	if p.h.N > p.calls {
		d.Fail(fmt.Sprintf("callers with %d of %d calls with inputs", p.h.N, p.calls))
		return
	}
	p.sk = make([]sketch.HLL, p.h.Len())
	p.forgetInputs()
	for _, slot := range p.h.Ranked() {
		p.sk[slot].Decode(d)
	}
	decodeFloor(d, p.h)
}

// Score returns the window's diversity verdicts.
func (s Diversity) Score(cur, _ signal.Partial) []signal.Verdict {
	c := cur.(*diversity)
	c.settle()
	if c.calls == 0 {
		return nil
	}
	nan := math.NaN()
	pop := c.pop.Estimate()
	out := []signal.Verdict{signal.Info("*", math.Min(pop/float64(c.calls), 1), nan, c.calls,
		fmt.Sprintf("about %.0f distinct quantized inputs in %d calls", pop, c.calls))}
	type tested struct {
		h      sketch.Hitter
		n      uint64
		d, rho float64
	}
	var ts []tested
	var rhos []float64
	for _, r := range ranked(c.h) {
		h := r.Hitter
		n := exactCalls(h)
		if n < uint64(s.Config.MinCount) {
			continue
		}
		slot := r.slot
		d := c.sk[slot].Estimate()
		rho := math.Min(d/float64(n), 1)
		ts = append(ts, tested{h: h, n: n, d: d, rho: rho})
		rhos = append(rhos, rho)
	}
	if len(ts) < 3 {
		return out
	}
	rho0, _ := stat.MedianMAD(rhos)
	var vs []signal.Verdict
	for _, t := range ts {
		if t.rho <= rho0 {
			continue
		}
		k := uint64(math.Min(math.Floor(t.d*(1-2*hllError)), float64(t.n)))
		vs = append(vs, signal.Decision(strings.Clone(t.h.Key), t.rho, binomialP(k, t.n, rho0), t.rho-rho0,
			s.Config.Diversity.Warning, s.Config.Diversity.Critical, t.n,
			fmt.Sprintf("about %.0f distinct quantized inputs in %d calls (%.2f), against %.2f for the median of %d callers",
				t.d, t.n, t.rho, rho0, len(ts))))
	}
	return append(out, adjustTop(vs, s.Config.MaxSubjects)...)
}
