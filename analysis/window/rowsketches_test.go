package window

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// rowSketchEvents returns the events of warm-up window i of the tests of
// RowSketches: windowtest.RandomEvent's (features missing at random, one
// more feature in some events of the later windows) and, with dup, a tenth
// of them again under the prediction id of an earlier event (equal
// sampling keys, other values).
func rowSketchEvents(r *rand.Rand, i, n int, dup bool) []*telemetry.Event {
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	var events []*telemetry.Event
	for j := range n {
		e := windowtest.RandomEvent(r, i*n+j, m, windowtest.T0)
		if i > 0 && r.IntN(3) == 0 {
			e.Features.SetNumeric("late", r.NormFloat64())
		}
		events = append(events, e)
		if dup && j%10 == 9 {
			again := windowtest.RandomEvent(r, i*n+j, m, windowtest.T0)
			again.PredictionID = events[r.IntN(len(events))].PredictionID
			events = append(events, again)
		}
	}
	return events
}

// TestBuildReadsTheRows: a reference built from a window's rows (its
// samples unfilled, RowSketches) has exactly the numeric references built
// from the samples filled from the same rows (Sketches without Rows):
// the same samples in key order, sorted samples, edges and counts, also
// with features missing from some events and with equal sampling keys;
// and the same joint reference as from Sketches.
func TestBuildReadsTheRows(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.ReferenceSampleSize = 400
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	for _, dup := range []bool{false, true} {
		t.Run(fmt.Sprintf("equal keys %v", dup), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			w := NewWindow(cfg, m, windowtest.T0, nil)
			for i, e := range rowSketchEvents(r, 1, 1000, dup) {
				w.Observe(e, int64(i))
			}
			fromRows := reference.Build(w.RowSketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
			synced := w.Sketches()
			if fromSketches := reference.Build(synced, cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0); fromSketches.ID != fromRows.ID {
				t.Fatalf("reference %s from the rows, %s from Sketches", fromRows.ID, fromSketches.ID)
			}
			synced.Rows = nil
			fromSamples := reference.Build(synced, cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
			if len(fromRows.Numeric) != 6 || len(fromSamples.Numeric) != len(fromRows.Numeric) {
				t.Fatalf("%d numeric references from the rows, %d from the samples", len(fromRows.Numeric), len(fromSamples.Numeric))
			}
			for name, nr := range fromRows.Numeric {
				if ns := fromSamples.Numeric[name]; !reflect.DeepEqual(nr, ns) {
					t.Fatalf("%s: from the rows %v, from the samples %v", name, nr, ns)
				}
			}
		})
	}
}

// TestContributeReadsTheRows: a warm-up fed the windows' rows alone
// (RowSketches, their samples unfilled) pins exactly the reference a
// warm-up fed their filled samples (Sketches) pins, also when one window
// samples per feature (the warm-up then merges per feature from there on)
// and with equal sampling keys.
func TestContributeReadsTheRows(t *testing.T) {
	for _, perFeature := range []int{-1, 0, 2} {
		for _, dup := range []bool{false, true} {
			t.Run(fmt.Sprintf("window %d per feature, equal keys %v", perFeature, dup), func(t *testing.T) {
				cfg := windowtest.Config(t)
				cfg.WarmupWindows, cfg.ReferenceSampleSize = 4, 300
				m := analysis.ModelKey{ID: "fraud", Version: "v1"}
				rows, synced := reference.NewStore(cfg, nil), reference.NewStore(cfg, nil)
				r := rand.New(rand.NewPCG(23, 24))
				var a, b *reference.Reference
				for i := range cfg.WarmupWindows {
					w := NewWindow(cfg, m, windowtest.T0.Add(time.Duration(i)*cfg.WindowSize), nil)
					for j, e := range rowSketchEvents(r, i, 250, dup) {
						w.Observe(e, int64(i*1000+j))
					}
					if i == perFeature {
						w.dropRows()
					}
					a = rows.Contribute(w.RowSketches())
					b = synced.Contribute(w.Sketches())
				}
				if a == nil || b == nil {
					t.Fatal("no reference pinned")
				}
				a.CreatedAt, b.CreatedAt = b.CreatedAt, a.CreatedAt
				if a.ID != b.ID || !reflect.DeepEqual(a.Numeric, b.Numeric) || !reflect.DeepEqual(a.Joint, b.Joint) {
					t.Fatalf("reference %s from the rows, %s from the samples", a.ID, b.ID)
				}
				want := []string{"late", telemetry.ScoreFeature, "x0", "x1", "x2", "x3"}
				if slices.Sort(want); !slices.Equal(sortedKeysOf(a.Numeric), want) {
					t.Fatalf("numeric references %v", sortedKeysOf(a.Numeric))
				}
			})
		}
	}
}

func sortedKeysOf[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
