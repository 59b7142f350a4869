package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mathbits "math/bits"
	"slices"
)

// ErrCorrupt is wrapped by every Decoder error about the bytes themselves.
var ErrCorrupt = errors.New("corrupt window state")

// MaxString bounds one string read by a Decoder (names, ids, category values).
const MaxString = 64 << 10

// Sample key layouts of an encoded Numeric.
const (
	// keysInline: the sample's keys follow as a block of little-endian uint64.
	keysInline = 0
	// keysAsPrevious: the keys are those of the Numeric written before, in
	// the same order. Every feature of an event is sampled under the
	// event's key, so features present in every event keep identical
	// samples of keys: writing them once halves a window's bytes.
	keysAsPrevious = 1
)

// AppendString appends s, length-prefixed.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendFloat appends f as its 8 IEEE-754 bytes, little-endian.
func AppendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// AppendBinary appends s. prev holds the sample keys of the Numeric written
// just before s, which s's keys refer to when they are the same.
func (s *Numeric) AppendBinary(b []byte, prev []uint64) []byte {
	b = binary.AppendUvarint(b, s.Count)
	b = AppendFloat(b, s.Mean)
	b = AppendFloat(b, s.M2)
	b = AppendFloat(b, s.Min)
	b = AppendFloat(b, s.Max)
	if s.Bins == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.Bins))+1)
		for _, c := range s.Bins {
			b = binary.AppendUvarint(b, c)
		}
	}
	b = binary.AppendUvarint(b, uint64(s.Sample.k))
	keys := s.Sample.keys
	b = binary.AppendUvarint(b, uint64(len(keys)))
	if len(keys) == 0 {
		return b
	}
	if slices.Equal(keys, prev) {
		b = append(b, keysAsPrevious)
	} else {
		b = append(b, keysInline)
		for _, k := range keys {
			b = binary.LittleEndian.AppendUint64(b, k)
		}
	}
	for _, v := range s.Sample.vals {
		b = AppendFloat(b, v)
	}
	return b
}

// EncodedSize is an upper bound of the bytes AppendBinary writes.
func (s *Numeric) EncodedSize() int { return 65 + 10*len(s.Bins) + 16*len(s.Sample.keys) }

// Decode reads into s, an empty state made with the bins and sample
// capacity the encoding must have, what AppendBinary wrote. prev is what
// Decode returned for the Numeric read just before (nil for the first); it
// returns the key block to pass to the next one. name only labels errors.
func (s *Numeric) Decode(d *Decoder, name string, prev []byte) []byte {
	s.Count = d.Uvarint()
	s.Mean, s.M2, s.Min, s.Max = d.Float(), d.Float(), d.Float(), d.Float()
	bins := d.Count(len(s.Bins)+1, "bins")
	switch {
	case d.err != nil:
		return nil
	case bins == 0 && s.Bins != nil, bins > 0 && len(s.Bins) != bins-1:
		d.Fail(fmt.Sprintf("feature %q has %d bins where its reference has %d", name, max(bins-1, 0), len(s.Bins)))
		return nil
	}
	for j := range s.Bins {
		s.Bins[j] = d.Uvarint()
	}
	k := int(min(d.Uvarint(), math.MaxInt32))
	if d.err == nil && k != s.Sample.k {
		d.Fail(fmt.Sprintf("feature %q has a sample of capacity %d where this monitor keeps %d", name, k, s.Sample.k))
	}
	kept := d.Count(k, "sample values")
	if d.err != nil || kept == 0 {
		return nil
	}
	var keys []byte
	switch layout := d.Byte(); {
	case d.err != nil:
	case layout == keysInline:
		keys = d.Bytes(kept*8, "sample keys")
	case layout == keysAsPrevious && len(prev) == kept*8:
		keys = prev
	default:
		d.Fail(fmt.Sprintf("feature %q has sample key layout %d that does not fit", name, layout))
	}
	vals := d.Bytes(kept*8, "sample values")
	if d.err != nil {
		return nil
	}
	sm := &s.Sample
	sm.keys, sm.vals = slices.Grow(sm.keys[:0], kept)[:kept], slices.Grow(sm.vals[:0], kept)[:kept]
	for j := range kept {
		sm.keys[j] = binary.LittleEndian.Uint64(keys[8*j:])
		sm.vals[j] = math.Float64frombits(binary.LittleEndian.Uint64(vals[8*j:]))
	}
	sm.heapify()
	return keys
}

// AppendBinary appends s, its value maps in key order so that equal states
// encode to equal bytes.
func (s *Categorical) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, s.Count)
	b = binary.AppendUvarint(b, s.Other)
	b = binary.AppendUvarint(b, s.Unseen)
	if s.Counts == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.Counts))+1)
		for _, c := range s.Counts {
			b = binary.AppendUvarint(b, c)
		}
	}
	b = appendCounts(b, s.Tracked)
	b = appendCounts(b, s.NewValues)
	return b
}

// EncodedSize is an upper bound of the bytes AppendBinary writes.
func (s *Categorical) EncodedSize() int {
	n := 48 + 10*len(s.Counts)
	for v := range s.Tracked {
		n += len(v) + 20
	}
	for v := range s.NewValues {
		n += len(v) + 20
	}
	return n
}

// Decode reads into s, an empty state made against the category index the
// encoding must have (or none during warm-up), what AppendBinary wrote;
// at most maxTracked warm-up values. name only labels errors.
func (s *Categorical) Decode(d *Decoder, name string, maxTracked int) {
	s.Count, s.Other, s.Unseen = d.Uvarint(), d.Uvarint(), d.Uvarint()
	cats := d.Count(len(s.Counts)+1, "category counts")
	switch {
	case d.err != nil:
		return
	case cats == 0 && s.Counts != nil, cats > 0 && len(s.Counts) != cats-1:
		d.Fail(fmt.Sprintf("feature %q has %d categories where its reference has %d", name, max(cats-1, 0), len(s.Counts)))
		return
	}
	for j := range s.Counts {
		s.Counts[j] = d.Uvarint()
	}
	tracked := d.Count(maxTracked, "tracked categories")
	if d.err == nil && tracked > 0 && s.Tracked == nil {
		d.Fail(fmt.Sprintf("feature %q tracks warm-up categories against a reference", name))
	}
	for range tracked {
		if d.err != nil {
			return
		}
		v := d.String()
		s.Tracked[v] = d.Uvarint()
	}
	newValues := d.Count(MaxNewValues, "new values")
	for range newValues {
		v := d.String()
		if d.err != nil {
			return
		}
		if s.NewValues == nil {
			s.NewValues = make(map[string]uint64)
		}
		s.NewValues[v] = d.Uvarint()
	}
}

// appendCounts writes a value → count map in key order.
func appendCounts(b []byte, m map[string]uint64) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = AppendString(b, k)
		b = binary.AppendUvarint(b, m[k])
	}
	return b
}

// Decoder reads what the Append functions wrote. The first error sticks:
// every later read returns zero values, and Err reports it. Every length is
// checked against the remaining bytes before anything is allocated.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a decoder of b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first error, which wraps ErrCorrupt.
func (d *Decoder) Err() error { return d.err }

// Remaining returns the number of bytes not read yet.
func (d *Decoder) Remaining() int { return len(d.b) }

// Fail records that the input is corrupt, saying what is wrong.
func (d *Decoder) Fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.Fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("bad or truncated integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail("bad or truncated integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Float reads what AppendFloat wrote.
func (d *Decoder) Float() float64 {
	if d.err != nil || len(d.b) < 8 {
		d.Fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return math.Float64frombits(v)
}

// Bytes returns the next n bytes (not copied), failing when fewer remain.
func (d *Decoder) Bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.Fail("truncated " + what)
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

// String reads what AppendString wrote, at most MaxString bytes.
func (d *Decoder) String() string {
	n := d.Uvarint()
	if d.err != nil {
		return ""
	}
	if n > MaxString || n > uint64(len(d.b)) {
		d.Fail(fmt.Sprintf("string of %d bytes", n))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Count reads a length that must not exceed limit nor the remaining bytes
// (every element takes at least one); what names the elements in errors.
func (d *Decoder) Count(limit int, what string) int {
	n := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max(limit, 0)) || n > uint64(len(d.b))+1 {
		d.Fail(fmt.Sprintf("%d %s (at most %d)", n, what, limit))
		return 0
	}
	return int(n)
}

// AppendBinary appends r: its capacity, columns and rows, then the rows'
// keys as a block of little-endian uint64 in heap order, then per row (in
// the same order) a presence bitmap of one bit per column and the present
// values. An absent value costs one bit, not 8 bytes.
func (r *Rows) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(r.k))
	b = binary.AppendUvarint(b, uint64(r.stride))
	b = binary.AppendUvarint(b, uint64(len(r.keys)))
	for _, key := range r.keys {
		b = binary.LittleEndian.AppendUint64(b, key)
	}
	nb := bitmapBytes(r.stride)
	for _, slot := range r.slots {
		// Room for the row's bitmap and every value, written in place.
		b = slices.Grow(b, nb+8*r.stride)
		at, n := len(b), len(b)+nb
		b = b[:n+8*r.stride]
		clear(b[at:n])
		for j, v := range r.vals[int(slot)*r.stride:][:r.stride] {
			if !math.IsNaN(v) {
				b[at+j/8] |= 1 << (j % 8)
				binary.LittleEndian.PutUint64(b[n:], math.Float64bits(v))
				n += 8
			}
		}
		b = b[:n]
	}
	return b
}

// presentValues reads row, whose presence bitmap is bits, when the bytes
// of every present value remain: as Float would one by one, without
// checking the remaining bytes and the error at each (a warm-up window's
// rows are about a million values). It reports false, having read
// nothing, when they do not remain: the caller then reads them one by one,
// failing where Float fails.
func (d *Decoder) presentValues(bits []byte, row []float64) bool {
	present := 0
	for _, b := range bits {
		present += mathbits.OnesCount8(b)
	}
	vals := d.b
	if d.err != nil || len(vals) < 8*present {
		return false
	}
	for j := range row {
		if bits[j/8]&(1<<(j%8)) == 0 {
			row[j] = math.NaN()
			continue
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(vals))
		vals = vals[8:]
		if math.IsNaN(v) {
			d.Fail("NaN sample value")
			return true
		}
		row[j] = v
	}
	d.b = vals
	return true
}

// bitmapBytes returns the bytes of a presence bitmap of n columns.
func bitmapBytes(n int) int { return (n + 7) / 8 }

// EncodedSize is an upper bound of the bytes AppendBinary writes.
func (r *Rows) EncodedSize() int {
	return 30 + len(r.keys)*(8+bitmapBytes(r.stride)+8*r.stride)
}

// Decode reads into r, an empty sample made with the capacity and columns
// the encoding must have, what AppendBinary wrote. It allocates at most
// k·(12 + 8·columns) bytes, and only after checking that the keys and
// bitmaps of every row are there. A present value that is NaN is corrupt
// (NaN means absent). On error r is left empty.
func (r *Rows) Decode(d *Decoder) {
	k := int(min(d.Uvarint(), math.MaxInt32))
	if d.err == nil && k != r.k {
		d.Fail(fmt.Sprintf("a sample of %d rows where this monitor keeps %d", k, r.k))
	}
	cols := d.Uvarint()
	if d.err == nil && cols != uint64(r.stride) {
		d.Fail(fmt.Sprintf("sample rows of %d columns for %d numeric features", cols, r.stride))
	}
	m := d.Count(k, "sample rows")
	keys := d.Bytes(m*8, "sample row keys")
	nb := bitmapBytes(r.stride)
	if d.err == nil && d.Remaining() < m*nb {
		d.Fail("truncated sample rows")
	}
	if d.err != nil || m == 0 {
		return
	}
	stride := r.stride
	r.keys, r.slots, r.vals = make([]uint64, m), make([]int32, m), make([]float64, m*stride)
	for s := range m {
		r.keys[s], r.slots[s] = binary.LittleEndian.Uint64(keys[8*s:]), int32(s)
		bits := d.Bytes(nb, "row presence")
		if d.err != nil {
			break
		}
		if stride%8 != 0 && bits[nb-1]>>(stride%8) != 0 {
			d.Fail("row presence of columns beyond the features")
			break
		}
		row := r.vals[s*stride:][:stride]
		if !d.presentValues(bits, row) {
			for j := range row {
				if bits[j/8]&(1<<(j%8)) == 0 {
					row[j] = math.NaN()
					continue
				}
				if row[j] = d.Float(); math.IsNaN(row[j]) && d.err == nil {
					d.Fail("NaN sample value")
				}
			}
		}
		if d.err != nil {
			break
		}
	}
	if d.err != nil {
		r.keys, r.slots, r.vals = nil, nil, nil
		return
	}
	r.heapify()
}
