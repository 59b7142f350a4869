package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

var testStart = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func TestNewValidation(t *testing.T) {
	good := func() Scenario {
		sc := DefaultScenario(2, 8)
		sc.Start = testStart
		return sc
	}
	tests := []struct {
		name  string
		edit  func(*Scenario)
		field string
	}{
		{"no models", func(s *Scenario) { s.Models = nil }, "models"},
		{"negative rate", func(s *Scenario) { s.Rate = -1 }, "rate"},
		{"NaN rate", func(s *Scenario) { s.Rate = math.NaN() }, "rate"},
		{"negative step", func(s *Scenario) { s.EventStep = -time.Second }, "event_step"},
		{"bad fraction", func(s *Scenario) { s.BadFraction = 1.5 }, "bad_fraction"},
		{"empty id", func(s *Scenario) { s.Models[1].ID = "" }, "models[1].id"},
		{"duplicate id", func(s *Scenario) { s.Models[1].ID = s.Models[0].ID }, "models[1].id: duplicate"},
		{"bias too low", func(s *Scenario) { s.Models[1].Bias = -11 }, "models[1].bias"},
		{"NaN bias", func(s *Scenario) { s.Models[0].Bias = math.NaN() }, "models[0].bias"},
		{"unknown dist", func(s *Scenario) { s.Models[0].Numeric[2].Dist = "gamma" }, "models[0].numeric[2]: dist"},
		{"bad sd", func(s *Scenario) { s.Models[0].Numeric[0] = NumericSpec{"x", DistNormal, 0, 0} }, "models[0].numeric[0]: p1, p2"},
		{"bad uniform", func(s *Scenario) { s.Models[0].Numeric[0] = NumericSpec{"x", DistUniform, 2, 1} }, "models[0].numeric[0]: p1, p2"},
		{"bad poisson", func(s *Scenario) { s.Models[0].Numeric[0] = NumericSpec{"x", DistPoisson, -1, 0} }, "models[0].numeric[0]: p1, p2"},
		{"duplicate feature", func(s *Scenario) { s.Models[0].Categorical[0].Name = s.Models[0].Numeric[0].Name }, "models[0].categorical[0].name: duplicate"},
		{"reserved feature", func(s *Scenario) { s.Models[0].Numeric[0].Name = telemetry.ScoreFeature }, "models[0].numeric[0].name"},
		{"no values", func(s *Scenario) { s.Models[0].Categorical[1].Values = nil }, "models[0].categorical[1].values"},
		{"weights length", func(s *Scenario) { s.Models[0].Categorical[0].Weights = []float64{1} }, "models[0].categorical[0].weights"},
		{"negative weight", func(s *Scenario) {
			w := slices.Clone(s.Models[0].Categorical[0].Weights)
			w[0] = -1
			s.Models[0].Categorical[0].Weights = w
		}, "models[0].categorical[0].weights"},
		{"shift unknown model", func(s *Scenario) { s.Shift = &Shift{Model: "nope"} }, "shift.model"},
		{"shift unknown feature", func(s *Scenario) { s.Shift = &Shift{Model: s.Models[0].ID, Features: []string{"nope"}} }, "shift.features[0]"},
		{"shift negative after", func(s *Scenario) { s.Shift = &Shift{Model: s.Models[0].ID, After: -1} }, "shift.after"},
	}
	if _, err := New(good(), 1); err != nil {
		t.Fatalf("default scenario: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := good()
			tt.edit(&sc)
			_, err := New(sc, 1)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestDefaultScenario(t *testing.T) {
	for _, tt := range []struct{ models, features int }{{1, 8}, {3, 12}, {10, 40}, {0, 0}} {
		sc := DefaultScenario(tt.models, tt.features)
		if len(sc.Models) != max(tt.models, 1) {
			t.Errorf("DefaultScenario(%d, %d): %d models", tt.models, tt.features, len(sc.Models))
		}
		for _, m := range sc.Models {
			n := len(m.Numeric) + len(m.Categorical)
			if n != max(tt.features, 8) || len(m.Numeric) == 0 || len(m.Categorical) < 2 {
				t.Errorf("model %s: %d numeric + %d categorical", m.ID, len(m.Numeric), len(m.Categorical))
			}
		}
		if _, err := New(sc, 7); err != nil {
			t.Errorf("DefaultScenario(%d, %d) does not validate: %v", tt.models, tt.features, err)
		}
	}
	sc := DefaultScenario(3, 8)
	if sc.Models[0].ID != "fraud-scorer" || sc.Models[1].ID != "churn-model" {
		t.Errorf("model names: %s, %s", sc.Models[0].ID, sc.Models[1].ID)
	}
}

func TestDeterministic(t *testing.T) {
	sc := DefaultScenario(3, 10)
	sc.Start = testStart
	sc.BadFraction = 0.1
	msgs := func(seed int64) [][]byte {
		g, err := New(sc, seed)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for i := 0; i < 500; i++ {
			key, v := g.NextMessage(nil)
			out = append(out, append([]byte(key+"|"), v...))
		}
		return out
	}
	a, b, c := msgs(42), msgs(42), msgs(43)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("message %d differs for the same seed:\n%s\n%s", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of %d messages equal for different seeds", same, len(a))
	}
}

// TestEventTimes checks the event-time step for Rate and EventStep.
func TestEventTimes(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		step time.Duration
		want time.Duration
	}{{0, 0, time.Millisecond}, {0, 250 * time.Millisecond, 250 * time.Millisecond}, {400, time.Hour, 2500 * time.Microsecond}} {
		sc := DefaultScenario(2, 8)
		sc.Start, sc.Rate, sc.EventStep = testStart, tt.rate, tt.step
		g, err := New(sc, 1)
		if err != nil {
			t.Fatal(err)
		}
		var e telemetry.Event
		for i := 0; i < 10; i++ {
			g.Next(&e)
			if want := testStart.Add(time.Duration(i) * tt.want); !e.EventTime.Equal(want) {
				t.Fatalf("rate %v step %v: event %d at %v, want %v", tt.rate, tt.step, i, e.EventTime, want)
			}
		}
	}
}

type moments struct{ n, sum, sumsq float64 }

func (m *moments) add(x float64) { m.n++; m.sum += x; m.sumsq += x * x }
func (m moments) mean() float64  { return m.sum / m.n }
func (m moments) se() float64 {
	v := m.sumsq/m.n - m.mean()*m.mean()
	return math.Sqrt(v / m.n)
}

// TestShift checks that the shift moves the chosen features of the chosen model
// by MeanShift σ after Shift.After and leaves everything else alone. Tolerances
// are 6 standard errors: a missing or misplaced shift of 1σ is 50+ standard
// errors away and cannot pass by accident.
func TestShift(t *testing.T) {
	sc := Scenario{
		Start:     testStart,
		EventStep: time.Millisecond,
		Models: []ModelSpec{
			{ID: "a", Numeric: []NumericSpec{{"x", DistNormal, 50, 10}, {"y", DistLognormal, 1, 0.5}, {"z", DistPoisson, 4, 0}, {"u", DistUniform, 0, 12}},
				Categorical: []CategoricalSpec{{"c", []string{"p", "q", "r"}, []float64{6, 3, 1}}}},
			{ID: "b", Numeric: []NumericSpec{{"x", DistNormal, 50, 10}}, Categorical: []CategoricalSpec{{"c", []string{"p", "q", "r"}, []float64{6, 3, 1}}}},
		},
		Shift: &Shift{Model: "a", After: 20 * time.Second, Features: []string{"x", "z", "u", "c"}, MeanShift: 1, CategoryFlip: true},
	}
	g, err := New(sc, 11)
	if err != nil {
		t.Fatal(err)
	}
	type phase struct {
		num    map[string]*moments
		last   moments // share of the last category, as a 0/1 mean
		bx     moments // model b's x
		blast  moments
		events int
	}
	newPhase := func() *phase {
		return &phase{num: map[string]*moments{"x": {}, "y": {}, "z": {}, "u": {}}}
	}
	before, after := newPhase(), newPhase()
	cut := testStart.Add(sc.Shift.After)
	var e telemetry.Event
	for i := 0; i < 80000; i++ {
		g.Next(&e)
		ph := before
		if !e.EventTime.Before(cut) {
			ph = after
		}
		isLast := 0.0
		if categoricalOf(&e.Features, "c") == "r" {
			isLast = 1
		}
		if e.Model.ID == "b" {
			ph.bx.add(numericOf(&e.Features, "x"))
			ph.blast.add(isLast)
			continue
		}
		ph.events++
		for name, m := range ph.num {
			m.add(numericOf(&e.Features, name))
		}
		ph.last.add(isLast)
	}
	if before.events < 8000 || after.events < 25000 {
		t.Fatalf("too few events of model a: %d before, %d after", before.events, after.events)
	}
	check := func(what string, m moments, want float64) {
		t.Helper()
		if d := math.Abs(m.mean() - want); d > 6*m.se() {
			t.Errorf("%s: mean %.4f, want %.4f ± %.4f (6 SE)", what, m.mean(), want, 6*m.se())
		}
	}
	sdU := 12 / math.Sqrt(12)
	check("a.x before", *before.num["x"], 50)
	check("a.x after", *after.num["x"], 60)
	check("a.z before", *before.num["z"], 4)
	check("a.z after", *after.num["z"], 6)
	check("a.u before", *before.num["u"], 6)
	check("a.u after", *after.num["u"], 6+sdU)
	wantY := math.Exp(1 + 0.125)
	check("a.y before (not shifted)", *before.num["y"], wantY)
	check("a.y after (not shifted)", *after.num["y"], wantY)
	check("a.c share of last before", before.last, 0.1)
	check("a.c share of last after", after.last, 0.2*0.1+0.8)
	check("b.x before", before.bx, 50)
	check("b.x after (other model)", after.bx, 50)
	check("b.c share of last after (other model)", after.blast, 0.1)
}

// TestScoreDependsOnFeatures checks that the score is a monotone function of a
// single feature (a logistic of a linear term) and that the class follows the threshold.
func TestScoreDependsOnFeatures(t *testing.T) {
	sc := Scenario{Start: testStart, Models: []ModelSpec{{ID: "m", Numeric: []NumericSpec{{"x", DistNormal, 0, 1}}}}}
	g, err := New(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	type pt struct{ x, s float64 }
	var pts []pt
	var e telemetry.Event
	classes := map[string]int{}
	for i := 0; i < 2000; i++ {
		g.Next(&e)
		s := *e.Prediction.Score
		pts = append(pts, pt{numericOf(&e.Features, "x"), s})
		want := ClassNegative
		if s >= Threshold {
			want = ClassPositive
		}
		if e.Prediction.Class != want || math.Abs(probabilityOf(e.Prediction.Probabilities, ClassPositive)-s) > 1e-15 {
			t.Fatalf("score %v with class %q and probabilities %v", s, e.Prediction.Class, e.Prediction.Probabilities)
		}
		classes[e.Prediction.Class]++
	}
	slices.SortFunc(pts, func(a, b pt) int { return int(math.Copysign(1, a.x-b.x)) })
	up, down := 0, 0
	for i := 1; i < len(pts); i++ {
		switch {
		case pts[i].s > pts[i-1].s:
			up++
		case pts[i].s < pts[i-1].s:
			down++
		}
	}
	if up != 0 && down != 0 {
		t.Errorf("score is not a monotone function of x: %d rises, %d falls", up, down)
	}
	if spread := pts[len(pts)-1].s - pts[0].s; math.Abs(spread) < 0.1 {
		t.Errorf("score barely depends on x: spread %v", spread)
	}
}

// TestMessagesDecode checks that every good message decodes with
// telemetry.Decoder to the generated event, and every bad one is rejected
// with the reason of its kind.
func TestMessagesDecode(t *testing.T) {
	sc := DefaultScenario(4, 12)
	sc.Start = testStart
	sc.BadFraction = 0.3
	g, err := New(sc, 5)
	if err != nil {
		t.Fatal(err)
	}
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart })
	var got telemetry.Event
	var buf []byte
	const n = 6000
	bad := map[badKind]int{}
	for i := 0; i < n; i++ {
		key, v := g.NextMessage(buf)
		buf = v
		err := d.Decode(v, &got)
		want := &g.ev
		if key != want.Model.ID {
			t.Fatalf("key %q for model %q", key, want.Model.ID)
		}
		if g.lastBad == badNone {
			if err != nil {
				t.Fatalf("good message rejected: %v\n%s", err, v)
			}
			if got.PredictionID != want.PredictionID || !got.EventTime.Equal(want.EventTime) || got.Model != want.Model ||
				got.Principal != want.Principal || *got.Prediction.Score != *want.Prediction.Score ||
				got.Prediction.Class != want.Prediction.Class || *got.LatencyMS != *want.LatencyMS ||
				!sameElements(got.Features.Numeric, want.Features.Numeric) || !sameElements(got.Features.Categorical, want.Features.Categorical) {
				t.Fatalf("decoded event differs:\n got %+v\nwant %+v", got, *want)
			}
			continue
		}
		bad[g.lastBad]++
		var rj *telemetry.RejectError
		if !errors.As(err, &rj) {
			t.Fatalf("bad message (kind %d) not rejected: %v\n%s", g.lastBad, err, v)
		}
		want2 := map[badKind][2]string{
			badInvalidJSON: {telemetry.ReasonInvalidJSON, "body"},
			badNaN:         {telemetry.ReasonInvalidValue, "features.numeric["},
			badMissingID:   {telemetry.ReasonMissingField, "prediction_id"},
		}[g.lastBad]
		wantReason, wantDetail := want2[0], want2[1]
		if rj.Reason != wantReason || !strings.Contains(rj.Detail, wantDetail) {
			t.Fatalf("bad message kind %d: got %v, want %s naming %s", g.lastBad, rj, wantReason, wantDetail)
		}
	}
	total := bad[badInvalidJSON] + bad[badNaN] + bad[badMissingID]
	// Binomial(6000, 0.3): sd ≈ 35.5; allow 5 sd.
	if math.Abs(float64(total)-0.3*n) > 5*35.5 {
		t.Errorf("%d bad messages of %d, want about %v", total, n, 0.3*n)
	}
	for _, k := range []badKind{badInvalidJSON, badNaN, badMissingID} {
		if bad[k] < total/3-150 {
			t.Errorf("bad kind %d: %d of %d", k, bad[k], total)
		}
	}
}

// sameElements reports whether a and b hold the same elements in any order.
func sameElements[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestAppendRoundTrip checks Append on an event that uses every field and
// strings that need escaping.
func TestAppendRoundTrip(t *testing.T) {
	g, err := New(Scenario{Start: testStart, Models: []ModelSpec{{ID: "m", Numeric: []NumericSpec{{"x", DistNormal, 0, 1}}}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	in := telemetry.Event{
		PredictionID: "id-42:x/y@z+w",
		EventTime:    time.Date(2026, 11, 26, 14, 30, 0, 123456789, time.FixedZone("x", 3600)),
		Model:        telemetry.Model{ID: "chat-bot", Version: "v-7"},
		Operation:    "chat",
		Principal:    telemetry.Principal{EndUserID: "u", ClientAddress: "10.0.0.1"},
		Features: telemetry.Features{
			Numeric: telemetry.NumbersOf(map[string]float64{"b": -0.5, "a": 1e21, "tiny": 5e-324, "neg": -123456.789}),
			// Values that need escaping (control characters are refused by
			// the decoder's character policy: see TestAppendEscapesControlCharacters).
			Categorical: telemetry.CategoriesOf(map[string]string{"lang": "日本語", "q": `"<>&`, "path": `"quoted" \ back/slash ü`}),
		},
		Prediction: telemetry.Prediction{Score: f(0.25), Class: "x", Probabilities: telemetry.ProbabilitiesOf(map[string]float64{"x": 0.25, "y": 0.75}), Threshold: f(0.3)},
		LatencyMS:  f(0),
		ErrorType:  "timeout",
		LLM: &telemetry.LLM{InputTokens: i(812), OutputTokens: i(0), FinishReasons: []string{"stop", "length"},
			TimeToFirstChunk: f(0.21), Refusal: true},
		Attributes: telemetry.AttributesOf(map[string]string{"deployment.environment.name": "prod"}),
	}
	b := g.Append(nil, &in)
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return testStart })
	var out telemetry.Event
	if err := d.Decode(b, &out); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if out.PredictionID != in.PredictionID || !out.EventTime.Equal(in.EventTime) || out.Model != in.Model ||
		out.Principal != in.Principal || out.Operation != in.Operation || out.ErrorType != in.ErrorType ||
		!sameElements(out.Features.Numeric, in.Features.Numeric) || !sameElements(out.Features.Categorical, in.Features.Categorical) ||
		!sameElements(out.Prediction.Probabilities, in.Prediction.Probabilities) || !sameElements(out.Attributes, in.Attributes) ||
		*out.Prediction.Score != 0.25 || *out.Prediction.Threshold != 0.3 || *out.LatencyMS != 0 ||
		*out.LLM.InputTokens != 812 || *out.LLM.OutputTokens != 0 || !slices.Equal(out.LLM.FinishReasons, in.LLM.FinishReasons) ||
		*out.LLM.TimeToFirstChunk != 0.21 || !out.LLM.Refusal || out.LLM.ReasoningTokens != nil {
		t.Errorf("round trip differs:\n  in %+v\n out %+v\njson %s", in, out, b)
	}
	if again := g.Append(nil, &in); !bytes.Equal(again, b) {
		t.Errorf("Append is not deterministic:\n%s\n%s", b, again)
	}
	in.Features.SetNumeric("b", math.Inf(1))
	if err := d.Decode(g.Append(nil, &in), &out); err == nil {
		t.Error("an infinite feature was accepted after Append")
	}
}

// TestAppendEscapesControlCharacters: strings the decoder would refuse still
// come out of Append as valid JSON holding them exactly, so that the
// generator can produce hostile events for the tests that replay attacks.
func TestAppendEscapesControlCharacters(t *testing.T) {
	g, err := New(Scenario{Start: testStart, Models: []ModelSpec{{ID: "m", Numeric: []NumericSpec{{"x", DistNormal, 0, 1}}}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	hostile := "id \"quoted\" \\ back\nslash\t\x01\u2028"
	b := g.Append(nil, &telemetry.Event{PredictionID: hostile, EventTime: testStart, Model: telemetry.Model{ID: "m"}})
	var out struct {
		PredictionID string `json:"prediction_id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.PredictionID != hostile {
		t.Fatalf("Append wrote %s: %v, prediction_id %q", b, err, out.PredictionID)
	}
}

// TestBehaviourScenarios: each behaviour scenario changes what it says, for
// the shifted model after the shift only, and leaves the other scenarios'
// events as they were (no extra random draws when off).
func TestBehaviourScenarios(t *testing.T) {
	const n = 20000
	run := func(t *testing.T, scenario string, errorRate float64) (before, after map[string]float64) {
		t.Helper()
		sc := DefaultScenario(2, 8)
		sc.Start = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		sc.ErrorRate = errorRate
		model := sc.Models[0].ID
		if scenario != "" {
			sh, err := ShiftFor(scenario, model, 10*time.Second, 1)
			if err != nil {
				t.Fatal(err)
			}
			sc.Shift = sh
		}
		g, err := New(sc, 5)
		if err != nil {
			t.Fatal(err)
		}
		stats := [2]map[string]float64{{}, {}}
		var e telemetry.Event
		for range n {
			g.Next(&e)
			if e.Model.ID != model {
				continue
			}
			s := stats[0]
			if !e.EventTime.Before(sc.Start.Add(10 * time.Second)) {
				s = stats[1]
			}
			s["n"]++
			s["latency"] += *e.LatencyMS
			if e.ErrorType != "" {
				s["errors"]++
				s["error:"+e.ErrorType]++
			}
			if e.Prediction.Class == ClassPositive {
				s["positive"]++
			}
		}
		for _, s := range stats {
			for k, v := range s {
				if k != "n" {
					s[k] = v / s["n"]
				}
			}
		}
		return stats[0], stats[1]
	}
	base0, base1 := run(t, "", 0)
	if base0["errors"] != 0 || math.Abs(base1["latency"]/base0["latency"]-1) > 0.05 {
		t.Fatalf("no scenario: %v then %v", base0, base1)
	}
	_, lat := run(t, ScenarioLatencySpike, 0)
	if r := lat["latency"] / base1["latency"]; math.Abs(r-2) > 1e-9 {
		t.Errorf("latency-spike: latency × %v, want 2", r)
	}
	b, e := run(t, ScenarioErrorBurst, 0.01)
	if math.Abs(b["errors"]-0.01) > 0.005 || math.Abs(e["errors"]-0.06) > 0.01 || math.Abs(e["error:upstream_timeout"]-0.05) > 0.01 {
		t.Errorf("error-burst: %v errors before (want 1%%), %v after (want 6%%, 5%% upstream_timeout)", b["errors"], e["errors"])
	}
	_, cls := run(t, ScenarioClassShift, 0)
	if want := base1["positive"] + 0.3*(1-base1["positive"]); math.Abs(cls["positive"]-want) > 0.02 {
		t.Errorf("class-shift: %v positive, want about %v", cls["positive"], want)
	}
	if _, err := ShiftFor("meteor", "m", 0, 1); err == nil || !strings.Contains(err.Error(), "latency-spike") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func numericOf(f *telemetry.Features, name string) float64 {
	v, _ := f.NumericValue(name)
	return v
}

func categoricalOf(f *telemetry.Features, name string) string {
	v, _ := f.CategoricalValue(name)
	return v
}

func probabilityOf(ps telemetry.Probabilities, class string) float64 {
	for _, p := range ps {
		if p.Class == class {
			return p.P
		}
	}
	return math.NaN()
}

// TestModelBiasMakesPositivesRare: a bias of −2 takes the ordinary
// callers' positive predictions from about 36% to 2–6% (a fraud model's
// mix), while an extractor still gets both classes half the time: what
// caller_harvest sees.
func TestModelBiasMakesPositivesRare(t *testing.T) {
	share := func(bias float64) (ordinary, extractor float64) {
		s := DefaultScenario(1, 6)
		s.Models[0].Bias = bias
		s.Callers = &Callers{N: 150, Actors: []Actor{{Kind: AccessExtraction, ID: "extractor-1", Model: s.Models[0].ID, Rate: 100}}}
		g, err := New(s, 40)
		if err != nil {
			t.Fatal(err)
		}
		var e telemetry.Event
		var pos, n, xpos, xn float64
		for range 50_000 {
			g.Next(&e)
			p := 0.0
			if e.Prediction.Class == ClassPositive {
				p = 1
			}
			if e.Principal.EndUserID == "extractor-1" {
				xpos, xn = xpos+p, xn+1
			} else {
				pos, n = pos+p, n+1
			}
		}
		return pos / n, xpos / xn
	}
	o0, _ := share(0)
	o, x := share(-2)
	if o0 < 0.25 || o < 0.02 || o > 0.06 || x < 0.45 || x > 0.55 {
		t.Fatalf("positive share: ordinary %.3f without bias, %.3f with −2; extractor %.3f", o0, o, x)
	}
}
