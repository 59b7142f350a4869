package generator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// Access scenarios: callers whose way of calling a model is the signal
// (Actor.Kind).
const (
	// AccessExtraction is a model-extraction attacker: its inputs spray the
	// feature space (uniform over each feature's plausible range: the
	// central 99.7% of a numeric feature, every categorical value alike)
	// and are chosen so that its calls cover the classes evenly (it asks
	// for the class it has seen less of, as an adaptive attacker does).
	AccessExtraction = "extraction"
	// AccessScraping is a scraper: ordinary-looking inputs, every one new
	// (as many distinct inputs as calls), at a high rate.
	AccessScraping = "scraping"
	// AccessProbing is a caller probing the decision boundary: ordinary
	// inputs, every call scored within 0.02 of the threshold (as
	// Shift.Probe).
	AccessProbing = "probing"
	// AccessBenignHeavyUser is a batch service re-scoring a portfolio of
	// 1,000 ordinary entities at a high rate: heavy, benign (a negative
	// control that must not page).
	AccessBenignHeavyUser = "benign-heavy-user"
)

// AccessKinds lists the access scenarios (Actor.Kind).
var AccessKinds = []string{AccessExtraction, AccessScraping, AccessProbing, AccessBenignHeavyUser}

// DefaultActor returns the actor of an access scenario calling model from
// after on: its caller and its rate relative to the median ordinary
// caller's. Extraction: extractor-1 at 100×; scraping: scraper-1 at 100×;
// probing: prober-1 at 30×; benign heavy user: batch-scorer (service
// batch-scoring) at 50×.
func DefaultActor(kind, model string, after time.Duration) (Actor, error) {
	a := Actor{Kind: kind, Model: model, After: after}
	switch kind {
	case AccessExtraction:
		a.ID, a.Rate = "extractor-1", 100
	case AccessScraping:
		a.ID, a.Rate = "scraper-1", 100
	case AccessProbing:
		a.ID, a.Rate = "prober-1", 30
	case AccessBenignHeavyUser:
		a.ID, a.Rate = "batch-scorer", 50
	default:
		return a, fmt.Errorf("access scenario: want one of %v, got %q", AccessKinds, kind)
	}
	return a, nil
}

// Callers makes the callers of a scenario realistic: a population of
// ordinary callers whose rates are heavy-tailed, each scoring a few
// entities of its own again and again, and actors (attackers, heavy users)
// beside them. Without Callers each event's enduser.id is one of 2,000
// users picked uniformly, with a random tenant.
type Callers struct {
	// N is the number of ordinary callers: enduser.id u-10000, u-10001, ...,
	// each with a tenant and a client.address of its own. Required, at least 1.
	N int
	// Sigma is the spread of the ordinary callers' rates: the log of the
	// rates is normal with this standard deviation (caller i at the normal
	// quantile (i+0.5)/N, so the median caller's rate is the unit of
	// Actor.Rate). Default: 0 = 1 (the busiest of 200 callers makes about
	// 16× the median's calls, of 10,000 about 40×).
	Sigma float64
	// Entities is the number of distinct inputs an ordinary caller sends
	// (the accounts it scores, each drawn once from the model's
	// distribution and then repeated). Default: 0 = 16.
	Entities int
	// Actors are the callers of the access scenarios.
	Actors []Actor
}

// Actor is a caller of an access scenario.
type Actor struct {
	// Kind is AccessExtraction, AccessScraping, AccessProbing or AccessBenignHeavyUser.
	Kind string
	// ID is the caller's enduser.id. Required.
	ID string
	// Model is the id of the model it calls. Required.
	Model string
	// Rate is its rate as a multiple of the median ordinary caller's rate
	// of the model, > 0.
	Rate float64
	// After is the event time after Start from which it calls.
	After time.Duration
}

// batchPortfolio is the number of entities a benign heavy user re-scores.
const batchPortfolio = 1000

func (c *Callers) validate(models []ModelSpec) error {
	if c.N < 1 || c.N > 10_000_000 {
		return fmt.Errorf("callers.n: must be in [1, 10000000], got %d", c.N)
	}
	if !(c.Sigma >= 0 && c.Sigma <= 5) {
		return fmt.Errorf("callers.sigma: must be in [0, 5], got %v", c.Sigma)
	}
	if c.Entities < 0 {
		return fmt.Errorf("callers.entities: must not be negative, got %d", c.Entities)
	}
	ids := map[string]bool{}
	for i, a := range c.Actors {
		at := fmt.Sprintf("callers.actors[%d]", i)
		if !slices.Contains(AccessKinds, a.Kind) {
			return fmt.Errorf("%s.kind: want one of %v, got %q", at, AccessKinds, a.Kind)
		}
		if a.ID == "" || len(a.ID) > telemetry.DefaultLimits().MaxValueLength {
			return fmt.Errorf("%s.id: required, at most %d bytes", at, telemetry.DefaultLimits().MaxValueLength)
		}
		if ids[a.ID] {
			return fmt.Errorf("%s.id: duplicate caller %q", at, a.ID)
		}
		ids[a.ID] = true
		if !slices.ContainsFunc(models, func(m ModelSpec) bool { return m.ID == a.Model }) {
			return fmt.Errorf("%s.model: no model %q", at, a.Model)
		}
		if !(a.Rate > 0) || math.IsInf(a.Rate, 0) {
			return fmt.Errorf("%s.rate: must be a finite number > 0, got %v", at, a.Rate)
		}
		if a.After < 0 {
			return fmt.Errorf("%s.after: must not be negative, got %s", at, a.After)
		}
	}
	return nil
}

// callerPop is the compiled Callers.
type callerPop struct {
	principals []telemetry.Principal // of the ordinary callers
	cum        []float64             // cumulative shares of the ordinary callers
	entities   int
	actors     []actor
	byModel    [][]int // actor indices per model index
	seed       uint64
	pcg        rand.PCG // the source of an entity's input, re-seeded per call
	erng       *rand.Rand
}

type actor struct {
	Actor
	principal telemetry.Principal
	share     float64 // of its model's calls while every actor of the model calls
	after     time.Time
	calls     int64
}

// actor caller indices are offset by actorBase in a caller index.
const actorBase = 1 << 40

func newCallerPop(c Callers, models []ModelSpec, start time.Time, seed int64) *callerPop {
	sigma := c.Sigma
	if sigma == 0 {
		sigma = 1
	}
	p := &callerPop{entities: c.Entities, seed: uint64(seed), byModel: make([][]int, len(models))}
	if p.entities == 0 {
		p.entities = 16
	}
	p.erng = rand.New(&p.pcg)
	p.cum = make([]float64, c.N)
	p.principals = make([]telemetry.Principal, c.N)
	total := 0.0
	for i := range c.N {
		z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(c.N)-1)
		total += math.Exp(sigma * z)
		p.cum[i] = total
		p.principals[i] = telemetry.Principal{
			EndUserID:     "u-" + strconv.Itoa(10000+i),
			Tenant:        tenants[i%len(tenants)],
			ClientAddress: fmt.Sprintf("10.%d.%d.%d", 1+i>>16&0xff, i>>8&0xff, i&0xff),
		}
	}
	for i := range p.cum {
		p.cum[i] /= total
	}
	p.cum[len(p.cum)-1] = 1
	// The median caller's weight is exp(0) = 1: an actor at Rate r has
	// weight r against the ordinary callers' total.
	addrs := map[string]string{AccessExtraction: "203.0.113.7", AccessScraping: "198.51.100.23",
		AccessProbing: "203.0.113.45", AccessBenignHeavyUser: "10.200.0.10"}
	for i, a := range c.Actors {
		mi := slices.IndexFunc(models, func(m ModelSpec) bool { return m.ID == a.Model })
		pr := telemetry.Principal{EndUserID: a.ID, Tenant: tenants[(i+1)%len(tenants)], ClientAddress: addrs[a.Kind]}
		if a.Kind == AccessBenignHeavyUser {
			pr.Service, pr.Tenant = "batch-scoring", tenants[0]
		}
		p.actors = append(p.actors, actor{Actor: a, principal: pr, after: start.Add(a.After)})
		p.byModel[mi] = append(p.byModel[mi], i)
	}
	for _, idx := range p.byModel {
		q := 0.0
		for _, i := range idx {
			q += p.actors[i].Rate / total
		}
		for _, i := range idx {
			p.actors[i].share = p.actors[i].Rate / total / (1 + q)
		}
	}
	return p
}

// pick draws the caller of a call to model mi at t: an index into
// principals, or actorBase plus an actor's index.
func (p *callerPop) pick(r *rand.Rand, mi int, t time.Time) int {
	if idx := p.byModel[mi]; len(idx) > 0 {
		u := r.Float64()
		for _, i := range idx {
			a := &p.actors[i]
			if t.Before(a.after) {
				continue
			}
			if u < a.share {
				a.calls++
				return actorBase + i
			}
			u -= a.share
		}
	}
	k, _ := slices.BinarySearch(p.cum, r.Float64())
	return min(k, len(p.cum)-1)
}

// source returns the random source of caller c's input: a fresh one
// (r) for the callers that send new inputs every call, else one seeded
// with one of the caller's entities, so that the entity's input repeats.
func (p *callerPop) source(r *rand.Rand, c int) *rand.Rand {
	entities := p.entities
	if c >= actorBase {
		if p.actors[c-actorBase].Kind != AccessBenignHeavyUser {
			return r
		}
		entities = batchPortfolio
	}
	p.pcg.Seed(p.seed^uint64(c)*0x9e3779b97f4a7c15, uint64(r.IntN(entities))+0xbf58476d1ce4e5b9)
	return p.erng
}

// principal returns caller c's principal calling a model served by service.
func (p *callerPop) principal(c int, service string) telemetry.Principal {
	if c >= actorBase {
		pr := p.actors[c-actorBase].principal
		if pr.Service == "" {
			pr.Service = service
		}
		return pr
	}
	pr := p.principals[c]
	pr.Service = service
	return pr
}

// kind returns the access scenario of caller c, "" for an ordinary caller.
func (p *callerPop) kind(c int) string {
	if c >= actorBase {
		return p.actors[c-actorBase].Kind
	}
	return ""
}

// sprayRange returns the range extraction draws f from uniformly: the
// central 99.7% of its distribution (μ ± 3σ, of the log for lognormal),
// its range for uniform, [0, λ + 3√λ] for Poisson.
func sprayRange(f NumericSpec) (lo, hi float64) {
	switch f.Dist {
	case DistNormal:
		return f.P1 - 3*f.P2, f.P1 + 3*f.P2
	case DistLognormal:
		return math.Exp(f.P1 - 3*f.P2), math.Exp(f.P1 + 3*f.P2)
	case DistUniform:
		return f.P1, f.P2
	case DistPoisson:
		return 0, math.Ceil(f.P1 + 3*math.Sqrt(f.P1))
	}
	return 0, 1
}

// ActorCalls returns the calls each actor made so far, by enduser.id.
func (g *Generator) ActorCalls() map[string]int64 {
	out := map[string]int64{}
	if g.calls != nil {
		for _, a := range g.calls.actors {
			out[a.ID] = a.calls
		}
	}
	return out
}
