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
	e.selfStart = 0 // the raw evidence: known N(0, 1) in control
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
// (Siegmund's approximation 938; Montgomery lists 465 for the two-sided chart),
// plus the SelfStartWindows the series learns first: the self-starting
// evidence is exactly N(0, 1), so the chart keeps its known-parameter run
// length.
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
	want := 938.0 + SelfStartWindows
	t.Logf("in-control average run length %.0f windows (Siegmund: 938, + %d self-starting)", arl, SelfStartWindows)
	// 300 run lengths, roughly exponential: the mean's standard error is about 938/√300 ≈ 54.
	if arl < want*0.8 || arl > want*1.2 {
		t.Errorf("in-control run length %.0f, want %.0f ± 20%%", arl, want)
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
	e.selfStart = 0 // a sum that moves from the first window
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

// TestSelfStartingTransformMatchesStudentT checks the self-starting
// transform against published table values: after five windows of mean 0
// and sample variance 1, a window at t = 2.776445 (Student's t with 4
// degrees of freedom, upper 2.5% point; t = √(5/6)·(z − centre)/sd) has
// u = 1.959964 (the normal's upper 2.5% point), one at the centre u = 0.
// centre and sd are the learnt mean and standard deviation corrected for
// the truncation at learnLimit.
func TestSelfStartingTransformMatchesStudentT(t *testing.T) {
	se := &series{}
	b := math.Sqrt(2 - 1.2*1.2)
	for _, z := range []float64{-1.2, -b, 0, b, 1.2} { // mean 0, sample variance (2·1.44 + 2·0.56)/4 = 1
		se.learn(z)
	}
	sd := 1 / math.Sqrt(truncatedVariance)
	centre := -truncatedMean * sd
	const tQuantile, zQuantile = 2.7764451051977987, 1.959963984540054
	for _, c := range []struct{ z, want float64 }{
		{centre + tQuantile*sd*math.Sqrt(6.0/5), zQuantile},
		{centre, 0},
		{centre - tQuantile*sd*math.Sqrt(6.0/5), -zQuantile},
	} {
		if u := se.standardise(c.z); math.Abs(u-c.want) > 1e-6 {
			t.Errorf("z %.6f: u = %.9f, want %.9f", c.z, u, c.want)
		}
	}
}

// TestSelfStartingEvidenceAbsorbsTheReferenceBias reproduces issue 10's
// cause (a): a series whose evidence is N(0.6, 0.8²) in every window, as
// when one finite reference sample biases a feature's p-values low. The
// chart with known mean 0 alarms every few tens of windows; the
// self-starting chart never does in 20,000 windows (its in-control run
// length is that of the known-parameter chart, about 2.8 million windows).
func TestSelfStartingEvidenceAbsorbsTheReferenceBias(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	alarms := func(selfStart int) int {
		r := rand.New(rand.NewPCG(3, 4))
		e := NewEvidence(cfg)
		e.selfStart = selfStart
		n := 0
		for range 20000 {
			z := 0.6 + 0.8*r.NormFloat64()
			if evidenceRow(t, e, distuvNormalSurvival(z)).Drifted {
				n++
			}
		}
		return n
	}
	known, self := alarms(0), alarms(SelfStartWindows)
	t.Logf("biased evidence over 20,000 windows: %d alarms with known mean 0, %d self-starting", known, self)
	if known < 100 {
		t.Errorf("known-mean chart: %d alarms, want the bias to show (≥ 100)", known)
	}
	if self != 0 {
		t.Errorf("self-starting chart: %d alarms on in-control evidence, want 0", self)
	}
}

// TestSelfStartingEvidenceFindsAShift: after 2,000 windows of biased
// in-control evidence, a shift of the evidence by 1.5 of its standard
// deviations alarms within 20 windows (the chart's out-of-control run
// length for it is about (h + 1.166)/(1.5 − k) = 13), and the drift is not learnt as the
// new normal while it lasts (it keeps alarming).
func TestSelfStartingEvidenceFindsAShift(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	r := rand.New(rand.NewPCG(5, 6))
	e := NewEvidence(cfg)
	first, alarms := -1, 0
	for i := range 2200 {
		z := -0.3 + 1.2*r.NormFloat64()
		if i >= 2000 {
			z += 1.5 * 1.2
		}
		if evidenceRow(t, e, distuvNormalSurvival(z)).Drifted {
			if i < 2000 {
				t.Fatalf("alarm at in-control window %d", i)
			}
			if first < 0 {
				first = i - 2000
			}
			alarms++
		}
	}
	t.Logf("1.5σ evidence shift: first alarm %d windows after it, %d alarms in 200 windows", first, alarms)
	if first < 0 || first > 20 {
		t.Errorf("first alarm %d windows after the shift, want within 20", first)
	}
	if alarms < 10 {
		t.Errorf("%d alarms in the 200 windows of the shift, want it to keep alarming", alarms)
	}
}

// distuvNormalSurvival is the p-value whose evidence Φ⁻¹(1 − p) is z.
func distuvNormalSurvival(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// TestEvidenceRestartsOnANewReference: a series learnt against one pinned
// reference starts again when its model version's windows are opened
// against another; a re-read window of the same reference does not.
func TestEvidenceRestartsOnANewReference(t *testing.T) {
	e := NewEvidence(analysis.DefaultSequentialConfig())
	m := analysis.ModelKey{ID: "m", Version: "1"}
	scores := []Score{{Feature: "x", Kind: analysis.KindNumeric, Test: TestPSI, PValue: 0.3, AdjustedP: 0.3}}
	k := seriesKey{m, "x", TestPSI}
	at := windowtest.T0
	for range 30 {
		at = at.Add(time.Minute)
		e.AddAgainst(m, "ref-a", at, scores)
	}
	e.AddAgainst(m, "ref-a", at, scores) // re-read
	if n := e.series[k].n; n != 30 {
		t.Fatalf("after 30 windows against ref-a the series learnt %d", n)
	}
	at = at.Add(time.Minute)
	e.AddAgainst(m, "ref-b", at, scores)
	if se := e.series[k]; se.n != 1 || se.ref != "ref-b" {
		t.Fatalf("after a window against ref-b: %d learnt, reference %q; want a new series", se.n, se.ref)
	}
}
