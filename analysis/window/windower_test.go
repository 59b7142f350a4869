package window

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

func TestWindowerClosesOnWatermark(t *testing.T) {
	cfg := windowtest.Config(t) // 10s windows, 2s lateness
	w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	steps := []struct {
		at     time.Duration
		want   Outcome
		closed int
	}{
		{1 * time.Second, Counted, 0},
		{9 * time.Second, Counted, 0},
		{11 * time.Second, Counted, 0},      // second window opens
		{8 * time.Second, Counted, 0},       // within lateness: first window still open
		{12 * time.Second, Counted, 1},      // watermark 12s = end 10s + 2s: first window closes
		{9500 * time.Millisecond, Late, 0},  // its window is closed now
		{25 * time.Second, Counted, 1},      // third window opens; watermark 25s >= 22s closes the second
		{22 * time.Second, Counted, 0},      // third window
		{19999 * time.Millisecond, Late, 0}, // second window closed
	}
	for i, s := range steps {
		got := w.Observe(windowtest.Event("p", m, windowtest.T0.Add(s.at)), int64(i))
		if got != s.want {
			t.Fatalf("step %d (%s): outcome %d, want %d", i, s.at, got, s.want)
		}
		if c := w.TakeClosed(); len(c) != s.closed {
			t.Fatalf("step %d: %d windows closed, want %d", i, len(c), s.closed)
		} else if len(c) == 1 && i == 4 {
			if c[0].Events != 3 || c[0].FirstOffset != 0 || c[0].LastOffset != 3 || !c[0].Start.Equal(windowtest.T0) {
				t.Fatalf("first window %+v", c[0])
			}
		} else if len(c) == 1 && i == 6 {
			// 11s, 12s and the late 9.5s event (counted late in the newest open window, this one).
			if c[0].Events != 2 || c[0].Late != 1 || c[0].FirstOffset != 2 || c[0].LastOffset != 5 {
				t.Fatalf("second window %+v", c[0])
			}
		}
	}
	if got := w.Committable(9); got != 6 {
		t.Fatalf("committable %d, want 6 (first offset of the open third window)", got)
	}
}

func TestWindowerIdleFlush(t *testing.T) {
	cfg := windowtest.Config(t)
	w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	m := analysis.ModelKey{ID: "m", Version: ""}
	w.Observe(windowtest.Event("a", m, windowtest.T0), 0)
	wall := windowtest.T0.Add(time.Hour)
	w.Touch(wall)
	w.Idle(wall.Add(cfg.IdleFlush - time.Second))
	if c := w.TakeClosed(); len(c) != 0 {
		t.Fatalf("closed %d windows before the idle period", len(c))
	}
	w.Idle(wall.Add(cfg.IdleFlush))
	if c := w.TakeClosed(); len(c) != 1 {
		t.Fatalf("closed %d windows after the idle period, want 1", len(c))
	}
	if got := w.Committable(1); got != 1 {
		t.Fatalf("committable %d, want 1", got)
	}
	if got := w.Observe(windowtest.Event("b", m, windowtest.T0.Add(time.Second)), 1); got != Late {
		t.Fatalf("event of an idle-closed window: outcome %d, want Late", got)
	}
}

// TestWindowerReplayCountsOnce simulates a crash: a first windower stores the
// windows it closes and commits what it may; at an arbitrary point it dies; a
// second windower restores the stored windows and re-reads from the commit.
// Every event must be counted exactly once over all stored windows.
func TestWindowerReplayCountsOnce(t *testing.T) {
	cfg := windowtest.Config(t)
	r := rand.New(rand.NewPCG(7, 8))
	models := []analysis.ModelKey{{ID: "a", Version: "1"}, {ID: "b", Version: "1"}, {ID: "b", Version: "2"}}
	const n = 5000
	events := make([]*telemetry.Event, n)
	rejected := make([]bool, n)
	for i := range events {
		// Mostly in order, 100 events/s of event time, jittered up to 1.5s back (within lateness);
		// 3% arrive 6s late (beyond lateness), 2% are rejected messages.
		at := windowtest.T0.Add(time.Duration(i)*10*time.Millisecond - time.Duration(r.IntN(1500))*time.Millisecond)
		if r.IntN(100) < 3 {
			at = at.Add(-6 * time.Second)
		}
		events[i] = windowtest.Event("p", models[r.IntN(len(models))], at)
		rejected[i] = r.IntN(100) < 2
	}
	feed := func(w *Windower, i int64) Outcome {
		if rejected[i] {
			w.Reject(events[i].Model.ID, i)
			return -1
		}
		return w.Observe(events[i], i)
	}
	totals := func(ws []*Window) (events, late, rejected uint64) {
		for _, s := range ws {
			events += s.Events
			late += s.Late
			rejected += s.Rejected
		}
		return
	}
	// Without a crash: what the stored windows should add up to.
	var clean []*Window
	{
		w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
		for i := int64(0); i < n; i++ {
			feed(w, i)
			clean = append(clean, w.TakeClosed()...)
		}
		w.Touch(time.Now())
		w.Idle(time.Now().Add(24 * time.Hour))
		clean = append(clean, w.TakeClosed()...)
	}
	wantEvents, wantLate, wantRejected := totals(clean)
	if wantLate == 0 || wantRejected == 0 {
		t.Fatalf("the stream has %d late and %d rejected messages counted, want some of each", wantLate, wantRejected)
	}
	for _, crashAt := range []int{1, 777, 2500, 4999} {
		var stored []*Window
		first := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
		committed := int64(0)
		for i := 0; i < crashAt; i++ {
			feed(first, int64(i))
			stored = append(stored, first.TakeClosed()...)
			if i%100 == 0 {
				committed = first.Committable(int64(i + 1))
			}
		}
		var flushed []FlushedWindow
		var maxEnd time.Time
		for _, s := range stored {
			if s.LastOffset >= committed {
				flushed = append(flushed, FlushedWindow{Model: s.Model, WindowStart: s.Start, LastOffset: s.LastOffset})
			}
			if s.End.After(maxEnd) {
				maxEnd = s.End
			}
		}
		second := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
		second.Restore(flushed, maxEnd)
		for i := committed; i < n; i++ {
			feed(second, i)
			stored = append(stored, second.TakeClosed()...)
		}
		second.Idle(time.Now().Add(24 * time.Hour)) // flush the rest
		second.Touch(time.Now())
		second.Idle(time.Now().Add(24 * time.Hour))
		stored = append(stored, second.TakeClosed()...)
		gotEvents, gotLate, gotRejected := totals(stored)
		if gotEvents != wantEvents || gotLate != wantLate || gotRejected != wantRejected {
			t.Errorf("crash at %d (commit %d): stored %d events, %d late, %d rejected; without a crash %d, %d, %d",
				crashAt, committed, gotEvents, gotLate, gotRejected, wantEvents, wantLate, wantRejected)
		}
	}
}

// TestWindowerBoundsModelsAndForgetsClosedOnes: beyond MaxModels live model
// versions events are dropped (the monitor dead-letters them); a model
// version whose windows all closed is forgotten and frees its place.
func TestWindowerBoundsModelsAndForgetsClosedOnes(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxModels = 1
	w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
	a, b := analysis.ModelKey{ID: "a", Version: "1"}, analysis.ModelKey{ID: "b", Version: "1"}
	if got := w.Observe(windowtest.Event("1", a, windowtest.T0), 0); got != Counted {
		t.Fatalf("first model: %d", got)
	}
	if got := w.Observe(windowtest.Event("2", b, windowtest.T0), 1); got != Dropped || w.Dropped() != 1 {
		t.Fatalf("second model with max_models 1: outcome %d, dropped %d", got, w.Dropped())
	}
	// Model a's window is closed by an idle flush: a is forgotten and b fits.
	w.Touch(windowtest.T0)
	w.Idle(windowtest.T0.Add(time.Hour))
	if c := w.TakeClosed(); len(c) != 1 || c[0].Model != a {
		t.Fatalf("closed %+v", c)
	}
	if got := w.Observe(windowtest.Event("3", b, windowtest.T0.Add(time.Hour)), 2); got != Counted {
		t.Fatalf("second model after the first was forgotten: outcome %d", got)
	}
}

// TestWindowerReplayEdgeCases covers two replays: skipped events of stored
// windows must not take model slots (max_models), and late events of one
// version must not be skipped because another version's window was stored.
func TestWindowerReplayEdgeCases(t *testing.T) {
	cfg := windowtest.Config(t) // 10s windows, 2s lateness
	a, b, c := analysis.ModelKey{ID: "a", Version: "1"}, analysis.ModelKey{ID: "b", Version: "1"}, analysis.ModelKey{ID: "c", Version: "1"}

	t.Run("skipped events open no model state", func(t *testing.T) {
		cfg := *cfg
		cfg.MaxModels = 2
		// Before the crash b's window [0s,10s) was stored with last offset 1.
		w := NewWindower(&cfg, reference.NewStore(&cfg, nil), nil)
		w.Restore([]FlushedWindow{{Model: b, WindowStart: windowtest.T0, LastOffset: 1}}, windowtest.T0.Add(10*time.Second))
		if got := w.Observe(windowtest.Event("1", a, windowtest.T0.Add(11*time.Second)), 0); got != Counted {
			t.Fatalf("a: %d", got)
		}
		if got := w.Observe(windowtest.Event("2", b, windowtest.T0.Add(time.Second)), 1); got != Replayed {
			t.Fatalf("b's stored event: %d, want Replayed", got)
		}
		if got := w.Observe(windowtest.Event("3", c, windowtest.T0.Add(13*time.Second)), 2); got != Counted {
			t.Fatalf("c after a skipped b event with max_models 2: outcome %d, want Counted", got)
		}
	})

	t.Run("late events per version", func(t *testing.T) {
		v1, v2 := analysis.ModelKey{ID: "m", Version: "1"}, analysis.ModelKey{ID: "m", Version: "2"}
		// Stored before the crash: v1's window [10s,20s) up to offset 3. v2's
		// window [20s,30s) was open and had counted a late event at offset 2.
		w := NewWindower(cfg, reference.NewStore(cfg, nil), nil)
		w.Restore([]FlushedWindow{{Model: v1, WindowStart: windowtest.T0.Add(10 * time.Second), LastOffset: 3}}, windowtest.T0.Add(20*time.Second))
		if got := w.Observe(windowtest.Event("0", v2, windowtest.T0.Add(21*time.Second)), 1); got != Counted {
			t.Fatalf("v2 event: %d", got)
		}
		if got := w.Observe(windowtest.Event("1", v2, windowtest.T0.Add(5*time.Second)), 2); got != Late {
			t.Fatalf("v2 late event at offset 2: %d, want Late (v1's stored window does not cover v2)", got)
		}
		w.Touch(time.Now())
		w.Idle(time.Now().Add(24 * time.Hour))
		if c := w.TakeClosed(); len(c) != 1 || c[0].Late != 1 {
			t.Fatalf("closed %+v, want v2's window with one late event", c)
		}
	})
}

// TestMaxOpenVersionsIsInstanceWide: the windowers of one instance share
// max_open_versions; a version beyond it is dropped (dead-lettered by the
// caller), and the slots come back when windows close or a windower is
// released.
func TestMaxOpenVersionsIsInstanceWide(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxOpenVersions = 3
	refs, open := reference.NewStore(cfg, nil), NewOpenVersions(cfg.MaxOpenVersions)
	a, b := NewWindower(cfg, refs, open), NewWindower(cfg, refs, open)
	r := rand.New(rand.NewPCG(61, 62))
	event := func(version string, at time.Time) *telemetry.Event {
		return windowtest.RandomEvent(r, r.IntN(1<<30), analysis.ModelKey{ID: "fraud", Version: version}, at)
	}
	for _, v := range []string{"1", "2"} {
		if a.Observe(event(v, windowtest.T0), 1) != Counted {
			t.Fatalf("version %s refused on a", v)
		}
	}
	if b.Observe(event("3", windowtest.T0), 1) != Counted {
		t.Fatal("version 3 refused on b")
	}
	if b.Observe(event("4", windowtest.T0), 2) != Dropped || open.Held() != 3 {
		t.Fatalf("a fourth open version was accepted (open %d)", open.Held())
	}
	// a's windows close as its watermark moves past them: their slots return.
	a.Observe(event("1", windowtest.T0.Add(10*cfg.WindowSize)), 3)
	a.TakeClosed()
	if b.Observe(event("4", windowtest.T0), 4) != Counted {
		t.Fatalf("a freed slot was not reused (open %d)", open.Held())
	}
	b.Release()
	a.Release()
	if open.Held() != 0 {
		t.Fatalf("%d slots held after every windower was released", open.Held())
	}
}

// TestFloodCannotLockOutEstablishedVersions replays a flood of made-up
// versions: once they fill max_models, a version with a pinned reference is
// still admitted (it has max_versions slots of its own) while further
// made-up versions are dropped; and the dropped events still move event
// time on, so that the flood's windows close and free their slots instead
// of holding them forever.
func TestFloodCannotLockOutEstablishedVersions(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxModels, cfg.MaxVersions, cfg.MaxOpenVersions = 3, 1, 3
	refs := reference.NewStore(cfg, nil)
	legit := analysis.ModelKey{ID: "fraud", Version: "3"}
	refs.Set(&reference.Reference{ID: "r", Model: legit, Numeric: map[string]*reference.Numeric{}, Categorical: map[string]*reference.Categorical{}})
	w := NewWindower(cfg, refs, NewOpenVersions(cfg.MaxOpenVersions))
	flood := func(i int, at time.Time) Outcome {
		return w.Observe(windowtest.Event(fmt.Sprint("f", i), analysis.ModelKey{ID: "flood", Version: fmt.Sprint(i)}, at), int64(i))
	}
	for i := range 3 {
		if got := flood(i, windowtest.T0); got != Counted {
			t.Fatalf("flood version %d: %v", i, got)
		}
	}
	if got := flood(3, windowtest.T0); got != Dropped {
		t.Fatalf("a fourth made-up version was %v at max_models 3", got)
	}
	if got := w.Observe(windowtest.Event("legit", legit, windowtest.T0), 10); got != Counted {
		t.Fatalf("the established version was %v: locked out by the flood", got)
	}
	if got := w.Observe(windowtest.Event("legit2", analysis.ModelKey{ID: "fraud", Version: "4"}, windowtest.T0), 11); got != Dropped {
		t.Fatalf("a version without reference took an established version's slot: %v", got)
	}
	// A dropped event far enough ahead closes the open windows.
	if got := flood(100, windowtest.T0.Add(3*cfg.WindowSize)); got != Dropped {
		t.Fatalf("flood version 100: %v", got)
	}
	if closed := w.TakeClosed(); len(closed) != 4 {
		t.Fatalf("%d windows closed by the dropped event's event time, want the 4 open ones", len(closed))
	}
	if got := flood(101, windowtest.T0.Add(3*cfg.WindowSize)); got != Counted {
		t.Fatalf("no slot came back after the windows closed: %v", got)
	}
}
