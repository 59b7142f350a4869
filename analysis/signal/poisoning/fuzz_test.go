package poisoning

import (
	"bytes"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// fuzzConfig has small bounds, so that the fuzzer reaches them.
func fuzzConfig() Config {
	c := DefaultConfig()
	c.MaxSources, c.MaxFingerprints, c.MaxPairs, c.MaxLabels, c.SpectralSample, c.DriftSample = 4, 4, 8, 3, 8, 8
	c.MinCount, c.MinSupport = 2, 1
	return c
}

// FuzzPoisoningDecode feeds hostile bytes to every poisoning partial's
// decoder, reading the current encoding and every combination of those of
// before (without sources, without the drift label's ids, without the
// drift's examples: DecodeWindow's flags): none panics; what one accepts
// stays within its bounds, encodes to bytes that decode to the same state,
// merges with itself, and scores (alone and against itself) into
// well-formed verdicts.
func FuzzPoisoningDecode(f *testing.F) {
	cfg := fuzzConfig()
	for _, s := range Signals(cfg, testFeatures) {
		f.Add(observed(s, attacked(61, 40)).AppendBinary(nil))
		f.Add(s.NewPartial().AppendBinary(nil))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 4})
	// Each makes a partial read an encoding of before; false when the
	// partial has no such encoding.
	befores := []func(Partial) bool{
		func(p Partial) bool {
			s, ok := p.(encodedSources)
			if ok {
				s.decodeWithoutSources()
			}
			return ok
		},
		func(p Partial) bool {
			s, ok := p.(encodedIDs)
			if ok {
				s.decodeWithoutIDs()
			}
			return ok
		},
		func(p Partial) bool {
			s, ok := p.(encodedExamples)
			if ok {
				s.decodeWithoutExamples()
			}
			return ok
		},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range Signals(cfg, testFeatures) {
		combinations:
			for before := range 1 << len(befores) {
				p := s.NewPartial()
				for i, read := range befores {
					if before&(1<<i) != 0 && !read(p) {
						continue combinations // no such encoding of before
					}
				}
				d := sketch.NewDecoder(b)
				p.Decode(d)
				if d.Err() != nil {
					continue
				}
				fuzzAccepted(t, cfg, s, p)
			}
		}
	})
}

// fuzzAccepted checks a partial that decoded: within its bounds,
// re-encoded to bytes that decode to the same state, merged and scored
// into well-formed verdicts.
func fuzzAccepted(t *testing.T, cfg Config, s Signal, p Partial) {
	t.Helper()
	checkBounds(t, cfg, p)
	enc := p.AppendBinary(nil)
	q := s.NewPartial()
	d2 := sketch.NewDecoder(enc)
	q.Decode(d2)
	if d2.Err() != nil || !bytes.Equal(q.AppendBinary(nil), enc) {
		t.Fatalf("%s: re-encoding does not decode to the same state: %v", s.Name(), d2.Err())
	}
	checkVerdicts(t, s.Name(), s.Score(p, nil))
	checkVerdicts(t, s.Name(), s.Score(p, q))
	q.Merge(p)
	checkBounds(t, cfg, q)
	checkVerdicts(t, s.Name(), s.Score(q, p))
}

// checkBounds checks that a partial holds no more than its configuration
// allows.
func checkBounds(t *testing.T, cfg Config, p Partial) {
	t.Helper()
	tables := func(ts ...*table) {
		for _, tb := range ts {
			if tb.slots() > tb.capacity || tb.room > tb.capacity {
				t.Fatalf("%T: %d slots, room for %d, of %d", p, tb.slots(), tb.room, tb.capacity)
			}
		}
	}
	switch p := p.(type) {
	case *flips:
		tables(p.sources)
	case *contributors:
		tables(p.sources)
	case *floods:
		tables(p.content, p.vectors)
	case *triggers:
		tables(p.labels, p.pairs, p.triples)
	case *spectra:
		if len(p.keys) > cfg.SpectralSample || p.room > cfg.SpectralSample {
			t.Fatalf("spectral sample of %d rows", len(p.keys))
		}
	case *drifts:
		tables(p.labels)
		if k := min(driftExamples, cfg.DriftSample); len(p.examples.keys) > k || p.examples.room > k {
			t.Fatalf("drift examples of %d rows, room for %d", len(p.examples.keys), p.examples.room)
		}
		for _, n := range p.numeric {
			if n.Sample.Len() > cfg.DriftSample {
				t.Fatalf("drift sample of %d values", n.Sample.Len())
			}
		}
	}
}

// FuzzFeedbackWindow feeds hostile bytes to DecodeWindow, the envelope a
// feedback partial on the partials topic and the stored reference feedback
// have (model, bounds, features, flags, the partials length-prefixed):
// nothing panics; a window it accepts has valid features and bounds, its
// partials stay within their bounds, it encodes (with every flag set) to
// bytes that decode to the same bytes, merges with itself, and scores
// alone and against itself into well-formed verdicts.
func FuzzFeedbackWindow(f *testing.F) {
	cfg := fuzzConfig()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	full := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	full.Observe(attacked(67, 40), 7)
	f.Add(full.AppendBinary(nil))
	bare := NewWindow(cfg, Features{}, "m", start, start.Add(time.Minute))
	bare.Observe([]Example{{ID: "x", Source: "s", ProposedLabel: "a", PredictedLabel: "b"}}, 0)
	f.Add(bare.AppendBinary(nil))
	mixed := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	mixed.Merge(NewWindow(cfg, Features{Numeric: []string{"other"}}, "fraud", start, start.Add(time.Minute)))
	f.Add(mixed.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := DecodeWindow(cfg, b)
		if err != nil {
			return
		}
		if w.Model == "" || !w.End.After(w.Start) || w.Features.Validate() != nil || len(w.Partials()) != len(w.Signals()) {
			t.Fatalf("accepted window %q [%v, %v) over %+v with %d partials", w.Model, w.Start, w.End, w.Features, len(w.Partials()))
		}
		for _, p := range w.Partials() {
			checkBounds(t, cfg, p)
		}
		enc := w.AppendBinary(nil)
		w2, err := DecodeWindow(cfg, enc)
		if err != nil || !bytes.Equal(w2.AppendBinary(nil), enc) {
			t.Fatalf("re-encoded window does not decode to the same bytes: %v", err)
		}
		for _, s := range w.Score(nil) {
			checkVerdicts(t, s.Signal, s.Verdicts)
		}
		for _, s := range w.Score(w2) {
			checkVerdicts(t, s.Signal, s.Verdicts)
		}
		w2.Merge(w)
		for _, p := range w2.Partials() {
			checkBounds(t, cfg, p)
		}
		for _, s := range w2.Score(w) {
			checkVerdicts(t, s.Signal, s.Verdicts)
		}
	})
}
