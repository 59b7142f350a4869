package evaluate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

var evidenceClock = windowtest.T0

func evidenceRow(t *testing.T, e *Evidence, p float64) Score {
	t.Helper()
	evidenceClock = evidenceClock.Add(time.Minute)
	rows := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, evidenceClock, []Score{{Feature: "x", Kind: analysis.KindNumeric, Test: TestPSI, PValue: p, AdjustedP: p, NReference: 1000, NCurrent: 1000}})
	if len(rows) != 1 {
		t.Fatalf("%d evidence rows, want 1", len(rows))
	}
	return rows[0]
}

// TestEvidenceAccumulatesSmallSignals feeds p = 0.05 every window (never
// significant after correction): z = Φ⁻¹(0.95) = 1.6448536269514722, so the
// upper sum grows by z − 0.5 per window and first exceeds h = 12 at window 11
// (11 × 1.1448536 = 12.593), then resets on the next window.
func TestEvidenceAccumulatesSmallSignals(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	if err := validSequential(cfg); err != nil {
		t.Fatal(err)
	}
	e := NewEvidence(cfg)
	for i := 1; i <= 12; i++ {
		row := evidenceRow(t, e, 0.05)
		want := float64(i) * (1.6448536269514722 - 0.5)
		if i == 12 {
			want = 1.6448536269514722 - 0.5 // reset after the alarm, as River does
		}
		if math.Abs(row.Statistic-want) > 1e-9 {
			t.Fatalf("window %d: sum %.10f, want %.10f", i, row.Statistic, want)
		}
		if row.Drifted != (i == 11) || row.Test != "cusum_psi" || row.Threshold != 12 {
			t.Fatalf("window %d: %+v", i, row)
		}
	}
}

// TestEvidenceInControlRunLength: with uniform p-values (no drift) and h = 5,
// the one-sided CUSUM's in-control average run length is about 930 windows
// (Siegmund's approximation 938; Montgomery lists 465 for the two-sided chart).
func TestEvidenceInControlRunLength(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	cfg.Threshold = 5
	if err := validSequential(cfg); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	const series = 300
	total := 0
	for range series {
		e := NewEvidence(cfg)
		for n := 1; n <= 50000; n++ {
			if evidenceRow(t, e, r.Float64()).Drifted {
				total += n
				break
			}
		}
	}
	arl := float64(total) / series
	t.Logf("in-control average run length %.0f windows (Siegmund: 938)", arl)
	// 300 run lengths, roughly exponential: the mean's standard error is about 938/√300 ≈ 54.
	if arl < 938*0.8 || arl > 938*1.2 {
		t.Errorf("in-control run length %.0f, want 938 ± 20%%", arl)
	}
}

func TestEvidenceSkipsUntestedAndBoundsSeries(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	cfg.MaxSeries = 1
	if err := validSequential(cfg); err != nil {
		t.Fatal(err)
	}
	e := NewEvidence(cfg)
	nan := math.NaN()
	rows := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0, []Score{
		{Feature: "a", Test: TestPSI, PValue: 0.5, AdjustedP: 0.5},
		{Feature: "b", Test: TestPSI, PValue: 0.5, AdjustedP: 0.5}, // beyond MaxSeries
		{Feature: "c", Test: TestJS, PValue: nan, AdjustedP: nan},  // informational
		{Feature: "d", Test: TestKS, PValue: 0.01, AdjustedP: nan}, // too few observations
	})
	if len(rows) != 1 || rows[0].Feature != "a" || e.Dropped() != 1 {
		t.Fatalf("rows %+v, dropped %d", rows, e.Dropped())
	}
	cfg = analysis.DefaultSequentialConfig()
	cfg.Disabled = true
	if rows := NewEvidence(cfg).Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0, []Score{{Feature: "a", Test: TestPSI, PValue: 0.5, AdjustedP: 0.5}}); rows != nil {
		t.Fatalf("disabled evidence returned %+v", rows)
	}
	for _, bad := range []func(*analysis.SequentialConfig){
		func(c *analysis.SequentialConfig) { c.Slack = -1 },
		func(c *analysis.SequentialConfig) { c.Slack = 0 },
		func(c *analysis.SequentialConfig) { c.Threshold = 0 },
		func(c *analysis.SequentialConfig) { c.Detector = "" },
		func(c *analysis.SequentialConfig) { c.MaxSeries = -1 },
	} {
		c := analysis.DefaultSequentialConfig()
		bad(&c)
		if err := validSequential(c); err == nil || !strings.Contains(err.Error(), "sequential.") {
			t.Errorf("%+v: got %v, want an error naming the field", c, err)
		}
	}
}

// TestEvidenceDetectors runs every selectable detector on evidence that turns
// strong after 60 quiet windows: each must stay quiet first and alarm after.
func TestEvidenceDetectors(t *testing.T) {
	for _, det := range []string{analysis.DetectorCUSUM, analysis.DetectorPageHinkley, analysis.DetectorADWIN, analysis.DetectorEWMA} {
		cfg := analysis.DefaultSequentialConfig()
		cfg.Detector = det
		if err := validSequential(cfg); err != nil {
			t.Fatal(err)
		}
		e := NewEvidence(cfg)
		r := rand.New(rand.NewPCG(9, 10))
		alarmAt, lastAlarm := -1, -1
		for i := range 600 {
			p := r.Float64() // no drift
			if i >= 60 && i < 300 {
				p = 1e-4 // strong, persistent evidence (z ≈ 3.7) from 60 to 300
			}
			row := evidenceRow(t, e, p)
			if row.Test != det+"_psi" {
				t.Fatalf("%s: test %q", det, row.Test)
			}
			if row.Drifted {
				if alarmAt < 0 {
					alarmAt = i
				}
				lastAlarm = i
			}
		}
		if alarmAt < 60 || alarmAt > 200 {
			t.Errorf("%s: first alarm at window %d, want after the change at 60 and before 200", det, alarmAt)
		}
		if lastAlarm >= 300 {
			t.Errorf("%s: alarm at window %d, after the drift ended at 300: the end of a drift is not a drift", det, lastAlarm)
		}
	}
	bad := analysis.DefaultSequentialConfig()
	bad.Detector = "kswin"
	if err := validSequential(bad); err == nil {
		t.Error("unknown detector accepted")
	}
}

// TestEvidenceReReadWindowGetsItsRow: a window fed again (its write failed
// and it was re-read) is not counted twice but gets the same row back.
func TestEvidenceReReadWindowGetsItsRow(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	if err := validSequential(cfg); err != nil {
		t.Fatal(err)
	}
	e := NewEvidence(cfg)
	scores := []Score{{Feature: "x", Kind: analysis.KindNumeric, Test: TestPSI, PValue: 0.01, AdjustedP: 0.01}}
	first := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0, scores)
	again := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0, scores)
	if len(first) != 1 || len(again) != 1 || first[0].Test != again[0].Test ||
		first[0].Statistic != again[0].Statistic || first[0].Drifted != again[0].Drifted {
		t.Fatalf("first %+v, re-read %+v", first, again)
	}
	next := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0.Add(time.Minute), scores)
	if want := 2 * (first[0].Statistic); math.Abs(next[0].Statistic-want) > 1e-12 {
		t.Fatalf("sum after the next window %g, want %g (the re-read window counted once)", next[0].Statistic, want)
	}
}

// TestEvidenceEvictsIdleSeries: when MaxSeries is reached, the series of
// model versions that went silent for IdleAfter make room (a flood of
// versions no longer blinds the sequential test of new ones for good); live
// series are never evicted: a new one is then not tested.
func TestEvidenceEvictsIdleSeries(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	cfg.MaxSeries, cfg.IdleAfter = 2, time.Hour
	e := NewEvidence(cfg)
	score := func(f string) []Score { return []Score{{Feature: f, Test: TestPSI, PValue: 0.5, AdjustedP: 0.5}} }
	e.Add(analysis.ModelKey{ID: "flood", Version: "1"}, windowtest.T0, score("a"))
	e.Add(analysis.ModelKey{ID: "flood", Version: "2"}, windowtest.T0.Add(30*time.Minute), score("a"))
	if rows := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0.Add(40*time.Minute), score("x")); len(rows) != 0 || e.Dropped() != 1 {
		t.Fatalf("a new series among live ones: %d rows, %d dropped", len(rows), e.Dropped())
	}
	if rows := e.Add(analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0.Add(2*time.Hour), score("x")); len(rows) != 1 || e.Evicted() != 2 {
		t.Fatalf("a new series once the others went silent: %d rows, %d evicted", len(rows), e.Evicted())
	}
}

// validSequential validates c as part of an otherwise default configuration.
func validSequential(c analysis.SequentialConfig) error {
	cfg := analysis.DefaultConfig()
	cfg.Sequential = c
	return cfg.Validate()
}
