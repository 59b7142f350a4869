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
