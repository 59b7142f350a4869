package window

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// sameWindowState fails unless got holds the state of want: counts, offsets,
// bins, extremes, categories and samples exactly, moments to rounding.
func sameWindowState(t *testing.T, label string, got, want *Window) {
	t.Helper()
	got.Sync()
	want.Sync()
	if got.Model != want.Model || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) ||
		got.Events != want.Events || got.Late != want.Late || got.Rejected != want.Rejected || got.Untracked != want.Untracked ||
		got.FirstOffset != want.FirstOffset || got.LastOffset != want.LastOffset || got.RefID() != want.RefID() {
		t.Fatalf("%s: window %+v %s-%s events %d late %d rejected %d untracked %d offsets %d-%d ref %q, want %+v %s-%s %d %d %d %d %d-%d %q", label,
			got.Model, got.Start, got.End, got.Events, got.Late, got.Rejected, got.Untracked, got.FirstOffset, got.LastOffset, got.RefID(),
			want.Model, want.Start, want.End, want.Events, want.Late, want.Rejected, want.Untracked, want.FirstOffset, want.LastOffset, want.RefID())
	}
	if len(got.Numeric) != len(want.Numeric) || len(got.Categorical) != len(want.Categorical) {
		t.Fatalf("%s: %d numeric and %d categorical features, want %d and %d", label, len(got.Numeric), len(got.Categorical), len(want.Numeric), len(want.Categorical))
	}
	for i, name := range want.NumericNames() {
		j := slices.Index(got.NumericNames(), name)
		if j < 0 {
			t.Fatalf("%s: numeric feature %s missing", label, name)
		}
		g, w := &got.Numeric[j], &want.Numeric[i]
		if g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || !slices.Equal(g.Bins, w.Bins) || (g.Bins == nil) != (w.Bins == nil) {
			t.Fatalf("%s %s: count/min/max/bins %d %g %g %v, want %d %g %g %v", label, name, g.Count, g.Min, g.Max, g.Bins, w.Count, w.Min, w.Max, w.Bins)
		}
		if !closeRel(g.Mean, w.Mean) || !closeRel(g.Variance(), w.Variance()) {
			t.Fatalf("%s %s: mean/var %g %g, want %g %g", label, name, g.Mean, g.Variance(), w.Mean, w.Variance())
		}
		if g.Sample.Cap() != w.Sample.Cap() {
			t.Fatalf("%s %s: sample capacity %d, want %d", label, name, g.Sample.Cap(), w.Sample.Cap())
		}
		sameSample(t, label+" "+name, &g.Sample, &w.Sample)
	}
	for i, name := range want.CategoricalNames() {
		j := slices.Index(got.CategoricalNames(), name)
		if j < 0 {
			t.Fatalf("%s: categorical feature %s missing", label, name)
		}
		g, w := &got.Categorical[j], &want.Categorical[i]
		if g.Count != w.Count || g.Other != w.Other || g.Unseen != w.Unseen || !slices.Equal(g.Counts, w.Counts) ||
			fmt.Sprint(g.Tracked) != fmt.Sprint(w.Tracked) || fmt.Sprint(g.NewValues) != fmt.Sprint(w.NewValues) {
			t.Fatalf("%s %s: %+v, want %+v", label, name, g, w)
		}
	}
}

// TestDecodedPartialsMergeToTheUnion splits random events over three
// "partitions", sends each partial state through AppendBinary and
// DecodeWindow, and merges the decoded partials: the result must be the state
// of the union, with and without a reference.
func TestDecodedPartialsMergeToTheUnion(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(3, 4))
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 500 {
		warm.Observe(windowtest.RandomEvent(r, -i-1, m, windowtest.T0), int64(i))
	}
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	for _, withRef := range []*reference.Reference{nil, ref} {
		for trial := range 10 {
			n := 1 + r.IntN(1500)
			union := NewWindow(cfg, m, windowtest.T0, withRef)
			parts := []*Window{NewWindow(cfg, m, windowtest.T0, withRef), NewWindow(cfg, m, windowtest.T0, withRef), NewWindow(cfg, m, windowtest.T0, withRef)}
			for i := range n {
				e := windowtest.RandomEvent(r, trial*100000+i, m, windowtest.T0)
				if i%7 == 0 {
					e.Features.SetCategorical("country", fmt.Sprintf("new-%d", i%3)) // unseen values
				}
				union.Observe(e, int64(i))
				parts[r.IntN(3)].Observe(e, int64(i))
			}
			union.Late, parts[1].Late = 3, 3
			var merged *Window
			for k, p := range parts {
				enc := p.AppendBinary(nil)
				dec, err := DecodeWindow(cfg, enc, windowtest.Lookup(ref))
				if err != nil {
					t.Fatalf("trial %d part %d: %v", trial, k, err)
				}
				sameWindowState(t, fmt.Sprintf("trial %d part %d round trip", trial, k), dec, p)
				if again := dec.AppendBinary(nil); !bytes.Equal(again, enc) {
					t.Fatalf("trial %d part %d: re-encoding a decoded window changed its bytes", trial, k)
				}
				if merged == nil {
					merged = dec
				} else {
					merged.Merge(dec)
				}
			}
			sameWindowState(t, fmt.Sprintf("trial %d (reference %v)", trial, withRef != nil), merged, union)
		}
	}
}

// TestDecodeWindowRejectsCorruptInput feeds truncations, bit flips and
// wrong-configuration encodings: each must be an error, never a panic or an
// allocation beyond the configured bounds.
func TestDecodeWindowRejectsCorruptInput(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(5, 6))
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 300 {
		warm.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
	}
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	w := NewWindow(cfg, m, windowtest.T0, ref)
	for i := range 300 {
		w.Observe(windowtest.RandomEvent(r, 1000+i, m, windowtest.T0), int64(i))
	}
	enc := w.AppendBinary(nil)
	for _, good := range [][]byte{enc, warm.AppendBinary(nil)} {
		// Every cut in the header, then cuts spread over the states.
		for n := 0; n < len(good); n += max(1, min(n/64, len(good)/300)) {
			if _, err := DecodeWindow(cfg, good[:n], windowtest.Lookup(ref)); err == nil {
				t.Fatalf("a truncation to %d of %d bytes decoded", n, len(good))
			}
		}
		if _, err := DecodeWindow(cfg, append(slices.Clone(good), 0), windowtest.Lookup(ref)); err == nil {
			t.Fatal("trailing bytes decoded")
		}
	}
	for range 300 {
		b := slices.Clone(enc)
		b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
		_, _ = DecodeWindow(cfg, b, windowtest.Lookup(ref)) // must not panic
	}
	if _, err := DecodeWindow(cfg, enc, windowtest.Lookup()); !errors.Is(err, ErrUnknownReference) {
		t.Fatalf("unknown reference: %v", err)
	}
	other := *cfg
	other.WindowSize *= 2
	if _, err := DecodeWindow(&other, enc, windowtest.Lookup(ref)); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("other window size: %v", err)
	}
	small := *cfg
	small.MaxFeatures = 2
	if _, err := DecodeWindow(&small, enc, windowtest.Lookup(ref)); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("more features than max_features: %v", err)
	}
	// Warm-up categories in a window opened against a reference (no map to
	// hold them) are refused, not a panic.
	forged := NewWindow(cfg, m, windowtest.T0, ref)
	for i := range 20 {
		forged.Observe(windowtest.RandomEvent(r, 5000+i, m, windowtest.T0), int64(i))
	}
	forged.Categorical[0].Tracked = map[string]uint64{"forged": 1}
	if _, err := DecodeWindow(cfg, forged.AppendBinary(nil), windowtest.Lookup(ref)); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("tracked categories against a reference: %v", err)
	}
	// A hostile length prefix must fail before allocating.
	huge := append([]byte{windowCodecVersion}, 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := DecodeWindow(cfg, huge, windowtest.Lookup(ref)); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("huge string: %v", err)
	}
}

// FuzzDecodeWindow checks that no input panics DecodeWindow and that what
// decodes re-encodes to a window that decodes to the same bytes.
func FuzzDecodeWindow(f *testing.F) {
	cfg := windowtest.Config(f)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(7, 8))
	w := NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 50 {
		w.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
	}
	f.Add(w.AppendBinary(nil)) // samples as rows
	f.Add(NewWindow(cfg, m, windowtest.T0, nil).AppendBinary(nil))
	w.dropRows()
	f.Add(w.AppendBinary(nil)) // samples per feature
	if old, err := os.ReadFile("testdata/window-v2.bin"); err == nil {
		f.Add(old) // the previous codec version
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeWindow(cfg, b, windowtest.Lookup())
		if err != nil {
			return
		}
		enc := d.AppendBinary(nil)
		d2, err := DecodeWindow(cfg, enc, windowtest.Lookup())
		if err != nil {
			t.Fatalf("re-encoded window does not decode: %v", err)
		}
		if !bytes.Equal(d2.AppendBinary(nil), enc) {
			t.Fatal("decode/encode is not stable")
		}
	})
}

// TestRebindEqualsOpenedWithReference: a warm-up window whose samples hold
// every observation, rebound to a reference, has the state of the same
// events counted in a window opened against it; one that overflowed is not
// rebound.
func TestRebindEqualsOpenedWithReference(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(9, 10))
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 500 {
		warm.Observe(windowtest.RandomEvent(r, -i-1, m, windowtest.T0), int64(i))
	}
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	opened, late := NewWindow(cfg, m, windowtest.T0, ref), NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 800 { // more than SampleSize (200): the cut sample must match
		e := windowtest.RandomEvent(r, i, m, windowtest.T0)
		if i%50 == 0 {
			e.Features.SetCategorical("country", "new")
		}
		opened.Observe(e, int64(i))
		late.Observe(e, int64(i))
	}
	if !late.Rebind(ref) {
		t.Fatal("an exact warm-up window was not rebound")
	}
	sameWindowState(t, "rebound", late, opened)
	if late.Rebind(ref) {
		t.Fatal("a window with a reference was rebound again")
	}
	small := *cfg
	small.ReferenceSampleSize = small.SampleSize
	over := NewWindow(&small, m, windowtest.T0, nil)
	for i := range 300 {
		over.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
	}
	if over.Rebind(ref) || over.Ref != nil {
		t.Fatal("a window whose sample overflowed was rebound")
	}
}

// TestSharedSampleKeysAreWrittenOnce: features present in every event share
// their sample keys, which are written once (as the keys of rows, or, per
// feature, as a reference to the previous feature's keys), and a decoded
// window keeps them; a key layout that refers to nothing is refused.
func TestSharedSampleKeysAreWrittenOnce(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	w := NewWindow(cfg, m, windowtest.T0, nil)
	const n = 300
	for i := range n {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("p-%d", i), EventTime: windowtest.T0, Model: telemetry.Model{ID: m.ID, Version: m.Version},
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"a": float64(i), "b": float64(2 * i), "c": float64(3 * i)})}}
		w.Observe(e, int64(i))
	}
	var enc []byte
	for _, layout := range []string{"rows", "per feature"} {
		if layout == "per feature" {
			w.dropRows()
		}
		enc = w.AppendBinary(nil)
		// Three features of n values: one key block and three value blocks,
		// 32 bytes a value (33 as rows, with a presence bitmap), where
		// writing every key would take 48.
		if perValue := float64(len(enc)) / n; perValue < 32 || perValue > 34 {
			t.Fatalf("%s: %.1f bytes per sampled value of three features, want about 32 (keys written once)", layout, perValue)
		}
		got, err := DecodeWindow(cfg, enc, windowtest.Lookup())
		if err != nil {
			t.Fatal(err)
		}
		if got.byRows != (layout == "rows") {
			t.Fatalf("%s: decoded window samples whole events: %v", layout, got.byRows)
		}
		sameWindowState(t, "shared keys "+layout, got, w)
		if !bytes.Equal(got.AppendBinary(nil), enc) {
			t.Fatalf("%s: decoded window encodes differently", layout)
		}
	}

	// The first feature cannot refer to the keys of a previous one.
	var key [8]byte
	binary.LittleEndian.PutUint64(key[:], w.Numeric[0].Sample.Keys()[0])
	at := bytes.Index(enc, key[:])
	if at < 1 || enc[at-1] != 0 {
		t.Fatalf("first key block not found at %d", at)
	}
	forged := bytes.Clone(enc)
	forged[at-1] = 1 // the keys of the previous feature
	if _, err := DecodeWindow(cfg, forged, windowtest.Lookup()); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("first feature referring to previous keys: %v", err)
	}
	forged[at-1] = 7
	if _, err := DecodeWindow(cfg, forged, windowtest.Lookup()); !errors.Is(err, ErrCorruptWindow) {
		t.Fatalf("unknown key layout: %v", err)
	}
}
