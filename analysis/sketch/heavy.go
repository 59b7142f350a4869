package sketch

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// HeavyHitters counts events per key (a caller) in at most Capacity
// counters with the Space-Saving algorithm (Metwally, Agrawal and El Abbadi,
// 2005): a key without a counter takes over the smallest one when all are
// taken, inheriting its count as its possible overcount (Err). Every key
// whose true count exceeds N/Capacity has a counter, and a counter's Count
// overestimates its key's true count by at most its Err. Merging follows
// Agarwal et al. (2012), "Mergeable summaries", so the guarantees hold for
// the merge of any split of the events: with fewer distinct keys than
// Capacity in total, counts are exact and the merge does not depend on the
// split. Memory is bounded by Capacity, whatever the number of keys.
//
// The counters are kept in the paper's stream summary: buckets of equal
// counts in a doubly linked list in increasing order, each holding a ring
// of its counters, so that adding one event to a key moves its counter to
// the next bucket in O(1) (adding n events walks the buckets between). Of
// the counters with the smallest count, the one that has had it longest is
// taken over first.
//
// Keys are found through an open-addressing index of their hashes (a
// seeded maphash, so that callers cannot choose colliding names), at most
// half full: adding an event of a key that has a counter, or of one that
// takes a counter over, touches no Go map and allocates nothing.
//
// A filtered summary (NewFilteredHeavyHitters) is Filtered Space-Saving
// (Homem and Carvalho, 2010): once every counter is taken, a key without a
// counter is counted first in a cell of an array of 4·Capacity (a power of
// two) that its hash picks, the cell's count an upper bound of the events
// of every key without a counter that hashes there, and it takes the
// smallest counter over only when its cell's count and its events exceed
// the smallest count, inheriting the cell's count as its Err (the key
// taken over leaves its count in its own cell). A cell never counts more
// than the floor (the smallest counter), so the guarantees above hold as they are
// (the counts sum to at most N, a key without a counter has had at most
// the smallest count, Count − Err ≤ true count ≤ Count) and the summaries
// merge as any; with many more keys than counters most events of the keys
// in the tail touch their cell only, not the index, buckets and key of a
// counter changing hands (3,333 events of 2,000 uniform keys into 256
// counters: about 970 counters given, not 2,921).
type HeavyHitters struct {
	// N counts every event observed; Capacity bounds the counters.
	N        uint64
	Capacity int
	slots    []hitter // the counters; a key keeps its slot until taken over
	index    keyIndex // key → slot
	buckets  []bucket // bucket pool: at most one bucket per counter
	free     int32    // first free bucket in the pool, none when -1
	min      int32    // bucket of the smallest count, none when -1
	// filter is a filtered summary's cells (nil: not filtered), each
	// counting at least filterBase: the floor of a decoded or merged
	// summary, which the events before it may have given any key.
	filter     []uint64
	filterBase uint64
	// base is the floor SetFloor declared, or the floors a merge added.
	base uint64
}

// keyIndex maps the keys of the counters to their slots: linear probing
// over cells that hold the upper 32 bits of a key's hash (which also place
// it) and its slot + 1 (0: an empty cell), deletion by shifting back, so
// no tombstones. It grows while the counters do, to at least twice their
// number, and stays at its size once they are all taken.
type keyIndex struct {
	seed  maphash.Seed
	cells []uint64
	n     int // keys indexed
}

// hash returns key's hash, its upper 32 bits placing and tagging it.
func (x *keyIndex) hash(key string) uint64 { return maphash.String(x.seed, key) }

// home returns the cell a hash belongs in.
func (x *keyIndex) home(hash uint64) int { return int(hash>>32) & (len(x.cells) - 1) }

// find returns the slot of key (hash its hash) and its cell, or the empty
// cell where it would go and ok false.
func (x *keyIndex) find(slots []hitter, key string, hash uint64) (slot int32, cell int, ok bool) {
	if len(x.cells) == 0 {
		return 0, 0, false
	}
	tag, mask := hash>>32, len(x.cells)-1
	for i := x.home(hash); ; i = (i + 1) & mask {
		c := x.cells[i]
		if c == 0 {
			return 0, i, false
		}
		if c>>32 == tag && slots[int32(uint32(c))-1].key == key {
			return int32(uint32(c)) - 1, i, true
		}
	}
}

// cellOf returns the cell of slot, indexed under hash: found by the slot
// number the cell holds, without comparing keys.
func (x *keyIndex) cellOf(hash uint64, slot int32) (int, bool) {
	if len(x.cells) == 0 {
		return 0, false
	}
	mask, want := len(x.cells)-1, uint32(slot+1)
	for i := x.home(hash); ; i = (i + 1) & mask {
		c := x.cells[i]
		if c == 0 {
			return 0, false
		}
		if uint32(c) == want {
			return i, true
		}
	}
}

// insert indexes slot under hash at cell, an empty cell find returned
// (-1: the first empty one from hash's home), growing the index when it
// would be more than half full (then cell is found again).
func (x *keyIndex) insert(hash uint64, slot int32, cell int) {
	if 2*(x.n+1) > len(x.cells) {
		x.grow()
		cell = -1
	}
	if cell < 0 {
		cell = x.emptyFrom(hash)
	}
	x.cells[cell] = hash&^0xffffffff | uint64(uint32(slot+1))
	x.n++
}

// emptyFrom returns the first empty cell from hash's home.
func (x *keyIndex) emptyFrom(hash uint64) int {
	mask := len(x.cells) - 1
	i := x.home(hash)
	for x.cells[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// reserve sizes an empty index for n keys at most half full, so that
// indexing them does not grow it step by step.
func (x *keyIndex) reserve(n int) {
	if size := max(16, 1<<bits.Len(uint(2*n))); x.n == 0 && size > len(x.cells) {
		x.cells = make([]uint64, size)
	}
}

// grow doubles the cells (at least 16), placing the entries again.
func (x *keyIndex) grow() {
	old := x.cells
	x.cells = make([]uint64, max(16, 2*len(old)))
	for _, c := range old {
		if c != 0 {
			x.cells[x.emptyFrom(c)] = c
		}
	}
}

// remove empties cell, shifting back the entries after it that may move.
func (x *keyIndex) remove(cell int) {
	mask := len(x.cells) - 1
	i := cell
	for j := (i + 1) & mask; x.cells[j] != 0; j = (j + 1) & mask {
		home := x.home(x.cells[j])
		// Move j's entry into the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.cells[i], i = x.cells[j], j
		}
	}
	x.cells[i] = 0
	x.n--
}

// lookup returns the slot of key.
func (h *HeavyHitters) lookup(key string) (int32, bool) {
	i, _, ok := h.index.find(h.slots, key, h.index.hash(key))
	return i, ok
}

// bucket is the counters with one count.
type bucket struct {
	count      uint64
	head       int32 // first (oldest) counter of the bucket's ring
	prev, next int32 // neighbouring buckets by count, -1 at the ends; next also links the free list
}

type hitter struct {
	// key may live in buf, which the counter reuses when it changes
	// hands: a key leaves the package only as a copy (Top), and is in no
	// map when it is overwritten.
	key             string
	count, err, aux uint64
	// buf holds key's bytes when add copied it: a counter that changes
	// hands copies the new key over the old one's, without allocating.
	buf []byte
	// hash is key's in the index.
	hash uint64
	// bucket holds the counter; prev and next are its neighbours in the
	// bucket's ring.
	bucket, prev, next int32
}

// setKey makes x count key, keeping a copy of it in x's buffer. The old
// key's string is overwritten: it must be in no map or result any more.
func (x *hitter) setKey(key string) {
	if cap(x.buf) < len(key) {
		x.buf = make([]byte, 0, max(len(key), 32))
	}
	x.buf = append(x.buf[:0], key...)
	x.key = unsafe.String(unsafe.SliceData(x.buf), len(x.buf))
}

// Hitter is one counted key.
type Hitter struct {
	Key string
	// Count is the key's counted events, at most Err more than its true
	// count.
	Count, Err uint64
	// Aux counts a property of the key's events (e.g. calls near the
	// decision threshold) since the key has its counter: exact for the
	// Count − Err events counted under the key, none of the inherited ones.
	Aux uint64
}

// NewHeavyHitters returns an empty state of capacity counters.
func NewHeavyHitters(capacity int) *HeavyHitters {
	return &HeavyHitters{Capacity: max(capacity, 1), index: keyIndex{seed: maphash.MakeSeed()}, free: -1, min: -1}
}

// NewFilteredHeavyHitters returns an empty filtered state of capacity
// counters (Filtered Space-Saving, see HeavyHitters): its filter's cells
// add 32 to 64 bytes per counter.
func NewFilteredHeavyHitters(capacity int) *HeavyHitters {
	h := NewHeavyHitters(capacity)
	h.Filter()
	return h
}

// Filtered reports whether h is a filtered summary.
func (h *HeavyHitters) Filtered() bool { return h.filter != nil }

// cell returns key's filter cell. It is picked by an unseeded hash, so
// that a summary's counts do not depend on its seed (a replayed partition
// counts as it did): a producer that names callers to share a cell only
// makes them take counters sooner, as in a summary without a filter.
func (h *HeavyHitters) cell(key string) *uint64 {
	return &h.filter[xxhash.Sum64String(key)&uint64(len(h.filter)-1)]
}

// Reset empties h for reuse, keeping its memory: its counters' key
// buffers, its index and its buckets, so that a summary reused for one
// window after another allocates nothing once it has been full. The keys h
// returned earlier are copies (Top) and stay valid; no string of h's may be
// held across a Reset otherwise.
func (h *HeavyHitters) Reset() {
	h.N = 0
	h.slots = h.slots[:0]
	clear(h.index.cells)
	h.index.n = 0
	h.buckets = h.buckets[:0]
	h.free, h.min = -1, -1
	clear(h.filter)
	h.filterBase, h.base = 0, 0
}

// newBucket returns a bucket of count, from the free list or the pool.
func (h *HeavyHitters) newBucket(count uint64) int32 {
	b := h.free
	if b >= 0 {
		h.free = h.buckets[b].next
	} else {
		h.buckets = append(h.buckets, bucket{})
		b = int32(len(h.buckets) - 1)
	}
	h.buckets[b] = bucket{count: count, head: -1, prev: -1, next: -1}
	return b
}

// linkAfter puts bucket b after bucket p in the list (first when p is -1).
func (h *HeavyHitters) linkAfter(b, p int32) {
	nb := &h.buckets[b]
	if p < 0 {
		nb.prev, nb.next = -1, h.min
		if h.min >= 0 {
			h.buckets[h.min].prev = b
		}
		h.min = b
		return
	}
	nb.prev, nb.next = p, h.buckets[p].next
	if nb.next >= 0 {
		h.buckets[nb.next].prev = b
	}
	h.buckets[p].next = b
}

// unlink takes the empty bucket b out of the list, onto the free list.
func (h *HeavyHitters) unlink(b int32) {
	x := &h.buckets[b]
	if x.prev >= 0 {
		h.buckets[x.prev].next = x.next
	} else {
		h.min = x.next
	}
	if x.next >= 0 {
		h.buckets[x.next].prev = x.prev
	}
	x.next, x.prev = h.free, -1
	h.free = b
}

// push appends slot i to bucket b's ring (as its newest counter).
func (h *HeavyHitters) push(i, b int32) {
	x, bk := &h.slots[i], &h.buckets[b]
	x.bucket = b
	if bk.head < 0 {
		bk.head, x.prev, x.next = i, i, i
		return
	}
	first := bk.head
	last := h.slots[first].prev
	x.prev, x.next = last, first
	h.slots[last].next = i
	h.slots[first].prev = i
}

// pop takes slot i out of its bucket's ring, returning whether the bucket
// is left empty (it stays in the list).
func (h *HeavyHitters) pop(i int32) bool {
	x := &h.slots[i]
	bk := &h.buckets[x.bucket]
	if x.next == i {
		bk.head = -1
		return true
	}
	h.slots[x.prev].next = x.next
	h.slots[x.next].prev = x.prev
	if bk.head == i {
		bk.head = x.next
	}
	return false
}

// place puts slot i, whose count is set, in its bucket, searching forward
// from bucket p (the last bucket known to count less; -1: from the start).
func (h *HeavyHitters) place(i, p int32) {
	c := h.slots[i].count
	next := h.min
	if p >= 0 {
		next = h.buckets[p].next
	}
	for next >= 0 && h.buckets[next].count < c {
		p, next = next, h.buckets[next].next
	}
	if next >= 0 && h.buckets[next].count == c {
		h.push(i, next)
		return
	}
	b := h.newBucket(c)
	h.linkAfter(b, p)
	h.push(i, b)
}

// raise moves slot i, whose count has just grown, out of its old bucket.
func (h *HeavyHitters) raise(i int32) {
	old := h.slots[i].bucket
	if h.buckets[old].count == h.slots[i].count {
		return // n = 0
	}
	empty := h.pop(i)
	h.place(i, old)
	if empty {
		h.unlink(old)
	}
}

// Add counts n events of key. Once the state is full it does not allocate
// for a key it already counts.
func (h *HeavyHitters) Add(key string, n uint64) { h.AddWith(key, n, 0) }

// AddWith counts n events of key, aux of them with the counted property.
func (h *HeavyHitters) AddWith(key string, n, aux uint64) { h.AddSlot(key, n, aux) }

// AddSlot counts n events of key, aux of them with the counted property,
// and returns the slot of key's counter, in [0, Capacity), which it keeps
// until another key takes it over, and whether key has just been given it
// (taken: state a caller keeps per slot belongs to another key and must be
// reset). In a filtered summary the slot is -1 when key has no counter and
// is not given one: its events are counted in its filter cell, and aux is
// not kept.
func (h *HeavyHitters) AddSlot(key string, n, aux uint64) (slot int, taken bool) {
	h.N += n
	hash := h.index.hash(key)
	i, cell, ok := h.index.find(h.slots, key, hash)
	if ok {
		x := &h.slots[i]
		x.count += n
		x.aux += aux
		h.raise(i)
		return int(i), false
	}
	// A kept key is a copy: callers' strings may share a message's bytes.
	if len(h.slots) < h.Capacity {
		// A slot of before a Reset keeps its key buffer.
		h.slots = slices.Grow(h.slots, 1)[:len(h.slots)+1]
		i := int32(len(h.slots) - 1)
		h.slots[i] = hitter{count: n, aux: aux, buf: h.slots[i].buf}
		h.slots[i].setKey(key)
		h.slots[i].hash = hash
		h.index.insert(hash, i, cell)
		h.place(i, -1)
		return int(i), true
	}
	// Full: the key takes over the oldest of the smallest counters, and
	// its buffer; in a filtered summary only when its cell's count (a ≤ the
	// smallest count) and n exceed the smallest count.
	i = h.buckets[h.min].head
	x := &h.slots[i]
	inherit := x.count
	if h.filter != nil {
		c := h.cell(key)
		a := max(*c, h.filterBase)
		if a < x.count && n <= x.count-a {
			*c = a + n
			return -1, false
		}
		*h.cell(x.key), inherit = x.count, a
	}
	if old, ok := h.index.cellOf(x.hash, i); ok {
		h.index.remove(old)
	}
	x.count, x.err, x.aux = inherit+n, inherit, aux
	x.setKey(key)
	x.hash = hash
	h.index.insert(hash, i, -1)
	h.raise(i)
	return int(i), true
}

// Slot returns the slot of key's counter, if it has one.
func (h *HeavyHitters) Slot(key string) (int, bool) {
	i, ok := h.lookup(key)
	return int(i), ok
}

// SlotKey returns the key counted in slot i (valid until the next add).
func (h *HeavyHitters) SlotKey(i int) string { return h.slots[i].key }

// floor is what a key without a counter may have had: the smallest count
// when every counter is taken, else 0, and at least the floor set
// (SetFloor) or kept through a merge.
func (h *HeavyHitters) floor() uint64 {
	if len(h.slots) < h.Capacity || h.min < 0 {
		return h.base
	}
	return max(h.base, h.buckets[h.min].count)
}

// Floor returns the most events a key without a counter may have had.
func (h *HeavyHitters) Floor() uint64 { return h.floor() }

// SetFloor declares that a key without a counter may have had up to f
// events, whatever the counters say: h summarises some of the events of
// another summary's keys (a kind of them), whose keys may have had events
// of the kind that no counter of h counts. Merges then add it for the keys
// h does not count, so that the bound on counts holds for the merge.
func (h *HeavyHitters) SetFloor(f uint64) {
	h.base = f
	h.filterBase = max(h.filterBase, f)
}

// Filter makes h a filtered summary (NewFilteredHeavyHitters), its cells
// at its floor: a summary decoded or merged that goes on counting.
func (h *HeavyHitters) Filter() {
	if h.filter == nil {
		h.filter = make([]uint64, 1<<bits.Len(uint(4*h.Capacity-1)))
		h.filterBase = h.floor()
	}
}

// Merge adds o (of the same capacity): each key's count is the sum of its
// counts, a side that does not count it adding its floor (to count and
// error); the Capacity largest are kept (ties by key). The slots are
// renumbered.
func (h *HeavyHitters) Merge(o *HeavyHitters) { h.MergeSlots(o) }

// MergeSlots is Merge, returning for each slot of the merged h the slot its
// key had in h and in o before (-1 where it had none): state kept per slot
// follows its key through the merge.
func (h *HeavyHitters) MergeSlots(o *HeavyHitters) (fromH, fromO []int) {
	f1, f2 := h.floor(), o.floor()
	// h's counters first, at their slots, so that h's index finds o's
	// keys among them; from records where each came from.
	n := len(h.slots) + len(o.slots)
	merged := make([]hitter, len(h.slots), n)
	from := make([][2]int32, len(h.slots), n)
	for i, x := range h.slots {
		merged[i] = hitter{key: x.key, buf: x.buf, count: x.count + f2, err: x.err + f2, aux: x.aux}
		from[i] = [2]int32{int32(i), -1}
	}
	for j, x := range o.slots {
		if i, _, ok := h.index.find(h.slots, x.key, h.index.hash(x.key)); ok {
			y := &merged[i]
			y.count, y.err, y.aux = y.count-f2+x.count, y.err-f2+x.err, y.aux+x.aux
			from[i][1] = int32(j)
			continue
		}
		// o's keys may live in o's buffers, which o reuses.
		merged = append(merged, hitter{key: strings.Clone(x.key), count: x.count + f1, err: x.err + f1, aux: x.aux})
		from = append(from, [2]int32{-1, int32(j)})
	}
	// Ranked by their positions (a counter is 100 bytes to move), the
	// Capacity first kept; build reverses them, the smallest count first.
	order := make([]int32, len(merged))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &merged[a], &merged[b]
		return rank(x.count, x.key, y.count, y.key)
	})
	kept := make([]hitter, min(len(merged), h.Capacity))
	fromH, fromO = make([]int, len(kept)), make([]int, len(kept))
	for i := range kept {
		k := order[i]
		kept[i] = merged[k]
		slot := len(kept) - 1 - i
		fromH[slot], fromO[slot] = int(from[k][0]), int(from[k][1])
	}
	total, filter := h.N+o.N, h.filter
	*h = *NewHeavyHitters(h.Capacity)
	// A key neither side counts may have had both floors.
	h.N, h.filter, h.base = total, filter, f1+f2
	h.build(kept)
	return fromH, fromO
}

// byCount orders counters by decreasing count, ties by key.
func byCount(a, b hitter) int { return rank(a.count, a.key, b.count, b.key) }

// rank orders counters by decreasing count, ties by key: Top's order, that
// of byCount, Ranked and CompareHitters.
func rank(countA uint64, keyA string, countB uint64, keyB string) int {
	if c := cmp.Compare(countB, countA); c != 0 {
		return c
	}
	return cmp.Compare(keyA, keyB)
}

// build fills the empty state with xs, in byCount order, at most Capacity
// of distinct keys, taking xs over as its counters: reversed, the smallest
// count first into the buckets.
func (h *HeavyHitters) build(xs []hitter) {
	slices.Reverse(xs)
	h.slots = xs
	h.index.reserve(len(xs))
	last := int32(-1)
	for i := range h.slots {
		x := &h.slots[i]
		x.hash = h.index.hash(x.key)
		h.index.insert(x.hash, int32(i), -1)
		if last < 0 || h.buckets[last].count != x.count {
			b := h.newBucket(x.count)
			h.linkAfter(b, last)
			last = b
		}
		h.push(int32(i), last)
	}
	// Any key without a counter may have had the floor's events.
	clear(h.filter)
	h.filterBase = h.floor()
}

// Top returns the counted keys, the largest count first (ties by key).
// The keys are copies, unchanged by later adds.
func (h *HeavyHitters) Top() []Hitter {
	out := h.top()
	for i := range out {
		out[i].Key = strings.Clone(out[i].Key)
	}
	return out
}

// Ranked returns the slots of the counters in Top's order, without
// copying their keys.
func (h *HeavyHitters) Ranked() []int {
	out := make([]int, len(h.slots))
	for i := range out {
		out[i] = i
	}
	slices.SortFunc(out, func(a, b int) int {
		x, y := &h.slots[a], &h.slots[b] // by pointer: a counter is 100 bytes
		return rank(x.count, x.key, y.count, y.key)
	})
	return out
}

// top is Top with keys that the next add may overwrite.
func (h *HeavyHitters) top() []Hitter {
	out := make([]Hitter, len(h.slots))
	for i, x := range h.slots {
		out[i] = Hitter{Key: x.key, Count: x.count, Err: x.err, Aux: x.aux}
	}
	slices.SortFunc(out, CompareHitters)
	return out
}

// Len returns the number of counted keys.
func (h *HeavyHitters) Len() int { return len(h.slots) }

// Count returns key's counted events and possible overcount (0, 0 when it
// has no counter).
func (h *HeavyHitters) Count(key string) (count, err uint64) {
	if i, ok := h.lookup(key); ok {
		return h.slots[i].count, h.slots[i].err
	}
	return 0, 0
}

// AppendBinary appends N and the counters, in Top's order: the same
// counts encode the same whatever the order their keys came in.
func (h *HeavyHitters) AppendBinary(b []byte) []byte {
	top := h.top()
	return AppendHitters(b, h.N, len(top), func(i int) Hitter { return top[i] })
}

// AppendHitters appends m hitters, at(0), ..., at(m−1), as AppendBinary
// appends a state of n events counting them: the encoding of a summary
// kept elsewhere (e.g. counts of some of the events of a shared summary's
// keys), which Decode reads and checks as any other.
func AppendHitters(b []byte, n uint64, m int, at func(i int) Hitter) []byte {
	b = binary.AppendUvarint(b, n)
	b = binary.AppendUvarint(b, uint64(m))
	for i := range m {
		x := at(i)
		b = AppendString(b, x.Key)
		b = binary.AppendUvarint(b, x.Count)
		b = binary.AppendUvarint(b, x.Err)
		b = binary.AppendUvarint(b, x.Aux)
	}
	return b
}

// AtSlot returns slot i's counter, its key valid until the next add.
func (h *HeavyHitters) AtSlot(i int) Hitter {
	x := &h.slots[i]
	return Hitter{Key: x.key, Count: x.count, Err: x.err, Aux: x.aux}
}

// CompareHitters orders hitters as Top does: the largest count first, ties
// by key.
func CompareHitters(a, b Hitter) int { return rank(a.Count, a.Key, b.Count, b.Key) }

// Decode reads what AppendBinary wrote into an empty state of the same
// capacity, checking the bound and the counts (Err ≤ Count, Aux ≤ Count −
// Err, and the counts, less their errors, at most N). The counters may come
// in any order.
func (h *HeavyHitters) Decode(d *Decoder) {
	h.N = d.Uvarint()
	m := d.Count(h.Capacity, "heavy hitters")
	var exact uint64
	xs := make([]hitter, 0, min(m, 1024))
	for range m {
		key, count, err, aux := d.String(), d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Err() != nil {
			return
		}
		if err > count || aux > count-err {
			d.Fail(fmt.Sprintf("heavy hitter %q counted twice or overcounted", key))
			return
		}
		// Compared without adding, so that no hostile count wraps around.
		if count > h.N || count-err > h.N-exact {
			d.Fail(fmt.Sprintf("heavy hitters count more than the %d events", h.N))
			return
		}
		exact += count - err
		xs = append(xs, hitter{key: key, count: count, err: err, aux: aux})
	}
	// AppendBinary writes them in order: sorted only when they are not.
	if !slices.IsSortedFunc(xs, byCount) {
		slices.SortFunc(xs, byCount)
	}
	h.build(xs)
	// A key given twice is indexed twice: one of its slots is not the one
	// the index finds.
	for i := range h.slots {
		if j, _, _ := h.index.find(h.slots, h.slots[i].key, h.slots[i].hash); int(j) != i {
			d.Fail(fmt.Sprintf("heavy hitter %q counted twice or overcounted", h.slots[i].key))
			return
		}
	}
}
