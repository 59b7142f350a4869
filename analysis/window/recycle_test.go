package window

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestRecycledPartialsEncodeAsNew runs the same events, 6 windows of 3,000
// calls from 5,000 callers (the access signals' summaries full, their
// slots changing hands), through two windowers with the access and output
// signals: one recycles every closed window once encoded, the other does
// not. Every window encodes the same, and the recycling windower makes new
// partials and samples for its first two windows only.
func TestRecycledPartialsEncodeAsNew(t *testing.T) {
	cfg := windowtest.Config(t) // 10 s windows, 2 s lateness
	a := access.DefaultConfig()
	set, err := signal.NewSet(append(outputs.Signals(outputs.DefaultConfig()), access.Volume{Config: a}, access.Probing{Config: a},
		access.Diversity{Config: a}, access.OOD{Config: a}, access.Harvest{Config: a})...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signals = set
	sc := generator.DefaultScenario(1, 8)
	sc.Start, sc.EventStep = windowtest.T0, cfg.WindowSize/3000
	sc.Callers = &generator.Callers{N: 5000}
	g, err := generator.New(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	recycling := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	plain := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	batch := make([]telemetry.Event, 64)
	closed, reused := 0, 0
	seen := map[signal.Partial]bool{} // the last partial (caller_harvest's, a Resetter) of every window closed
	samples := map[*uint64]bool{}     // the memory of every closed window's sample
	reusedSamples := 0
	for n := 0; n < 6*3000+1000; n += len(batch) {
		for i := range batch {
			g.Next(&batch[i])
			recycling.Observe(&batch[i], int64(n+i))
			plain.Observe(&batch[i], int64(n+i))
		}
		recycling.EndBatch()
		plain.EndBatch()
		rc, pc := recycling.TakeClosed(), plain.TakeClosed()
		if len(rc) != len(pc) {
			t.Fatalf("event %d: %d and %d windows closed", n, len(rc), len(pc))
		}
		for i := range rc {
			if !bytes.Equal(rc[i].AppendBinary(nil), pc[i].AppendBinary(nil)) {
				t.Fatalf("window %s: the recycling windower encodes it differently", rc[i].Start)
			}
			closed++
			last := rc[i].Signals[len(rc[i].Signals)-1]
			if seen[last] {
				reused++
			}
			seen[last] = true
			mem := unsafe.SliceData(rc[i].rows.Keys())
			if samples[mem] {
				reusedSamples++
			}
			samples[mem] = true
			recycling.Recycle(rc[i])
			if rc[i].Signals != nil {
				t.Fatal("a recycled window keeps its partials")
			}
		}
	}
	if closed < 5 {
		t.Fatalf("%d windows closed, want 5 or more", closed)
	}
	// A window opens before the previous one closes (lateness): the first
	// two are new, every later one reuses a closed window's partials.
	if reused != closed-2 {
		t.Errorf("%d of %d windows reused a closed window's partials, want %d", reused, closed, closed-2)
	}
	if reusedSamples != closed-2 {
		t.Errorf("%d of %d windows reused a closed window's sample, want %d", reusedSamples, closed, closed-2)
	}
	if len(recycling.spare) > maxSpare || len(recycling.spareRows) > maxSpare {
		t.Errorf("%d spare windows' partials and %d samples, above %d", len(recycling.spare), len(recycling.spareRows), maxSpare)
	}
}

// TestRecycledSampleFitsTheWindow: a window opened takes the recycled
// sample with the most room within its own capacity, never a larger one (a
// sample holds its memory whole: a warm-up window's, reference-sized, kept
// by a scoring window would hold ten times its bound); and once the spare
// places are taken by warm-up samples, a scoring sample recycled takes the
// place of one, so that scoring windows still reuse theirs.
func TestRecycledSampleFitsTheWindow(t *testing.T) {
	cfg := windowtest.Config(t)
	w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	for _, room := range []int{cfg.ReferenceSampleSize, cfg.SampleSize / 2, cfg.SampleSize} {
		rows := sketch.NewRows(room, 4)
		rows.Reserve(room)
		w.Recycle(&Window{rows: rows, byRows: true})
	}
	for _, want := range []int{cfg.SampleSize, cfg.SampleSize / 2, 0} {
		if got := w.takeRows(cfg.SampleSize); got.Room() != want {
			t.Fatalf("a scoring window takes a sample with room for %d rows, want %d", got.Room(), want)
		}
	}
	if got := w.takeRows(cfg.ReferenceSampleSize); got.Room() != cfg.ReferenceSampleSize {
		t.Fatalf("a warm-up window takes a sample with room for %d rows, want %d", got.Room(), cfg.ReferenceSampleSize)
	}

	// Warm-up samples do not keep the places once scoring windows close: a
	// smaller sample recycled takes the place of the largest.
	for range maxSpare {
		rows := sketch.NewRows(cfg.ReferenceSampleSize, 4)
		rows.Reserve(cfg.ReferenceSampleSize)
		w.Recycle(&Window{rows: rows, byRows: true})
	}
	// Three versions' scoring windows open and close each period.
	const versions = 3
	for period := range 3 {
		var open []sketch.Rows
		for v := range versions {
			rows := w.takeRows(cfg.SampleSize)
			if period > 0 && rows.Room() != cfg.SampleSize {
				t.Fatalf("period %d, version %d: the scoring window takes a sample with room for %d rows, want %d",
					period, v, rows.Room(), cfg.SampleSize)
			}
			if rows.Room() == 0 {
				rows = sketch.NewRows(cfg.SampleSize, 4)
				rows.Reserve(cfg.SampleSize)
			}
			open = append(open, rows)
		}
		for _, rows := range open {
			w.Recycle(&Window{rows: rows, byRows: true})
		}
	}
	if len(w.spareRows) != maxSpare {
		t.Fatalf("%d spare samples, want %d", len(w.spareRows), maxSpare)
	}
}
