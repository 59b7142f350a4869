package reference_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestPinnedReferenceScoresBinnedTestsOnly scores a window against a reference
// pinned from windows (no sample): PSI, JS and chi-square, never KS or
// Wasserstein, as docs/baselines.md says.
func TestPinnedReferenceScoresBinnedTestsOnly(t *testing.T) {
	tab := reference.ReadBaselineTable(t, "ref.csv")
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	cfg := analysis.DefaultConfig()
	union, err := reference.ReferenceFromTable(tab, m, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pin, err := reference.FromWindows(reference.WindowSummaries(tab, union, []int{300, 300}, start), m, start, start.Add(2*time.Minute), cfg, start)
	if err != nil {
		t.Fatal(err)
	}
	pin.Prepare(cfg.SampleSize)
	w := window.NewWindow(&cfg, m, start.Add(time.Hour), pin)
	amount, country := tab.Column("amount"), tab.Column("country")
	for i := range amount.Numeric {
		w.Observe(&telemetry.Event{PredictionID: strconv.Itoa(i), EventTime: start.Add(time.Hour), Model: telemetry.Model{ID: m.ID, Version: m.Version},
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"amount": amount.Numeric[i]}), Categorical: telemetry.CategoriesOf(map[string]string{"country": country.Categorical[i]})}},
			int64(i))
	}
	got := map[string]evaluate.Score{}
	for _, sc := range evaluate.ScoreWindow(&cfg, w) {
		got[sc.Feature+"/"+sc.Test] = sc
	}
	for _, k := range []string{"amount/" + evaluate.TestPSI, "amount/" + evaluate.TestJS, "country/" + evaluate.TestChi2} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s score against the pinned reference: %v", k, got)
		}
	}
	for _, k := range []string{"amount/" + evaluate.TestKS, "amount/" + evaluate.TestWasserstein, "amount/" + evaluate.TestWassersteinNorm} {
		if _, ok := got[k]; ok {
			t.Errorf("a %s score against a reference without sample", k)
		}
	}
	// The same values in the same bins: no drift.
	if sc := got["amount/"+evaluate.TestPSI]; sc.Statistic != 0 || sc.NReference != union.Numeric["amount"].N || sc.Drifted {
		t.Errorf("PSI of the reference's own values: %+v", sc)
	}
}

// TestWarmupEqualsTheMergedWindows: the reference a Store pins after
// WarmupWindows contributions is the reference built from the windows merged
// by window.Merge (same content hash), and a window contributed twice (re-read
// after a failed write) counts once.
func TestWarmupEqualsTheMergedWindows(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.WarmupWindows = 3
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(71, 72))
	merged := window.NewWindow(cfg, m, windowtest.T0, nil)
	store := reference.NewStore(cfg, func() time.Time { return windowtest.T0 })
	var got *reference.Reference
	id := 0
	for i := range cfg.WarmupWindows {
		w := window.NewWindow(cfg, m, windowtest.T0.Add(time.Duration(i)*cfg.WindowSize), nil)
		for range 400 {
			id++
			w.Observe(windowtest.RandomEvent(r, id, m, w.Start), int64(id))
		}
		merged.Merge(w)
		got = store.Contribute(w.Sketches())
		if i == 0 && (store.Contribute(w.Sketches()) != nil || store.WarmupProgress(m) != 1) {
			t.Fatalf("a window contributed twice counted twice (progress %d)", store.WarmupProgress(m))
		}
		if (got != nil) != (i == cfg.WarmupWindows-1) {
			t.Fatalf("after %d windows: pinned %v", i+1, got != nil)
		}
	}
	want := reference.Build(merged.Sketches(), cfg.Bins, cfg.SampleSize, reference.SourceWarmup, cfg.WarmupWindows, windowtest.T0)
	if got.ID != want.ID || got.Windows != cfg.WarmupWindows || store.Get(m) != got {
		t.Fatalf("warm-up pinned %s (%d windows), want the reference of the merged windows %s", got.ID, got.Windows, want.ID)
	}
}

// TestWarmupKeepsMaxFeatures: windows with different features each within
// MaxFeatures make a reference of at most MaxFeatures features.
func TestWarmupKeepsMaxFeatures(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.WarmupWindows, cfg.MaxFeatures = 2, 3
	m := analysis.ModelKey{ID: "m", Version: "1"}
	store := reference.NewStore(cfg, nil)
	var ref *reference.Reference
	for i := range 2 {
		w := window.NewWindow(cfg, m, windowtest.T0.Add(time.Duration(i)*cfg.WindowSize), nil)
		for j := range 50 {
			w.Observe(&telemetry.Event{PredictionID: fmt.Sprint(i, "-", j), EventTime: w.Start, Model: telemetry.Model{ID: m.ID, Version: m.Version},
				Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{fmt.Sprint("a", i): 1, fmt.Sprint("b", i): 2, fmt.Sprint("c", i): 3})}}, int64(j))
		}
		ref = store.Contribute(w.Sketches())
	}
	if ref == nil || len(ref.Numeric)+len(ref.Categorical) != cfg.MaxFeatures {
		t.Fatalf("reference of %d features, want %d", len(ref.Numeric)+len(ref.Categorical), cfg.MaxFeatures)
	}
}

// TestWarmupsDoNotEvictReferences replays a flood of made-up versions
// warming up: at max_versions they evict each other, never the pinned
// reference of an established version, which is what gives that version
// its slots of its own in the windowers.
func TestWarmupsDoNotEvictReferences(t *testing.T) {
	cfg := windowtest.Config(t)
	cfg.MaxVersions, cfg.WarmupWindows = 2, 5
	store := reference.NewStore(cfg, nil)
	legit := analysis.ModelKey{ID: "fraud", Version: "3"}
	store.Set(&reference.Reference{ID: "r", Model: legit, Numeric: map[string]*reference.Numeric{}, Categorical: map[string]*reference.Categorical{}})
	r := rand.New(rand.NewPCG(81, 82))
	for i := range 20 {
		m := analysis.ModelKey{ID: "flood", Version: fmt.Sprint(i)}
		w := window.NewWindow(cfg, m, windowtest.T0, nil)
		w.Observe(windowtest.RandomEvent(r, i, m, windowtest.T0), int64(i))
		store.Contribute(w.Sketches())
	}
	refs, warm, evictedRefs, evictedWarm := store.Held()
	if store.Get(legit) == nil || refs != 1 || warm != 1 || evictedRefs != 0 || evictedWarm != 19 {
		t.Fatalf("after the flood: reference held %v, %d references and %d warm-ups, %d and %d evicted",
			store.Get(legit) != nil, refs, warm, evictedRefs, evictedWarm)
	}
}
