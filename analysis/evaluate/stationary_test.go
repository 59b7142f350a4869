package evaluate

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// stationaryWorld generates the telemetry of issue 10's measurement: one
// model, 9 features (7 numeric of different shapes, one of them integer
// valued with ties, and 2 categorical), optionally with, from window
// shiftFrom on (counting the warm-up windows), x0 shifted by shiftBy of its
// standard deviation and catShift of c0's share moved from "web" to "ios".
type stationaryWorld struct {
	r         *rand.Rand
	next      int
	shiftFrom int     // first shifted window; <0: none
	shiftBy   float64 // in standard deviations of x0 (N(0, 1))
	catShift  float64 // share moved from c0's first to its second category
	ev        telemetry.Event
}

var (
	stationaryNumeric = []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6"}
	stationaryCats    = []string{"c0", "c1"}
	c0Values          = []string{"web", "ios", "android"}
	c0Shares          = []float64{0.5, 0.3, 0.2}
	c1Values          = []string{"DE", "FR", "US", "GB", "IT", "ES"}
	c1Shares          = []float64{0.3, 0.25, 0.2, 0.1, 0.1, 0.05}
)

// pick draws a category index with the given shares.
func pick(r *rand.Rand, shares []float64) int {
	u := r.Float64()
	for k, s := range shares {
		if u < s {
			return k
		}
		u -= s
	}
	return len(shares) - 1
}

// poisson3 draws from a Poisson(3) distribution (Knuth's method).
func poisson3(r *rand.Rand) float64 {
	l, k, p := math.Exp(-3), 0, 1.0
	for {
		p *= r.Float64()
		if p < l {
			return float64(k)
		}
		k++
	}
}

// window returns window i of model m opened against ref, with n events.
func (s *stationaryWorld) window(cfg *analysis.Config, m analysis.ModelKey, i int, ref *reference.Reference, n int) *window.Window {
	start := windowtest.T0.Add(time.Duration(i) * cfg.WindowSize)
	w := window.NewWindow(cfg, m, start, ref)
	shifted := s.shiftFrom >= 0 && i >= s.shiftFrom
	e := &s.ev
	e.Model = telemetry.Model{ID: m.ID, Version: m.Version}
	e.EventTime = start
	for range n {
		s.next++
		e.PredictionID = "p" + fmt.Sprint(s.next)
		e.Features.Numeric = e.Features.Numeric[:0]
		e.Features.Categorical = e.Features.Categorical[:0]
		x0 := s.r.NormFloat64()
		if shifted {
			x0 += s.shiftBy
		}
		vals := [...]float64{
			x0,
			10 + 3*s.r.NormFloat64(),
			math.Exp(s.r.NormFloat64()), // lognormal, skewed
			s.r.Float64(),               // uniform
			s.r.ExpFloat64() * 2,        // exponential
			poisson3(s.r),               // integer valued: ties
			-1 + 0.5*s.r.NormFloat64(),
		}
		for f, v := range vals {
			e.Features.SetNumeric(stationaryNumeric[f], v)
		}
		c0 := c0Shares
		if shifted && s.catShift != 0 {
			c0 = []float64{c0Shares[0] - s.catShift, c0Shares[1] + s.catShift, c0Shares[2]}
		}
		e.Features.SetCategorical(stationaryCats[0], c0Values[pick(s.r, c0)])
		e.Features.SetCategorical(stationaryCats[1], c1Values[pick(s.r, c1Shares)])
		w.Observe(e, int64(s.next))
	}
	return w
}

// stationaryRun counts what the evaluator decided over a run. Counts are
// of the in-control windows (before shiftFrom); what follows a shift is
// recorded as the delay to its first detection.
type stationaryRun struct {
	windows  int            // in-control windows scored
	drifted  int            // of them, windows with a drifted (statistically detectable) decision row
	material int            // windows with a decision row of severity warning or worse
	alarms   int            // sequential alarms (rows of the sequential detector at warning)
	byTest   map[string]int // material rows per test
	// firstMaterial and firstAlarm are, per feature, the number of windows
	// from shiftFrom to its first material row and to its first sequential
	// alarm (0: the first shifted window).
	firstMaterial, firstAlarm map[string]int
	ksP                       map[string]float64   // mean KS p-value per feature
	effects                   map[string][]float64 // effects of the decision rows per test
	significant               map[string]float64   // largest effect of a significant row per test
}

// runStationary feeds windows of n events of s through the path the
// monitor's decider takes (reference.Store warm-up and pin, Evaluator,
// Evidence), windows opened against the pinned reference as a Windower
// opens them: the first cfg.WarmupWindows windows make the reference, the
// next windows are scored.
func runStationary(t testing.TB, cfg *analysis.Config, s *stationaryWorld, windows, n int) stationaryRun {
	t.Helper()
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	refs := reference.NewStore(cfg, func() time.Time { return windowtest.T0 })
	ev := NewEvaluator(cfg, refs, NewEvidence(cfg.Sequential))
	run := stationaryRun{byTest: map[string]int{}, firstMaterial: map[string]int{}, firstAlarm: map[string]int{},
		ksP: map[string]float64{}, effects: map[string][]float64{}, significant: map[string]float64{}}
	seqPrefix := cfg.Sequential.Detector + "_"
	for i := range windows + cfg.WarmupWindows {
		d := ev.Evaluate(s.window(cfg, m, i, refs.Get(m), n), false, nil)
		if len(d.Scores) == 0 {
			continue
		}
		shifted := s.shiftFrom >= 0 && i >= s.shiftFrom
		first := func(at map[string]int, feature string) {
			if _, ok := at[feature]; !ok {
				at[feature] = i - s.shiftFrom
			}
		}
		if !shifted {
			run.windows++
		}
		var drifted, material bool
		for _, sc := range d.Scores {
			alerting := sc.Severity.Rank() >= verdict.SeverityWarning.Rank()
			if strings.HasPrefix(sc.Test, seqPrefix) {
				switch {
				case alerting && shifted:
					first(run.firstAlarm, sc.Feature)
				case alerting:
					run.alarms++
				}
				continue
			}
			if shifted {
				if alerting {
					first(run.firstMaterial, sc.Feature)
				}
				continue
			}
			if sc.Test == TestKS {
				run.ksP[sc.Feature] += sc.PValue
			}
			if !math.IsNaN(sc.Threshold) && !math.IsNaN(sc.Effect) {
				run.effects[sc.Test] = append(run.effects[sc.Test], sc.Effect)
				if sc.Drifted {
					run.significant[sc.Test] = math.Max(run.significant[sc.Test], sc.Effect)
				}
			}
			drifted = drifted || sc.Drifted
			if alerting {
				material = true
				run.byTest[sc.Test]++
			}
		}
		if drifted {
			run.drifted++
		}
		if material {
			run.material++
		}
	}
	for f := range run.ksP {
		run.ksP[f] /= float64(run.windows)
	}
	return run
}

// log writes the run's counts and its null effect quantiles per test.
func (run *stationaryRun) log(t *testing.T, name string) {
	t.Helper()
	t.Logf("%s: %d in-control windows, %d with a drifted row, %d with a material row %v, %d sequential alarms",
		name, run.windows, run.drifted, run.material, run.byTest, run.alarms)
	for _, test := range slices.Sorted(maps.Keys(run.effects)) {
		e := run.effects[test]
		slices.Sort(e)
		q := func(p float64) float64 { return e[int(p*float64(len(e)-1))] }
		t.Logf("  %s null effect: median %.4f, p99 %.4f, p99.9 %.4f, max %.4f; largest drifted %.4f",
			test, q(0.5), q(0.99), q(0.999), e[len(e)-1], run.significant[test])
	}
}

// stationaryConfig is the default configuration with 10-minute windows.
func stationaryConfig(t *testing.T) *analysis.Config {
	t.Helper()
	cfg := analysis.DefaultConfig()
	cfg.WindowSize = 10 * time.Minute
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// TestStationaryDataNeverPages is issue 10's measurement: 4,320 windows of
// 500 stationary events (30 days of 10-minute windows) after a 2,500-event
// warm-up, for three seeds, under the default configuration. No window may
// carry a material (warning or worse) decision and no sequential detector
// may alarm. Windows with a statistically detectable (drifted) row are
// expected at about the per-window false discovery rate and only logged.
// Before issue 10's fixes the same runs gave 153, 78 and 118 windows with a
// warning and 2, 0 and 16 sequential alarms. With -short: one seed, 1,000
// windows; under the race detector (make test), which has nothing to find in
// this single-goroutine arithmetic, one seed of 4,320 windows.
// make stationary runs the same question through Kafka and the monitor.
func TestStationaryDataNeverPages(t *testing.T) {
	cfg := stationaryConfig(t)
	windows, seeds := 4320, []uint64{1, 2, 3}
	switch {
	case testing.Short():
		windows, seeds = 1000, seeds[:1]
	case raceEnabled:
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			s := &stationaryWorld{r: rand.New(rand.NewPCG(seed, 10)), shiftFrom: -1}
			run := runStationary(t, cfg, s, windows, 500)
			run.log(t, fmt.Sprint("seed ", seed))
			if run.material != 0 || run.alarms != 0 {
				t.Errorf("%d windows with a material decision %v and %d sequential alarms on stationary data, want none",
					run.material, run.byTest, run.alarms)
			}
		})
	}
}

// TestShiftPagesPromptly: after 2,000 stationary windows (300 with -short),
// a 0.5σ mean shift of x0 is material (warning or worse, through PSI, KS or
// the multivariate distance) in its first window, and a 5-point move of
// c0's share from "web" to "ios", which no single window of 500 events can
// tell from noise, is found by the self-starting sequential test within 20
// windows. No window before the shift pages.
func TestShiftPagesPromptly(t *testing.T) {
	cfg := stationaryConfig(t)
	before := 2000
	if testing.Short() {
		before = 300
	}
	s := &stationaryWorld{r: rand.New(rand.NewPCG(7, 10)), shiftFrom: cfg.WarmupWindows + before, shiftBy: 0.5, catShift: 0.05}
	run := runStationary(t, cfg, s, before+30, 500)
	run.log(t, "before the shift")
	t.Logf("after the shift: first material row per feature %v, first sequential alarm per feature %v", run.firstMaterial, run.firstAlarm)
	if run.material != 0 || run.alarms != 0 {
		t.Errorf("before the shift: %d windows with a material decision %v and %d sequential alarms", run.material, run.byTest, run.alarms)
	}
	if at, ok := run.firstMaterial["x0"]; !ok || at > 0 {
		t.Errorf("0.5σ shift of x0: first material row %d windows after it (found: %v), want in its first window", at, ok)
	}
	if at, ok := run.firstAlarm["c0"]; !ok || at > 20 {
		t.Errorf("5-point share move of c0: first sequential alarm %d windows after it (found: %v), want within 20", at, ok)
	}
	for f := range run.firstMaterial {
		if f != "x0" && f != "c0" && f != JointFeature {
			t.Errorf("material row on unshifted feature %s after the shift", f)
		}
	}
	for f := range run.firstAlarm {
		if f != "x0" && f != "c0" && f != JointFeature {
			t.Errorf("sequential alarm on unshifted feature %s after the shift", f)
		}
	}
}
