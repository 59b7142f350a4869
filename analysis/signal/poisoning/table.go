package poisoning

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// Bounds of what a partial keeps of one string.
const (
	// maxKey bounds a kept key (a source, a categorical value, a label, a
	// content hash); a longer one is shortened by shorten.
	maxKey = 64
	// maxID bounds a kept example id; a longer one is shortened.
	maxID = 40
	// idsPerKey is the number of example ids kept per key as evidence.
	idsPerKey = 3
)

// shorten appends s to dst when it has at most limit bytes; otherwise its
// first bytes, cut at a character boundary, then '#' and the 16 hex digits
// of its xxHash64: at most limit bytes, distinct for distinct strings but
// for hash collisions.
func shorten(dst []byte, s string, limit int) []byte {
	if len(s) <= limit {
		return append(dst, s...)
	}
	cut := limit - 17
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	dst = append(dst, s[:cut]...)
	dst = append(dst, '#')
	return appendHex(dst, xxhash.Sum64String(s))
}

// appendHex appends h as 16 lower-case hex digits.
func appendHex(dst []byte, h uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[h>>uint(i)&0xf])
	}
	return dst
}

// table counts events per key in at most capacity counters with the
// Space-Saving algorithm (Metwally, Agrawal and El Abbadi, 2005), as
// sketch.HeavyHitters does, but owning its keys: each is copied into a
// fixed-width slot, so that a key may alias a buffer the caller reuses and
// a full table takes a new key without allocating. Per key it keeps one
// exact auxiliary counter and, optionally, a bottom-idsPerKey sample of the
// ids of its events (the smallest sketch.SampleKey), which merges exactly,
// and with each id, in a table made by newSourcedTable, its example's
// source: who sent the examples a key's evidence shows.
//
// A key without a counter takes over the smallest one when all are taken,
// inheriting its count as its possible overcount (err); aux and ids restart.
// Every key whose count exceeds n/capacity has a counter, and count
// overestimates its key's events by at most err. Merging follows Agarwal
// et al. (2012), as HeavyHitters.Merge does: with fewer distinct keys than
// capacity the counts are exact and the merge does not depend on the split.
//
// The slot arrays grow with the keys counted, to capacity at most.
type table struct {
	capacity, width, idCap int
	room                   int // slots the arrays have room for
	// n counts every event added.
	n uint64

	hash, count, err, aux []uint64
	klen                  []uint8 // key length per slot
	keys                  []byte  // width bytes per slot
	idN                   []uint8 // ids kept per slot
	idKey                 []uint64
	idLen                 []uint8
	idBuf                 []byte  // idCap·maxID bytes per slot
	srcs                  bool    // each id has its example's source
	srcLen                []uint8 // per id, when srcs
	srcBuf                []byte  // idCap·maxKey bytes per slot, when srcs
	// noSrcInput makes decode read an encoding without sources (of before
	// srcs), its ids' sources left empty.
	noSrcInput bool
	// noIDInput makes decode read an encoding without ids (of a table
	// that kept none before), no id kept.
	noIDInput bool
	heap, pos []int32 // min-heap of slots on (count, key descending); slot → heap position
	index     []int32 // open addressing on hash: slot, or -1
}

// newTable returns an empty table of capacity keys of at most width bytes,
// keeping idCap ids per key (0 or idsPerKey).
func newTable(capacity, width, idCap int) *table {
	return &table{capacity: max(capacity, 1), width: width, idCap: idCap}
}

// newSourcedTable is newTable keeping each kept id's source too.
func newSourcedTable(capacity, width, idCap int) *table {
	t := newTable(capacity, width, idCap)
	t.srcs = true
	return t
}

// slots returns the number of keys counted.
func (t *table) slots() int { return len(t.hash) }

func (t *table) key(s int32) []byte {
	o := int(s) * t.width
	return t.keys[o : o+int(t.klen[s])]
}

// find returns the slot of key, -1 when it has none.
func (t *table) find(key []byte, h uint64) int32 {
	if len(t.index) == 0 {
		return -1
	}
	mask := len(t.index) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := t.index[i]
		if s < 0 {
			return -1
		}
		if t.hash[s] == h && bytes.Equal(t.key(s), key) {
			return s
		}
	}
}

// lookup returns key's count, overcount and aux; ok false when it has no
// counter.
func (t *table) lookup(key []byte) (count, err, aux uint64, ok bool) {
	s := t.find(key, xxhash.Sum64(key))
	if s < 0 {
		return 0, 0, 0, false
	}
	return t.count[s], t.err[s], t.aux[s], true
}

// floor is what a key without a counter may have had: the smallest count
// when every counter is taken, else 0.
func (t *table) floor() uint64 {
	if t.slots() < t.capacity || t.slots() == 0 {
		return 0
	}
	return t.count[t.heap[0]]
}

// add counts one event of key, aux of it with the counted property, and
// offers its example id (when withID) to the key's id sample, with its
// source src when the table keeps sources. key must have at most width
// bytes. It does not allocate once the table is full.
func (t *table) add(key []byte, aux uint64, id, src string, withID bool) {
	t.n++
	h := xxhash.Sum64(key)
	s := t.find(key, h)
	switch {
	case s >= 0:
		t.count[s]++
		t.aux[s] += aux
		t.down(t.pos[s])
	case t.slots() < t.capacity:
		s = t.newSlot(key, h, 1, 0, aux)
	default: // full: the key takes over the smallest counter
		s = t.heap[0]
		t.unindex(s)
		t.setKey(s, key, h)
		t.reindex(s)
		t.err[s] = t.count[s]
		t.count[s]++
		t.aux[s] = aux
		t.idN[s] = 0
		t.down(0)
	}
	if withID && t.idCap > 0 {
		t.addID(s, sketch.SampleKey(id), id, src)
	}
}

// newSlot appends a slot for key (there is room), returning it.
func (t *table) newSlot(key []byte, h, count, err, aux uint64) int32 {
	if t.slots() == t.room {
		t.grow()
	}
	s := int32(t.slots())
	t.hash = append(t.hash, 0)
	t.count = append(t.count, count)
	t.err = append(t.err, err)
	t.aux = append(t.aux, aux)
	t.klen = append(t.klen, 0)
	t.keys = t.keys[:len(t.keys)+t.width]
	t.idN = append(t.idN, 0)
	t.idKey = t.idKey[:len(t.idKey)+t.idCap]
	t.idLen = t.idLen[:len(t.idLen)+t.idCap]
	t.idBuf = t.idBuf[:len(t.idBuf)+t.idCap*maxID]
	if t.srcs {
		t.srcLen = t.srcLen[:len(t.srcLen)+t.idCap]
		t.srcBuf = t.srcBuf[:len(t.srcBuf)+t.idCap*maxKey]
	}
	t.setKey(s, key, h)
	t.reindex(s)
	t.heap = append(t.heap, s)
	t.pos = append(t.pos, s)
	t.up(s)
	return s
}

// grow doubles the room for slots (at least 8, at most capacity) and
// rebuilds the index at twice that size or more.
func (t *table) grow() {
	c := min(max(2*t.room, 8), t.capacity)
	t.room = c
	t.hash = resize(t.hash, c)
	t.count = resize(t.count, c)
	t.err = resize(t.err, c)
	t.aux = resize(t.aux, c)
	t.klen = resize(t.klen, c)
	t.keys = resize(t.keys, c*t.width)
	t.idN = resize(t.idN, c)
	t.idKey = resize(t.idKey, c*t.idCap)
	t.idLen = resize(t.idLen, c*t.idCap)
	t.idBuf = resize(t.idBuf, c*t.idCap*maxID)
	if t.srcs {
		t.srcLen = resize(t.srcLen, c*t.idCap)
		t.srcBuf = resize(t.srcBuf, c*t.idCap*maxKey)
	}
	t.heap = resize(t.heap, c)
	t.pos = resize(t.pos, c)
	size := 16
	for size < 2*c {
		size *= 2
	}
	if size > len(t.index) {
		t.index = make([]int32, size)
		for i := range t.index {
			t.index[i] = -1
		}
		for s := range int32(t.slots()) {
			t.reindex(s)
		}
	}
}

// resize returns s with room for exactly n elements (append's growth would
// round up, past the bound).
func resize[T any](s []T, n int) []T {
	out := make([]T, len(s), n)
	copy(out, s)
	return out
}

func (t *table) setKey(s int32, key []byte, h uint64) {
	t.hash[s] = h
	t.klen[s] = uint8(copy(t.keys[int(s)*t.width:int(s+1)*t.width], key))
}

// reindex enters slot s in the index.
func (t *table) reindex(s int32) {
	mask := len(t.index) - 1
	i := int(t.hash[s]) & mask
	for t.index[i] >= 0 {
		i = (i + 1) & mask
	}
	t.index[i] = s
}

// unindex removes slot s from the index, shifting back the entries after
// it (linear probing without tombstones).
func (t *table) unindex(s int32) {
	mask := len(t.index) - 1
	i := int(t.hash[s]) & mask
	for t.index[i] != s {
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		e := t.index[j]
		if e < 0 {
			break
		}
		home := int(t.hash[e]) & mask
		// e stays when its home lies cyclically in (i, j].
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		t.index[i] = e
		i = j
	}
	t.index[i] = -1
}

// less orders the heap: the smallest count first, ties by the larger key
// (so that equal counts evict in an order that does not depend on arrival).
func (t *table) less(a, b int32) bool {
	if t.count[a] != t.count[b] {
		return t.count[a] < t.count[b]
	}
	return bytes.Compare(t.key(a), t.key(b)) > 0
}

func (t *table) swap(i, j int32) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.pos[t.heap[i]], t.pos[t.heap[j]] = i, j
}

func (t *table) up(i int32) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(t.heap[i], t.heap[p]) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *table) down(i int32) {
	n := int32(len(t.heap))
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.less(t.heap[r], t.heap[l]) {
			m = r
		}
		if !t.less(t.heap[m], t.heap[i]) {
			return
		}
		t.swap(i, m)
		i = m
	}
}

// addID offers id, of sampling key k, to slot s's ids, kept ascending by
// key; an id whose key is already kept is not added twice.
func (t *table) addID(s int32, k uint64, id, src string) {
	base := int(s) * t.idCap
	n := int(t.idN[s])
	keys := t.idKey[base : base+n]
	at, found := slices.BinarySearch(keys, k)
	if found || at == t.idCap {
		return
	}
	if n < t.idCap {
		n++
		t.idN[s] = uint8(n)
	}
	for j := n - 1; j > at; j-- {
		t.idKey[base+j] = t.idKey[base+j-1]
		t.idLen[base+j] = t.idLen[base+j-1]
		copy(t.idBuf[(base+j)*maxID:(base+j+1)*maxID], t.idBuf[(base+j-1)*maxID:(base+j)*maxID])
		if t.srcs {
			t.srcLen[base+j] = t.srcLen[base+j-1]
			copy(t.srcBuf[(base+j)*maxKey:(base+j+1)*maxKey], t.srcBuf[(base+j-1)*maxKey:(base+j)*maxKey])
		}
	}
	t.idKey[base+at] = k
	t.idLen[base+at] = uint8(len(shorten(t.idBuf[(base+at)*maxID:(base+at)*maxID], id, maxID)))
	if t.srcs {
		t.srcLen[base+at] = uint8(len(shorten(t.srcBuf[(base+at)*maxKey:(base+at)*maxKey], src, maxKey)))
	}
}

// source returns the source of slot s's j-th kept id ("" when the table
// keeps none).
func (t *table) source(s int32, j int) string {
	if !t.srcs {
		return ""
	}
	i := int(s)*t.idCap + j
	return string(t.srcBuf[i*maxKey : i*maxKey+int(t.srcLen[i])])
}

// sources returns the sources of slot s's kept ids, in ids' order; nil
// when the table keeps none.
func (t *table) sources(s int32) []string {
	if !t.srcs {
		return nil
	}
	out := make([]string, t.idN[s])
	for j := range out {
		out[j] = t.source(s, j)
	}
	return out
}

// ids returns slot s's kept example ids, by ascending sampling key.
func (t *table) ids(s int32) []string {
	base := int(s) * t.idCap
	out := make([]string, t.idN[s])
	for j := range out {
		o := (base + j) * maxID
		out[j] = string(t.idBuf[o : o+int(t.idLen[base+j])])
	}
	return out
}

// order returns the slots, the largest count first (ties by key).
func (t *table) order() []int32 {
	out := make([]int32, t.slots())
	for i := range out {
		out[i] = int32(i)
	}
	slices.SortFunc(out, func(a, b int32) int {
		if c := cmp.Compare(t.count[b], t.count[a]); c != 0 {
			return c
		}
		return bytes.Compare(t.key(a), t.key(b))
	})
	return out
}

// merge adds o (of the same shape): each key's count is the sum of its
// counts, a side that does not count it adding its floor (to count and
// overcount); the capacity largest are kept.
func (t *table) merge(o *table) {
	f1, f2 := t.floor(), o.floor()
	type entry struct {
		a, b            int32 // slot in t, in o; -1 for none
		count, err, aux uint64
		key             []byte
	}
	all := make([]entry, 0, t.slots()+o.slots())
	for s := range int32(t.slots()) {
		k := t.key(s)
		if b := o.find(k, t.hash[s]); b >= 0 {
			all = append(all, entry{a: s, b: b, count: t.count[s] + o.count[b], err: t.err[s] + o.err[b], aux: t.aux[s] + o.aux[b], key: k})
		} else {
			all = append(all, entry{a: s, b: -1, count: t.count[s] + f2, err: t.err[s] + f2, aux: t.aux[s], key: k})
		}
	}
	for s := range int32(o.slots()) {
		k := o.key(s)
		if t.find(k, o.hash[s]) < 0 {
			all = append(all, entry{a: -1, b: s, count: o.count[s] + f1, err: o.err[s] + f1, aux: o.aux[s], key: k})
		}
	}
	slices.SortFunc(all, func(x, y entry) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		return bytes.Compare(x.key, y.key)
	})
	m := newTable(t.capacity, t.width, t.idCap)
	m.srcs = t.srcs
	m.n = t.n + o.n
	for _, e := range all[:min(len(all), m.capacity)] {
		s := m.newSlot(e.key, xxhash.Sum64(e.key), e.count, e.err, e.aux)
		for _, side := range []struct {
			t *table
			s int32
		}{{t, e.a}, {o, e.b}} {
			if side.s < 0 {
				continue
			}
			base := int(side.s) * side.t.idCap
			for j := range int(side.t.idN[side.s]) {
				off := (base + j) * maxID
				m.addID(s, side.t.idKey[base+j], string(side.t.idBuf[off:off+int(side.t.idLen[base+j])]), side.t.source(side.s, j))
			}
		}
	}
	*t = *m
}

// appendBinary appends n and the counters in order's order, each with its
// ids when the table keeps them.
func (t *table) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, t.n)
	b = binary.AppendUvarint(b, uint64(t.slots()))
	for _, s := range t.order() {
		b = sketch.AppendString(b, string(t.key(s)))
		b = binary.AppendUvarint(b, t.count[s])
		b = binary.AppendUvarint(b, t.err[s])
		b = binary.AppendUvarint(b, t.aux[s])
		if t.idCap > 0 {
			ids := t.ids(s)
			b = binary.AppendUvarint(b, uint64(len(ids)))
			for j, id := range ids {
				b = sketch.AppendString(b, id)
				if t.srcs {
					b = sketch.AppendString(b, t.source(s, j))
				}
			}
		}
	}
	return b
}

// decode reads what appendBinary wrote into an empty table of the same
// shape, checking the bounds and the counts: at most capacity keys of at
// most width bytes, each once; err ≤ count, aux ≤ count − err, the counts
// less their errors at most n; at most idCap ids a key, no more than its
// exact events, of at most maxID bytes, in ascending order of their
// sampling keys. what names the table in errors.
func (t *table) decode(d *sketch.Decoder, what string) {
	defer func() { t.noSrcInput, t.noIDInput = false, false }()
	t.n = d.Uvarint()
	m := d.Count(t.capacity, what)
	var exact uint64
	for range m {
		key := d.String()
		count, err, aux := d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Err() != nil {
			return
		}
		h := xxhash.Sum64String(key)
		switch {
		case len(key) > t.width:
			d.Fail(fmt.Sprintf("%s key of %d bytes (at most %d)", what, len(key), t.width))
			return
		case t.find([]byte(key), h) >= 0 || err > count || aux > count-err:
			d.Fail(fmt.Sprintf("%s key %q counted twice or overcounted", what, key))
			return
		case count > t.n || count-err > t.n-exact: // compared without adding, so that nothing wraps around
			d.Fail(fmt.Sprintf("%s count more than the %d events", what, t.n))
			return
		}
		exact += count - err
		s := t.newSlot([]byte(key), h, count, err, aux)
		if t.idCap == 0 || t.noIDInput {
			continue
		}
		ids := d.Count(t.idCap, what+" example ids")
		if d.Err() == nil && uint64(ids) > count-err {
			d.Fail(fmt.Sprintf("%s key %q has %d example ids of %d events", what, key, ids, count-err))
		}
		for range ids {
			id, src := d.String(), ""
			if t.srcs && !t.noSrcInput {
				src = d.String()
			}
			if d.Err() != nil {
				return
			}
			k := sketch.SampleKey(id)
			if n := int(t.idN[s]); len(id) > maxID || len(src) > maxKey || n > 0 && t.idKey[int(s)*t.idCap+n-1] >= k {
				d.Fail(fmt.Sprintf("%s key %q has an example id or source too long, or ids out of order", what, key))
				return
			}
			t.addID(s, k, id, src)
		}
	}
}
