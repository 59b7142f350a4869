package window

import (
	"cmp"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// perFeature is the state windows kept before they sampled whole events:
// each numeric feature (and the score) observed on its own, its sample fed
// by sketch.Sample.Add under the event key.
type perFeature struct {
	k     int
	ref   *reference.Reference
	state map[string]*sketch.Numeric
}

func (p *perFeature) observe(e *telemetry.Event) {
	key := sketch.SampleKey(e.PredictionID)
	obs := func(name string, v float64) {
		var edges []float64
		if p.ref != nil && p.ref.Numeric[name] != nil {
			edges = p.ref.Numeric[name].Edges
		}
		s := p.state[name]
		if s == nil {
			n := sketch.NewNumeric(p.k, binCount(edges))
			s = &n
			p.state[name] = s
		}
		bin := 0
		if edges != nil {
			bin = stat.BinIndex(edges, v)
		}
		s.Observe(v, key, bin)
	}
	for _, f := range e.Features.Numeric {
		obs(f.Name, f.Value)
	}
	if e.Prediction.Score != nil {
		obs(telemetry.ScoreFeature, *e.Prediction.Score)
	}
}

// numericReader reads a window's numeric states the way a caller does.
type numericReader func(t *testing.T, w *Window) ([]string, []sketch.Numeric)

// numericReaders are the ways the numeric states of a window that observed
// events are read: each must see samples filled from the rows.
func numericReaders(cfg *analysis.Config, ref *reference.Reference) map[string]numericReader {
	return map[string]numericReader{
		"Sync": func(t *testing.T, w *Window) ([]string, []sketch.Numeric) {
			w.Sync()
			return w.NumericNames(), w.Numeric
		},
		"Sketches": func(t *testing.T, w *Window) ([]string, []sketch.Numeric) {
			s := w.Sketches()
			return s.NumericNames, s.Numeric
		},
		"decoded partial": func(t *testing.T, w *Window) ([]string, []sketch.Numeric) {
			d, err := DecodeWindow(cfg, w.AppendBinary(nil), windowtest.Lookup(ref))
			if err != nil {
				t.Fatal(err)
			}
			d.Sync()
			return d.NumericNames(), d.Numeric
		},
		"merged into an empty window": func(t *testing.T, w *Window) ([]string, []sketch.Numeric) {
			acc := NewWindow(cfg, w.Model, w.Start, w.Ref)
			acc.Merge(w)
			acc.Sync()
			return acc.NumericNames(), acc.Numeric
		},
		"merged into a window sampling per feature": func(t *testing.T, w *Window) ([]string, []sketch.Numeric) {
			acc := NewWindow(cfg, w.Model, w.Start, w.Ref)
			acc.dropRows()
			acc.Merge(w)
			return acc.NumericNames(), acc.Numeric
		},
	}
}

// TestRowsGiveThePerFeatureSamples: when every event carries every feature,
// a window sampling whole events (one decision per event) has, through
// every reader, exactly the numeric states that sampling each feature on
// its own gave: the same counts, moments, bins, and the same sample keys
// and values in the same order. Read half-way, then again at the end, the
// samples follow the events observed in between.
func TestRowsGiveThePerFeatureSamples(t *testing.T) {
	base := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	events := wideEvents(3000)
	warm := NewWindow(base, m, windowtest.T0, nil)
	for i, e := range events[:1000] {
		warm.Observe(e, int64(i))
	}
	pinned := reference.Build(warm.Sketches(), base.Bins, base.SampleSize, "warmup", 1, windowtest.T0)
	for _, tc := range []struct {
		name      string
		refSample int
		ref       *reference.Reference
	}{
		{"warm-up, nothing evicted", 10000, nil},
		{"warm-up, evicting", 700, nil},
		{"against a reference", 10000, pinned},
	} {
		cfg := *base
		cfg.ReferenceSampleSize = tc.refSample
		for name, read := range numericReaders(&cfg, pinned) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				w := NewWindow(&cfg, m, windowtest.T0, tc.ref)
				want := &perFeature{k: w.sampleCap(), ref: tc.ref, state: map[string]*sketch.Numeric{}}
				check := func(label string) {
					t.Helper()
					names, states := read(t, w)
					if len(names) != 16 || len(want.state) != 16 {
						t.Fatalf("%s: %d features, want 16", label, len(names))
					}
					for i, name := range names {
						g, e := &states[i], want.state[name]
						if g.Count != e.Count || g.Mean != e.Mean || g.M2 != e.M2 || g.Min != e.Min || g.Max != e.Max || !slices.Equal(g.Bins, e.Bins) {
							t.Fatalf("%s %s: %+v, want %+v", label, name, g, e)
						}
						if g.Sample.Cap() != e.Sample.Cap() || !slices.Equal(g.Sample.Keys(), e.Sample.Keys()) || !slices.Equal(g.Sample.Values(), e.Sample.Values()) {
							t.Fatalf("%s %s: sample of %d (cap %d) differs from the per-feature sample of %d (cap %d)",
								label, name, g.Sample.Len(), g.Sample.Cap(), e.Sample.Len(), e.Sample.Cap())
						}
					}
				}
				for i, e := range events {
					w.Observe(e, int64(i))
					want.observe(e)
					if i == len(events)/2 {
						check("half-way")
					}
				}
				check("at the end")
			})
		}
	}
}

// TestRowsWithMissingFeatures: with features missing from some events, and
// one appearing while the window is open, each feature's sample holds the
// values of the window's bottom-k events that carry it; merging by rows
// and through partials keeps it so.
func TestRowsWithMissingFeatures(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.ReferenceSampleSize = 300
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(9, 10))
	var events []*telemetry.Event
	for i := range 2000 {
		e := windowtest.RandomEvent(r, i, m, windowtest.T0)
		if i >= 700 && r.IntN(2) == 0 {
			e.Features.SetNumeric("late", float64(i))
		}
		events = append(events, e)
	}
	byKey := slices.Clone(events)
	slices.SortFunc(byKey, func(a, b *telemetry.Event) int {
		return cmp.Compare(sketch.SampleKey(a.PredictionID), sketch.SampleKey(b.PredictionID))
	})
	want := &perFeature{k: cfg.ReferenceSampleSize, state: map[string]*sketch.Numeric{}}
	for _, e := range byKey[:cfg.ReferenceSampleSize] { // every event has a score: all are offered
		want.observe(e)
	}
	for name, read := range numericReaders(cfg, nil) {
		t.Run(name, func(t *testing.T) {
			w := NewWindow(cfg, m, windowtest.T0, nil)
			for i, e := range events {
				w.Observe(e, int64(i))
			}
			names, states := read(t, w)
			if len(names) != 6 {
				t.Fatalf("features %v", names)
			}
			for i, name := range names {
				g, e := &states[i].Sample, &want.state[name].Sample
				if got, exp := sortedSample(g), sortedSample(e); !slices.Equal(got, exp) {
					t.Fatalf("%s: %d sampled values, want the %d of the bottom-%d events that carry it", name, len(got), len(exp), cfg.ReferenceSampleSize)
				}
			}
		})
	}
	// Split over two windows, merged by rows: the same state.
	union, a, b := NewWindow(cfg, m, windowtest.T0, nil), NewWindow(cfg, m, windowtest.T0, nil), NewWindow(cfg, m, windowtest.T0, nil)
	for i, e := range events {
		union.Observe(e, int64(i))
		[]*Window{a, b}[r.IntN(2)].Observe(e, int64(i))
	}
	a.Merge(b)
	if !a.byRows {
		t.Fatal("windows sampling whole events merged per feature")
	}
	sameWindowState(t, "merged by rows", a, union)
}

// sortedSample returns s's (key, value) pairs sorted.
func sortedSample(s *sketch.Sample) [][2]float64 {
	out := make([][2]float64, s.Len())
	for i := range out {
		out[i] = [2]float64{float64(s.Keys()[i]), s.Values()[i]}
	}
	slices.SortFunc(out, func(a, b [2]float64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return out
}

// TestDecodeVersion2: a window written by the previous release (codec
// version 2, per-feature samples; testdata/window-v2.bin, 300 events of
// windowtest.RandomEvent from PCG(11, 12)) decodes to the state of the
// same events observed now, samples per feature, and merges with a window
// of this release.
func TestDecodeVersion2(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	old, err := os.ReadFile("testdata/window-v2.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeWindow(cfg, old, windowtest.Lookup())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	want, second := NewWindow(cfg, m, windowtest.T0, nil), NewWindow(cfg, m, windowtest.T0, nil)
	var more []*telemetry.Event
	for i := range 300 {
		want.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
	}
	for i := range 100 {
		more = append(more, windowtest.RandomEvent(r, 1000+i, m, windowtest.T0))
	}
	if got.byRows {
		t.Fatal("a version 2 window samples whole events")
	}
	sameWindowState(t, "version 2", got, want)
	for i, e := range more {
		want.Observe(e, int64(300+i))
		second.Observe(e, int64(300+i))
	}
	got.Merge(second)
	sameWindowState(t, "version 2 merged with version 3", got, want)
}

// TestJointFromRows: the joint reference built from the rows of a window
// whose events carry every feature is exactly the one built by matching
// keys across the per-feature samples (same reference id); with features
// missing, it holds the kept rows that carry every feature.
func TestJointFromRows(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	w := NewWindow(cfg, m, windowtest.T0, nil)
	for i, e := range wideEvents(2000) {
		w.Observe(e, int64(i))
	}
	s := w.Sketches()
	fromRows := reference.Build(s, cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	s.Rows = nil
	fromSamples := reference.Build(s, cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	jr, js := fromRows.Joint, fromSamples.Joint
	if jr == nil || js == nil || jr.N != 2000 || jr.N != js.N || !slices.Equal(jr.Features, js.Features) ||
		!slices.Equal(jr.Mean, js.Mean) || !slices.Equal(jr.Covariance, js.Covariance) || fromRows.ID != fromSamples.ID {
		t.Fatalf("joint from rows %+v, from samples %+v", jr, js)
	}

	r := rand.New(rand.NewPCG(13, 14))
	w = NewWindow(cfg, m, windowtest.T0, nil)
	complete := uint64(0)
	for i := range 3000 {
		e := windowtest.RandomEvent(r, i, m, windowtest.T0)
		if len(e.Features.Numeric) == 4 {
			complete++
		}
		w.Observe(e, int64(i))
	}
	ref := reference.Build(w.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	if ref.Joint == nil || ref.Joint.N != complete || len(ref.Joint.Features) != 5 {
		t.Fatalf("joint of %d rows over %v, want the %d complete events", ref.Joint.N, ref.Joint.Features, complete)
	}
}
