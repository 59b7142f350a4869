package analysis

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestEvaluatorWarmupPinRebindAndRolling walks one model version through
// its life at a decider: warm-up windows pin the reference once, a window
// opened before the pin reached its partitions is rebound and scored against
// it, previous_window mode scores against the window before, and a window of
// mixed partials is not scored.
func TestEvaluatorWarmupPinRebindAndRolling(t *testing.T) {
	cfg := testConfig(t) // warm-up: 2 windows
	m := ModelKey{"fraud", "v1"}
	cfg.ReferenceModes = map[string]string{m.ID: ModePreviousWindow}
	refs := NewReferences(cfg, nil)
	ev := NewEvaluator(cfg, refs, NewEvidence(cfg.Sequential))
	r := rand.New(rand.NewPCG(11, 12))
	window := func(i int, ref *Reference) *Window {
		start := t0.Add(cfg.WindowSize * time.Duration(i))
		w := NewWindow(cfg, m, start, ref)
		for j := range 150 {
			w.Observe(randomEvent(r, i*1000+j, m, start), int64(i*1000+j))
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
	cfg := testConfig(t)
	cfg.MaxVersions = 2
	refs := NewReferences(cfg, nil)
	r := rand.New(rand.NewPCG(31, 32))
	ref := func(version string) *Reference {
		m := ModelKey{"fraud", version}
		w := NewWindow(cfg, m, t0, nil)
		for i := range 50 {
			w.Observe(randomEvent(r, i, m, t0), int64(i))
		}
		x := BuildReference(w, cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
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
	m := ModelKey{"fraud", "d"}
	w := NewWindow(cfg, m, t0, nil)
	for i := range 20 {
		w.Observe(randomEvent(r, i, m, t0), int64(i))
	}
	refs.Get(c.Model)
	if refs.Contribute(w) != nil || !refs.Warming(m) || refs.Get(a.Model) != nil || refs.Get(c.Model) != c {
		t.Fatal("a new warm-up did not evict the least recently used reference")
	}
	if nr, nw, er, ew := refs.Held(); nr != 1 || nw != 1 || er != 2 || ew != 0 {
		t.Fatalf("held %d references and %d warm-ups, evicted %d and %d", nr, nw, er, ew)
	}
}

// TestEvaluatorBoundsPreviousWindows: previous_window mode keeps the last
// window of at most MaxVersions model versions, the silent ones going first.
func TestEvaluatorBoundsPreviousWindows(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxVersions = 2
	cfg.ReferenceModes = map[string]string{"fraud": ModePreviousWindow}
	refs := NewReferences(cfg, nil)
	ev := NewEvaluator(cfg, refs, nil)
	r := rand.New(rand.NewPCG(41, 42))
	for i, version := range []string{"a", "b", "c"} {
		m := ModelKey{"fraud", version}
		warm := NewWindow(cfg, m, t0, nil)
		for j := range 50 {
			warm.Observe(randomEvent(r, j, m, t0), int64(j))
		}
		ref := BuildReference(warm, cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
		ref.ID = ref.Hash()
		start := t0.Add(time.Duration(i) * cfg.WindowSize)
		w := NewWindow(cfg, m, start, ref)
		for j := range 50 {
			w.Observe(randomEvent(r, 100+j, m, start), int64(j))
		}
		ev.Evaluate(w, false, nil)
	}
	if len(ev.prev) != 2 || ev.prev[ModelKey{"fraud", "a"}] != nil {
		t.Fatalf("previous windows of %d versions kept (a kept: %v), want the 2 most recent", len(ev.prev), ev.prev[ModelKey{"fraud", "a"}] != nil)
	}
}
