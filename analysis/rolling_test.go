package analysis

import (
	"math/rand/v2"
	"testing"
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
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := ModelKey{"m", "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(41, 42)), numeric: 3, cats: 1, shares: []float64{0.5, 0.3, 0.2}, shiftNum: -1}
	pinned := BuildReference(d.window(&cfg, m, nil, 20000), cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
	before := d.window(&cfg, m, pinned, 3000)
	d.shiftNum, d.shiftBy = 1, 0.5
	shifted := d.window(&cfg, m, pinned, 3000)
	after := d.window(&cfg, m, pinned, 3000)

	if !drifted(cfg.ScoreWindowAgainst(shifted, ReferenceFromWindow(before, t0)), "x1", TestPSI) {
		t.Error("the window where the shift happens is not flagged against the previous window")
	}
	rolling := ReferenceFromWindow(shifted, t0)
	if rolling.ID == "" || rolling.ID == pinned.ID || rolling.Numeric["x1"].N != 3000 {
		t.Fatalf("rolling reference %+v", rolling)
	}
	if s := cfg.ScoreWindowAgainst(after, rolling); drifted(s, "x1", TestPSI) || drifted(s, "x1", TestKS) {
		t.Error("the window after the shift is flagged against the (already shifted) previous window")
	}
	if !drifted(cfg.ScoreWindow(after), "x1", TestPSI) {
		t.Error("the window after the shift is not flagged against the pinned reference")
	}
	// The window's own sample is left intact by scoring: a second reference
	// from the same window is identical.
	if again := ReferenceFromWindow(shifted, t0); again.ID != rolling.ID {
		t.Error("scoring changed the window's sample")
	}
}

// TestReferenceWithoutSampleScoresBinsOnly: a reference merged from stored
// windows has no sample: PSI and chi-square decide, KS is absent.
func TestReferenceWithoutSampleScoresBinsOnly(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := ModelKey{"m", "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(43, 44)), numeric: 2, cats: 1, shares: []float64{0.5, 0.5}, shiftNum: -1}
	pinned := BuildReference(d.window(&cfg, m, nil, 20000), cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
	ref := ReferenceFromWindow(d.window(&cfg, m, pinned, 3000), t0)
	for _, nr := range ref.Numeric {
		nr.Sample = nil
	}
	ref.Prepare(cfg.SampleSize)
	d.shiftNum, d.shiftBy = 0, 1
	scores := cfg.ScoreWindowAgainst(d.window(&cfg, m, pinned, 3000), ref)
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
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := ModelKey{"m", "1"}
	d := &decisionWorld{r: rand.New(rand.NewPCG(45, 46)), numeric: 1, shiftNum: -1}
	pinned := BuildReference(d.window(&cfg, m, nil, 5000), cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
	other := BuildReference(d.window(&cfg, m, nil, 5000), cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
	if s := cfg.ScoreWindowAgainst(d.window(&cfg, m, pinned, 1000), other); len(s) != 0 {
		t.Errorf("scored %d rows against a reference with other bins", len(s))
	}
}

func TestReferenceModesValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReferenceModes = map[string]string{"a": ModePreviousWeek, "b": "yesterday"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("unknown reference mode accepted")
	}
	cfg.ReferenceModes = map[string]string{"a": ModePreviousDay}
	if err := cfg.Validate(); err != nil || cfg.Mode("a") != ModePreviousDay || cfg.Mode("z") != ModePinned || Lookback(ModePreviousWeek) != 7*24*60*60*1e9 {
		t.Fatalf("modes: %v", err)
	}
}
