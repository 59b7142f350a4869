package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// windowCodecVersion is the first byte of an encoded window. A decoder
// refuses versions it does not know, so that instances of different
// releases in one consumer group fail loudly instead of merging what they
// cannot read. Version 3 added the sample of whole events (samplesAsRows);
// this release still reads version 2 (per-feature samples only), which
// partials in Kafka and feedback states in storage may hold at an upgrade.
const (
	windowCodecVersion = 3
	windowCodecV2      = 2
)

// How the numeric samples of an encoded window (version 3) are written.
const (
	// samplesPerFeature: each numeric feature's state carries its sample.
	samplesPerFeature = 0
	// samplesAsRows: the features' states carry empty samples, and one
	// sample of whole events (sketch.Rows, a column per feature in
	// order) follows them.
	samplesAsRows = 1
)

// AppendBinary appends the serialised state of w to b: its key, counts,
// offsets, the id of the reference it was opened against and every feature
// state (moments, bins, bottom-k sample, categories). DecodeWindow reads it
// back; a decoded window merges exactly like the original.
//
// A window that samples whole events writes its rows, not the per-feature
// samples filled from them (which it does not need to fill).
func (w *Window) AppendBinary(b []byte) []byte {
	b = slices.Grow(b, w.encodedSize())
	b = append(b, windowCodecVersion)
	b = sketch.AppendString(b, w.Model.ID)
	b = sketch.AppendString(b, w.Model.Version)
	b = binary.AppendVarint(b, w.startMs)
	b = binary.AppendVarint(b, w.endMs-w.startMs)
	b = binary.AppendUvarint(b, w.Events)
	b = binary.AppendUvarint(b, w.Late)
	b = binary.AppendUvarint(b, w.Rejected)
	b = binary.AppendUvarint(b, w.Untracked)
	b = binary.AppendVarint(b, w.FirstOffset)
	b = binary.AppendVarint(b, w.LastOffset)
	b = sketch.AppendString(b, w.RefID())
	names := w.NumericNames()
	if w.byRows {
		b = append(b, samplesAsRows)
	} else {
		b = append(b, samplesPerFeature)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	var prev []uint64
	for i, name := range names {
		b = sketch.AppendString(b, name)
		if w.byRows {
			st := w.Numeric[i] // a copy sharing the bins, with an empty sample
			st.Sample = sketch.NewSample(w.rows.Cap())
			b = st.AppendBinary(b, nil)
			continue
		}
		b = w.Numeric[i].AppendBinary(b, prev)
		prev = w.Numeric[i].Sample.Keys()
	}
	if w.byRows {
		b = w.rows.AppendBinary(b)
	}
	cats := w.CategoricalNames()
	b = binary.AppendUvarint(b, uint64(len(cats)))
	for i, name := range cats {
		b = sketch.AppendString(b, name)
		b = w.Categorical[i].AppendBinary(b)
	}
	b = binary.AppendUvarint(b, uint64(len(w.Signals)))
	for i, p := range w.Signals {
		b = sketch.AppendString(b, w.cfg.Signals.At(i).Name())
		enc := p.AppendBinary(nil)
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b
}

// encodedSize is an upper bound of the bytes AppendBinary writes, so that
// it writes into one allocation.
func (w *Window) encodedSize() int {
	n := 128 + len(w.Model.ID) + len(w.Model.Version) + len(w.RefID())
	for i, name := range w.NumericNames() {
		n += len(name) + w.Numeric[i].EncodedSize()
	}
	if w.byRows {
		n += w.rows.EncodedSize()
	}
	for i, name := range w.CategoricalNames() {
		n += len(name) + w.Categorical[i].EncodedSize()
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

// ErrCorruptWindow is wrapped by every DecodeWindow error about the bytes
// themselves.
var ErrCorruptWindow = sketch.ErrCorrupt

// ErrUnknownReference is returned by DecodeWindow when the encoded window
// names a reference that the lookup does not know.
var ErrUnknownReference = errors.New("reference not loaded")

// DecodeWindow reads a window written by AppendBinary, of this release or
// of the previous codec version. lookup returns the
// reference of a model version with the id the encoding names, or nil; it
// supplies the bin edges and category indexes, and decoding checks that the
// encoded states fit it. Every length is checked against cfg's bounds and
// the remaining bytes before anything is allocated, so hostile input cannot
// make it allocate more than cfg allows.
func DecodeWindow(cfg *analysis.Config, data []byte, lookup func(m analysis.ModelKey, id string) *reference.Reference) (*Window, error) {
	d := sketch.NewDecoder(data)
	version := d.Byte()
	if d.Err() == nil && version != windowCodecVersion && version != windowCodecV2 {
		return nil, fmt.Errorf("%w: codec version %d, this release reads %d and %d", ErrCorruptWindow, version, windowCodecV2, windowCodecVersion)
	}
	m := analysis.ModelKey{ID: d.String(), Version: d.String()}
	startMs := d.Varint()
	sizeMs := d.Varint()
	if d.Err() == nil && sizeMs != cfg.WindowSize.Milliseconds() {
		return nil, fmt.Errorf("%w: window size %dms, this monitor uses %s", ErrCorruptWindow, sizeMs, cfg.WindowSize)
	}
	if d.Err() == nil && startMs%sizeMs != 0 {
		return nil, fmt.Errorf("%w: window start %d is not aligned to the window size", ErrCorruptWindow, startMs)
	}
	events, late, rejected, untracked := d.Uvarint(), d.Uvarint(), d.Uvarint(), d.Uvarint()
	first, last := d.Varint(), d.Varint()
	refID := d.String()
	if d.Err() != nil {
		return nil, d.Err()
	}
	var ref *reference.Reference
	if refID != "" {
		if ref = lookup(m, refID); ref == nil || ref.ID != refID {
			return nil, fmt.Errorf("decoding window of %q %q: %w: %s", m.ID, m.Version, ErrUnknownReference, refID)
		}
	}
	w := newWindow(m, startMs, sizeMs, newSchema(), ref, cfg, nil, sketch.Rows{})
	w.Events, w.Late, w.Rejected, w.Untracked = events, late, rejected, untracked
	w.FirstOffset, w.LastOffset = first, last

	layout := byte(samplesPerFeature)
	if version != windowCodecV2 {
		layout = d.Byte()
	}
	switch {
	case d.Err() != nil:
		return nil, d.Err()
	case layout == samplesPerFeature:
		w.dropRows() // the encoded per-feature samples are the state
	case layout != samplesAsRows:
		return nil, fmt.Errorf("%w: sample layout %d", ErrCorruptWindow, layout)
	}
	n := d.Count(cfg.MaxFeatures, "numeric features")
	var prevKeys []byte // the previous numeric feature's key block, as read
	for range n {
		name := d.String()
		if d.Err() != nil {
			return nil, d.Err()
		}
		if _, dup := w.sch.numIndex[name]; dup {
			return nil, fmt.Errorf("%w: numeric feature %q twice", ErrCorruptWindow, name)
		}
		i := w.addNumeric(name)
		prevKeys = w.Numeric[i].Decode(d, name, prevKeys)
		if d.Err() != nil {
			return nil, d.Err()
		}
		if w.byRows && w.Numeric[i].Sample.Len() != 0 {
			return nil, fmt.Errorf("%w: numeric feature %q has a sample of its own beside the rows", ErrCorruptWindow, name)
		}
	}
	if w.byRows {
		w.rows.Decode(d)
		if d.Err() != nil {
			return nil, d.Err()
		}
		w.dirty = true
	}
	n = d.Count(cfg.MaxFeatures-len(w.Numeric), "categorical features")
	for range n {
		name := d.String()
		if d.Err() != nil {
			return nil, d.Err()
		}
		if _, dup := w.sch.catIndex[name]; dup {
			return nil, fmt.Errorf("%w: categorical feature %q twice", ErrCorruptWindow, name)
		}
		i := w.addCategorical(name)
		w.Categorical[i].Decode(d, name, cfg.MaxCategories)
		if d.Err() != nil {
			return nil, d.Err()
		}
	}
	n = d.Count(cfg.Signals.Len(), "signals")
	seen := make([]bool, cfg.Signals.Len())
	for range n {
		name := d.String()
		size := d.Uvarint()
		if d.Err() != nil {
			return nil, d.Err()
		}
		i, ok := cfg.Signals.Index(name)
		if !ok || seen[i] {
			return nil, fmt.Errorf("%w: signal %q unknown to this monitor or twice", ErrCorruptWindow, name)
		}
		seen[i] = true
		payload := d.Bytes(int(min(size, uint64(d.Remaining()+1))), "signal state")
		if d.Err() != nil {
			return nil, d.Err()
		}
		sd := sketch.NewDecoder(payload)
		w.Signals[i].Decode(sd)
		if sd.Err() == nil && sd.Remaining() != 0 {
			sd.Fail(fmt.Sprintf("%d trailing bytes", sd.Remaining()))
		}
		if sd.Err() != nil {
			return nil, fmt.Errorf("signal %q: %w", name, sd.Err())
		}
	}
	if d.Err() == nil && d.Remaining() != 0 {
		d.Fail(fmt.Sprintf("%d trailing bytes", d.Remaining()))
	}
	if d.Err() != nil {
		return nil, d.Err()
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
