package evaluate

import (
	"math/rand/v2"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

func drifted(scores []Score, feature, test string) bool {
	for _, sc := range scores {
		if sc.Feature == feature && sc.Test == test {
			return sc.Drifted
		}
	}
	return false
}

func hasTest(scores []Score, test string) bool {
	for _, sc := range scores {
		if sc.Test == test {
			return true
		}
	}
	return false
}

// TestPreviousWindowReference: after a level shift, the pinned reference keeps
// flagging every window, while the previous-window reference flags only the
// window where the shift happened.
func TestPreviousWindowReference(t *testing.T) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := analysis.ModelKey{ID: "m", Version: "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(41, 42)), numeric: 3, cats: 1, shares: []float64{0.5, 0.3, 0.2}, shiftNum: -1}
	pinned := reference.Build(d.window(&cfg, m, nil, 20000).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	before := d.window(&cfg, m, pinned, 3000)
	d.shiftNum, d.shiftBy = 1, 0.5
	shifted := d.window(&cfg, m, pinned, 3000)
	after := d.window(&cfg, m, pinned, 3000)

	if !drifted(ScoreAgainst(&cfg, shifted, reference.Rolling(before.Sketches(), before.Ref, before.SampleSize(), windowtest.T0)), "x1", TestPSI) {
		t.Error("the window where the shift happens is not flagged against the previous window")
	}
	rolling := reference.Rolling(shifted.Sketches(), shifted.Ref, shifted.SampleSize(), windowtest.T0)
	if rolling.ID == "" || rolling.ID == pinned.ID || rolling.Numeric["x1"].N != 3000 {
		t.Fatalf("rolling reference %+v", rolling)
	}
	if s := ScoreAgainst(&cfg, after, rolling); drifted(s, "x1", TestPSI) || drifted(s, "x1", TestKS) {
		t.Error("the window after the shift is flagged against the (already shifted) previous window")
	}
	if !drifted(ScoreWindow(&cfg, after), "x1", TestPSI) {
		t.Error("the window after the shift is not flagged against the pinned reference")
	}
	// The window's own sample is left intact by scoring: a second reference
	// from the same window is identical.
	if again := reference.Rolling(shifted.Sketches(), shifted.Ref, shifted.SampleSize(), windowtest.T0); again.ID != rolling.ID {
		t.Error("scoring changed the window's sample")
	}
}

// TestReferenceWithoutSampleScoresBinsOnly: a reference merged from stored
// windows has no sample: PSI and chi-square decide, KS is absent.
func TestReferenceWithoutSampleScoresBinsOnly(t *testing.T) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := analysis.ModelKey{ID: "m", Version: "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(43, 44)), numeric: 2, cats: 1, shares: []float64{0.5, 0.5}, shiftNum: -1}
	pinned := reference.Build(d.window(&cfg, m, nil, 20000).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	prev := d.window(&cfg, m, pinned, 3000)
	ref := reference.Rolling(prev.Sketches(), prev.Ref, prev.SampleSize(), windowtest.T0)
	for _, nr := range ref.Numeric {
		nr.Sample = nil
	}
	ref.Prepare(cfg.SampleSize)
	d.shiftNum, d.shiftBy = 0, 1
	scores := ScoreAgainst(&cfg, d.window(&cfg, m, pinned, 3000), ref)
	if hasTest(scores, TestKS) || hasTest(scores, TestWasserstein) {
		t.Error("sample-based tests scored against a reference without samples")
	}
	if !drifted(scores, "x0", TestPSI) || drifted(scores, "x1", TestPSI) {
		t.Errorf("PSI decisions wrong: %+v", scores)
	}
	if !hasTest(scores, TestChi2) {
		t.Error("no chi-square score")
	}
}

// TestRollingReferenceWithOtherBinsIsSkipped: a reference counted with other
// edges cannot be compared bin by bin.
func TestRollingReferenceWithOtherBinsIsSkipped(t *testing.T) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := analysis.ModelKey{ID: "m", Version: "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(45, 46)), numeric: 1, shiftNum: -1}
	pinned := reference.Build(d.window(&cfg, m, nil, 5000).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	other := reference.Build(d.window(&cfg, m, nil, 5000).Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	if s := ScoreAgainst(&cfg, d.window(&cfg, m, pinned, 1000), other); len(s) != 0 {
		t.Errorf("scored %d rows against a reference with other bins", len(s))
	}
}

func TestReferenceModesValidate(t *testing.T) {
	cfg := analysis.DefaultConfig()
	cfg.ReferenceModes = map[string]string{"a": analysis.ModePreviousWeek, "b": "yesterday"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("unknown reference mode accepted")
	}
	cfg.ReferenceModes = map[string]string{"a": analysis.ModePreviousDay}
	if err := cfg.Validate(); err != nil || cfg.Mode("a") != analysis.ModePreviousDay || cfg.Mode("z") != analysis.ModePinned || analysis.Lookback(analysis.ModePreviousWeek) != 7*24*60*60*1e9 {
		t.Fatalf("modes: %v", err)
	}
}
