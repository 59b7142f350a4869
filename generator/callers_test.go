package generator

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// callerStats are the calls of one caller, or of every ordinary caller.
type callerStats struct {
	calls, positive, nearThreshold int
	numeric                        map[string][]float64
	categorical                    map[string]map[string]int
	inputs                         map[string]int       // distinct inputs, by their features
	unique                         map[string][]float64 // numeric features of the distinct inputs
	principal                      telemetry.Principal
}

func (s *callerStats) observe(e *telemetry.Event) {
	if s.numeric == nil {
		s.numeric, s.categorical, s.inputs, s.unique = map[string][]float64{}, map[string]map[string]int{}, map[string]int{}, map[string][]float64{}
	}
	s.calls++
	if e.Prediction.Class == ClassPositive {
		s.positive++
	}
	if math.Abs(*e.Prediction.Score-Threshold) <= 0.02 {
		s.nearThreshold++
	}
	var key strings.Builder
	for _, n := range e.Features.Numeric {
		s.numeric[n.Name] = append(s.numeric[n.Name], n.Value)
		key.WriteString(strconv.FormatFloat(n.Value, 'g', -1, 64) + ",")
	}
	for _, c := range e.Features.Categorical {
		if s.categorical[c.Name] == nil {
			s.categorical[c.Name] = map[string]int{}
		}
		s.categorical[c.Name][c.Value]++
		key.WriteString(c.Value + ",")
	}
	if s.inputs[key.String()] == 0 {
		for _, n := range e.Features.Numeric {
			s.unique[n.Name] = append(s.unique[n.Name], n.Value)
		}
	}
	s.inputs[key.String()]++
	s.principal = e.Principal
}

// accessRun generates n calls of one model (8 features) with 200 ordinary
// callers and the actors of kinds, all calling from the start, and returns
// the stats of each caller and of all ordinary callers together ("").
func accessRun(t *testing.T, n int, kinds ...string) (map[string]*callerStats, Scenario) {
	t.Helper()
	sc := DefaultScenario(1, 8)
	sc.Start = testStart
	sc.Callers = &Callers{N: 200}
	for _, k := range kinds {
		a, err := DefaultActor(k, sc.Models[0].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		sc.Callers.Actors = append(sc.Callers.Actors, a)
	}
	g, err := New(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*callerStats{"": {}}
	var e telemetry.Event
	for range n {
		g.Next(&e)
		id := e.Principal.EndUserID
		if out[id] == nil {
			out[id] = &callerStats{}
		}
		out[id].observe(&e)
		if strings.HasPrefix(id, "u-") {
			out[""].observe(&e)
		}
	}
	for id, c := range g.ActorCalls() {
		if out[id] == nil || int64(out[id].calls) != c {
			t.Fatalf("ActorCalls: %s made %d calls, counted %v", id, c, out[id])
		}
	}
	return out, sc
}

// medianCalls returns the median call count of the ordinary callers.
func medianCalls(stats map[string]*callerStats) float64 {
	var calls []float64
	for id, s := range stats {
		if strings.HasPrefix(id, "u-") {
			calls = append(calls, float64(s.calls))
		}
	}
	slices.Sort(calls)
	return calls[len(calls)/2]
}

// ks returns the two-sample KS p-value of x against y.
func ks(x, y []float64) float64 {
	x, y = slices.Clone(x), slices.Clone(y)
	slices.Sort(x)
	slices.Sort(y)
	return stat.KolmogorovSmirnov(x, y).PValue
}

// TestCallerPopulation: 200 ordinary callers with heavy-tailed rates (the
// busiest near 16× the median), each with its own principal (enduser.id,
// tenant, client.address, service) and at most 16 distinct inputs; the
// population's distinct inputs (the entities) are draws from the model's
// distribution (KS at a tolerant level on every numeric feature). The
// calls themselves are not an independent sample of it: a caller repeats
// its entities, in proportion to its rate.
func TestCallerPopulation(t *testing.T) {
	stats, sc := accessRun(t, 200_000)
	if len(stats) != 201 {
		t.Fatalf("%d callers, want 200 (and the total)", len(stats)-1)
	}
	med := medianCalls(stats)
	top := 0
	addrs := map[string]bool{}
	for id, s := range stats {
		if id == "" {
			continue
		}
		top = max(top, s.calls)
		p := s.principal
		if p.Tenant == "" || p.ClientAddress == "" || p.Service != sc.Models[0].ID+"-api" || addrs[p.ClientAddress] {
			t.Errorf("%s: principal %+v (a tenant, a client.address of its own and the service wanted)", id, p)
		}
		addrs[p.ClientAddress] = true
		if len(s.inputs) > 16 {
			t.Errorf("%s: %d distinct inputs, want at most 16", id, len(s.inputs))
		}
	}
	// exp(Φ⁻¹(199.5/200)) = 16.5 for σ = 1.
	if r := float64(top) / med; r < 11 || r > 24 {
		t.Errorf("busiest caller makes %.1f× the median's calls, want about 16", r)
	}
	// A fresh generator without callers draws every call's input anew.
	fresh := DefaultScenario(1, 8)
	fresh.Start = testStart
	g, err := New(fresh, 8)
	if err != nil {
		t.Fatal(err)
	}
	var ref callerStats
	var e telemetry.Event
	for range 20_000 {
		g.Next(&e)
		ref.observe(&e)
	}
	for name, xs := range ref.numeric {
		if p := ks(stats[""].unique[name], xs); p < 1e-3 {
			t.Errorf("%s: the population's distinct inputs differ from the model's distribution, KS p = %.2g", name, p)
		}
	}
}

// TestExtractionScenario: extractor-1 makes about 100× the median caller's
// calls; its inputs spray each feature's plausible range (spread far wider
// than the population's, categorical values alike), and its calls cover the
// two classes evenly while the population's do not.
func TestExtractionScenario(t *testing.T) {
	stats, sc := accessRun(t, 200_000, AccessExtraction)
	x, pop := stats["extractor-1"], stats[""]
	if x == nil {
		t.Fatal("no call from extractor-1")
	}
	if r := float64(x.calls) / medianCalls(stats); r < 80 || r > 125 {
		t.Errorf("extractor-1 makes %.0f× the median caller's calls, want about 100", r)
	}
	if got := float64(x.positive) / float64(x.calls); math.Abs(got-0.5) > 0.02 {
		t.Errorf("extractor-1: positive share %.3f, want 0.5 (even class coverage)", got)
	}
	if got := float64(pop.positive) / float64(pop.calls); math.Abs(got-0.5) < 0.1 {
		t.Errorf("population: positive share %.3f; the test needs an uneven population", got)
	}
	if n := len(x.inputs); n != x.calls {
		t.Errorf("extractor-1: %d distinct inputs in %d calls", n, x.calls)
	}
	for _, f := range sc.Models[0].Numeric {
		lo, hi := sprayRange(f)
		xs := slices.Clone(x.numeric[f.Name])
		slices.Sort(xs)
		// The central 90% of its values cover most of the range: a spray.
		if cover := (xs[len(xs)*95/100] - xs[len(xs)*5/100]) / (hi - lo); cover < 0.7 || xs[0] < lo || xs[len(xs)-1] > hi {
			t.Errorf("%s: extractor-1's central 90%% covers %.2f of [%v, %v], values in [%v, %v]", f.Name, cover, lo, hi, xs[0], xs[len(xs)-1])
		}
		if p := ks(xs, pop.numeric[f.Name]); p > 1e-6 {
			t.Errorf("%s: extractor-1's inputs look like the population's, KS p = %.2g", f.Name, p)
		}
	}
	// Every categorical value is asked for (drawn alike, then kept or not
	// by the class the attacker wants), rare ones far more than usual.
	for _, f := range sc.Models[0].Categorical {
		k := float64(len(f.Values))
		for _, v := range f.Values {
			share := float64(x.categorical[f.Name][v]) / float64(x.calls)
			usual := float64(pop.categorical[f.Name][v]) / float64(pop.calls)
			if share < 0.5/k || (usual < 0.75/k && share <= usual) {
				t.Errorf("%s=%s: extractor-1's share %.3f (the population's %.3f), want about 1/%v", f.Name, v, share, usual, k)
			}
		}
	}
}

// TestScrapingScenario: scraper-1 makes about 100× the median caller's
// calls, every one with a new input (distinct inputs = calls, where an
// ordinary caller repeats at most 16), and its inputs look ordinary: those
// of the population's distinct inputs by KS.
func TestScrapingScenario(t *testing.T) {
	stats, _ := accessRun(t, 200_000, AccessScraping)
	s, pop := stats["scraper-1"], stats[""]
	if s == nil {
		t.Fatal("no call from scraper-1")
	}
	if r := float64(s.calls) / medianCalls(stats); r < 80 || r > 125 {
		t.Errorf("scraper-1 makes %.0f× the median caller's calls, want about 100", r)
	}
	if len(s.inputs) != s.calls {
		t.Errorf("scraper-1: %d distinct inputs in %d calls, want all distinct", len(s.inputs), s.calls)
	}
	for name, xs := range s.numeric {
		if p := ks(xs, pop.unique[name]); p < 1e-3 {
			t.Errorf("%s: scraper-1's inputs differ from the population's, KS p = %.2g", name, p)
		}
	}
}

// TestProbingScenario: prober-1 makes about 30× the median caller's calls,
// every one scored within 0.02 of the threshold, where few of the
// population's are.
func TestProbingScenario(t *testing.T) {
	stats, _ := accessRun(t, 100_000, AccessProbing)
	p, pop := stats["prober-1"], stats[""]
	if p == nil {
		t.Fatal("no call from prober-1")
	}
	if r := float64(p.calls) / medianCalls(stats); r < 22 || r > 40 {
		t.Errorf("prober-1 makes %.0f× the median caller's calls, want about 30", r)
	}
	if p.nearThreshold != p.calls {
		t.Errorf("prober-1: %d of %d calls near the threshold, want all", p.nearThreshold, p.calls)
	}
	if share := float64(pop.nearThreshold) / float64(pop.calls); share > 0.1 {
		t.Errorf("population: %.3f of calls near the threshold; the test needs a clear difference", share)
	}
}

// TestBenignHeavyUserScenario: batch-scorer (service batch-scoring) makes
// about 50× the median caller's calls, re-scoring a portfolio of at most
// 1,000 entities drawn as the population's are (KS of its distinct inputs
// against the population's at a tolerant level on every numeric feature;
// category shares and the class mix of its calls within 0.04).
func TestBenignHeavyUserScenario(t *testing.T) {
	stats, sc := accessRun(t, 200_000, AccessBenignHeavyUser)
	b, pop := stats["batch-scorer"], stats[""]
	if b == nil {
		t.Fatal("no call from batch-scorer")
	}
	if b.principal.Service != "batch-scoring" {
		t.Errorf("batch-scorer's principal %+v, want service batch-scoring", b.principal)
	}
	if r := float64(b.calls) / medianCalls(stats); r < 38 || r > 65 {
		t.Errorf("batch-scorer makes %.0f× the median caller's calls, want about 50", r)
	}
	if n := len(b.inputs); n > batchPortfolio || n < batchPortfolio*8/10 {
		t.Errorf("batch-scorer: %d distinct inputs, want most of its %d entities", n, batchPortfolio)
	}
	for name, xs := range b.unique {
		if p := ks(xs, pop.unique[name]); p < 1e-3 {
			t.Errorf("%s: batch-scorer's inputs differ from the population's, KS p = %.2g", name, p)
		}
	}
	for _, f := range sc.Models[0].Categorical {
		for _, v := range f.Values {
			bs := float64(b.categorical[f.Name][v]) / float64(b.calls)
			ps := float64(pop.categorical[f.Name][v]) / float64(pop.calls)
			if math.Abs(bs-ps) > 0.04 {
				t.Errorf("%s=%s: batch-scorer's share %.3f, the population's %.3f", f.Name, v, bs, ps)
			}
		}
	}
	bp, pp := float64(b.positive)/float64(b.calls), float64(pop.positive)/float64(pop.calls)
	if math.Abs(bp-pp) > 0.04 {
		t.Errorf("batch-scorer's positive share %.3f, the population's %.3f", bp, pp)
	}
}

// TestActorsCombine: several actors on one model each keep their rate
// relative to the median caller, and an actor calls only from its After.
func TestActorsCombine(t *testing.T) {
	stats, _ := accessRun(t, 200_000, AccessExtraction, AccessProbing, AccessBenignHeavyUser)
	med := medianCalls(stats)
	for id, want := range map[string]float64{"extractor-1": 100, "prober-1": 30, "batch-scorer": 50} {
		if r := float64(stats[id].calls) / med; math.Abs(r/want-1) > 0.3 {
			t.Errorf("%s makes %.0f× the median caller's calls, want about %.0f", id, r, want)
		}
	}
	sc := DefaultScenario(2, 8)
	sc.Start = testStart
	a, err := DefaultActor(AccessScraping, sc.Models[1].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.After = 10 * 1000 * sc.EventStep // from the 10,000th event
	sc.Callers = &Callers{N: 50, Actors: []Actor{a}}
	g, err := New(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	var e telemetry.Event
	for i := range 20_000 {
		g.Next(&e)
		if e.Principal.EndUserID == a.ID && (i < 10_000 || e.Model.ID != a.Model) {
			t.Fatalf("event %d: %s calls %s", i, a.ID, e.Model.ID)
		}
	}
	if g.ActorCalls()[a.ID] == 0 {
		t.Error("the scraper never called")
	}
}

// TestCallersValidate: bad callers are refused, naming the field.
func TestCallersValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Callers
		says string
	}{
		{Callers{}, "callers.n"},
		{Callers{N: 10, Sigma: -1}, "callers.sigma"},
		{Callers{N: 10, Actors: []Actor{{Kind: "meteor", ID: "x", Model: "fraud-scorer", Rate: 1}}}, "callers.actors[0].kind"},
		{Callers{N: 10, Actors: []Actor{{Kind: AccessScraping, Model: "fraud-scorer", Rate: 1}}}, "callers.actors[0].id"},
		{Callers{N: 10, Actors: []Actor{{Kind: AccessScraping, ID: "x", Model: "nope", Rate: 1}}}, "callers.actors[0].model"},
		{Callers{N: 10, Actors: []Actor{{Kind: AccessScraping, ID: "x", Model: "fraud-scorer"}}}, "callers.actors[0].rate"},
		{Callers{N: 10, Actors: []Actor{{Kind: AccessScraping, ID: "x", Model: "fraud-scorer", Rate: 1},
			{Kind: AccessProbing, ID: "x", Model: "fraud-scorer", Rate: 1}}}, "callers.actors[1].id: duplicate"},
	} {
		sc := DefaultScenario(1, 8)
		sc.Callers = &tc.c
		if _, err := New(sc, 1); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v, want an error naming %s", tc.c, err, tc.says)
		}
	}
	if _, err := DefaultActor("meteor", "m", 0); err == nil || !strings.Contains(err.Error(), AccessBenignHeavyUser) {
		t.Errorf("DefaultActor of an unknown kind: %v", err)
	}
}

// TestCallersDoNotAllocate: with callers and actors, Next allocates nothing
// per event in the steady state.
func TestCallersDoNotAllocate(t *testing.T) {
	sc := DefaultScenario(1, 8)
	sc.Start = testStart
	sc.Callers = &Callers{N: 1000}
	for _, k := range AccessKinds {
		a, err := DefaultActor(k, sc.Models[0].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		sc.Callers.Actors = append(sc.Callers.Actors, a)
	}
	g, err := New(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	var e telemetry.Event
	for range 1000 {
		g.Next(&e)
	}
	// predictionID makes the id string: one allocation an event, as without callers.
	if a := testing.AllocsPerRun(2000, func() { g.Next(&e) }); a > 1 {
		t.Errorf("%v allocations per event, want at most 1 (the prediction id)", a)
	}
}

// BenchmarkNextCallers is BenchmarkNext's generator with 10,000 callers
// and an actor of each access scenario on every model.
func BenchmarkNextCallers(b *testing.B) {
	sc := DefaultScenario(4, 16)
	sc.Start = testStart
	sc.Callers = &Callers{N: 10_000}
	for _, m := range sc.Models {
		for _, k := range AccessKinds {
			a, err := DefaultActor(k, m.ID, 0)
			if err != nil {
				b.Fatal(err)
			}
			a.ID += "-" + m.ID
			sc.Callers.Actors = append(sc.Callers.Actors, a)
		}
	}
	g, err := New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	var e telemetry.Event
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&e)
	}
}
