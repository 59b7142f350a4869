package poisoning

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// Trigger is poisoning_trigger: trigger co-occurrence, the backdoor pattern
// in which examples carrying a trigger (here a categorical value) are
// labelled with the attacker's target. Per window, over the examples with a
// proposed label, three tables (Space-Saving) count the labels (MaxLabels
// counters), the (feature, value) pairs and the (feature, value, label)
// triples (MaxPairs counters each, the triples with the ids of a few
// examples).
//
// For each triple with at least MinSupport examples, the 2×2 table over the
// window's N labelled examples, "has the value" × "has the label", gives
// the confidence P(y | v) = a/row, the base rate P(y) = col/N and the lift
// P(y | v)/P(y); a triple whose confidence does not exceed the base rate is
// not tested. Against a reference:
//   - a value the reference has with at least MinSupport examples is tested
//     for a jump: one-sided Fisher exact test of its confidence in the
//     window against the reference's; effect: the rise of the confidence;
//   - a value the reference does not have (or has too rarely to compare) is
//     tested for an association within the window: one-sided Fisher exact
//     test of the 2×2 table; effect: the confidence minus the reference's
//     base rate of the label; the evidence says whether the reference never
//     had the value.
//
// Benjamini–Hochberg across the triples tested. Without a reference, the
// strongest associations inform only: a value that predicts a label is
// benign when it always did, which only the reference can tell. Counts come
// from the tables: the row and column totals are upper bounds and a lower
// bound (count less overcount), so that an estimate errs towards no
// association; all are exact while the window has fewer distinct keys than
// the tables' capacities.
type Trigger struct {
	Config   Config
	Features Features
}

var (
	_ Signal  = Trigger{}
	_ Partial = (*triggers)(nil)
)

// Name returns "poisoning_trigger".
func (Trigger) Name() string { return "poisoning_trigger" }

// Key widths: a feature index (uvarint, < MaxFeatures), then a value; for a
// triple the value's length in one byte between them, and the label after.
const (
	pairWidth   = 2 + maxKey
	tripleWidth = 2 + 1 + 2*maxKey
)

// NewPartial returns an empty partial.
func (s Trigger) NewPartial() Partial {
	return &triggers{
		labels:      newTable(s.Config.MaxLabels, maxKey, 0),
		pairs:       newTable(s.Config.MaxPairs, pairWidth, 0),
		triples:     newSourcedTable(s.Config.MaxPairs, tripleWidth, idsPerKey),
		categorical: len(s.Features.Categorical),
	}
}

type triggers struct {
	labels, pairs, triples *table
	malformed              uint64 // labelled examples whose categorical values have another length
	categorical            int
	label, key, pair       []byte // scratch
}

func (p *triggers) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		if e.ProposedLabel == "" {
			continue
		}
		p.label = shorten(p.label[:0], e.ProposedLabel, maxKey)
		p.labels.add(p.label, 0, "", "", false)
		if len(e.Categorical) != p.categorical {
			p.malformed++
			continue
		}
		for j, v := range e.Categorical {
			if v == "" {
				continue
			}
			p.key = binary.AppendUvarint(p.key[:0], uint64(j))
			at := len(p.key)
			p.key = append(p.key, 0) // the value's length, once known
			p.key = shorten(p.key, v, maxKey)
			p.key[at] = byte(len(p.key) - at - 1)
			// The pair key is the triple's without the length byte and label.
			p.pair = append(append(p.pair[:0], p.key[:at]...), p.key[at+1:]...)
			p.pairs.add(p.pair, 0, "", "", false)
			p.key = append(p.key, p.label...)
			p.triples.add(p.key, 0, e.ID, e.Source, e.ID != "")
		}
	}
}

// parseTriple splits a triple key; ok false when it is not one of a
// feature below features.
func parseTriple(key []byte, features int) (j int, value, label []byte, ok bool) {
	f, n := binary.Uvarint(key)
	if n <= 0 || f >= uint64(features) || len(key) < n+1 || int(key[n]) > len(key)-n-1 {
		return 0, nil, nil, false
	}
	l := int(key[n])
	return int(f), key[n+1 : n+1+l], key[n+1+l:], true
}

// pairKey returns the pair key of feature j and value.
func pairKey(j int, value []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(j)), value...)
}

func (p *triggers) Merge(o Partial) {
	q := o.(*triggers)
	p.labels.merge(q.labels)
	p.pairs.merge(q.pairs)
	p.triples.merge(q.triples)
	p.malformed += q.malformed
}

func (p *triggers) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.malformed)
	b = p.labels.appendBinary(b)
	b = p.pairs.appendBinary(b)
	return p.triples.appendBinary(b)
}

func (p *triggers) decodeWithoutSources() { p.triples.noSrcInput = true }

func (p *triggers) Decode(d *sketch.Decoder) {
	p.malformed = d.Uvarint()
	p.labels.decode(d, "labels")
	p.pairs.decode(d, "categorical values")
	p.triples.decode(d, "value and label pairs")
	if d.Err() != nil {
		return
	}
	// Each labelled example adds one pair and one triple per value present.
	if p.malformed > p.labels.n || p.pairs.n != p.triples.n || p.pairs.n/max(uint64(p.categorical), 1) > p.labels.n {
		d.Fail(fmt.Sprintf("%d values of %d labelled examples", p.pairs.n, p.labels.n))
		return
	}
	for s := range int32(p.triples.slots()) {
		if _, _, _, ok := parseTriple(p.triples.key(s), p.categorical); !ok {
			d.Fail("a value and label pair of an unknown feature")
			return
		}
	}
}

// countOf returns key's count in t, or t's floor (what a key without a
// counter may have had) when it has none.
func countOf(t *table, key []byte) (count uint64, tracked bool) {
	c, _, _, ok := t.lookup(key)
	if !ok {
		return t.floor(), false
	}
	return c, true
}

// Score returns the window's trigger verdicts.
func (s Trigger) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*triggers)
	cfg := s.Config
	n := c.labels.n
	if n == 0 {
		return nil
	}
	r, _ := ref.(*triggers)
	if r != nil && r.labels.n < uint64(cfg.MinCount) {
		r = nil
	}
	var ts []test
	for _, sl := range c.triples.order() {
		a := c.triples.count[sl] - c.triples.err[sl]
		j, value, label, ok := parseTriple(c.triples.key(sl), c.categorical)
		if a < uint64(cfg.MinSupport) || !ok || j >= len(s.Features.Categorical) {
			continue
		}
		pk := pairKey(j, value)
		row, _ := countOf(c.pairs, pk)
		col, _ := countOf(c.labels, label)
		row, col = max(row, a), max(col, a)
		if row+col-a > n {
			continue
		}
		conf, base := float64(a)/float64(row), float64(col)/float64(n)
		if conf <= base {
			continue
		}
		t := test{subject: fmt.Sprintf("%s=%s -> %s", s.Features.Categorical[j], value, label), statistic: conf / base,
			effect: conf - base, n: row, p: math.NaN()}
		what := fmt.Sprintf("P(label | value) %.2f (%d of %d) against a base rate of %.2f, lift %.1f", conf, a, row, base, conf/base)
		if r != nil {
			refRow, seen := countOf(r.pairs, pk)
			if !seen {
				refRow = 0
			}
			refA, _ := countOf(r.triples, c.triples.key(sl))
			refCol, _ := countOf(r.labels, label)
			refA = min(refA, refRow)
			refBase := float64(refCol) / float64(r.labels.n)
			switch {
			case refRow >= uint64(cfg.MinSupport):
				refConf := float64(refA) / float64(refRow)
				t.effect = conf - refConf
				t.p = fisherGreater(a, row-a, refA, refRow-refA)
				what += fmt.Sprintf("; %.2f of %d in the reference", refConf, refRow)
			default:
				t.effect = conf - refBase
				t.p = fisherGreater(a, row-a, col-a, n-row-col+a)
				switch {
				case seen:
					what += fmt.Sprintf("; value rare in the reference (%d), base rate there %.2f", refRow, refBase)
				case r.pairs.slots() < r.pairs.capacity:
					what += fmt.Sprintf("; value never seen in the reference, base rate there %.2f", refBase)
				default:
					what += fmt.Sprintf("; value not among the reference's tracked values, base rate there %.2f", refBase)
				}
			}
		}
		t.evidence = sourcedEvidence(what, c.triples.sources(sl), c.triples.ids(sl))
		ts = append(ts, t)
	}
	if r == nil {
		return informs(ts, cfg.MaxSubjects)
	}
	return decisions(ts, cfg.Trigger, cfg.MaxSubjects)
}
