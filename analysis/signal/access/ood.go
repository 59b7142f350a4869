package access

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// oodPopulation is the distinct inputs of every caller sampled per window
// by caller_ood: enough for the 0.5 % and 99.5 % quantiles of a reference
// (about the 10th value from each end).
const oodPopulation = 2048

// oodMinRange is the fewest values of a feature in a sample for its central
// range to be estimated; a feature with fewer is not judged.
const oodMinRange = 200

// OOD is caller_ood: a caller whose inputs leave the reference's central
// range far more often than the population's, the pattern of extraction
// attacks that spray the input space and of fuzzing. The unit is a
// distinct input, not a call: an ordinary caller sends the same few inputs
// again and again (the accounts it scores), and counting its calls would
// make one unusual account look like a pattern. Per window, the distinct
// quantized inputs of calls with numeric features are sampled bottom-k by
// their hash (inputHash: every partition samples the same inputs, so
// samples merge exactly, and an input sent again is sampled once): 2,048
// of the population's and, for each of the InputCallers heaviest callers
// (Space-Saving), OODSample of its inputs since it has its counter. A
// sampled input keeps its first OODFeatures numeric features as 16-bit
// codes that preserve order (the upper half of a float32's bits: a
// relative precision of 2⁻⁷), so a range can be applied after the fact:
// the partial does not depend on the reference.
//
// An input is out of distribution when any of its features lies outside
// the feature's central range [q, 1 − q] (q = OODQuantile) of the
// reference's population sample (without a reference, of the window's
// own: then the signal compares callers with each other only). Statistic,
// per caller with at least MinCount calls: the share of its m sampled
// inputs out of distribution, x/m. Decision, per caller above the share p₀
// of the other tracked callers' sampled inputs, pooled (X − x out of M − m,
// smoothed to (X − x + ½)/(M − m + 1), at least OODSample of them): the
// one-sided exact binomial test P(X ≥ x), X ~ Binomial(m, p₀), across the
// callers by Benjamini–Hochberg, the MaxSubjects smallest adjusted
// p-values reported; effect: x/m − p₀. The caller's own inputs are left out
// of p₀: a sprayer's distinct inputs can be half of a window's. Inputs out
// of distribution are an abnormal input pattern, so a caller may be
// critical; a benign heavy caller with ordinary inputs is as often out as
// the others. "*" informs with the share of the window's population sample
// (every call, anonymous ones too).
type OOD struct{ Config Config }

// Name returns "caller_ood".
func (OOD) Name() string { return "caller_ood" }

// NewPartial returns an empty partial.
func (s OOD) NewPartial() signal.Partial {
	return &ood{ref: inputTable(s.Config), pop: indexed(vecSample{}), k: s.Config.OODSample, d: s.Config.OODFeatures, q: s.Config.OODQuantile}
}

// indexed returns s, a population sample, with its key set.
func indexed(s vecSample) vecSample {
	s.set = make([]uint64, 2*oodPopulation)
	for _, k := range s.keys {
		s.setAdd(k)
	}
	return s
}

var (
	_ signal.Signal  = OOD{}
	_ signal.Partial = (*ood)(nil)
)

type ood struct {
	// h is the partial's own summary of calls with numeric inputs once it
	// is settled (decoded, merged or scored); nil while it observes: the
	// callers are counted in ref's summary, shared with caller_diversity
	// and caller_harvest, and their calls with numeric inputs in kind.
	h       *sketch.HeavyHitters
	ref     tableRef
	kind    kindCounts
	names   []string    // the numeric features read, at most d
	callers []vecSample // per slot
	pop     vecSample   // every caller's inputs, anonymous ones too
	calls   uint64      // every call with numeric inputs
	k, d    int
	q       float64      // OODQuantile, for Summaries
	own     signal.Batch // for Observe
	hs      []slotHitter // AppendBinary's
	// posNames and colAt are the numeric features' names by their
	// position in the events (a producer sends them in the same order),
	// the first maxCachedNames, and their columns (-1: none).
	posNames []string
	colAt    []int
}

// vecSample is a bottom-k sample of distinct inputs by key (their hash),
// each with d codes. The keys are a max-heap, so that the largest, the one
// a smaller key replaces, is found at once (a population sample of 2,048
// replaces its largest about 3,000 times in a window of 10,000 distinct
// inputs); each key's codes stay in their row, rows[i] being keys[i]'s.
type vecSample struct {
	keys  []uint64
	rows  []int32
	codes []uint16 // d per row
	// set holds keys+1 (0: empty), open addressing with linear probing,
	// for a large sample: a repeated input is found without scanning.
	set []uint64
}

// row returns the codes of keys[i].
func (s *vecSample) row(i, d int) []uint16 {
	r := int(s.rows[i]) * d
	return s.codes[r : r+d]
}

// add appends key with codes (its d codes), restoring the heap order.
func (s *vecSample) add(key uint64, codes []uint16) {
	s.keys = append(s.keys, key)
	s.rows = append(s.rows, int32(len(s.rows)))
	s.codes = append(s.codes, codes...)
	sketch.SiftUp(s.keys, s.rows, len(s.keys)-1)
}

// has reports whether s holds key.
func (s *vecSample) has(key uint64) bool {
	if s.set == nil {
		return slices.Contains(s.keys, key)
	}
	mask := uint64(len(s.set) - 1)
	for i := mix64(key) & mask; s.set[i] != 0; i = (i + 1) & mask {
		if s.set[i] == key+1 {
			return true
		}
	}
	return false
}

// setAdd and setDel keep set in step with keys (deletion shifts back the
// entries after it, so that probing needs no tombstones).
func (s *vecSample) setAdd(key uint64) {
	if s.set == nil {
		return
	}
	mask := uint64(len(s.set) - 1)
	i := mix64(key) & mask
	for s.set[i] != 0 {
		i = (i + 1) & mask
	}
	s.set[i] = key + 1
}

func (s *vecSample) setDel(key uint64) {
	if s.set == nil {
		return
	}
	mask := uint64(len(s.set) - 1)
	i := mix64(key) & mask
	for s.set[i] != key+1 {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; s.set[j] != 0; j = (j + 1) & mask {
		home := mix64(s.set[j]-1) & mask
		// Move j's entry into the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.set[i], i = s.set[j], j
		}
	}
	s.set[i] = 0
}

// offer returns the codes of an input of key, cleared, if the sample of
// capacity k takes it: a key it holds already is not taken again.
func (s *vecSample) offer(key uint64, k, d int) ([]uint16, bool) {
	if len(s.keys) == k && key >= s.keys[0] || s.has(key) {
		return nil, false
	}
	s.setAdd(key)
	if len(s.keys) < k {
		s.keys = append(s.keys, key)
		s.rows = append(s.rows, int32(len(s.rows)))
		s.codes = grown(s.codes, d)
		n := len(s.keys) - 1
		sketch.SiftUp(s.keys, s.rows, n)
		return s.codes[n*d : (n+1)*d], true
	}
	s.setDel(s.keys[0])
	r := s.rows[0]
	sketch.SiftDown(s.keys, s.rows, 0, key, r)
	codes := s.codes[int(r)*d : (int(r)+1)*d]
	clear(codes)
	return codes, true
}

func (s *vecSample) reset() {
	s.keys, s.rows, s.codes = s.keys[:0], s.rows[:0], s.codes[:0]
}

// code is x's 16-bit order-preserving code: the upper half of the bits of
// float32(x), its sign bit flipped for a positive x and every bit for a
// negative one. 0, below every finite value's code, marks an absent one.
func code(x float64) uint16 {
	b := math.Float32bits(float32(x))
	if b&(1<<31) != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return max(uint16(b>>16), 1)
}

// feature returns the column of numeric feature name, the j-th of its
// event, adding it while there is room; -1 when there is none.
func (p *ood) feature(name string, j int) int {
	if j >= 0 && j < len(p.names) && p.names[j] == name {
		return j
	}
	if i := slices.Index(p.names, name); i >= 0 {
		return i
	}
	if len(p.names) < p.d {
		p.names = appendName(p.names, name)
		return len(p.names) - 1
	}
	return -1
}

// codes writes the codes of e's numeric features into dst by column,
// leaving the others: a name is compared once, with the name of its
// position in the previous events.
func (p *ood) codes(e *telemetry.Event, dst []uint16) {
	for j, n := range e.Features.Numeric {
		var col int
		if j < len(p.posNames) && p.posNames[j] == n.Name {
			col = p.colAt[j]
		} else {
			col = p.feature(n.Name, j)
			if j == len(p.posNames) && j < maxCachedNames {
				p.posNames = appendName(p.posNames, n.Name)
				p.colAt = append(p.colAt, col)
			}
		}
		if col >= 0 {
			dst[col] = code(n.Value)
		}
	}
}

// forgetPositions forgets the columns by position, which a merge or a
// decode may change.
func (p *ood) forgetPositions() { p.posNames, p.colAt = p.posNames[:0], p.colAt[:0] }

func (p *ood) Observe(events []*telemetry.Event) { observeOwn(p, &p.own, events) }

func (p *ood) ObserveBatch(b *signal.Batch) {
	hashes := b.Uint64s(&inputHashes)
	for i, v := range p.ref.observing(&p.h, &p.kind, b, &p.own) {
		e := b.Events[i]
		c, slot, caller, tracked := p.kind.call(v, p.sample)
		if len(e.Features.Numeric) == 0 {
			continue
		}
		p.calls++
		key := hashes[i]
		pc, pok := p.pop.offer(key, oodPopulation, p.d)
		var cc []uint16
		cok := false
		if p.kind.count(c, caller, tracked) {
			cc, cok = p.callers[slot].offer(key, p.k, p.d)
		}
		// The codes of the inputs the samples take only: a repeated input
		// or one above the samples' largest keys costs its hash alone.
		switch {
		case pok:
			p.codes(e, pc)
			if cok {
				copy(cc, pc)
			}
		case cok:
			p.codes(e, cc)
		}
	}
}

// sample readies slot's sample for a new caller: a new slot's empty, a
// reused one's emptied.
func (p *ood) sample(slot int) {
	if slot < len(p.callers) {
		p.callers[slot].reset()
		return
	}
	for slot >= len(p.callers) {
		n := len(p.callers)
		if n < cap(p.callers) && p.callers[:n+1][n].keys != nil {
			// A sample of before a Reset.
			p.callers = p.callers[:n+1]
			p.callers[n].reset()
			continue
		}
		// At its bound at once: a slot changes hands without allocating
		// whatever its callers' calls.
		p.callers = append(p.callers, vecSample{keys: make([]uint64, 0, p.k), rows: make([]int32, 0, p.k), codes: make([]uint16, 0, p.k*p.d)})
	}
}

// settle makes p's summary its own.
func (p *ood) settle() {
	if p.h == nil {
		*p = *settle(p, &ood{ref: p.ref, pop: indexed(vecSample{}), k: p.k, d: p.d, q: p.q})
	}
}

// mergeSample returns the bottom k of a and b (b's codes moved to a's
// columns by cols, a column of -1 dropped).
func mergeSample(a, b *vecSample, cols []int, k, d int) vecSample {
	type entry struct {
		key   uint64
		codes []uint16
	}
	es := make([]entry, 0, len(a.keys)+len(b.keys))
	for i, key := range a.keys {
		es = append(es, entry{key, a.row(i, d)})
	}
	moved := make([]uint16, len(b.keys)*d) // b's rows in a's columns
	for i, key := range b.keys {
		c := moved[i*d : (i+1)*d : (i+1)*d]
		for j, x := range b.row(i, d) {
			if cols[j] >= 0 {
				c[cols[j]] = x
			}
		}
		es = append(es, entry{key, c})
	}
	slices.SortFunc(es, func(x, y entry) int { return cmp.Compare(x.key, y.key) })
	es = slices.CompactFunc(es, func(x, y entry) bool { return x.key == y.key })
	es = es[:min(len(es), k)]
	var s vecSample
	for _, e := range es {
		s.add(e.key, e.codes)
	}
	return s
}

// Reset empties p for the next window, keeping its memory: the callers'
// samples are reused as their slots are taken again.
func (p *ood) Reset() {
	p.h = nil
	p.ref.reset()
	p.kind.reset()
	p.names = p.names[:0]
	p.callers = p.callers[:0]
	p.pop.reset()
	clear(p.pop.set)
	p.calls = 0
	p.forgetPositions()
}

func (p *ood) Merge(o signal.Partial) {
	q := o.(*ood)
	p.settle()
	q.settle()
	cols := make([]int, p.d)
	for j := range cols {
		cols[j] = -1
		if j < len(q.names) {
			cols[j] = p.feature(q.names[j], -1)
		}
	}
	p.forgetPositions() // q's features may have taken columns
	p.pop = indexed(mergeSample(&p.pop, &q.pop, cols, oodPopulation, p.d))
	p.calls += q.calls
	fromP, fromQ := p.h.MergeSlots(q.h)
	callers := make([]vecSample, len(fromP))
	var none vecSample
	for i := range callers {
		a, b := &none, &none
		if j := fromP[i]; j >= 0 {
			a = &p.callers[j]
		}
		if j := fromQ[i]; j >= 0 {
			b = &q.callers[j]
		}
		callers[i] = mergeSample(a, b, cols, p.k, p.d)
	}
	p.callers = callers
}

// appendSample appends s's keys, in increasing order, each with the codes
// of columns cols.
func appendSample(b []byte, s *vecSample, d int, cols []int) []byte {
	idx := make([]int, len(s.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(s.keys[x], s.keys[y]) })
	b = binary.AppendUvarint(b, uint64(len(idx)))
	for _, i := range idx {
		b = binary.LittleEndian.AppendUint64(b, s.keys[i])
		r := s.row(i, d)
		for _, j := range cols {
			b = binary.LittleEndian.AppendUint16(b, r[j])
		}
	}
	return b
}

// decodeSample reads what appendSample wrote into the empty s: at most k
// keys, strictly increasing.
func decodeSample(dec *sketch.Decoder, s *vecSample, k, d, f int) {
	n := dec.Count(k, "sampled inputs")
	raw := dec.Bytes(n*(8+2*f), "sampled inputs")
	if dec.Err() != nil {
		return
	}
	// Decreasing keys are a max-heap: the i-th key read is keys[n−1−i],
	// its codes row i.
	s.keys, s.rows, s.codes = make([]uint64, n), make([]int32, n), make([]uint16, n*d)
	var prev uint64
	for i := range n {
		r := raw[i*(8+2*f):]
		key := binary.LittleEndian.Uint64(r)
		if i > 0 && key <= prev {
			dec.Fail("sampled inputs out of order or twice")
			return
		}
		prev = key
		s.keys[n-1-i], s.rows[n-1-i] = key, int32(i)
		for j := range f {
			s.codes[i*d+j] = binary.LittleEndian.Uint16(r[8+2*j:])
		}
	}
}

func (p *ood) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.calls)
	// The features in name order, so that the bytes do not depend on the
	// order they came in.
	cols := make([]int, len(p.names))
	for i := range cols {
		cols[i] = i
	}
	slices.SortFunc(cols, func(a, b int) int { return strings.Compare(p.names[a], p.names[b]) })
	b = binary.AppendUvarint(b, uint64(len(cols)))
	for _, j := range cols {
		b = sketch.AppendString(b, p.names[j])
	}
	b = appendSample(b, &p.pop, p.d, cols)
	if p.h == nil {
		p.hs = p.kind.hitters(&p.ref, p.hs)
		b = appendHitters(b, p.kind.n, p.hs)
		for _, h := range p.hs {
			b = appendSample(b, &p.callers[h.slot], p.d, cols)
		}
		return appendFloor(b, p.kind.floor(&p.ref))
	}
	b = p.h.AppendBinary(b)
	for _, slot := range p.h.Ranked() {
		b = appendSample(b, &p.callers[slot], p.d, cols)
	}
	return appendFloor(b, p.h.Floor())
}

// Decode reads a partial, checking the features (distinct, within the
// bound), the samples (within their capacity, keys increasing, a caller's
// no larger than its exact calls) and the callers' calls (within the
// window's).
func (p *ood) Decode(d *sketch.Decoder) {
	p.forgetPositions()
	p.calls = d.Uvarint()
	f := d.Count(p.d, "numeric features")
	for range f {
		n := d.String()
		if d.Err() != nil {
			return
		}
		if slices.Contains(p.names, n) {
			d.Fail(fmt.Sprintf("feature %q twice", n))
			return
		}
		p.names = append(p.names, n)
	}
	decodeSample(d, &p.pop, oodPopulation, p.d, f)
	p.pop = indexed(p.pop)
	if d.Err() == nil && uint64(len(p.pop.keys)) > p.calls {
		d.Fail(fmt.Sprintf("%d inputs sampled of %d calls", len(p.pop.keys), p.calls))
	}
	if d.Err() != nil {
		return
	}
	p.h = sketch.NewHeavyHitters(p.ref.capacity)
	p.h.Decode(d)
	if d.Err() != nil {
		return
	}
	if p.h.N > p.calls {
		d.Fail(fmt.Sprintf("callers with %d of %d calls", p.h.N, p.calls))
		return
	}
	p.callers = make([]vecSample, p.h.Len())
	for _, r := range ranked(p.h) {
		h, slot := r.Hitter, r.slot
		s := &p.callers[slot]
		decodeSample(d, s, min(p.k, int(min(exactCalls(h), uint64(p.k)))), p.d, f)
		if d.Err() != nil {
			return
		}
	}
	decodeFloor(d, p.h)
}

// centralRanges returns, for each of cols (feature names), the codes of
// the [q, 1 − q] quantiles of the feature's values in s (named by names),
// ok false for a feature with fewer than oodMinRange values there.
func centralRanges(s *vecSample, names []string, d int, cols []string, q float64) (lo, hi []uint16, ok []bool) {
	lo, hi, ok = make([]uint16, len(cols)), make([]uint16, len(cols)), make([]bool, len(cols))
	vals := make([]uint16, 0, len(s.keys))
	for c, name := range cols {
		j := slices.Index(names, name)
		if j < 0 {
			continue
		}
		vals = vals[:0]
		for i := range s.keys {
			if v := s.codes[i*d+j]; v != 0 {
				vals = append(vals, v)
			}
		}
		if len(vals) < oodMinRange {
			continue
		}
		m := float64(len(vals) - 1)
		lo[c], hi[c] = orderPair(vals, int(math.Floor(q*m)), int(math.Ceil((1-q)*m)))
		ok[c] = true
	}
	return lo, hi, ok
}

// orderPair returns the i-th and j-th smallest of vals (from 0; i ≤ j),
// reordering vals. The central range's ends are about the 10th value from
// each end of a sample of 2,048: kept in two small sorted buffers in one
// pass, most values rejected by one comparison, instead of sorting every
// feature's sample (a window's scoring and its caller summaries each did,
// 16 sorts of 2,048). Far from the ends, it sorts.
func orderPair(vals []uint16, i, j int) (uint16, uint16) {
	const maxEnd = 64
	n := len(vals)
	if i+1 > maxEnd || n-j > maxEnd {
		slices.Sort(vals)
		return vals[i], vals[j]
	}
	var lowBuf, highBuf [maxEnd]uint16
	low, high := lowBuf[:0], highBuf[:0] // the i+1 smallest, increasing; the n−j largest, decreasing
	for _, v := range vals {
		if len(low) < i+1 || v < low[len(low)-1] {
			low = insertBounded(low, v, i+1, func(a, b uint16) bool { return a < b })
		}
		if len(high) < n-j || v > high[len(high)-1] {
			high = insertBounded(high, v, n-j, func(a, b uint16) bool { return a > b })
		}
	}
	return low[i], high[n-j-1]
}

// insertBounded inserts v into buf, ordered by before, keeping at most k.
func insertBounded(buf []uint16, v uint16, k int, before func(a, b uint16) bool) []uint16 {
	at := len(buf)
	for at > 0 && before(v, buf[at-1]) {
		at--
	}
	if len(buf) < k {
		buf = append(buf, 0)
	}
	if at >= len(buf) {
		return buf
	}
	copy(buf[at+1:], buf[at:len(buf)-1])
	buf[at] = v
	return buf
}

// outside counts the calls of s with a feature outside its range, and per
// feature the calls it puts outside.
func outside(s *vecSample, d int, lo, hi []uint16, ok []bool, per []int) int {
	clear(per)
	n := 0
	for i := range s.keys {
		out := false
		for j := range ok {
			if v := s.codes[i*d+j]; ok[j] && v != 0 && (v < lo[j] || v > hi[j]) {
				per[j]++
				out = true
			}
		}
		if out {
			n++
		}
	}
	return n
}

// Score returns the window's out-of-distribution verdicts.
func (s OOD) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*ood)
	c.settle()
	if c.calls == 0 || len(c.pop.keys) == 0 {
		return nil
	}
	nan := math.NaN()
	against, rs := "this window's calls", c
	if r, _ := ref.(*ood); r != nil && len(r.pop.keys) >= oodMinRange {
		against, rs = "the reference", r
	}
	lo, hi, ok := centralRanges(&rs.pop, rs.names, rs.d, c.names, s.Config.OODQuantile)
	judged := 0
	for _, b := range ok {
		if b {
			judged++
		}
	}
	if judged == 0 {
		return []signal.Verdict{signal.Info("*", nan, nan, c.calls,
			fmt.Sprintf("no numeric feature with %d values in the sample of %s", oodMinRange, against))}
	}
	per := make([]int, len(ok))
	x0, m0 := outside(&c.pop, c.d, lo, hi, ok, per), len(c.pop.keys)
	out := []signal.Verdict{signal.Info("*", float64(x0)/float64(m0), nan, c.calls,
		fmt.Sprintf("%d of %d sampled distinct inputs outside the central %g–%g quantile range of %s on any of %d features",
			x0, m0, s.Config.OODQuantile, 1-s.Config.OODQuantile, against, judged))}
	// The population a caller is compared with: the other tracked
	// callers' sampled inputs, pooled (a caller's own inputs would raise
	// the share it is compared with, and a sprayer's distinct inputs can
	// be half the window's).
	top := ranked(c.h)
	xs, ms := make([]int, len(top)), make([]int, len(top))
	var xAll, mAll int
	for i, r := range top {
		slot := r.slot
		xs[i], ms[i] = outside(&c.callers[slot], c.d, lo, hi, ok, per), len(c.callers[slot].keys)
		xAll += xs[i]
		mAll += ms[i]
	}
	var vs []signal.Verdict
	for i, r := range top {
		h := r.Hitter
		x, m := xs[i], ms[i]
		if exactCalls(h) < uint64(s.Config.MinCount) || m == 0 || mAll-m < c.k {
			continue
		}
		p0 := (float64(xAll-x) + 0.5) / float64(mAll-m+1)
		share := float64(x) / float64(m)
		if share <= p0 {
			continue
		}
		slot := r.slot
		outside(&c.callers[slot], c.d, lo, hi, ok, per)
		most := 0
		for j := range per {
			if per[j] > per[most] {
				most = j
			}
		}
		vs = append(vs, signal.Decision(strings.Clone(h.Key), share, binomialP(uint64(x), uint64(m), p0), share-p0,
			s.Config.OOD.Warning, s.Config.OOD.Critical, uint64(m),
			fmt.Sprintf("%d of %d sampled distinct inputs outside the central range of %s (most on %q: %d), against %.3f of the other callers' %d",
				x, m, against, truncate(c.names[most], 64), per[most], p0, mAll-m)))
	}
	return append(out, adjustTop(vs, s.Config.MaxSubjects)...)
}

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
