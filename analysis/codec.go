package analysis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// windowCodecVersion is the first byte of an encoded window. A decoder
// refuses other versions, so that instances of different releases in one
// consumer group fail loudly instead of merging what they cannot read.
const windowCodecVersion = 1

// maxEncodedString bounds one string of an encoded window (names, ids,
// category values).
const maxEncodedString = 64 << 10

// AppendBinary appends the serialised state of w to b: its key, counts,
// offsets, the id of the reference it was opened against and every feature
// state (moments, bins, bottom-k sample, categories). DecodeWindow reads it
// back; a decoded window merges exactly like the original.
func (w *Window) AppendBinary(b []byte) []byte {
	b = slices.Grow(b, w.encodedSize())
	b = append(b, windowCodecVersion)
	b = appendString(b, w.Model.ID)
	b = appendString(b, w.Model.Version)
	b = binary.AppendVarint(b, w.startMs)
	b = binary.AppendVarint(b, w.endMs-w.startMs)
	b = binary.AppendUvarint(b, w.Events)
	b = binary.AppendUvarint(b, w.Late)
	b = binary.AppendUvarint(b, w.Rejected)
	b = binary.AppendUvarint(b, w.Untracked)
	b = binary.AppendVarint(b, w.FirstOffset)
	b = binary.AppendVarint(b, w.LastOffset)
	b = appendString(b, w.RefID())
	names := w.NumericNames()
	b = binary.AppendUvarint(b, uint64(len(names)))
	for i, name := range names {
		b = appendString(b, name)
		b = w.Numeric[i].appendBinary(b)
	}
	cats := w.CategoricalNames()
	b = binary.AppendUvarint(b, uint64(len(cats)))
	for i, name := range cats {
		b = appendString(b, name)
		b = w.Categorical[i].appendBinary(b)
	}
	return b
}

// encodedSize is an upper bound of the bytes AppendBinary writes, so that
// it writes into one allocation.
func (w *Window) encodedSize() int {
	n := 128 + len(w.Model.ID) + len(w.Model.Version) + len(w.RefID())
	for i, name := range w.NumericNames() {
		s := &w.Numeric[i]
		n += len(name) + 64 + 10*len(s.Bins) + 16*len(s.Sample.keys)
	}
	for i, name := range w.CategoricalNames() {
		s := &w.Categorical[i]
		n += len(name) + 48 + 10*len(s.Counts)
		for v := range s.Tracked {
			n += len(v) + 20
		}
		for v := range s.NewValues {
			n += len(v) + 20
		}
	}
	return n
}

// RefID returns the id of the reference w was opened against, or "" during
// warm-up.
func (w *Window) RefID() string {
	if w.Ref == nil {
		return ""
	}
	return w.Ref.ID
}

func (s *NumericState) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, s.Count)
	b = appendFloat(b, s.Mean)
	b = appendFloat(b, s.M2)
	b = appendFloat(b, s.Min)
	b = appendFloat(b, s.Max)
	if s.Bins == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.Bins))+1)
		for _, c := range s.Bins {
			b = binary.AppendUvarint(b, c)
		}
	}
	b = binary.AppendUvarint(b, uint64(s.Sample.k))
	b = binary.AppendUvarint(b, uint64(len(s.Sample.keys)))
	for i, k := range s.Sample.keys {
		b = binary.LittleEndian.AppendUint64(b, k)
		b = appendFloat(b, s.Sample.vals[i])
	}
	return b
}

func (s *CategoricalState) appendBinary(b []byte) []byte {
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

// appendCounts writes a value → count map in key order, so that equal states
// encode to equal bytes.
func appendCounts(b []byte, m map[string]uint64) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, m[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// ErrCorruptWindow is wrapped by every DecodeWindow error about the bytes
// themselves.
var ErrCorruptWindow = errors.New("corrupt window state")

// ErrUnknownReference is returned by DecodeWindow when the encoded window
// names a reference that the lookup does not know.
var ErrUnknownReference = errors.New("reference not loaded")

// DecodeWindow reads a window written by AppendBinary. lookup returns the
// reference of a model version with the id the encoding names, or nil; it
// supplies the bin edges and category indexes, and decoding checks that the
// encoded states fit it. Every length is checked against cfg's bounds and
// the remaining bytes before anything is allocated, so hostile input cannot
// make it allocate more than cfg allows.
func DecodeWindow(cfg *Config, data []byte, lookup func(m ModelKey, id string) *Reference) (*Window, error) {
	d := decoder{b: data}
	if v := d.byte(); d.err == nil && v != windowCodecVersion {
		return nil, fmt.Errorf("%w: codec version %d, this release reads %d", ErrCorruptWindow, v, windowCodecVersion)
	}
	m := ModelKey{ID: d.string(), Version: d.string()}
	startMs := d.varint()
	sizeMs := d.varint()
	if d.err == nil && sizeMs != cfg.WindowSize.Milliseconds() {
		return nil, fmt.Errorf("%w: window size %dms, this monitor uses %s", ErrCorruptWindow, sizeMs, cfg.WindowSize)
	}
	if d.err == nil && startMs%sizeMs != 0 {
		return nil, fmt.Errorf("%w: window start %d is not aligned to the window size", ErrCorruptWindow, startMs)
	}
	events, late, rejected, untracked := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
	first, last := d.varint(), d.varint()
	refID := d.string()
	if d.err != nil {
		return nil, d.err
	}
	var ref *Reference
	if refID != "" {
		if ref = lookup(m, refID); ref == nil || ref.ID != refID {
			return nil, fmt.Errorf("decoding window of %q %q: %w: %s", m.ID, m.Version, ErrUnknownReference, refID)
		}
	}
	w := newWindow(m, startMs, sizeMs, newSchema(), ref, cfg)
	w.Events, w.Late, w.Rejected, w.Untracked = events, late, rejected, untracked
	w.FirstOffset, w.LastOffset = first, last

	n := d.count(cfg.MaxFeatures, "numeric features")
	for range n {
		name := d.string()
		if d.err != nil {
			return nil, d.err
		}
		if _, dup := w.sch.numIndex[name]; dup {
			return nil, fmt.Errorf("%w: numeric feature %q twice", ErrCorruptWindow, name)
		}
		i := w.addNumeric(name)
		s := &w.Numeric[i]
		s.Count = d.uvarint()
		s.Mean, s.M2, s.Min, s.Max = d.float(), d.float(), d.float(), d.float()
		bins := d.count(len(s.Bins)+1, "bins")
		switch {
		case d.err != nil:
		case bins == 0 && s.Bins != nil, bins > 0 && len(s.Bins) != bins-1:
			d.fail(fmt.Sprintf("feature %q has %d bins where its reference has %d", name, max(bins-1, 0), len(s.Bins)))
		default:
			for j := range s.Bins {
				s.Bins[j] = d.uvarint()
			}
		}
		k := int(min(d.uvarint(), math.MaxInt32))
		if d.err == nil && k != s.Sample.k {
			d.fail(fmt.Sprintf("feature %q has a sample of capacity %d where this monitor keeps %d", name, k, s.Sample.k))
		}
		kept := d.count(k, "sample values")
		if d.err == nil && uint64(len(d.b)) < uint64(kept)*16 {
			d.fail("truncated sample")
		}
		if d.err == nil && kept > 0 {
			sm := &s.Sample
			sm.keys, sm.vals = slices.Grow(sm.keys[:0], kept)[:kept], slices.Grow(sm.vals[:0], kept)[:kept]
			for j := range kept {
				sm.keys[j], sm.vals[j] = d.uint64(), d.float()
			}
			sm.heapify()
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	n = d.count(cfg.MaxFeatures-len(w.Numeric), "categorical features")
	for range n {
		name := d.string()
		if d.err != nil {
			return nil, d.err
		}
		if _, dup := w.sch.catIndex[name]; dup {
			return nil, fmt.Errorf("%w: categorical feature %q twice", ErrCorruptWindow, name)
		}
		i := w.addCategorical(name)
		s := &w.Categorical[i]
		s.Count, s.Other, s.Unseen = d.uvarint(), d.uvarint(), d.uvarint()
		cats := d.count(len(s.Counts)+1, "category counts")
		switch {
		case d.err != nil:
		case cats == 0 && s.Counts != nil, cats > 0 && len(s.Counts) != cats-1:
			d.fail(fmt.Sprintf("feature %q has %d categories where its reference has %d", name, max(cats-1, 0), len(s.Counts)))
		default:
			for j := range s.Counts {
				s.Counts[j] = d.uvarint()
			}
		}
		tracked := d.countMap(cfg.MaxCategories, "tracked categories")
		if d.err == nil && tracked > 0 && s.Tracked == nil {
			d.fail(fmt.Sprintf("feature %q tracks warm-up categories against a reference", name))
		}
		for range tracked {
			if d.err != nil {
				break
			}
			v := d.string()
			s.Tracked[v] = d.uvarint()
		}
		newValues := d.countMap(maxNewValues, "new values")
		for range newValues {
			v := d.string()
			if s.NewValues == nil {
				s.NewValues = make(map[string]uint64)
			}
			s.NewValues[v] = d.uvarint()
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	return w, nil
}

// addNumeric adds a numeric feature to w's schema and states, returning its index.
func (w *Window) addNumeric(name string) int {
	i := len(w.sch.numNames)
	w.sch.numNames = append(w.sch.numNames, name)
	w.sch.numIndex[name] = i
	w.grow()
	return i
}

// addCategorical adds a categorical feature to w's schema and states, returning its index.
func (w *Window) addCategorical(name string) int {
	i := len(w.sch.catNames)
	w.sch.catNames = append(w.sch.catNames, name)
	w.sch.catIndex[name] = i
	w.grow()
	return i
}

// decoder reads what AppendBinary wrote; the first error sticks and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorruptWindow, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad or truncated integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad or truncated integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) float() float64 { return math.Float64frombits(d.uint64()) }

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxEncodedString || n > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("string of %d bytes", n))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a length that must not exceed limit nor the remaining bytes
// (every element takes at least one).
func (d *decoder) count(limit int, what string) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max(limit, 0)) || n > uint64(len(d.b))+1 {
		d.fail(fmt.Sprintf("%d %s (at most %d)", n, what, limit))
		return 0
	}
	return int(n)
}

// countMap is count for maps: their keys must be distinct, which the caller's
// map enforces by overwriting; the limit bounds the allocation.
func (d *decoder) countMap(limit int, what string) int { return d.count(limit, what) }
