package poisoning

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Flood is poisoning_flood: near-duplicate floods, the poisoning that
// repeats one example (or slight variations of it) to outweigh the rest.
// Per window, two families of fingerprints are counted, each in a table of
// MaxFingerprints counters (Space-Saving) with the ids of a few examples
// each: the example's content hash (ContentSHA256), and the SimHash of its
// features (simHash: numeric values rounded to QuantizeDigits significant
// digits, categorical values as they are). A group is a content hash, or a
// SimHash fingerprint with the tracked fingerprints at most HammingRadius
// bits from it (taken greedily, the heaviest first, each fingerprint in one
// group).
//
// Decision, against a reference, per group of at least MinSupport examples:
// the one-sided binomial test of its k examples among the family's N
// against p₀ = (k_ref + 1)/(N_ref + 2), k_ref the reference's examples in
// the same group (its tracked fingerprints within the radius; the smallest
// counter when none is tracked and its table is full), Benjamini–Hochberg
// across the groups; effect: the excess share k/N − k_ref/N_ref. Without a
// reference, the largest groups inform: what repeats benignly (a common
// answer, a default form) is only known from the reference. "*" informs
// with the largest group's share.
type Flood struct {
	Config   Config
	Features Features
}

var (
	_ Signal  = Flood{}
	_ Partial = (*floods)(nil)
)

// Name returns "poisoning_flood".
func (Flood) Name() string { return "poisoning_flood" }

// NewPartial returns an empty partial.
func (s Flood) NewPartial() Partial {
	return &floods{
		content: newSourcedTable(s.Config.MaxFingerprints, maxKey, idsPerKey),
		vectors: newSourcedTable(s.Config.MaxFingerprints, 8, idsPerKey),
		digits:  s.Config.QuantizeDigits, numeric: len(s.Features.Numeric), categorical: len(s.Features.Categorical),
	}
}

type floods struct {
	content, vectors     *table // examples per content hash, per SimHash fingerprint (8 bytes, big-endian)
	malformed            uint64 // examples whose feature slices have another length
	digits               int
	numeric, categorical int
	key                  []byte // scratch
}

func (p *floods) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		if e.ContentSHA256 != "" {
			p.key = shorten(p.key[:0], e.ContentSHA256, maxKey)
			p.content.add(p.key, 0, e.ID, e.Source, e.ID != "")
		}
		num, cat := e.Numeric, e.Categorical
		if len(num) != p.numeric || len(cat) != p.categorical {
			p.malformed++
			continue
		}
		if fp, n := simHash(num, cat, p.digits); n > 0 {
			p.key = binary.BigEndian.AppendUint64(p.key[:0], fp)
			p.vectors.add(p.key, 0, e.ID, e.Source, e.ID != "")
		}
	}
}

func (p *floods) Merge(o Partial) {
	q := o.(*floods)
	p.content.merge(q.content)
	p.vectors.merge(q.vectors)
	p.malformed += q.malformed
}

func (p *floods) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.malformed)
	b = p.content.appendBinary(b)
	return p.vectors.appendBinary(b)
}

func (p *floods) decodeWithoutSources() { p.content.noSrcInput, p.vectors.noSrcInput = true, true }

func (p *floods) Decode(d *sketch.Decoder) {
	p.malformed = d.Uvarint()
	p.content.decode(d, "content hashes")
	p.vectors.decode(d, "SimHash fingerprints")
	for s := range int32(p.vectors.slots()) {
		if d.Err() == nil && len(p.vectors.key(s)) != 8 {
			d.Fail("a SimHash fingerprint that is not 8 bytes")
		}
	}
}

// dupGroup is a group of fingerprints of one family.
type dupGroup struct {
	centre  int32
	members []int32
	k       uint64 // examples counted under the members' own counters
}

// groups returns the groups of t's fingerprints, the most examples (under
// their own counters) first: every fingerprint on its own (radius < 0), or
// with the fingerprints not yet in a group within radius bits of it, the
// heaviest fingerprints first.
func groups(t *table, radius int) []dupGroup {
	order := t.order()
	var out []dupGroup
	taken := make([]bool, t.slots())
	for _, s := range order {
		if taken[s] {
			continue
		}
		g := dupGroup{centre: s}
		if radius < 0 {
			g.members, g.k = []int32{s}, t.count[s]-t.err[s]
		} else {
			fp := binary.BigEndian.Uint64(t.key(s))
			for _, o := range order {
				if !taken[o] && hamming(fp, binary.BigEndian.Uint64(t.key(o))) <= radius {
					taken[o] = true
					g.members = append(g.members, o)
					g.k += t.count[o] - t.err[o]
				}
			}
		}
		out = append(out, g)
	}
	slices.SortStableFunc(out, func(a, b dupGroup) int { return cmp.Compare(b.k, a.k) })
	return out
}

// refCount returns the reference's examples in the group around key (at
// most, with the table's counts): its fingerprints within radius (radius
// < 0: key itself), or its smallest counter when none is tracked.
func refCount(t *table, key []byte, radius int) uint64 {
	var k uint64
	found := false
	if radius < 0 {
		c, _, _, ok := t.lookup(key)
		k, found = c, ok
	} else {
		fp := binary.BigEndian.Uint64(key)
		for s := range int32(t.slots()) {
			if hamming(fp, binary.BigEndian.Uint64(t.key(s))) <= radius {
				k += t.count[s]
				found = true
			}
		}
	}
	if !found {
		return t.floor()
	}
	return k
}

// groupIDs returns the bottom ids of a group's members, and their
// examples' sources.
func groupIDs(t *table, g dupGroup) (ids, sources []string) {
	type kid struct {
		k       uint64
		id, src string
	}
	var all []kid
	for _, m := range g.members {
		for j, id := range t.ids(m) {
			all = append(all, kid{sketch.SampleKey(id), id, t.source(m, j)})
		}
	}
	slices.SortFunc(all, func(a, b kid) int { return cmp.Compare(a.k, b.k) })
	for _, x := range all[:min(len(all), idsPerKey)] {
		ids, sources = append(ids, x.id), append(sources, x.src)
	}
	return ids, sources
}

// Score returns the window's flood verdicts.
func (s Flood) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*floods)
	cfg := s.Config
	r, _ := ref.(*floods)
	var refContent, refVectors *table
	if r != nil {
		refContent, refVectors = r.content, r.vectors
	}
	var ts []test
	var largest float64
	for _, fam := range []struct {
		cur, ref *table
		radius   int
		subject  func(key []byte) string
	}{
		{c.content, refContent, -1, func(k []byte) string { return "content:" + string(k) }},
		{c.vectors, refVectors, cfg.HammingRadius, func(k []byte) string { return fmt.Sprintf("simhash:%016x", binary.BigEndian.Uint64(k)) }},
	} {
		t := fam.cur
		if t.n == 0 {
			continue
		}
		for _, g := range groups(t, fam.radius) {
			share := float64(g.k) / float64(t.n)
			largest = math.Max(largest, share)
			if g.k < uint64(cfg.MinSupport) {
				break // groups come heaviest first
			}
			key := t.key(g.centre)
			what := fmt.Sprintf("%d of %d examples (%.1f%%) within %d bits of this fingerprint (%d fingerprints)",
				g.k, t.n, 100*share, fam.radius, len(g.members))
			if fam.radius < 0 {
				what = fmt.Sprintf("%d of %d examples with content (%.1f%%) carry this content hash", g.k, t.n, 100*share)
			}
			tt := test{subject: fam.subject(key), statistic: share, effect: share, n: g.k, p: math.NaN()}
			if rt := fam.ref; rt != nil && rt.n >= uint64(cfg.MinCount) {
				k0 := refCount(rt, key, fam.radius)
				p0 := (float64(k0) + 1) / (float64(rt.n) + 2)
				tt.effect = share - float64(k0)/float64(rt.n)
				tt.p = stat.BinomialSurvival(g.k, t.n, p0)
				what += fmt.Sprintf(", against %.2f%% of %d in the reference", 100*float64(k0)/float64(rt.n), rt.n)
			}
			ids, sources := groupIDs(t, g)
			tt.evidence = sourcedEvidence(what, sources, ids)
			ts = append(ts, tt)
		}
	}
	if c.content.n == 0 && c.vectors.n == 0 {
		return nil
	}
	out := []signal.Verdict{signal.Info("*", largest, math.NaN(), c.content.n+c.vectors.n,
		fmt.Sprintf("%d examples with a content hash, %d with features (%d malformed); the largest group holds %.1f%% of its family",
			c.content.n, c.vectors.n, c.malformed, 100*largest))}
	if r == nil {
		return append(out, informs(ts, cfg.MaxSubjects)...)
	}
	var tested, untested []test
	for _, t := range ts {
		if math.IsNaN(t.p) {
			untested = append(untested, t)
		} else {
			tested = append(tested, t)
		}
	}
	out = append(out, decisions(tested, cfg.Flood, cfg.MaxSubjects)...)
	return append(out, informs(untested, cfg.MaxSubjects)...)
}
