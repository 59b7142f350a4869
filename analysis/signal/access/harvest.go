package access

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Harvest is caller_harvest: output harvesting, the pattern of model
// extraction, whose queries are chosen to cover the class space (an
// adaptive attacker asks for the classes it has seen less of), so that
// its predicted classes are spread far more evenly than the population's.
// Per window, the calls with a predicted class (prediction.class) of each
// caller are counted over the Space-Saving summary of InputCallers counters
// it shares with caller_diversity and caller_ood (table.go), and
// each counted caller's calls per class, the first MaxClasses classes seen
// by name and the rest as one more (a caller's counts are exact for the
// Count − Err calls since it has its counter).
//
// Statistic, per caller with at least MinCount such calls, the other
// callers (every call with a class, less the caller's) having as many:
// the normalised entropy of its predicted classes, H = −Σ pₖ ln pₖ / ln K,
// K the classes the window predicted (0: one class; 1: uniform). A call
// that repeats an input repeats its class, so the evidence is the caller's
// distinct inputs, n_eff (a 1,024-bit linear-counting bitmap of its
// inputs' hashes per caller, calls without inputs each counted as
// distinct): a caller with fewer than MinCount is not tested (an ordinary
// caller re-scoring its 16 accounts has 16, whatever its calls). Decision,
// per caller whose H exceeds the other calls' H₀: the chi-square test of
// homogeneity of its class counts, scaled by n_eff/n (the design effect of
// repeated inputs), against the other calls' (stat.ChiSquare, scipy's
// chi2_contingency), Benjamini–Hochberg across the callers tested, the
// MaxSubjects smallest adjusted p-values reported; effect: H − H₀.
// Harvesting is an output pattern, so it may be critical; a benign heavy
// caller whose outputs are the population's has an effect near 0 however
// significant its chi-square. "*" informs with the normalised entropy of
// every call's classes.
type Harvest struct{ Config Config }

// Name returns "caller_harvest".
func (Harvest) Name() string { return "caller_harvest" }

// NewPartial returns an empty partial.
func (s Harvest) NewPartial() signal.Partial {
	return &harvest{ref: inputTable(s.Config), max: s.Config.MaxClasses, pop: make([]uint64, s.Config.MaxClasses+1)}
}

var (
	_ signal.Signal  = Harvest{}
	_ signal.Partial = (*harvest)(nil)
)

type harvest struct {
	// h is the partial's own summary of calls with a class once it is
	// settled (decoded, merged or scored); nil while it observes: the
	// callers are counted in ref's summary, shared with caller_diversity
	// and caller_ood, and their calls with a class in kind.
	h       *sketch.HeavyHitters
	ref     tableRef
	kind    kindCounts
	classes []string      // at most max; column max counts the others
	counts  []uint64      // per slot: max+1 columns
	inputs  []inputSet    // per slot: the inputs of its calls
	recent  []recentCalls // per slot: what its calls set, while they are few
	pop     []uint64      // every call with a class, max+1 columns
	calls   uint64
	max     int
	own     signal.Batch // for Observe
	hs      []slotHitter // AppendBinary's
}

// column returns class's column, adding it while there is room.
func (p *harvest) column(class string) int {
	for i, c := range p.classes {
		if c == class {
			return i
		}
	}
	if len(p.classes) < p.max {
		p.classes = appendName(p.classes, class)
		return len(p.classes) - 1
	}
	return p.max
}

// inputSet estimates the distinct inputs of a caller's calls: a bitmap of
// their hashes (linear counting, Whang et al. 1990) and the calls without
// inputs, each counted as distinct.
type inputSet struct {
	bits [inputBits / 64]uint64
	bare uint64
}

// inputBits sizes an inputSet: linear counting is within a few per cent up
// to a few thousand distinct inputs, beyond any min_count.
const inputBits = 1024

func (s *inputSet) add(hash uint64, ok bool) {
	if !ok {
		s.bare++
		return
	}
	i := hash >> (64 - 10)
	s.bits[i/64] |= 1 << (i % 64)
}

func (s *inputSet) merge(o *inputSet) {
	for i := range s.bits {
		s.bits[i] |= o.bits[i]
	}
	s.bare += o.bare
}

// distinct estimates the distinct inputs, −m·ln(V/m) for V empty bits of
// m; a full bitmap says only "more than a few thousand" (+Inf).
func (s *inputSet) distinct() float64 {
	empty := 0
	for _, w := range s.bits {
		empty += 64 - bits.OnesCount64(w)
	}
	if empty == 0 {
		return math.Inf(1)
	}
	return -inputBits*math.Log(float64(empty)/inputBits) + float64(s.bare)
}

// recentCalls is the class columns and bitmap words a slot's calls have
// set, while they are at most 4 (n beyond: more), so that a slot that
// changes hands after a call or two is cleared without clearing its whole
// row and bitmap.
type recentCalls struct {
	cols, words [4]uint16
	n           int
}

// row returns the counts and inputs of slot, a new or newly taken slot's
// empty.
func (p *harvest) row(slot int, taken bool) ([]uint64, *inputSet, *recentCalls) {
	w := p.max + 1
	for slot*w >= len(p.counts) {
		p.counts = grown(p.counts, w)
		p.inputs = append(p.inputs, inputSet{})
		p.recent = append(p.recent, recentCalls{})
	}
	r, in, rc := p.counts[slot*w:(slot+1)*w], &p.inputs[slot], &p.recent[slot]
	if taken {
		if rc.n <= len(rc.cols) {
			for i := range rc.n {
				r[rc.cols[i]] = 0
				in.bits[rc.words[i]] = 0
			}
			in.bare = 0
		} else {
			clear(r)
			*in = inputSet{}
		}
		rc.n = 0
	}
	return r, in, rc
}

// forgetRecent marks every slot as set by more calls than recentCalls
// keeps, as after a merge or a decode.
func (p *harvest) forgetRecent() {
	p.recent = make([]recentCalls, len(p.inputs))
	for i := range p.recent {
		p.recent[i].n = len(p.recent[i].cols) + 1
	}
}

func (p *harvest) Observe(events []*telemetry.Event) { observeOwn(p, &p.own, events) }

func (p *harvest) ObserveBatch(b *signal.Batch) {
	hashes := b.Uint64s(&inputHashes)
	clearRow := func(slot int) { p.row(slot, true) }
	for i, v := range p.ref.observing(&p.h, &p.kind, b, &p.own) {
		e := b.Events[i]
		c, slot, caller, tracked := p.kind.call(v, clearRow)
		if e.Prediction.Class == "" {
			continue
		}
		col := p.column(e.Prediction.Class)
		p.calls++
		p.pop[col]++
		if !p.kind.count(c, caller, tracked) {
			continue
		}
		r, in, rc := p.row(slot, false)
		r[col]++
		hash, ok := hashes[i], hasInputs(e)
		in.add(hash, ok)
		if rc.n < len(rc.cols) {
			rc.cols[rc.n], rc.words[rc.n] = uint16(col), uint16(hash>>(64-10)/64)
			rc.n++
		} else {
			rc.n = len(rc.cols) + 1
		}
	}
}

// settle makes p's summary its own.
func (p *harvest) settle() {
	if p.h == nil {
		*p = *settle(p, &harvest{ref: p.ref, max: p.max, pop: make([]uint64, p.max+1)})
	}
}

// Reset empties p for the next window, keeping its memory.
func (p *harvest) Reset() {
	p.h = nil
	p.ref.reset()
	p.kind.reset()
	p.classes = p.classes[:0]
	p.counts, p.inputs, p.recent = p.counts[:0], p.inputs[:0], p.recent[:0]
	clear(p.pop)
	p.calls = 0
}

func (p *harvest) Merge(o signal.Partial) {
	q := o.(*harvest)
	p.settle()
	q.settle()
	w := p.max + 1
	cols := make([]int, w) // q's column → p's
	for j, c := range q.classes {
		cols[j] = p.column(c)
	}
	for j := len(q.classes); j < w; j++ {
		cols[j] = p.max
	}
	for j, n := range q.pop {
		p.pop[cols[j]] += n
	}
	p.calls += q.calls
	fromP, fromQ := p.h.MergeSlots(q.h)
	counts, inputs := make([]uint64, len(fromP)*w), make([]inputSet, len(fromP))
	for i := range fromP {
		r := counts[i*w : (i+1)*w]
		if j := fromP[i]; j >= 0 {
			copy(r, p.counts[j*w:(j+1)*w])
			inputs[i].merge(&p.inputs[j])
		}
		if j := fromQ[i]; j >= 0 {
			for k, n := range q.counts[j*w : (j+1)*w] {
				r[cols[k]] += n
			}
			inputs[i].merge(&q.inputs[j])
		}
	}
	p.counts, p.inputs = counts, inputs
	p.forgetRecent()
}

// order is the columns in the order they are encoded: the classes by
// name, then the others' column, so that the bytes do not depend on the
// order the classes came in.
func (p *harvest) order() []int {
	o := make([]int, len(p.classes))
	for i := range o {
		o[i] = i
	}
	slices.SortFunc(o, func(a, b int) int { return strings.Compare(p.classes[a], p.classes[b]) })
	return append(o, p.max)
}

func (p *harvest) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.calls)
	b = binary.AppendUvarint(b, uint64(len(p.classes)))
	cols := p.order()
	for _, j := range cols[:len(p.classes)] {
		b = sketch.AppendString(b, p.classes[j])
	}
	for _, j := range cols {
		b = binary.AppendUvarint(b, p.pop[j])
	}
	w := p.max + 1
	appendRow := func(b []byte, slot int) []byte {
		for _, j := range cols {
			b = binary.AppendUvarint(b, p.counts[slot*w+j])
		}
		in := &p.inputs[slot]
		b = binary.AppendUvarint(b, in.bare)
		for _, x := range in.bits {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		return b
	}
	if p.h == nil {
		p.hs = p.kind.hitters(&p.ref, p.hs)
		b = appendHitters(b, p.kind.n, p.hs)
		for _, h := range p.hs {
			b = appendRow(b, h.slot)
		}
		return appendFloor(b, p.kind.floor(&p.ref))
	}
	b = p.h.AppendBinary(b)
	for _, slot := range p.h.Ranked() {
		b = appendRow(b, slot)
	}
	return appendFloor(b, p.h.Floor())
}

// Decode reads a partial, checking that the classes are distinct and within
// the bound, that every count adds up to the calls (a caller's classes to
// its exact calls) and that the callers' counts of a class stay within the
// window's.
func (p *harvest) Decode(d *sketch.Decoder) {
	p.calls = d.Uvarint()
	k := d.Count(p.max, "classes")
	for range k {
		c := d.String()
		if d.Err() != nil {
			return
		}
		if c == "" || slices.Contains(p.classes, c) {
			d.Fail(fmt.Sprintf("class %q empty or twice", c))
			return
		}
		p.classes = append(p.classes, c)
	}
	cols := make([]int, k+1) // the classes as read, then the others'
	for i := range k {
		cols[i] = i
	}
	cols[k] = p.max
	var sum uint64
	for _, j := range cols {
		n := d.Uvarint()
		if d.Err() == nil && n > p.calls-sum {
			d.Fail(fmt.Sprintf("classes count more than the %d calls", p.calls))
		}
		if d.Err() != nil {
			return
		}
		p.pop[j] = n
		sum += n
	}
	if sum != p.calls {
		d.Fail(fmt.Sprintf("classes count %d of %d calls", sum, p.calls))
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
	w := p.max + 1
	p.counts, p.inputs = make([]uint64, p.h.Len()*w), make([]inputSet, p.h.Len())
	p.forgetRecent()
	left := slices.Clone(p.pop) // what the callers not yet read may count per class
	for _, r := range ranked(p.h) {
		h, slot := r.Hitter, r.slot
		var sum uint64
		for _, j := range cols {
			n := d.Uvarint()
			if d.Err() == nil && n > left[j] {
				d.Fail(fmt.Sprintf("callers count more calls of a class than the window's %d", p.pop[j]))
			}
			if d.Err() != nil {
				return
			}
			left[j] -= n
			p.counts[slot*w+j] = n
			sum += n
		}
		if sum != exactCalls(h) {
			d.Fail(fmt.Sprintf("caller %q: classes count %d of its %d calls", h.Key, sum, exactCalls(h)))
			return
		}
		in := &p.inputs[slot]
		in.bare = d.Uvarint()
		raw := d.Bytes(inputBits/8, "input bitmap")
		if d.Err() == nil && in.bare > sum {
			d.Fail(fmt.Sprintf("caller %q: %d calls without inputs of its %d", h.Key, in.bare, sum))
		}
		if d.Err() != nil {
			return
		}
		for i := range in.bits {
			in.bits[i] = binary.LittleEndian.Uint64(raw[8*i:])
		}
	}
	decodeFloor(d, p.h)
}

// normEntropy is −Σ pₖ ln pₖ / ln k of counts.
func normEntropy(counts []float64, k int) float64 {
	var n float64
	for _, c := range counts {
		n += c
	}
	if n == 0 || k < 2 {
		return 0
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := c / n
			h -= p * math.Log(p)
		}
	}
	return h / math.Log(float64(k))
}

// Score returns the window's harvesting verdicts.
func (s Harvest) Score(cur, _ signal.Partial) []signal.Verdict {
	c := cur.(*harvest)
	c.settle()
	if c.calls == 0 {
		return nil
	}
	// The columns in name order, so that sums do not depend on the order
	// the classes came in.
	cols := c.order()
	w := c.max + 1
	pop := make([]float64, len(cols))
	k := 0
	for i, j := range cols {
		pop[i] = float64(c.pop[j])
		if c.pop[j] > 0 {
			k++
		}
	}
	h0 := normEntropy(pop, k)
	out := []signal.Verdict{signal.Info("*", h0, math.NaN(), c.calls,
		fmt.Sprintf("%d classes predicted in %d calls, normalised entropy %.3f", k, c.calls, h0))}
	if k < 2 {
		return out
	}
	row, rest := make([]float64, len(cols)), make([]float64, len(cols))
	var vs []signal.Verdict
	for _, x := range ranked(c.h) {
		h := x.Hitter
		n := exactCalls(h)
		if n < uint64(s.Config.MinCount) || c.calls-n < uint64(s.Config.MinCount) {
			continue
		}
		slot := x.slot
		// The caller's distinct inputs are its evidence: calls that repeat
		// an input repeat its class.
		eff := math.Min(c.inputs[slot].distinct(), float64(n))
		if eff < float64(s.Config.MinCount) {
			continue
		}
		for i, j := range cols {
			row[i] = float64(c.counts[slot*w+j])
			rest[i] = pop[i] - row[i]
		}
		hc, ho := normEntropy(row, k), normEntropy(rest, k)
		if hc <= ho {
			continue
		}
		scaled := make([]float64, len(row))
		for i := range row {
			scaled[i] = row[i] * eff / float64(n)
		}
		r := stat.ChiSquare(rest, scaled)
		if math.IsNaN(r.PValue) {
			continue
		}
		vs = append(vs, signal.Decision(strings.Clone(h.Key), hc, r.PValue, hc-ho, s.Config.Harvest.Warning, s.Config.Harvest.Critical, n,
			fmt.Sprintf("predicted classes' normalised entropy %.3f in %d calls (about %.0f distinct inputs) against the other calls' %.3f over %d classes (chi-square %.1f, %d df)",
				hc, n, eff, ho, k, r.Statistic, r.DoF)))
	}
	return append(out, adjustTop(vs, s.Config.MaxSubjects)...)
}
