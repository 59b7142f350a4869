package access

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// A window's access signals count its callers in two Space-Saving
// summaries (filtered: sketch.NewFilteredHeavyHitters) that they share,
// not one each: caller_volume and caller_probing in one of MaxCallers
// counters, caller_diversity,
// caller_ood and caller_harvest in one of InputCallers (their per-caller
// state is larger). A shared summary counts every call with a caller; each
// signal keeps, per counter, the calls of its own kind (scored, with
// inputs, with a class) since the counter's caller took it, and its
// encoding is the summary of those: a caller's Count is its exact calls of
// the kind plus the counter's Err (the calls it may have made before it
// took the counter over, at most the kind's calls it was not counted for),
// so that the Space-Saving bound, Count − Err ≤ true calls ≤ Count, holds
// per kind and the decider reads and merges the five encodings as before.
// A call then costs two summary updates, not five: the summaries' index
// and counters are what a call misses the cache on. The input signals
// start a caller's per-slot state at its second call when it takes a
// counter over from another (kindCounts.track).
//
// The summaries reach the signals through a window's signal.Batch: a
// column per summary holds each call's counter (slot<<2 | inherited |
// taken), noCaller, or uncounted for a caller the filter counts without a
// counter (it counts among the kind's calls with a caller, so the bound
// on the others' overcount holds), filled once a batch. The summary itself
// is the column's Filler's, handed to it by the first signal that asks in
// the window and taken from it by the others; a window's recycled partials
// hand their (reset) summary to the next window's batch, so no summary is
// allocated again.

// noCaller is a call without a caller in a slots column, uncounted one
// whose caller the summary (filtered) counts without a counter.
const (
	noCaller  = ^uint64(0)
	uncounted = noCaller - 1
)

// Columns of the two shared summaries.
var (
	callerSlots      = signal.Column{Name: "access.caller_slot", New: newTableFiller}
	inputCallerSlots = signal.Column{Name: "access.input_caller_slot", New: newTableFiller}
)

// callerTable is a shared summary and the fields that name its callers.
type callerTable struct {
	h      *sketch.HeavyHitters
	fields principalFields
}

// tableFiller fills a slots column from its table.
type tableFiller struct{ t *callerTable }

func newTableFiller() signal.Filler { return new(tableFiller) }

// Column values: a counter's slot<<2 | inheritedBit | takenBit.
const (
	takenBit     = 1 // the call's caller has just taken the counter
	inheritedBit = 2 // ... over from another caller, the summary full
)

// Fill counts each event's caller and sets vals[i] to its counter.
func (f *tableFiller) Fill(events []*telemetry.Event, vals []uint64) {
	t := f.t
	for i, e := range events {
		c := t.fields.of(e)
		if c == "" {
			vals[i] = noCaller
			continue
		}
		full := t.h.Len() == t.h.Capacity
		slot, taken := t.h.AddSlot(c, 1, 0)
		if slot < 0 {
			vals[i] = uncounted
			continue
		}
		vals[i] = uint64(slot) << 2
		if taken {
			vals[i] |= takenBit
			if full {
				vals[i] |= inheritedBit
			}
		}
	}
}

// tableRef is a partial's hold on the shared summary it counts on: which
// column, the summary's bound and fields, and the summary once it has one.
type tableRef struct {
	col      *signal.Column
	capacity int
	fields   principalFields
	t        *callerTable
}

// slots returns the counters of b's calls in r's summary, which b's
// column holds: r hands its summary to the column when it is the first to
// ask, or takes the column's when r's is new or reset. When the column
// counts on another summary than r's, one with state (a partial observed
// through batches of different windows), or b is own, the partial's own
// batch, the counters come from own's column, bound to r's summary.
func (r *tableRef) slots(b, own *signal.Batch) []uint64 {
	f := b.Filler(r.col).(*tableFiller)
	switch {
	case f.t != nil && f.t == r.t:
	case f.t == nil || b == own:
		if r.t == nil {
			r.t = &callerTable{h: sketch.NewFilteredHeavyHitters(r.capacity), fields: r.fields}
		}
		f.t = r.t
	case (r.t == nil || r.t.h.N == 0) && f.t.h.Capacity == r.capacity && slices.Equal(f.t.fields, r.fields):
		r.t = f.t
	default:
		own.Reset(b.Events)
		vals := r.slots(own, own)
		own.Reset(nil)
		return vals
	}
	return b.Uint64s(r.col)
}

// observing readies a partial to observe b and returns the counters of
// b's calls (slots): a settled partial, h its own summary, goes on from
// its own counters (observeOn), k its kind's counts (nil: none).
func (r *tableRef) observing(h **sketch.HeavyHitters, k *kindCounts, b, own *signal.Batch) []uint64 {
	if *h != nil {
		r.observeOn(*h, k)
		*h = nil
	}
	return r.slots(b, own)
}

// reset empties r's summary for the next window (every partial sharing it
// resets it: a window's partials are reset together).
func (r *tableRef) reset() {
	if r.t != nil {
		r.t.h.Reset()
	}
}

// slotOf splits a slots column value: the counter, whether its caller
// has just taken it (inherited: over from another caller), and false for
// a call without a caller or without a counter (uncounted).
func slotOf(v uint64) (slot int, taken, inherited, ok bool) {
	if v >= uncounted {
		return 0, false, false, false
	}
	return int(v >> 2), v&takenBit != 0, v&inheritedBit != 0, true
}

// kindCounts is a partial's calls of its kind per counter of the summary it
// shares: exact (and aux, e.g. probes) since the counter's caller took it.
type kindCounts struct {
	n     uint64      // the kind's calls with a caller
	slots []slotCount // per slot
}

// slotCount is a counter's calls of a kind, and aux, side by side: a call
// touches one cache line of them; skipped is the calls of its caller the
// partial did not track (track), stale that its per-slot state is still
// the previous caller's.
type slotCount struct {
	exact, aux uint64
	skipped    uint32
	stale      bool
}

// at returns slot's counts, emptied when taken (a new slot is empty).
func (k *kindCounts) at(slot int, taken bool) (exact, aux *uint64) {
	if slot >= len(k.slots) {
		k.slots = grown(k.slots, slot+1-len(k.slots))
	} else if taken {
		k.slots[slot] = slotCount{}
	}
	c := &k.slots[slot]
	return &c.exact, &c.aux
}

// track returns slot's counts for a call of its caller, whether the
// partial tracks the call in its per-slot state, and whether that state
// must be emptied first (fresh: a new caller's). The first call of a
// caller that takes a counter over from another, the summary full, is not
// tracked: with more callers than counters most such callers lose the
// counter again after a call or two, and starting their state (a sample's
// codes, a sketch, class counts) was most of the input signals' work
// (68% of the calls took a counter over at the defaults in the pipeline
// benchmark before the summaries were filtered; a filtered summary gives a
// caller a counter once its cell's count, an upper bound of its calls,
// and its call exceed the smallest count, a third as often there). The
// call counts in the counter's overcount instead, so the Space-Saving
// bound holds; the caller's state starts at its second call.
// While the callers fit, no counter is taken over and every call is
// tracked.
func (k *kindCounts) track(slot int, taken, inherited bool) (c *slotCount, tracked, fresh bool) {
	if slot >= len(k.slots) {
		k.slots = grown(k.slots, slot+1-len(k.slots))
		fresh = true
	}
	c = &k.slots[slot]
	switch {
	case taken && inherited:
		*c = slotCount{skipped: 1, stale: true}
		return c, false, false
	case taken:
		*c = slotCount{}
		return c, true, true
	case c.stale:
		c.stale = false
		return c, true, true
	}
	return c, true, fresh
}

// call is track for a call whose counter is v (a slots column value):
// its caller's counts and slot, false for a call without a caller, and
// whether its state is tracked, readied by ready(slot) when a new caller's
// starts (never for an uncounted call: a caller without a counter).
func (k *kindCounts) call(v uint64, ready func(slot int)) (c *slotCount, slot int, caller, tracked bool) {
	slot, taken, inherited, ok := slotOf(v)
	if !ok {
		return nil, 0, v == uncounted, false
	}
	c, tracked, fresh := k.track(slot, taken, inherited)
	if fresh {
		ready(slot)
	}
	return c, slot, true, tracked
}

// count counts a call of the kind: in n when it has a caller, in its
// counts (c) when tracked. It returns tracked.
func (k *kindCounts) count(c *slotCount, caller, tracked bool) bool {
	if caller {
		k.n++
	}
	if tracked {
		c.exact++
	}
	return tracked
}

// reset empties k, keeping its memory.
func (k *kindCounts) reset() { k.n, k.slots = 0, k.slots[:0] }

// slotHitter is a counter of a partial's kind and its slot in the shared
// summary.
type slotHitter struct {
	sketch.Hitter
	slot int
}

// hitters returns the counters of k's kind over r's summary, as Top
// orders them (the order per-slot state is encoded in): each slot with
// calls of the kind, Count its exact calls plus its Err, Err the counter's
// overcount and the calls not tracked, at most the kind's calls the caller
// was not counted for (n − exact).
func (k *kindCounts) hitters(r *tableRef, dst []slotHitter) []slotHitter {
	dst = dst[:0]
	if r.t == nil {
		return dst
	}
	t := r.t.h
	for slot, c := range k.slots[:min(len(k.slots), t.Len())] {
		ex := c.exact
		if ex == 0 {
			continue
		}
		x := t.AtSlot(slot)
		err := min(x.Err+uint64(c.skipped), k.n-ex)
		dst = append(dst, slotHitter{sketch.Hitter{Key: x.Key, Count: ex + err, Err: err, Aux: c.aux}, slot})
	}
	slices.SortFunc(dst, func(a, b slotHitter) int { return sketch.CompareHitters(a.Hitter, b.Hitter) })
	return dst
}

// floor is what a caller no counter of k's kind counts may have made of
// the kind's calls, which a merge adds for it: a caller without a counter
// in r's summary had at most its floor in all (the smallest count: its
// cell's count, or its count when it lost its counter); a caller with a
// counter but none of its calls of the kind counted made them before it
// took the counter (at most the counter's Err) or in its first call since,
// when that call was not tracked (skipped); and together they made the
// kind's calls no counter counts.
func (k *kindCounts) floor(r *tableRef) uint64 {
	if r.t == nil {
		return 0
	}
	t := r.t.h
	bound, exact := t.Floor(), uint64(0)
	for slot := range t.Len() {
		var c slotCount
		if slot < len(k.slots) {
			c = k.slots[slot]
		}
		if c.exact > 0 {
			exact += c.exact
			continue
		}
		bound = max(bound, t.AtSlot(slot).Err+uint64(c.skipped))
	}
	return min(bound, k.n-exact)
}

// kindFloored marks the trailer of a partial's summary of a kind of calls:
// its floor (kindCounts.floor; a settled summary's Floor). An encoding
// written before it ends without it, and decodes with a floor of 0.
const kindFloored = 1

// appendFloor appends the trailer of a summary of a kind of calls whose
// floor is f.
func appendFloor(b []byte, f uint64) []byte {
	return binary.AppendUvarint(append(b, kindFloored), f)
}

// decodeFloor reads the trailer appendFloor wrote, if there is one, into h,
// the summary decoded.
func decodeFloor(d *sketch.Decoder, h *sketch.HeavyHitters) {
	if d.Err() != nil || d.Remaining() == 0 {
		return
	}
	if v := d.Byte(); d.Err() == nil && v != kindFloored {
		d.Fail(fmt.Sprintf("trailer %d (want %d: the summary's floor)", v, kindFloored))
		return
	}
	f := d.Uvarint()
	if d.Err() == nil && f > h.N {
		d.Fail(fmt.Sprintf("a floor of %d calls in a summary of %d", f, h.N))
	}
	if d.Err() == nil {
		h.SetFloor(f)
	}
}

// ranked returns h's counters in Top's order with their slots, their
// keys h's own (valid until its next add: a key kept beyond is cloned).
func ranked(h *sketch.HeavyHitters) []slotHitter {
	slots := h.Ranked()
	out := make([]slotHitter, len(slots))
	for i, slot := range slots {
		out[i] = slotHitter{h.AtSlot(slot), slot}
	}
	return out
}

// appendHitters appends the counters hs as a summary of n calls.
func appendHitters(b []byte, n uint64, hs []slotHitter) []byte {
	return sketch.AppendHitters(b, n, len(hs), func(i int) sketch.Hitter { return hs[i].Hitter })
}

// observeOn makes h, a settled partial's own summary (decoded or merged),
// the summary r counts on, and k its counts: a partial observed after it
// has been merged, decoded or scored goes on from its own counters (the
// counts they had become its kind's exact calls), on a summary of its own.
func (r *tableRef) observeOn(h *sketch.HeavyHitters, k *kindCounts) {
	h.Filter() // as the summaries a window counts on, from its floor
	r.t = &callerTable{h: h, fields: r.fields}
	if k == nil {
		return
	}
	k.reset()
	k.n = h.N
	for i := range h.Len() {
		x := h.AtSlot(i)
		ex, aux := k.at(i, true)
		*ex, *aux = x.Count-x.Err, x.Aux
	}
}

// settle makes p a partial of its own summary, as a decoder reads it: its
// encoding decoded into fresh, which becomes p. It panics if p's own
// encoding does not decode, a bug.
func settle[P interface {
	AppendBinary([]byte) []byte
	Decode(*sketch.Decoder)
}](p P, fresh P) P {
	d := sketch.NewDecoder(p.AppendBinary(nil))
	fresh.Decode(d)
	if d.Err() != nil {
		panic(fmt.Sprintf("access: a partial's own encoding does not decode: %v", d.Err()))
	}
	return fresh
}
