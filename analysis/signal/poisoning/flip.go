package poisoning

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// LabelFlip is poisoning_label_flip: label flipping, the poisoning that
// proposes labels the data does not support. An example is compared when
// it has a proposed label and the model's own prediction is known; it is a
// flip when the two differ. Per window, the compared examples of each
// source are counted in a table of MaxSources counters (Space-Saving), with
// their flips and the ids of a few flipped examples.
//
// Decision per source with at least MinCount examples counted under its own
// counter, when the other sources have MinCount too: the one-sided exact
// binomial test of its k flips in n compared examples against the other
// sources' flip rate, P(X ≥ k), X ~ Binomial(n, p₀) (stat.BinomialSurvival),
// p₀ = (k' + ½)/(n' + 1) from their k' flips in n' examples (the window's
// compared examples less the source's): the rate is estimated, and without
// the half a source with a few flips where the others have none would have
// p = 0. Benjamini–Hochberg across the sources tested, the MaxSubjects
// smallest adjusted p-values reported; effect: the source's flip rate minus
// the others' (k'/n').
// "*": the window's flip rate, a decision against the reference's (one-sided
// Fisher exact; effect the difference) when both have MinCount compared
// examples, else informing.
type LabelFlip struct{ Config Config }

var (
	_ Signal  = LabelFlip{}
	_ Partial = (*flips)(nil)
)

// Name returns "poisoning_label_flip".
func (LabelFlip) Name() string { return "poisoning_label_flip" }

// NewPartial returns an empty partial.
func (s LabelFlip) NewPartial() Partial {
	return &flips{sources: newTable(s.Config.MaxSources, maxKey, idsPerKey)}
}

type flips struct {
	sources           *table // compared examples per source; aux: flips; ids: flipped examples
	examples          uint64 // every example observed
	compared, flipped uint64 // with a source or not
	key               []byte // scratch
}

func (p *flips) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		p.examples++
		if e.ProposedLabel == "" || e.PredictedLabel == "" {
			continue
		}
		var f uint64
		if e.ProposedLabel != e.PredictedLabel {
			f = 1
		}
		p.compared++
		p.flipped += f
		if e.Source == "" {
			continue
		}
		p.key = shorten(p.key[:0], e.Source, maxKey)
		p.sources.add(p.key, f, e.ID, "", f == 1 && e.ID != "")
	}
}

func (p *flips) Merge(o Partial) {
	q := o.(*flips)
	p.sources.merge(q.sources)
	p.examples += q.examples
	p.compared += q.compared
	p.flipped += q.flipped
}

func (p *flips) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.examples)
	b = binary.AppendUvarint(b, p.compared)
	b = binary.AppendUvarint(b, p.flipped)
	return p.sources.appendBinary(b)
}

func (p *flips) Decode(d *sketch.Decoder) {
	p.examples, p.compared, p.flipped = d.Uvarint(), d.Uvarint(), d.Uvarint()
	if d.Err() == nil && (p.compared > p.examples || p.flipped > p.compared) {
		d.Fail(fmt.Sprintf("%d flips of %d compared of %d examples", p.flipped, p.compared, p.examples))
		return
	}
	p.sources.decode(d, "sources")
	if d.Err() != nil {
		return
	}
	if p.sources.n > p.compared {
		d.Fail(fmt.Sprintf("sources with %d of %d compared examples", p.sources.n, p.compared))
		return
	}
	// Each source's flips are exact and disjoint: together at most flipped.
	var flips uint64
	for s := range int32(p.sources.slots()) {
		a := p.sources.aux[s]
		if a > p.flipped-flips || uint64(p.sources.idN[s]) > a {
			d.Fail(fmt.Sprintf("sources with more than the %d flips, or ids of examples that are not flips", p.flipped))
			return
		}
		flips += a
	}
}

// mostFlips returns the tracked source with the most flips (ties: the first
// in order) and their number.
func (p *flips) mostFlips() (string, uint64) {
	var top string
	var k uint64
	for _, s := range p.sources.order() {
		if a := p.sources.aux[s]; a > k {
			top, k = string(p.sources.key(s)), a
		}
	}
	return top, k
}

// Score returns the window's label-flip verdicts.
func (s LabelFlip) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*flips)
	if c.compared == 0 || c.flipped > c.compared { // the latter only if merged counts wrapped around
		return nil
	}
	cfg := s.Config
	rate := float64(c.flipped) / float64(c.compared)
	most := "" // the source with the most flips, for the evidence
	if top, k := c.mostFlips(); k > 0 {
		most = fmt.Sprintf("; most from %q (%d)", cut(top, 48), k)
	}
	var out []signal.Verdict
	if r, _ := ref.(*flips); r != nil && r.compared >= uint64(cfg.MinCount) && r.flipped <= r.compared && c.compared >= uint64(cfg.MinCount) {
		refRate := float64(r.flipped) / float64(r.compared)
		out = append(out, signal.Decision("*", rate, fisherGreater(c.flipped, c.compared-c.flipped, r.flipped, r.compared-r.flipped),
			rate-refRate, cfg.LabelFlip.Warning, cfg.LabelFlip.Critical, c.compared,
			cut(fmt.Sprintf("%d of %d proposed labels differ from the model's prediction, against %.3f of %d in the reference%s",
				c.flipped, c.compared, refRate, r.compared, most), MaxEvidence)))
	} else {
		out = append(out, signal.Info("*", rate, math.NaN(), c.compared,
			cut(fmt.Sprintf("%d of %d proposed labels differ from the model's prediction (%d examples)%s", c.flipped, c.compared, c.examples, most), MaxEvidence)))
	}
	var ts []test
	for _, sl := range c.sources.order() {
		n, k := c.sources.count[sl]-c.sources.err[sl], c.sources.aux[sl]
		if n < uint64(cfg.MinCount) || n > c.compared || k > c.flipped {
			continue
		}
		restN, restK := c.compared-n, c.flipped-k
		if restN < uint64(cfg.MinCount) || restK > restN {
			continue
		}
		share, base := float64(k)/float64(n), float64(restK)/float64(restN)
		ts = append(ts, test{subject: string(c.sources.key(sl)), statistic: share, effect: share - base, n: n,
			p: stat.BinomialSurvival(k, n, (float64(restK)+0.5)/(float64(restN)+1)),
			evidence: evidence(fmt.Sprintf("%d of %d proposed labels differ from the model's prediction, against %.3f of the other sources' %d",
				k, n, base, restN), c.sources.ids(sl))})
	}
	return append(out, decisions(ts, cfg.LabelFlip, cfg.MaxSubjects)...)
}
