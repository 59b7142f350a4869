package sketch

import (
	"cmp"
	"math"
	"slices"
)

// Rows is a bounded uniform sample of whole events: the k events with the
// smallest sampling keys (bottom-k sampling, as Sample), each kept as a row
// of numeric columns. The decision to keep an event is taken once per event
// (Offer), not once per feature, and the values of one event stay together,
// so that the joint distribution of the columns can be read from the rows.
//
// A value an event lacks is NaN in its row: JSON telemetry cannot carry NaN
// (the telemetry decoder rejects non-finite numbers), so NaN only ever means
// absent. Column j's sample (Column) is then the rows of the bottom-k events
// that carry column j: a uniform sample of the events that carry it, but not
// the bottom k among those (a Sample fed only with them), which may hold
// more. When every event carries every column, Column gives exactly the
// Sample that adding each column's values under the event keys would.
//
// Memory: a row costs 12 bytes (key and slot) plus 8 per column. Like
// Sample, Rows reserves nothing up front unless asked to (Reserve): with n
// rows kept and c columns it holds room for at most max(min(2n, k), r)
// rows, r the rows reserved (at most k), so never more than k·(12 + 8c)
// bytes, and stops allocating once it holds k rows; adding columns
// (SetColumns) re-lays the rows out, which callers bound (a window's
// features are). A sample emptied for reuse (Reuse) keeps the memory it
// held, which its caller bounds.
type Rows struct {
	k      int
	stride int       // columns per row
	keys   []uint64  // max-heap on keys
	slots  []int32   // row slot of each heap entry, index for index with keys
	vals   []float64 // row slot s is vals[s*stride : (s+1)*stride]
}

// NewRows returns an empty sample of capacity k events of columns values
// each. It reserves nothing (see Rows).
func NewRows(k, columns int) Rows {
	return Rows{k: k, stride: columns}
}

// Len returns the number of rows kept.
func (r *Rows) Len() int { return len(r.keys) }

// Cap returns the sample's capacity k.
func (r *Rows) Cap() int { return r.k }

// Columns returns the number of columns of a row.
func (r *Rows) Columns() int { return r.stride }

// Keys returns the kept keys in heap order; Slot(i) is the row of Keys()[i].
// The slice is owned by r.
func (r *Rows) Keys() []uint64 { return r.keys }

// Slot returns the row slot of the i-th key of Keys.
func (r *Rows) Slot(i int) int { return int(r.slots[i]) }

// Value returns the value of column j in row slot, NaN when absent.
func (r *Rows) Value(slot, j int) float64 { return r.vals[slot*r.stride+j] }

// Set sets the value of column j in row slot, a slot Offer returned for the
// event being observed. v must not be NaN (NaN reads as absent).
func (r *Rows) Set(slot, j int, v float64) { r.vals[slot*r.stride+j] = v }

// SlotsInKeyOrder returns the row slots ordered by ascending key: any prefix
// is a uniform sample of the sampled events.
func (r *Rows) SlotsInKeyOrder() []int {
	idx := make([]int, len(r.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(r.keys[a], r.keys[b]) })
	for i, j := range idx {
		idx[i] = int(r.slots[j])
	}
	return idx
}

// Offer decides whether the event with key is in the bottom k. It returns
// the row slot to write the event's values to (Set), every column absent
// (NaN), or -1 when the event is not kept. When the event displaces the
// largest key kept, its row reuses that event's slot. It does not allocate
// once the sample holds k rows.
func (r *Rows) Offer(key uint64) int {
	if n := len(r.keys); n < r.k {
		if n == cap(r.keys) {
			r.grow()
		}
		r.keys = append(r.keys, key)
		r.slots = append(r.slots, int32(n))
		for range r.stride {
			r.vals = append(r.vals, math.NaN())
		}
		r.up(n)
		return n
	}
	if r.k == 0 || key >= r.keys[0] {
		return -1
	}
	slot := r.slots[0]
	r.down(0, key, slot)
	clearRow(r.vals[int(slot)*r.stride:][:r.stride])
	return int(slot)
}

// clearRow marks every value of row absent.
func clearRow(row []float64) {
	nan := math.NaN()
	for i := range row {
		row[i] = nan
	}
}

// Reuse empties r and makes it a sample of capacity k events of columns
// values each, keeping the memory it holds as room for the rows to come:
// a closed window's sample serves a window opened later
// (window.Windower.Recycle), which then fills it without allocating or
// first touching memory. The room kept is the keys' (Room); values'
// memory too small for that many rows of columns values is allocated
// anew (with 0 columns, by SetColumns). The memory is held whole, so
// callers reuse a sample for a capacity k of at least its room.
func (r *Rows) Reuse(k, columns int) {
	r.k, r.stride = k, 0
	r.keys, r.slots, r.vals = r.keys[:0], r.slots[:0], r.vals[:0]
	r.SetColumns(columns)
}

// Room returns how many rows r holds memory for: the rows it may keep
// without allocating.
func (r *Rows) Room() int { return cap(r.keys) }

// grow doubles the room of r (at least 4 rows, at most k), as Sample.grow.
func (r *Rows) grow() { r.setRoom(min(max(2*cap(r.keys), 4), r.k)) }

// Reserve makes room for n rows (at most k) at once, when r has less: a
// caller that expects about n rows (a window, as many as the previous
// window of its model version kept) then fills them without growing the
// room step by step, which copies every row kept so far at each step and
// allocates twice the memory in all. What r holds is unchanged.
func (r *Rows) Reserve(n int) {
	if n = min(n, r.k); n > cap(r.keys) {
		r.setRoom(n)
	}
}

// setRoom moves the rows of r to room for c rows, c at least Len.
func (r *Rows) setRoom(c int) {
	keys, slots := make([]uint64, len(r.keys), c), make([]int32, len(r.slots), c)
	vals := make([]float64, len(r.vals), c*r.stride)
	copy(keys, r.keys)
	copy(slots, r.slots)
	copy(vals, r.vals)
	r.keys, r.slots, r.vals = keys, slots, vals
}

// SetColumns widens the rows to n columns (nothing when they have as many
// already): the rows kept get the new columns absent. It re-lays every row
// out, in one allocation; an empty r keeps its room (Room), its values'
// memory allocated anew only when too small for that many rows of n
// columns.
func (r *Rows) SetColumns(n int) {
	if n <= r.stride {
		return
	}
	if len(r.keys) == 0 {
		if cap(r.vals) < cap(r.keys)*n {
			r.vals = make([]float64, 0, cap(r.keys)*n)
		}
		r.stride = n
		return
	}
	vals := make([]float64, len(r.keys)*n, cap(r.keys)*n)
	for s := range len(r.keys) {
		row := vals[s*n:][:n]
		copy(row, r.vals[s*r.stride:][:r.stride])
		clearRow(row[r.stride:])
	}
	r.vals, r.stride = vals, n
}

// Column sets s to the sample of column j: the keys and values of the rows
// that carry it, with capacity k. s's room is reused when it is large
// enough. When every row carries column j, s holds the keys in r's heap
// order, which is the order a Sample fed with the same keys would have.
func (r *Rows) Column(j int, s *Sample) {
	n := r.Present(j)
	keys, vals := s.keys[:0], s.vals[:0]
	if cap(keys) < n || cap(vals) < n {
		keys, vals = make([]uint64, 0, n), make([]float64, 0, n)
	}
	for i, slot := range r.slots {
		if v := r.vals[int(slot)*r.stride+j]; !math.IsNaN(v) {
			keys = append(keys, r.keys[i])
			vals = append(vals, v)
		}
	}
	s.k, s.keys, s.vals = r.k, keys, vals
	if n < len(r.keys) {
		s.heapify()
	}
}

// Present returns how many rows carry column j: the size of its sample
// (Column).
func (r *Rows) Present(j int) int {
	n := 0
	for _, slot := range r.slots {
		if !math.IsNaN(r.vals[int(slot)*r.stride+j]) {
			n++
		}
	}
	return n
}

// EachValue calls f with the value of column j of every row that carries
// it, in heap order (the values of its sample, Column, before any
// reordering).
func (r *Rows) EachValue(j int, f func(v float64)) {
	for _, slot := range r.slots {
		if v := r.vals[int(slot)*r.stride+j]; !math.IsNaN(v) {
			f(v)
		}
	}
}

// AppendColumn appends to dst the values of column j, row by row in heap
// order (the order of Column's values), when every row carries it; it
// returns dst unchanged and false when some row lacks it (Column then
// reorders the sample, as a heap of the rows that carry it).
func (r *Rows) AppendColumn(dst []float64, j int) ([]float64, bool) {
	n := len(dst)
	for _, slot := range r.slots {
		v := r.vals[int(slot)*r.stride+j]
		if math.IsNaN(v) {
			return dst[:n], false
		}
		dst = append(dst, v)
	}
	return dst, true
}

// up moves the entry at i up to its place in the heap, exactly as
// Sample.up moves an observation.
func (r *Rows) up(i int) { siftUp(r.keys, r.slots, i) }

// down puts key and slot, which replace the entry at i, in their place below
// i, exactly as Sample.down.
func (r *Rows) down(i int, key uint64, slot int32) { siftDown(r.keys, r.slots, i, key, slot) }

// Merge adds the rows of o, a sample of a disjoint set of events with the
// same capacity, to r: r then holds the bottom-k sample of the union, as if
// it had been offered every event of both. cols maps o's column j to r's
// column cols[j] (-1, or beyond cols: dropped); r must have those columns
// already.
func (r *Rows) Merge(o *Rows, cols []int) {
	// Room for every row of o at once (at most k): the first window of a
	// warm-up fills an empty sample with all of its rows.
	r.Reserve(len(r.keys) + len(o.keys))
	for i, key := range o.keys {
		slot := r.Offer(key)
		if slot < 0 {
			continue
		}
		row := o.vals[int(o.slots[i])*o.stride:][:o.stride]
		for j, c := range cols[:min(len(cols), o.stride)] {
			if c >= 0 {
				r.vals[slot*r.stride+c] = row[j]
			}
		}
	}
}

// Cut returns the bottom-k sample of r's rows, with capacity k (at most
// r's): the sample r would be had it been made with capacity k, since the
// bottom k of a set lie within its bottom Cap().
func (r *Rows) Cut(k int) Rows {
	out := NewRows(k, r.stride)
	out.Reserve(len(r.keys))
	for i, key := range r.keys {
		if slot := out.Offer(key); slot >= 0 {
			copy(out.vals[slot*r.stride:][:r.stride], r.vals[int(r.slots[i])*r.stride:][:r.stride])
		}
	}
	return out
}

// heapify restores the heap order after keys and slots were set directly,
// in linear time.
func (r *Rows) heapify() {
	for i := len(r.keys)/2 - 1; i >= 0; i-- {
		r.down(i, r.keys[i], r.slots[i])
	}
}
