package generator

import (
	"cmp"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// Generator produces the events of a Scenario. It is deterministic for a seed
// and not safe for concurrent use.
type Generator struct {
	sc     Scenario
	rng    *rand.Rand
	models []model
	step   time.Duration
	n      int64 // events generated so far
	shift  time.Time
	users  []string
	// Scratch for sorting names in Append.
	nums  []telemetry.Number
	cats  []telemetry.Category
	probs telemetry.Probabilities
	attrs telemetry.Attributes
	ev    telemetry.Event
	idbuf [36]byte
	// lastBad is the kind of malformation of the last NextMessage (badNone if good).
	lastBad badKind
	lab     *labeler    // nil when the scenario has no Labels
	fdb     *feedbacker // nil when the scenario has no Feedback
	calls   *callerPop  // nil when the scenario has no Callers
	// extractN counts the extraction attacker's calls (the class it asks for alternates).
	extractN int64
}

// Class names of the generated predictions.
const (
	// ClassPositive is the class of scores at or above Threshold.
	ClassPositive = "positive"
	// ClassNegative is the class of scores below Threshold.
	ClassNegative = "negative"
	// Threshold is the decision threshold applied to generated scores.
	Threshold = 0.5
)

type model struct {
	id, version, service string
	num                  []numFeature
	cat                  []catFeature
	intercept            float64
	shifted              bool
	genAI                bool
}

type numFeature struct {
	spec     NumericSpec
	mean, sd float64
	coef     float64 // weight of the standardised value in the score's logit
	shifted  bool
}

type catFeature struct {
	name          string
	values        []string
	cum, cumShift []float64 // cumulative probabilities before and after the shift
	coefs         []float64 // logit contribution per value
	shifted       bool
}

var tenants = []string{"acme", "globex", "initech", "umbrella"}

// New validates sc (errors name the bad field) and returns a generator seeded with seed.
func New(sc Scenario, seed int64) (*Generator, error) {
	if err := sc.validate(); err != nil {
		return nil, err
	}
	if sc.Start.IsZero() {
		sc.Start = time.Now().Truncate(time.Second)
	}
	g := &Generator{
		sc:  sc,
		rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
	}
	switch {
	case sc.Rate > 0:
		g.step = time.Duration(float64(time.Second) / sc.Rate)
	case sc.EventStep > 0:
		g.step = sc.EventStep
	default:
		g.step = time.Millisecond
	}
	if sc.Shift != nil {
		g.shift = sc.Start.Add(sc.Shift.After)
	}
	g.users = make([]string, 2000)
	for i := range g.users {
		g.users[i] = "u-" + strconv.Itoa(10000+i)
	}
	for _, ms := range sc.Models {
		g.models = append(g.models, g.compile(ms))
	}
	if sc.Feedback != nil {
		g.fdb = &feedbacker{spec: *sc.Feedback, start: sc.Start}
	}
	if sc.Callers != nil {
		g.calls = newCallerPop(*sc.Callers, sc.Models, sc.Start, seed)
	}
	if sc.Labels != nil {
		g.lab = newLabeler(*sc.Labels, seed)
	}
	return g, nil
}

func (g *Generator) compile(ms ModelSpec) model {
	m := model{id: ms.ID, version: ms.Version, service: ms.ID + "-api", intercept: -1 + ms.Bias, genAI: ms.GenAI}
	s := g.sc.Shift
	m.shifted = s != nil && s.Model == ms.ID
	shifts := func(name string) bool {
		return m.shifted && (len(s.Features) == 0 || slices.Contains(s.Features, name))
	}
	n := float64(len(ms.Numeric) + len(ms.Categorical))
	scale := 1.5 / math.Sqrt(n) // keeps the logit's spread near 1.5 whatever the feature count
	for _, f := range ms.Numeric {
		mean, sd := meanSD(f)
		m.num = append(m.num, numFeature{spec: f, mean: mean, sd: sd, coef: g.rng.NormFloat64() * scale, shifted: shifts(f.Name)})
	}
	for _, f := range ms.Categorical {
		c := catFeature{name: f.Name, values: slices.Clone(f.Values), shifted: shifts(f.Name)}
		w := slices.Clone(f.Weights)
		if len(w) == 0 {
			w = make([]float64, len(f.Values))
			for i := range w {
				w[i] = 1
			}
		}
		c.cum = cumulative(w)
		flipped := make([]float64, len(w))
		total := 0.0
		for i, x := range w {
			flipped[i] = 0.2 * x
			total += x
		}
		flipped[len(flipped)-1] += 0.8 * total
		c.cumShift = cumulative(flipped)
		if !(s != nil && s.CategoryFlip) {
			c.cumShift = c.cum
		}
		for range c.values {
			c.coefs = append(c.coefs, g.rng.NormFloat64()*scale)
		}
		m.cat = append(m.cat, c)
	}
	return m
}

func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	acc := 0.0
	for i, x := range w {
		acc += x / sum
		out[i] = acc
	}
	out[len(out)-1] = 1
	return out
}

// Next fills e with the next event; event times advance by 1/Rate s (or
// EventStep when Rate is 0). It reuses e's maps and pointers. With Labels it
// also draws the event's label (from a random source of its own) and moves
// the label clock to the event's time; NextLabel returns the labels due.
func (g *Generator) Next(e *telemetry.Event) {
	mi := g.rng.IntN(len(g.models))
	m := &g.models[mi]
	t := g.sc.Start.Add(time.Duration(g.n) * g.step)
	g.n++
	shifted := m.shifted && !t.Before(g.shift)

	num, cat, prob, attr := e.Features.Numeric[:0], e.Features.Categorical[:0], e.Prediction.Probabilities[:0], e.Attributes[:0]

	caller, kind := -1, ""
	var logit float64
	if g.calls == nil {
		num, cat, logit = g.features(m, g.rng, shifted, num, cat)
	} else {
		caller = g.calls.pick(g.rng, mi, t)
		kind = g.calls.kind(caller)
		if kind == AccessExtraction {
			num, cat, logit = g.extraction(m, num, cat)
		} else {
			num, cat, logit = g.features(m, g.calls.source(g.rng, caller), shifted, num, cat)
		}
	}
	if shifted && g.sc.Shift.ConfidenceScale > 0 {
		logit *= g.sc.Shift.ConfidenceScale
	}
	score := math.Round(1e6/(1+math.Exp(-logit))) / 1e6
	class := ClassNegative
	if score >= Threshold {
		class = ClassPositive
	}
	prob = append(prob, telemetry.ClassProbability{Class: ClassPositive, P: score},
		telemetry.ClassProbability{Class: ClassNegative, P: math.Round((1-score)*1e6) / 1e6})
	attr = append(attr, telemetry.Attribute{Key: "deployment.environment.name", Value: "prod"})

	// The draws keep their order of before Callers: the id, then the user.
	id := g.predictionID()
	var principal telemetry.Principal
	if g.calls == nil {
		principal = telemetry.Principal{
			EndUserID: g.users[g.rng.IntN(len(g.users))],
			Service:   m.service,
			Tenant:    tenants[g.rng.IntN(len(tenants))],
		}
	} else {
		principal = g.calls.principal(caller, m.service)
	}
	*e = telemetry.Event{
		SchemaVersion: "1",
		PredictionID:  id,
		EventTime:     t,
		Model:         telemetry.Model{ID: m.id, Version: m.version},
		Operation:     "predict",
		Principal:     principal,
		Features:      telemetry.Features{Numeric: num, Categorical: cat},
		Prediction: telemetry.Prediction{
			Score:         reuse(e.Prediction.Score, score),
			Class:         class,
			Probabilities: prob,
			Threshold:     reuse(e.Prediction.Threshold, Threshold),
		},
		LatencyMS:  reuse(e.LatencyMS, math.Round(math.Exp(2.3+0.4*g.rng.NormFloat64())*1000)/1000),
		Attributes: attr,
	}
	// Behaviour shifts draw from the generator only when configured, so
	// that the events of other scenarios stay as they were.
	if sh := g.sc.Shift; shifted {
		if sh.LatencyFactor > 0 {
			*e.LatencyMS *= sh.LatencyFactor
		}
		if sh.ClassFlip > 0 && class == ClassNegative && g.rng.Float64() < sh.ClassFlip {
			e.Prediction.Class = ClassPositive
		}
		if sh.CallerShare > 0 && g.rng.Float64() < sh.CallerShare {
			e.Principal.EndUserID = sh.Caller
			if sh.Probe {
				score = g.probe(e, prob)
			}
		}
	}
	if kind == AccessProbing {
		score = g.probe(e, prob)
	}
	if m.genAI {
		g.genAI(e, shifted)
	}
	if extra := g.extraErrors(shifted); g.sc.ErrorRate > 0 || extra > 0 {
		switch u := g.rng.Float64(); {
		case u < g.sc.ErrorRate:
			e.ErrorType = "timeout"
		case u < g.sc.ErrorRate+extra:
			e.ErrorType = cmp.Or(g.sc.Shift.ErrorType, "upstream_timeout")
		}
	}
	if g.lab != nil {
		flip := 0.0
		if shifted {
			flip = g.sc.Shift.LabelFlip
		}
		g.lab.draw(g.n, t, e.PredictionID, m.id, score, flip)
	}
	if g.fdb != nil {
		g.drawFeedback(e, m, t)
	}
}

// features draws the input of a call to m from r (the generator's source,
// or an entity's), and returns it with the score's logit.
func (g *Generator) features(m *model, r *rand.Rand, shifted bool, num []telemetry.Number, cat []telemetry.Category) ([]telemetry.Number, []telemetry.Category, float64) {
	logit := m.intercept
	for i := range m.num {
		f := &m.num[i]
		d := 0.0
		if shifted && f.shifted {
			d = g.sc.Shift.MeanShift * f.sd
		}
		// Four decimals, like real telemetry; also keeps messages short.
		x := math.Round(sample(r, f.spec, d)*1e4) / 1e4
		num = append(num, telemetry.Number{Name: f.spec.Name, Value: x})
		logit += f.coef * (x - f.mean) / f.sd
	}
	for i := range m.cat {
		c := &m.cat[i]
		cum := c.cum
		if shifted && c.shifted {
			cum = c.cumShift
		}
		u := r.Float64()
		k, _ := slices.BinarySearch(cum, u)
		k = min(k, len(c.values)-1)
		cat = append(cat, telemetry.Category{Name: c.name, Value: c.values[k]})
		logit += c.coefs[k]
	}
	return num, cat, logit
}

// extraction draws the input of an extraction attacker's call to m: every
// feature uniform over its plausible range (sprayRange; categorical values
// alike), redrawn up to 32 times until the model answers the class the
// attacker asks for (the two in turn), so that its calls cover the classes
// evenly.
func (g *Generator) extraction(m *model, num []telemetry.Number, cat []telemetry.Category) ([]telemetry.Number, []telemetry.Category, float64) {
	g.extractN++
	wantPositive := g.extractN%2 == 0
	n0, c0 := len(num), len(cat)
	var logit float64
	for range 32 {
		num, cat, logit = num[:n0], cat[:c0], m.intercept
		for i := range m.num {
			f := &m.num[i]
			lo, hi := sprayRange(f.spec)
			x := lo + (hi-lo)*g.rng.Float64()
			if f.spec.Dist == DistPoisson {
				x = math.Floor(lo + (hi-lo+1)*g.rng.Float64())
			}
			x = math.Round(x*1e4) / 1e4
			num = append(num, telemetry.Number{Name: f.spec.Name, Value: x})
			logit += f.coef * (x - f.mean) / f.sd
		}
		for i := range m.cat {
			c := &m.cat[i]
			k := g.rng.IntN(len(c.values))
			cat = append(cat, telemetry.Category{Name: c.name, Value: c.values[k]})
			logit += c.coefs[k]
		}
		if (logit >= 0) == wantPositive {
			break
		}
	}
	return num, cat, logit
}

// probe moves e's score within 0.02 of the threshold (boundary probing),
// with its class and probabilities, and returns it.
func (g *Generator) probe(e *telemetry.Event, prob telemetry.Probabilities) float64 {
	score := math.Round((Threshold-0.02+0.04*g.rng.Float64())*1e6) / 1e6
	*e.Prediction.Score = score
	e.Prediction.Class = ClassNegative
	if score >= Threshold {
		e.Prediction.Class = ClassPositive
	}
	prob[0].P, prob[1].P = score, math.Round((1-score)*1e6)/1e6
	return score
}

// genAI fills e's GenAI usage: lognormal token counts (input about 400,
// output about 150), the first choice's finish reason (stop 93%, length 6%,
// content_filter 1%), 2% refusals, time to first chunk about 0.3 s; and
// the shift's refusals and output-token factor.
func (g *Generator) genAI(e *telemetry.Event, shifted bool) {
	l := &telemetry.LLM{}
	in := int64(math.Round(math.Exp(6 + 0.5*g.rng.NormFloat64())))
	out := math.Exp(5 + 0.6*g.rng.NormFloat64())
	if sh := g.sc.Shift; shifted && sh.TokenFactor > 0 {
		out *= sh.TokenFactor
	}
	outTokens := int64(math.Round(out))
	ttfc := math.Round(math.Exp(math.Log(0.3)+0.3*g.rng.NormFloat64())*1000) / 1000
	l.InputTokens, l.OutputTokens, l.TimeToFirstChunk = &in, &outTokens, &ttfc
	switch u := g.rng.Float64(); {
	case u < 0.93:
		l.FinishReasons = []string{"stop"}
	case u < 0.99:
		l.FinishReasons = []string{"length"}
	default:
		l.FinishReasons = []string{"content_filter"}
	}
	refusal := 0.02
	if sh := g.sc.Shift; shifted {
		refusal += sh.RefusalRate
	}
	if g.rng.Float64() < refusal {
		l.Refusal = true
		l.FinishReasons[0] = "content_filter"
	}
	e.LLM = l
}

// extraErrors returns the share of failures a shift adds to an event.
func (g *Generator) extraErrors(shifted bool) float64 {
	if !shifted {
		return 0
	}
	return g.sc.Shift.ErrorRate
}

// reuse stores v in *p, allocating p only when it is nil.
func reuse(p *float64, v float64) *float64 {
	if p == nil {
		p = new(float64)
	}
	*p = v
	return p
}

// sample draws from f's distribution with its mean moved by d, from r.
func sample(r *rand.Rand, f NumericSpec, d float64) float64 {
	switch f.Dist {
	case DistNormal:
		return f.P1 + f.P2*r.NormFloat64() + d
	case DistLognormal:
		return math.Exp(f.P1+f.P2*r.NormFloat64()) + d
	case DistUniform:
		return f.P1 + (f.P2-f.P1)*r.Float64() + d
	case DistPoisson:
		return poisson(r, max(f.P1+d, 0))
	}
	return 0
}

// poisson draws a Poisson variate from r: Knuth's product method below
// λ = 30, a rounded normal approximation above.
func poisson(r *rand.Rand, lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda >= 30 {
		return max(0, math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64()))
	}
	limit := math.Exp(-lambda)
	k := 0.0
	for p := r.Float64(); p > limit; p *= r.Float64() {
		k++
	}
	return k
}

// predictionID returns a random version-4 UUID drawn from the generator's rng.
func (g *Generator) predictionID() string {
	var b [16]byte
	a, c := g.rng.Uint64(), g.rng.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	buf := g.idbuf[:]
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], b[10:16])
	return string(buf)
}

// badKind is how NextMessage malformed a message.
type badKind int

const (
	badNone badKind = iota
	badInvalidJSON
	badNaN
	badMissingID
)

// NextMessage returns the next Kafka key (the model id, or the prediction id
// with KeyByPrediction) and JSON value, appended
// to dst[:0]. With probability BadFraction the value is malformed: invalid
// JSON, a "NaN" numeric feature, or a missing prediction_id.
func (g *Generator) NextMessage(dst []byte) (key string, value []byte) {
	e := &g.ev
	g.Next(e)
	g.lastBad = badNone
	if g.sc.BadFraction > 0 && g.rng.Float64() < g.sc.BadFraction {
		g.lastBad = badKind(1 + g.rng.IntN(3))
		if g.lastBad == badNaN && len(e.Features.Numeric) == 0 {
			g.lastBad = badMissingID
		}
	}
	switch g.lastBad {
	case badNaN:
		m := g.model(e.Model.ID)
		e.Features.SetNumeric(m.num[g.rng.IntN(len(m.num))].spec.Name, math.NaN())
	case badMissingID:
		e.PredictionID = ""
	}
	value = g.Append(dst[:0], e)
	if g.lastBad == badInvalidJSON {
		value = value[:len(value)/2]
	}
	if g.sc.KeyByPrediction {
		return e.PredictionID, value
	}
	return e.Model.ID, value
}

func (g *Generator) model(id string) *model {
	for i := range g.models {
		if g.models[i].id == id {
			return &g.models[i]
		}
	}
	return nil
}
