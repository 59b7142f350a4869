package poisoning

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// Window is the state of every poisoning signal over the feedback of one
// model and event-time window [Start, End), read from one partition or
// merged over several: the container a feedback partition seals, a partial
// record carries and a decider merges and scores. Feedback names a model,
// not a version: a window is per model id.
type Window struct {
	// Model is the model id.
	Model string
	// Start and End bound the window in event time.
	Start, End time.Time
	// Features name the features of the Examples the partials observed;
	// they are part of the state (the feature signals' layouts depend on
	// them).
	Features Features
	// Examples counts the examples observed.
	Examples uint64
	// FirstOffset is the smallest offset of an example observed (the
	// source partition's commit holds back to it while the window is
	// open); -1 when none. It is not serialised.
	FirstOffset int64
	// Mixed says that partials over other features were merged into the
	// window: only their feature-independent signals (label flips,
	// concentration) were merged.
	Mixed bool

	signals []Signal
	parts   []Partial
}

// featureFree is the number of leading signals of Signals that do not read
// the features (label flips, concentration).
const featureFree = 2

// NewWindow returns an empty window of model's feedback over features f;
// cfg and f must be valid.
func NewWindow(cfg Config, f Features, model string, start, end time.Time) *Window {
	w := &Window{Model: model, Start: start, End: end, Features: f, FirstOffset: -1, signals: Signals(cfg, f)}
	w.parts = make([]Partial, len(w.signals))
	for i, s := range w.signals {
		w.parts[i] = s.NewPartial()
	}
	return w
}

// Signals returns the window's signals, in the order of Partials.
func (w *Window) Signals() []Signal { return w.signals }

// Partials returns the window's partial states, one per signal.
func (w *Window) Partials() []Partial { return w.parts }

// Observe adds examples read at offset off (the smallest of them).
func (w *Window) Observe(es []Example, off int64) {
	if len(es) == 0 {
		return
	}
	for _, p := range w.parts {
		p.Observe(es)
	}
	w.Examples += uint64(len(es))
	if off >= 0 && (w.FirstOffset < 0 || off < w.FirstOffset) {
		w.FirstOffset = off
	}
}

// featureless reports whether the window was opened without features:
// none of its examples had any when it was opened.
func (w *Window) featureless() bool {
	return len(w.Features.Numeric)+len(w.Features.Categorical) == 0
}

// AdoptFeatures gives f to a window opened before its model's features were
// known (its partition had read only feedback without features, such as
// label overrides): the partials of the signals that read features start
// again, empty, over f; those that do not keep their counts. A window that
// has features keeps them.
func (w *Window) AdoptFeatures(cfg Config, f Features) {
	if !w.featureless() || len(f.Numeric)+len(f.Categorical) == 0 {
		return
	}
	w.Features, w.signals = f, Signals(cfg, f)
	for i := featureFree; i < len(w.parts); i++ {
		w.parts[i] = w.signals[i].NewPartial()
	}
}

// Merge adds o, a window of the same model and bounds over other examples.
// When o's features differ from w's, only the signals that do not read
// features are merged, and Mixed is set; it reports whether that happened.
// A window without features is not mixed with one that has them: the
// merge takes the features (and the feature partials) of the one that has.
func (w *Window) Merge(o *Window) (mixed bool) {
	if w.featureless() && !o.featureless() {
		w.Features, w.signals = o.Features, o.signals
		for i := featureFree; i < len(w.parts); i++ {
			w.parts[i] = w.signals[i].NewPartial()
		}
	}
	same := o.featureless() ||
		slices.Equal(w.Features.Numeric, o.Features.Numeric) && slices.Equal(w.Features.Categorical, o.Features.Categorical)
	for i, p := range w.parts {
		if i < featureFree || same && !o.featureless() {
			p.Merge(o.parts[i])
		}
	}
	w.Examples += o.Examples
	if o.FirstOffset >= 0 && (w.FirstOffset < 0 || o.FirstOffset < w.FirstOffset) {
		w.FirstOffset = o.FirstOffset
	}
	w.Mixed = w.Mixed || o.Mixed || !same
	return !same
}

// Score returns the verdicts of every signal of the merged window w against
// ref (nil: no reference), as pairs of the signal's name and its verdicts.
// A reference over other features is used only by the signals that do not
// read features.
func (w *Window) Score(ref *Window) []Scored {
	var out []Scored
	sameRef := ref != nil && slices.Equal(w.Features.Numeric, ref.Features.Numeric) &&
		slices.Equal(w.Features.Categorical, ref.Features.Categorical)
	for i, s := range w.signals {
		var r Partial
		if ref != nil && (sameRef || i < featureFree) {
			r = ref.parts[i]
		}
		out = append(out, Scored{Signal: s.Name(), Verdicts: s.Score(w.parts[i], r)})
	}
	return out
}

// AppendBinary appends the window: model, bounds, features, the example
// count, a flag for Mixed, then each signal's partial, length-prefixed.
func (w *Window) AppendBinary(b []byte) []byte {
	b = sketch.AppendString(b, w.Model)
	b = binary.AppendVarint(b, w.Start.UnixMilli())
	b = binary.AppendVarint(b, w.End.UnixMilli())
	for _, names := range [][]string{w.Features.Numeric, w.Features.Categorical} {
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, n := range names {
			b = sketch.AppendString(b, n)
		}
	}
	b = binary.AppendUvarint(b, w.Examples)
	flags := flagSources | flagDriftIDs | flagDriftExamples
	if w.Mixed {
		flags |= flagMixed
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(w.parts)))
	var scratch []byte
	for _, p := range w.parts {
		scratch = p.AppendBinary(scratch[:0])
		b = binary.AppendUvarint(b, uint64(len(scratch)))
		b = append(b, scratch...)
	}
	return b
}

// The flags byte of a window's encoding.
const (
	flagMixed byte = 1 << iota // partials over other features were merged in part
	// flagSources: the partials keep their example ids' sources (flood,
	// trigger, spectral). A window encoded before they did (stored
	// reference feedback, partials on the topic at an upgrade) has it
	// clear and decodes with no sources.
	flagSources
	// flagDriftIDs: poisoning_drift's label counters keep example ids
	// and their sources. A window encoded before has it clear and
	// decodes with none kept.
	flagDriftIDs
	// flagDriftExamples: poisoning_drift keeps the ids and sources of a
	// sample of its examples (the evidence of a numeric feature's drift).
	// A window encoded before has it clear and decodes with none kept.
	flagDriftExamples
)

// encodedIDs is a partial whose encoding gained example ids:
// decodeWithoutIDs makes its next Decode read the encoding of before.
type encodedIDs interface{ decodeWithoutIDs() }

// encodedExamples is a partial whose encoding gained a sample of example
// ids and sources: decodeWithoutExamples makes its next Decode read the
// encoding of before.
type encodedExamples interface{ decodeWithoutExamples() }

// encodedSources is a partial whose encoding gained the sources of its example
// ids: decodeWithoutSources makes its next Decode read the encoding of
// before.
type encodedSources interface{ decodeWithoutSources() }

// DecodeWindow reads what AppendBinary wrote, with the signals of cfg over
// the features it names. Input that does not fit cfg's bounds fails
// (wrapping sketch.ErrCorrupt).
func DecodeWindow(cfg Config, b []byte) (*Window, error) {
	d := sketch.NewDecoder(b)
	model := d.String()
	start, end := d.Varint(), d.Varint()
	var f Features
	for _, names := range []*[]string{&f.Numeric, &f.Categorical} {
		n := d.Count(MaxFeatures, "features")
		for range n {
			*names = append(*names, d.String())
		}
	}
	examples := d.Uvarint()
	flags := d.Byte()
	if d.Err() != nil {
		return nil, d.Err()
	}
	if model == "" || end <= start || flags&^(flagMixed|flagSources|flagDriftIDs|flagDriftExamples) != 0 {
		return nil, fmt.Errorf("%w: feedback window of model %q [%d, %d)", sketch.ErrCorrupt, model, start, end)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", sketch.ErrCorrupt, err)
	}
	w := NewWindow(cfg, f, model, time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC())
	w.Examples, w.Mixed = examples, flags&flagMixed != 0
	if n := d.Count(len(w.parts), "partials"); d.Err() == nil && n != len(w.parts) {
		return nil, fmt.Errorf("%w: %d partials, want %d", sketch.ErrCorrupt, n, len(w.parts))
	}
	for i, p := range w.parts {
		n := d.Uvarint()
		if d.Err() != nil || n > uint64(d.Remaining()) {
			return nil, fmt.Errorf("%w: partial %d of a feedback window", sketch.ErrCorrupt, i)
		}
		pd := sketch.NewDecoder(d.Bytes(int(n), "partial"))
		if s, ok := p.(encodedSources); ok && flags&flagSources == 0 {
			s.decodeWithoutSources()
		}
		if s, ok := p.(encodedIDs); ok && flags&flagDriftIDs == 0 {
			s.decodeWithoutIDs()
		}
		if s, ok := p.(encodedExamples); ok && flags&flagDriftExamples == 0 {
			s.decodeWithoutExamples()
		}
		if p.Decode(pd); pd.Err() != nil {
			return nil, fmt.Errorf("%s: %w", w.signals[i].Name(), pd.Err())
		}
		if pd.Remaining() != 0 {
			return nil, fmt.Errorf("%w: %s: %d bytes left over", sketch.ErrCorrupt, w.signals[i].Name(), pd.Remaining())
		}
	}
	if d.Err() != nil {
		return nil, d.Err()
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after a feedback window", sketch.ErrCorrupt, d.Remaining())
	}
	return w, nil
}

// Scored is one signal's verdicts about a window.
type Scored struct {
	// Signal is the signal's name.
	Signal string
	// Verdicts are its verdicts, before the evaluation's adjustment.
	Verdicts []signal.Verdict
}
