package sketch

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unsafe"
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
type HeavyHitters struct {
	// N counts every event observed; Capacity bounds the counters.
	N        uint64
	Capacity int
	heap     []hitter       // min-heap on (Count, key descending)
	index    map[string]int // key → position in heap
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
	return &HeavyHitters{Capacity: max(capacity, 1), index: make(map[string]int)}
}

// less orders the heap: the smallest count first, ties by the larger key
// (so that equal counts evict in an order that does not depend on arrival).
func (h *HeavyHitters) less(i, j int) bool {
	a, b := &h.heap[i], &h.heap[j]
	if a.count != b.count {
		return a.count < b.count
	}
	return a.key > b.key
}

func (h *HeavyHitters) swap(i, j int) {
	h.heap[i], h.heap[j] = h.heap[j], h.heap[i]
	h.index[h.heap[i].key] = i
	h.index[h.heap[j].key] = j
}

func (h *HeavyHitters) down(i int) {
	n := len(h.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

func (h *HeavyHitters) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// Add counts n events of key. Once the state is full it does not allocate
// for a key it already counts.
func (h *HeavyHitters) Add(key string, n uint64) { h.AddWith(key, n, 0) }

// AddWith counts n events of key, aux of them with the counted property.
func (h *HeavyHitters) AddWith(key string, n, aux uint64) {
	h.N += n
	h.add(key, n, 0, aux)
}

// add counts n events of key with a possible overcount err.
func (h *HeavyHitters) add(key string, n, err, aux uint64) {
	if i, ok := h.index[key]; ok {
		h.heap[i].count += n
		h.heap[i].err += err
		h.heap[i].aux += aux
		h.down(i)
		return
	}
	// A kept key is a copy: callers' strings may share a message's bytes.
	if len(h.heap) < h.Capacity {
		h.heap = append(h.heap, hitter{count: n, err: err, aux: aux})
		x := &h.heap[len(h.heap)-1]
		x.setKey(key)
		h.index[x.key] = len(h.heap) - 1
		h.up(len(h.heap) - 1)
		return
	}
	// Full: the key takes over the smallest counter, and its buffer.
	x := &h.heap[0]
	delete(h.index, x.key)
	x.count, x.err, x.aux = x.count+n, x.count+err, aux
	x.setKey(key)
	h.index[x.key] = 0
	h.down(0)
}

// floor is what a key without a counter may have had: the smallest count
// when every counter is taken, else 0.
func (h *HeavyHitters) floor() uint64 {
	if len(h.heap) < h.Capacity || len(h.heap) == 0 {
		return 0
	}
	return h.heap[0].count
}

// Merge adds o (of the same capacity): each key's count is the sum of its
// counts, a side that does not count it adding its floor (to count and
// error); the Capacity largest are kept.
func (h *HeavyHitters) Merge(o *HeavyHitters) {
	f1, f2 := h.floor(), o.floor()
	all := make(map[string]hitter, len(h.heap)+len(o.heap))
	for _, x := range h.heap {
		all[x.key] = hitter{key: x.key, count: x.count + f2, err: x.err + f2, aux: x.aux}
	}
	for _, x := range o.heap {
		if y, ok := all[x.key]; ok {
			all[x.key] = hitter{key: y.key, count: y.count - f2 + x.count, err: y.err - f2 + x.err, aux: y.aux + x.aux}
		} else {
			// o's keys may live in o's buffers, which o reuses.
			k := strings.Clone(x.key)
			all[k] = hitter{key: k, count: x.count + f1, err: x.err + f1, aux: x.aux}
		}
	}
	merged := make([]hitter, 0, len(all))
	for _, x := range all {
		merged = append(merged, x)
	}
	slices.SortFunc(merged, func(a, b hitter) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	n := h.N + o.N
	*h = *NewHeavyHitters(h.Capacity)
	h.N = n
	for _, x := range merged[:min(len(merged), h.Capacity)] {
		h.heap = append(h.heap, x)
		h.index[x.key] = len(h.heap) - 1
		h.up(len(h.heap) - 1)
	}
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

// top is Top with keys that the next add may overwrite.
func (h *HeavyHitters) top() []Hitter {
	out := make([]Hitter, len(h.heap))
	for i, x := range h.heap {
		out[i] = Hitter{Key: x.key, Count: x.count, Err: x.err, Aux: x.aux}
	}
	slices.SortFunc(out, func(a, b Hitter) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// Len returns the number of counted keys.
func (h *HeavyHitters) Len() int { return len(h.heap) }

// Count returns key's counted events and possible overcount (0, 0 when it
// has no counter).
func (h *HeavyHitters) Count(key string) (count, err uint64) {
	if i, ok := h.index[key]; ok {
		return h.heap[i].count, h.heap[i].err
	}
	return 0, 0
}

// AppendBinary appends N and the counters, in Top's order.
func (h *HeavyHitters) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, h.N)
	top := h.top()
	b = binary.AppendUvarint(b, uint64(len(top)))
	for _, x := range top {
		b = AppendString(b, x.Key)
		b = binary.AppendUvarint(b, x.Count)
		b = binary.AppendUvarint(b, x.Err)
		b = binary.AppendUvarint(b, x.Aux)
	}
	return b
}

// Decode reads what AppendBinary wrote into an empty state of the same
// capacity, checking the bound and the counts (Err ≤ Count, Aux ≤ Count −
// Err, and the counts, less their errors, at most N).
func (h *HeavyHitters) Decode(d *Decoder) {
	h.N = d.Uvarint()
	m := d.Count(h.Capacity, "heavy hitters")
	var exact uint64
	for range m {
		key, count, err, aux := d.String(), d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Err() != nil {
			return
		}
		if _, dup := h.index[key]; dup || err > count || aux > count-err {
			d.Fail(fmt.Sprintf("heavy hitter %q counted twice or overcounted", key))
			return
		}
		// Compared without adding, so that no hostile count wraps around.
		if count > h.N || count-err > h.N-exact {
			d.Fail(fmt.Sprintf("heavy hitters count more than the %d events", h.N))
			return
		}
		exact += count - err
		h.heap = append(h.heap, hitter{key: key, count: count, err: err, aux: aux})
		h.index[key] = len(h.heap) - 1
		h.up(len(h.heap) - 1)
	}
}
