package window

import (
	"fmt"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

// TestWindowReservesThePreviousWindowsRows: a window opened while the
// previous one is open, or after it closed, reserves room for as many
// sampled events as it kept (within its own capacity), instead of growing
// its sample from empty; the first window of a version reserves nothing.
func TestWindowReservesThePreviousWindowsRows(t *testing.T) {
	cfg := windowtest.Config(t) // 10s windows, 2s lateness, samples of 200
	cfg.ReferenceSampleSize = 500
	w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	id := 0
	room := func(start time.Time) int {
		t.Helper()
		for _, win := range w.models[m].open {
			if win.Start.Equal(start) {
				return cap(win.rows.Keys())
			}
		}
		t.Fatalf("no window open at %s", start)
		return 0
	}
	observe := func(start time.Time, n int) {
		for i := range n {
			id++
			w.Observe(windowtest.Event(fmt.Sprint(id), m, start.Add(time.Duration(i)*time.Millisecond)), int64(id))
		}
	}
	first, second, third := windowtest.T0, windowtest.T0.Add(cfg.WindowSize), windowtest.T0.Add(3*cfg.WindowSize)
	observe(first, 1)
	if got := room(first); got > 4 {
		t.Fatalf("the first window reserved room for %d rows", got)
	}
	observe(first, 299)
	observe(second, 1)
	if got := room(second); got != 300 {
		t.Fatalf("the second window has room for %d rows, want the 300 its predecessor kept", got)
	}
	observe(second, 700) // more than the capacity
	observe(third, 1)    // the second window closes
	if got := room(third); got != cfg.ReferenceSampleSize {
		t.Fatalf("the third window has room for %d rows, want its capacity %d", got, cfg.ReferenceSampleSize)
	}
}
