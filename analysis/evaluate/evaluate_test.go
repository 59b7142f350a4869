package evaluate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

// TestEvaluatorWarmupPinRebindAndRolling walks one model version through
// its life at a decider: warm-up windows pin the reference once, a window
// opened before the pin reached its partitions is rebound and scored against
// it, previous_window mode scores against the window before, and a window of
// mixed partials is not scored.
func TestEvaluatorWarmupPinRebindAndRolling(t *testing.T) {
	cfg := windowtest.Config(t) // warm-up: 2 windows
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	cfg.ReferenceModes = map[string]string{m.ID: analysis.ModePreviousWindow}
	refs := reference.NewStore(cfg, nil)
	ev := NewEvaluator(cfg, refs, NewEvidence(cfg.Sequential))
	r := rand.New(rand.NewPCG(11, 12))
	window := func(i int, ref *reference.Reference) *window.Window {
		start := windowtest.T0.Add(cfg.WindowSize * time.Duration(i))
		w := window.NewWindow(cfg, m, start, ref)
		for j := range 150 {
			w.Observe(windowtest.RandomEvent(r, i*1000+j, m, start), int64(i*1000+j))
		}
		return w
	}
	if d := ev.Evaluate(window(0, nil), false, nil); d.Pinned != nil || len(d.Scores) != 0 {
		t.Fatalf("first warm-up window: %+v", d)
	}
	if _, ok := ev.SeasonalStart(window(0, nil)); ok {
		t.Fatal("a seasonal read asked for before any reference")
	}
	d := ev.Evaluate(window(1, nil), false, nil)
	if d.Pinned == nil || len(d.Scores) != 0 || refs.Get(m) != d.Pinned {
		t.Fatalf("second warm-up window must pin and not be scored: %+v", d)
	}
	pinned := d.Pinned
	late := window(2, nil) // opened before the pin reached its partition
	d = ev.Evaluate(late, false, nil)
	if late.Ref != pinned || d.Against != pinned || len(d.Scores) == 0 {
		t.Fatalf("a window opened before the pin: reference %v, against %v, %d scores", late.Ref != nil, d.Against != nil, len(d.Scores))
	}
	d = ev.Evaluate(window(3, pinned), false, nil)
	if d.Against == nil || d.Against == pinned || len(d.Scores) == 0 {
		t.Fatalf("previous_window mode scored against %v", d.Against)
	}
	if d = ev.Evaluate(window(4, pinned), true, nil); len(d.Scores) != 0 || d.Against != nil {
		t.Fatalf("a window of mixed partials was scored: %+v", d)
	}
}

// TestReferencesBoundEvictsLeastRecentlyUsed: at most MaxVersions model
// versions keep a reference or a warm-up in memory; the least recently used
// goes first, and what is evicted is counted.
func TestReferencesBoundEvictsLeastRecentlyUsed(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxVersions = 2
	refs := reference.NewStore(cfg, nil)
	r := rand.New(rand.NewPCG(31, 32))
	ref := func(version string) *reference.Reference {
		m := analysis.ModelKey{ID: "fraud", Version: version}
		w := window.NewWindow(cfg, m, windowtest.T0, nil)
		for i := range 50 {
			w.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
		}
		x := reference.Build(w.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
		x.ID = x.Hash()
		return x
	}
	a, b, c := ref("a"), ref("b"), ref("c")
	refs.Set(a)
	refs.Set(b)
	refs.Get(a.Model) // a is now more recent than b
	refs.Set(c)
	if refs.Get(b.Model) != nil || refs.Get(a.Model) != a || refs.Get(c.Model) != c {
		t.Fatal("the least recently used reference was not the one evicted")
	}
	// A warm-up counts too: it evicts the least recent of a and c.
	m := analysis.ModelKey{ID: "fraud", Version: "d"}
	w := window.NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 20 {
		w.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
	}
	refs.Get(c.Model)
	if refs.Contribute(w.Sketches()) != nil || !refs.Warming(m) || refs.Get(a.Model) != nil || refs.Get(c.Model) != c {
		t.Fatal("a new warm-up did not evict the least recently used reference")
	}
	if nr, nw, er, ew := refs.Held(); nr != 1 || nw != 1 || er != 2 || ew != 0 {
		t.Fatalf("held %d references and %d warm-ups, evicted %d and %d", nr, nw, er, ew)
	}
}

// TestEvaluatorBoundsPreviousWindows: previous_window mode keeps the last
// window of at most MaxVersions model versions, the silent ones going first.
func TestEvaluatorBoundsPreviousWindows(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxVersions = 2
	cfg.ReferenceModes = map[string]string{"fraud": analysis.ModePreviousWindow}
	refs := reference.NewStore(cfg, nil)
	ev := NewEvaluator(cfg, refs, nil)
	r := rand.New(rand.NewPCG(41, 42))
	for i, version := range []string{"a", "b", "c"} {
		m := analysis.ModelKey{ID: "fraud", Version: version}
		warm := window.NewWindow(cfg, m, windowtest.T0, nil)
		for j := range 50 {
			warm.Observe(windowtest.RandomEvent(r, j, m, windowtest.T0), int64(j))
		}
		ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
		ref.ID = ref.Hash()
		start := windowtest.T0.Add(time.Duration(i) * cfg.WindowSize)
		w := window.NewWindow(cfg, m, start, ref)
		for j := range 50 {
			w.Observe(windowtest.RandomEvent(r, 100+j, m, start), int64(j))
		}
		ev.Evaluate(w, false, nil)
	}
	if len(ev.prev) != 2 || ev.prev[analysis.ModelKey{ID: "fraud", Version: "a"}] != nil {
		t.Fatalf("previous windows of %d versions kept (a kept: %v), want the 2 most recent", len(ev.prev), ev.prev[analysis.ModelKey{ID: "fraud", Version: "a"}] != nil)
	}
}
