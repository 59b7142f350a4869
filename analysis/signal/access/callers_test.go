package access

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// The synthetic model of the scenario tests: four numeric features, each
// N(50, 10), and four classes predicted with shares 0.7, 0.2, 0.07, 0.03.
var (
	featureNames = []string{"f0", "f1", "f2", "f3"}
	classNames   = []string{"approve", "review", "decline", "fraud"}
	classShares  = []float64{0.7, 0.2, 0.07, 0.03}
)

// world makes the calls of the scenarios.
type world struct {
	rng  *rand.Rand
	next int
}

func newWorld(seed uint64) *world { return &world{rng: rand.New(rand.NewPCG(seed, seed+1))} }

// entity is one input vector and the class the model predicts for it.
type entity struct {
	x     []float64
	class string
}

// ordinary draws an input from the model's distribution.
func (w *world) ordinary() entity {
	x := make([]float64, len(featureNames))
	for i := range x {
		x[i] = 50 + 10*w.rng.NormFloat64()
	}
	u, class := w.rng.Float64(), classNames[len(classNames)-1]
	for i, s := range classShares {
		if u < s {
			class = classNames[i]
			break
		}
		u -= s
	}
	return entity{x, class}
}

// spray draws an input uniform over each feature's central 99.7 % and a
// class in turn: an extraction attacker covering the input and class
// spaces.
func (w *world) spray() entity {
	x := make([]float64, len(featureNames))
	for i := range x {
		x[i] = 50 + 10*(-2.97+5.94*w.rng.Float64())
	}
	return entity{x, classNames[w.next%len(classNames)]}
}

func (w *world) event(caller string, e entity) *telemetry.Event {
	w.next++
	ev := &telemetry.Event{PredictionID: fmt.Sprintf("pred-%09d", w.next), Principal: telemetry.Principal{EndUserID: caller},
		Prediction: telemetry.Prediction{Class: e.class}}
	for i, v := range e.x {
		ev.Features.Numeric = append(ev.Features.Numeric, telemetry.Number{Name: featureNames[i], Value: v})
	}
	return ev
}

// ordinaryCallers returns the calls of n ordinary callers, each repeating
// 16 entities of its own, at log-normal rates (median `median` calls).
func (w *world) ordinaryCallers(n, median int) []*telemetry.Event {
	var out []*telemetry.Event
	for c := range n {
		ents := make([]entity, 16)
		for i := range ents {
			ents[i] = w.ordinary()
		}
		calls := max(1, int(float64(median)*math.Exp(0.5*w.rng.NormFloat64())))
		for range calls {
			out = append(out, w.event(fmt.Sprintf("u-%05d", c), ents[w.rng.IntN(len(ents))]))
		}
	}
	return out
}

// actor returns n calls of caller, each from draw.
func (w *world) actor(caller string, n int, draw func() entity) []*telemetry.Event {
	out := make([]*telemetry.Event, n)
	for i := range out {
		out[i] = w.event(caller, draw())
	}
	return out
}

// portfolio returns a draw re-scoring k ordinary entities.
func (w *world) portfolio(k int) func() entity {
	ents := make([]entity, k)
	for i := range ents {
		ents[i] = w.ordinary()
	}
	return func() entity { return ents[w.rng.IntN(k)] }
}

func shuffled(w *world, evs ...[]*telemetry.Event) []*telemetry.Event {
	all := slices.Concat(evs...)
	w.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all
}

func newSignals() []signal.Signal {
	c := DefaultConfig()
	return []signal.Signal{Volume{c}, Diversity{c}, OOD{c}, Harvest{c}}
}

// observe returns a partial of each signal of the events, in batches of 64.
func observe(sigs []signal.Signal, evs []*telemetry.Event) []signal.Partial {
	ps := make([]signal.Partial, len(sigs))
	for i, s := range sigs {
		ps[i] = s.NewPartial()
		for b := 0; b < len(evs); b += 64 {
			ps[i].Observe(evs[b:min(b+64, len(evs))])
		}
	}
	return ps
}

// grade is the severity the evaluation can at most give v: its effect
// graded by the levels when its p-value (already adjusted across the
// signal's callers) is at most alpha.
func grade(v signal.Verdict, alpha float64) verdict.Severity {
	if !v.Decides() {
		return v.Severity
	}
	switch {
	case v.PValue > alpha:
		return verdict.SeverityOK
	case v.Effect >= v.Critical:
		return verdict.SeverityCritical
	case v.Effect >= v.Warning:
		return verdict.SeverityWarning
	}
	return verdict.SeverityOK
}

// scored scores a window of evs against a reference window of ref, and
// returns the verdicts by signal name.
func scored(t *testing.T, evs, ref []*telemetry.Event) map[string][]signal.Verdict {
	t.Helper()
	sigs := newSignals()
	cur, refs := observe(sigs, evs), observe(sigs, ref)
	out := map[string][]signal.Verdict{}
	for i, s := range sigs {
		out[s.Name()] = s.Score(cur[i], refs[i])
	}
	return out
}

// worst returns the highest severity any verdict gives subject (at the
// evaluation's most lenient: alpha 1), and the signals that give it.
func worst(vs map[string][]signal.Verdict, subject string, alpha float64) (verdict.Severity, []string) {
	sev, by := verdict.SeverityOK, []string(nil)
	for name, list := range vs {
		for _, v := range list {
			if v.Subject != subject {
				continue
			}
			g := grade(v, alpha)
			if g > sev {
				sev, by = g, nil
			}
			if g == sev && g != verdict.SeverityOK {
				by = append(by, name)
			}
		}
	}
	slices.Sort(by)
	return sev, by
}

func find(vs []signal.Verdict, subject string) (signal.Verdict, bool) {
	for _, v := range vs {
		if v.Subject == subject {
			return v, true
		}
	}
	return signal.Verdict{}, false
}

// TestScenarioExtraction: an extraction attacker spraying the input space
// and covering the classes evenly, among 200 ordinary callers: harvest and
// out-of-distribution are critical and diversity warns, naming it; no
// ordinary caller is critical.
func TestScenarioExtraction(t *testing.T) {
	w := newWorld(11)
	ref := w.ordinaryCallers(200, 150)
	evs := shuffled(w, w.ordinaryCallers(200, 150), w.actor("extractor-1", 3000, w.spray))
	vs := scored(t, evs, ref)
	for name, want := range map[string]verdict.Severity{"caller_harvest": verdict.SeverityCritical,
		"caller_ood": verdict.SeverityCritical, "caller_diversity": verdict.SeverityWarning} {
		v, ok := find(vs[name], "extractor-1")
		t.Logf("%s: %s statistic %.3f effect %.3f p %.3g: %s", name, v.Subject, v.Statistic, v.Effect, v.PValue, v.Evidence)
		if !ok || grade(v, 0.01) != want {
			t.Errorf("%s: extractor-1 %+v (found %v), want %s", name, v, ok, want)
		}
		if ok && v.Evidence == "" {
			t.Errorf("%s: no evidence", name)
		}
	}
	for _, list := range vs {
		for _, v := range list {
			if strings.HasPrefix(v.Subject, "u-") && grade(v, 1) == verdict.SeverityCritical {
				t.Errorf("ordinary caller critical: %+v", v)
			}
		}
	}
}

// TestScenarioScraping: a scraper sending ordinary-looking inputs, every one
// new, at 100 times the median rate: diversity names it (a warning, with
// volume's), nothing is critical.
func TestScenarioScraping(t *testing.T) {
	w := newWorld(12)
	ref := w.ordinaryCallers(200, 150)
	evs := shuffled(w, w.ordinaryCallers(200, 150), w.actor("scraper-1", 15000, w.ordinary))
	vs := scored(t, evs, ref)
	v, ok := find(vs["caller_diversity"], "scraper-1")
	if !ok || grade(v, 0.01) != verdict.SeverityWarning || v.Statistic < 0.9 {
		t.Errorf("diversity: scraper-1 %+v (found %v), want a warning", v, ok)
	}
	if sev, by := worst(vs, "scraper-1", 1); sev > verdict.SeverityWarning {
		t.Errorf("scraper-1 is %s by %v: ordinary inputs are not critical", sev, by)
	}
}

// TestScenarioBenignHeavyUser: a batch service re-scoring a portfolio of
// 1,000 ordinary entities at 50 times the median rate, in a window where it
// sends fewer calls than its portfolio and in one where it sends many more:
// at most a warning, whatever the signal.
func TestScenarioBenignHeavyUser(t *testing.T) {
	for _, calls := range []int{800, 7500} {
		w := newWorld(13)
		ref := w.ordinaryCallers(200, 150)
		evs := shuffled(w, w.ordinaryCallers(200, 150), w.actor("batch-scorer", calls, w.portfolio(1000)))
		vs := scored(t, evs, ref)
		for name, list := range vs {
			if v, ok := find(list, "batch-scorer"); ok {
				t.Logf("%d calls: %s: statistic %.3f effect %.3f p %.3g: %s", calls, name, v.Statistic, v.Effect, v.PValue, v.Evidence)
			}
		}
		if sev, by := worst(vs, "batch-scorer", 1); sev > verdict.SeverityWarning {
			t.Errorf("%d calls: batch-scorer is %s by %v", calls, sev, by)
		}
		if v, _ := find(vs["caller_volume"], "batch-scorer"); calls == 7500 && v.Severity != verdict.SeverityWarning {
			t.Errorf("%d calls: volume does not warn about batch-scorer: %+v", calls, v)
		}
	}
}

// TestScenarioManyOrdinaryCallers: 10,000 ordinary callers (about 200,000
// calls), beyond every bound: no verdict is critical.
func TestScenarioManyOrdinaryCallers(t *testing.T) {
	w := newWorld(14)
	ref := w.ordinaryCallers(2000, 20)
	vs := scored(t, w.ordinaryCallers(10000, 20), ref)
	for name, list := range vs {
		for _, v := range list {
			if g := grade(v, 1); g == verdict.SeverityCritical {
				t.Errorf("%s: %+v", name, v)
			}
		}
	}
}

// TestScenarioOrdinaryCallersRepeatInputs: 200 ordinary callers each
// re-scoring 16 accounts of its own, some with unusual accounts or class
// mixes. Their repeated calls are no more evidence than their 16 inputs, so
// no caller reaches a warning on diversity, out-of-distribution or
// harvesting (counting calls instead of distinct inputs made several
// harvesting critical).
func TestScenarioOrdinaryCallersRepeatInputs(t *testing.T) {
	for seed := uint64(15); seed < 18; seed++ {
		w := newWorld(seed)
		ref := w.ordinaryCallers(200, 150)
		vs := scored(t, w.ordinaryCallers(200, 150), ref)
		for _, name := range []string{"caller_diversity", "caller_ood", "caller_harvest"} {
			for _, v := range vs[name] {
				if grade(v, 0.05) != verdict.SeverityOK {
					t.Errorf("seed %d: %s: %+v", seed, name, v)
				}
			}
		}
	}
}
