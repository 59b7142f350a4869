// Package generator produces realistic synthetic inference telemetry for the
// demo, tests and benchmarks: several models with numeric and categorical
// features, scores that depend on the features, injected drift, a share of
// malformed messages and, optionally, delayed ground-truth labels, training
// feedback (honest or attacking) and a population of callers with
// attackers and heavy users among them (Callers). It writes
// to any Kafka through kafka-go. It does not decode or analyse events; that is
// package telemetry's and analysis' job.
package generator

import (
	"fmt"
	"math"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// Distributions of numeric features (NumericSpec.Dist).
const (
	// DistNormal: P1 = mean, P2 = standard deviation (> 0).
	DistNormal = "normal"
	// DistLognormal: P1 = μ, P2 = σ (> 0) of the underlying normal.
	DistLognormal = "lognormal"
	// DistUniform: P1 = low, P2 = high (> P1).
	DistUniform = "uniform"
	// DistPoisson: P1 = λ (> 0); P2 is unused.
	DistPoisson = "poisson"
)

// Scenario describes the telemetry to generate.
type Scenario struct {
	// Models are the models whose inferences are generated; each event picks one uniformly. Required.
	Models []ModelSpec
	// Rate is the total rate in events per second; it sets the event-time step
	// (1/Rate s) and, in Produce, the wall-clock pace. Default: 0 = as fast as possible.
	Rate float64
	// Start is the event time of the first event. Default: when New is called, truncated to the second.
	Start time.Time
	// EventStep is the event-time step per event when Rate is 0. Default: 1ms.
	EventStep time.Duration
	// Shift injects drift into one model; nil means no drift.
	Shift *Shift
	// BadFraction is the share of malformed messages from NextMessage: invalid
	// JSON, a "NaN" numeric feature, or a missing prediction_id, in equal parts. Default: 0.
	BadFraction float64
	// ErrorRate is the share of calls that fail (error.type "timeout"), for
	// every model. Default: 0.
	ErrorRate float64
	// KeyByPrediction keys messages by prediction id instead of model id, so
	// that one model's events spread over every partition (as producers of a
	// hot model do). Default: false (keyed by model id).
	KeyByPrediction bool
	// Labels makes the generator produce a ground-truth label for (a share
	// of) its predictions, after a delay in event time; nil means no labels.
	Labels *Labels
	// Feedback makes the generator write training feedback about its
	// predictions (NextFeedback), honest or attacking; nil means none.
	Feedback *Feedback
	// Callers makes the callers realistic (a heavy-tailed population) and
	// adds the callers of access scenarios; nil means 2,000 users picked
	// uniformly.
	Callers *Callers
}

// DefaultMaxPendingLabels is the default of Labels.MaxPending. A pending
// label takes about 100 bytes, so the default bounds them to about 100 MB.
const DefaultMaxPendingLabels = 1_000_000

// Labels configures the label events (ground truth) of a scenario. A label's
// truth is drawn when its inference is generated, and its label_time is the
// inference's event_time plus Delay plus a uniform jitter in [0, Jitter].
// Labels come from a random source of their own, so turning them on or off
// leaves the inference events byte for byte as they were. Every event Next
// makes may get a label, failed calls too, and so do the events NextMessage
// then malforms: their labels refer to inferences a consumer dead-letters,
// like the orphan labels of real feeds.
type Labels struct {
	// Share is the share of predictions that get a label, in [0, 1].
	// Default: 0 = 1 (every prediction).
	Share float64
	// Delay is the event time from an inference to its label. Default: 0
	// (the label is due as soon as its inference is generated).
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter] to each label.
	// Default: 0 (every label exactly Delay after its inference).
	Jitter time.Duration
	// MaxPending bounds the labels generated but not yet returned by
	// NextLabel or FlushLabel; labels beyond it are dropped and counted in
	// LabelStats.Dropped. Default: 0 = DefaultMaxPendingLabels.
	MaxPending int
}

// ModelSpec describes one model: its identity and its input features.
type ModelSpec struct {
	// ID is the model id, also the Kafka key. Required.
	ID string
	// Version is the model version.
	Version string
	// Numeric are the model's numeric features.
	Numeric []NumericSpec
	// Categorical are the model's categorical features.
	Categorical []CategoricalSpec
	// GenAI makes the model's events carry GenAI usage (tokens, finish
	// reasons, refusals, time to first chunk).
	GenAI bool
	// Bias is added to the model's logit (whose intercept is −1): below 0
	// positive predictions get rarer (−2: about 4% of the ordinary
	// callers' calls), as a fraud model's are. In [−10, 10]. Default: 0.
	Bias float64
}

// NumericSpec describes a numeric feature and its distribution.
type NumericSpec struct {
	// Name is the feature name.
	Name string
	// Dist is normal, lognormal, uniform or poisson.
	Dist string
	// P1 and P2 are the distribution's parameters, see the Dist* constants.
	P1, P2 float64
}

// CategoricalSpec describes a categorical feature.
type CategoricalSpec struct {
	// Name is the feature name.
	Name string
	// Values are the categories. Required.
	Values []string
	// Weights are the relative frequencies of Values; empty means uniform.
	Weights []float64
}

// Shift injects drift into one model's features from a point in event time.
type Shift struct {
	// Model is the id of the model that drifts.
	Model string
	// After is the event time after Start from which the shift applies.
	After time.Duration
	// Features are the features that drift; empty means all of the model's features.
	Features []string
	// MeanShift moves numeric features' means by this many standard deviations.
	MeanShift float64
	// CategoryFlip moves 80% of categorical features' weight to their last value.
	CategoryFlip bool
	// LatencyFactor multiplies the model's latencies (0: unchanged).
	LatencyFactor float64
	// ErrorRate adds this share of failed calls, of error type ErrorType.
	ErrorRate float64
	// ErrorType is the error.type of the added failures. Default: "upstream_timeout".
	ErrorType string
	// ClassFlip turns this share of the model's negative predictions into
	// positive ones (the predicted-class mix moves while the inputs do not).
	ClassFlip float64
	// ConfidenceScale multiplies the model's logits (0: unchanged; below 1
	// its scores crowd towards 0.5: its confidence collapses).
	ConfidenceScale float64
	// RefusalRate adds this share of refusals to a GenAI model's calls.
	RefusalRate float64
	// TokenFactor multiplies a GenAI model's output tokens (0: unchanged).
	TokenFactor float64
	// Caller, with CallerShare > 0, is a caller (enduser.id) that makes
	// that share of the model's calls; with Probe its calls score within
	// 0.02 of the threshold (boundary probing), else they are ordinary.
	Caller      string
	CallerShare float64
	Probe       bool
	// LabelFlip flips this share of the model's labels against the
	// calibrated truth (concept drift: inputs and scores stay as they were,
	// only the truth moves). New rejects it when the scenario has no Labels.
	LabelFlip float64
}

// Scenario names of Shift presets (ShiftFor).
const (
	// ScenarioInputDrift shifts the inputs' distributions (MeanShift, CategoryFlip).
	ScenarioInputDrift = "input-drift"
	// ScenarioLatencySpike makes the model 2× slower.
	ScenarioLatencySpike = "latency-spike"
	// ScenarioErrorBurst makes 5% more of its calls fail with upstream_timeout.
	ScenarioErrorBurst = "error-burst"
	// ScenarioClassShift turns 30% of its negative predictions positive.
	ScenarioClassShift = "class-shift"
	// ScenarioConfidenceCollapse scales its logits by 0.3: scores crowd
	// towards the threshold, classes mostly stay.
	ScenarioConfidenceCollapse = "confidence-collapse"
	// ScenarioRefusalSpike makes a GenAI model refuse 8% more of its calls.
	ScenarioRefusalSpike = "refusal-spike"
	// ScenarioTokenInflation doubles a GenAI model's output tokens.
	ScenarioTokenInflation = "token-inflation"
	// ScenarioProbing adds a caller, prober-1, making 15% of the model's
	// calls, every one scored within 0.02 of the threshold.
	ScenarioProbing = "probing"
	// ScenarioBenignHeavyUser adds a service account, batch-scorer, making
	// 30% of the model's calls with ordinary inputs and outputs: heavy and
	// benign (it must not page).
	ScenarioBenignHeavyUser = "benign-heavy-user"
	// ScenarioConceptDrift flips 30% of its labels against the calibrated
	// truth: inputs, scores and predicted classes keep exactly their
	// distribution (the inference events are byte-identical to a run
	// without the scenario), but realised accuracy falls. Only labels show it.
	ScenarioConceptDrift = "concept-drift"
)

// Scenarios lists the scenario names ShiftFor knows.
var Scenarios = []string{ScenarioInputDrift, ScenarioLatencySpike, ScenarioErrorBurst, ScenarioClassShift, ScenarioConfidenceCollapse,
	ScenarioRefusalSpike, ScenarioTokenInflation, ScenarioConceptDrift, ScenarioProbing, ScenarioBenignHeavyUser}

// ShiftFor returns the shift of the named scenario for model from after on;
// sigma is the input drift's mean shift in standard deviations.
func ShiftFor(scenario, model string, after time.Duration, sigma float64) (*Shift, error) {
	s := &Shift{Model: model, After: after}
	switch scenario {
	case ScenarioInputDrift:
		s.MeanShift, s.CategoryFlip = sigma, true
	case ScenarioLatencySpike:
		s.LatencyFactor = 2
	case ScenarioErrorBurst:
		s.ErrorRate = 0.05
	case ScenarioClassShift:
		s.ClassFlip = 0.3
	case ScenarioConfidenceCollapse:
		s.ConfidenceScale = 0.3
	case ScenarioRefusalSpike:
		s.RefusalRate = 0.08
	case ScenarioTokenInflation:
		s.TokenFactor = 2
	case ScenarioConceptDrift:
		s.LabelFlip = 0.3
	case ScenarioProbing:
		s.Caller, s.CallerShare, s.Probe = "prober-1", 0.15, true
	case ScenarioBenignHeavyUser:
		s.Caller, s.CallerShare = "batch-scorer", 0.3
	default:
		return nil, fmt.Errorf("scenario: want one of %v, got %q", Scenarios, scenario)
	}
	return s, nil
}

// validate checks the scenario and names the first bad field.
func (sc *Scenario) validate() error {
	if len(sc.Models) == 0 {
		return fmt.Errorf("validating scenario: models: at least one model required")
	}
	if sc.Feedback != nil {
		if err := sc.Feedback.validate(); err != nil {
			return fmt.Errorf("validating scenario: %w", err)
		}
	}
	if sc.Callers != nil {
		if err := sc.Callers.validate(sc.Models); err != nil {
			return fmt.Errorf("validating scenario: %w", err)
		}
	}
	if sc.Rate < 0 || math.IsNaN(sc.Rate) || math.IsInf(sc.Rate, 0) {
		return fmt.Errorf("validating scenario: rate: must be a finite number >= 0, got %v", sc.Rate)
	}
	if sc.EventStep < 0 {
		return fmt.Errorf("validating scenario: event_step: must not be negative, got %s", sc.EventStep)
	}
	if !(sc.ErrorRate >= 0 && sc.ErrorRate <= 1) {
		return fmt.Errorf("validating scenario: error_rate: must be in [0, 1], got %v", sc.ErrorRate)
	}
	if !(sc.BadFraction >= 0 && sc.BadFraction <= 1) {
		return fmt.Errorf("validating scenario: bad_fraction: must be in [0, 1], got %v", sc.BadFraction)
	}
	if l := sc.Labels; l != nil {
		switch {
		case !(l.Share >= 0 && l.Share <= 1):
			return fmt.Errorf("validating scenario: labels.share: must be in [0, 1], got %v", l.Share)
		case l.Delay < 0:
			return fmt.Errorf("validating scenario: labels.delay: must not be negative, got %s", l.Delay)
		case l.Jitter < 0 || l.Jitter >= time.Duration(math.MaxInt64)-l.Delay:
			return fmt.Errorf("validating scenario: labels.jitter: must be >= 0, with delay + jitter below %s, got %s", time.Duration(math.MaxInt64), l.Jitter)
		case l.MaxPending < 0:
			return fmt.Errorf("validating scenario: labels.max_pending: must not be negative, got %d", l.MaxPending)
		}
	}
	lim := telemetry.DefaultLimits()
	ids := map[string]bool{}
	for i, m := range sc.Models {
		at := fmt.Sprintf("models[%d]", i)
		if m.ID == "" {
			return fmt.Errorf("validating scenario: %s.id: required", at)
		}
		if len(m.ID) > lim.MaxValueLength || len(m.Version) > lim.MaxValueLength {
			return fmt.Errorf("validating scenario: %s: id or version longer than %d bytes", at, lim.MaxValueLength)
		}
		if ids[m.ID] {
			return fmt.Errorf("validating scenario: %s.id: duplicate model id %q", at, m.ID)
		}
		ids[m.ID] = true
		if n := len(m.Numeric) + len(m.Categorical); n == 0 || n > lim.MaxFeatures {
			return fmt.Errorf("validating scenario: %s: %d features, want 1 to %d", at, n, lim.MaxFeatures)
		}
		names := map[string]bool{}
		name := func(field, n string) error {
			switch {
			case n == "":
				return fmt.Errorf("validating scenario: %s.name: required", field)
			case len(n) > lim.MaxNameLength:
				return fmt.Errorf("validating scenario: %s.name: longer than %d bytes", field, lim.MaxNameLength)
			case n == telemetry.ScoreFeature || n == telemetry.ClassFeature:
				return fmt.Errorf("validating scenario: %s.name: %q is reserved", field, n)
			case names[n]:
				return fmt.Errorf("validating scenario: %s.name: duplicate feature %q", field, n)
			}
			names[n] = true
			return nil
		}
		if !(m.Bias >= -10 && m.Bias <= 10) {
			return fmt.Errorf("validating scenario: %s.bias: must be in [-10, 10], got %v", at, m.Bias)
		}
		for j, f := range m.Numeric {
			field := fmt.Sprintf("%s.numeric[%d]", at, j)
			if err := name(field, f.Name); err != nil {
				return err
			}
			if err := checkDist(f); err != nil {
				return fmt.Errorf("validating scenario: %s: %w", field, err)
			}
		}
		for j, f := range m.Categorical {
			field := fmt.Sprintf("%s.categorical[%d]", at, j)
			if err := name(field, f.Name); err != nil {
				return err
			}
			if len(f.Values) == 0 {
				return fmt.Errorf("validating scenario: %s.values: at least one value required", field)
			}
			for _, v := range f.Values {
				if len(v) > lim.MaxValueLength {
					return fmt.Errorf("validating scenario: %s.values: %q longer than %d bytes", field, v, lim.MaxValueLength)
				}
			}
			if len(f.Weights) != 0 {
				if len(f.Weights) != len(f.Values) {
					return fmt.Errorf("validating scenario: %s.weights: %d weights for %d values", field, len(f.Weights), len(f.Values))
				}
				sum := 0.0
				for _, w := range f.Weights {
					if !(w >= 0) || math.IsInf(w, 0) {
						return fmt.Errorf("validating scenario: %s.weights: %v is not a finite weight >= 0", field, w)
					}
					sum += w
				}
				if sum <= 0 {
					return fmt.Errorf("validating scenario: %s.weights: sum must be > 0", field)
				}
			}
		}
	}
	if s := sc.Shift; s != nil {
		var target *ModelSpec
		for i := range sc.Models {
			if sc.Models[i].ID == s.Model {
				target = &sc.Models[i]
			}
		}
		if target == nil {
			return fmt.Errorf("validating scenario: shift.model: no model %q", s.Model)
		}
		if s.After < 0 {
			return fmt.Errorf("validating scenario: shift.after: must not be negative, got %s", s.After)
		}
		if math.IsNaN(s.MeanShift) || math.IsInf(s.MeanShift, 0) {
			return fmt.Errorf("validating scenario: shift.mean_shift: must be finite, got %v", s.MeanShift)
		}
		if !(s.LatencyFactor >= 0) || math.IsInf(s.LatencyFactor, 0) {
			return fmt.Errorf("validating scenario: shift.latency_factor: must be a finite number >= 0, got %v", s.LatencyFactor)
		}
		if !(s.ErrorRate >= 0 && sc.ErrorRate+s.ErrorRate <= 1) {
			return fmt.Errorf("validating scenario: shift.error_rate: must be >= 0, with error_rate at most 1, got %v", s.ErrorRate)
		}
		if !(s.ConfidenceScale >= 0) || math.IsInf(s.ConfidenceScale, 0) {
			return fmt.Errorf("validating scenario: shift.confidence_scale: must be a finite number >= 0, got %v", s.ConfidenceScale)
		}
		if !(s.RefusalRate >= 0 && s.RefusalRate <= 0.98) {
			return fmt.Errorf("validating scenario: shift.refusal_rate: must be in [0, 0.98], got %v", s.RefusalRate)
		}
		if !(s.TokenFactor >= 0) || math.IsInf(s.TokenFactor, 0) {
			return fmt.Errorf("validating scenario: shift.token_factor: must be a finite number >= 0, got %v", s.TokenFactor)
		}
		if !(s.CallerShare >= 0 && s.CallerShare <= 1) {
			return fmt.Errorf("validating scenario: shift.caller_share: must be in [0, 1], got %v", s.CallerShare)
		}
		if s.CallerShare > 0 && !telemetry.ValidIdentifier(s.Caller) || s.CallerShare > 0 && s.Caller == "" {
			return fmt.Errorf("validating scenario: shift.caller: must be a non-empty identifier with caller_share, got %q", s.Caller)
		}
		if !(s.ClassFlip >= 0 && s.ClassFlip <= 1) {
			return fmt.Errorf("validating scenario: shift.class_flip: must be in [0, 1], got %v", s.ClassFlip)
		}
		if !(s.LabelFlip >= 0 && s.LabelFlip <= 1) {
			return fmt.Errorf("validating scenario: shift.label_flip: must be in [0, 1], got %v", s.LabelFlip)
		}
		if s.LabelFlip > 0 && sc.Labels == nil {
			return fmt.Errorf("validating scenario: shift.label_flip: changes only labels, and the scenario has no labels")
		}
		for i, f := range s.Features {
			if !hasFeature(target, f) {
				return fmt.Errorf("validating scenario: shift.features[%d]: model %q has no feature %q", i, s.Model, f)
			}
		}
	}
	return nil
}

func checkDist(f NumericSpec) error {
	ok := true
	switch f.Dist {
	case DistNormal, DistLognormal:
		ok = f.P2 > 0 && !math.IsInf(f.P2, 0) && !math.IsNaN(f.P1) && !math.IsInf(f.P1, 0)
	case DistUniform:
		ok = f.P2 > f.P1 && !math.IsInf(f.P2-f.P1, 0)
	case DistPoisson:
		ok = f.P1 > 0 && f.P1 < 1e9
	default:
		return fmt.Errorf("dist: unknown distribution %q (want normal, lognormal, uniform or poisson)", f.Dist)
	}
	if !ok {
		return fmt.Errorf("p1, p2: invalid parameters %v, %v for %s", f.P1, f.P2, f.Dist)
	}
	return nil
}

func hasFeature(m *ModelSpec, name string) bool {
	for _, f := range m.Numeric {
		if f.Name == name {
			return true
		}
	}
	for _, f := range m.Categorical {
		if f.Name == name {
			return true
		}
	}
	return false
}

// meanSD returns the mean and standard deviation of a numeric feature's distribution.
func meanSD(f NumericSpec) (mean, sd float64) {
	switch f.Dist {
	case DistNormal:
		return f.P1, f.P2
	case DistLognormal:
		s2 := f.P2 * f.P2
		mean = math.Exp(f.P1 + s2/2)
		return mean, math.Sqrt((math.Exp(s2) - 1) * math.Exp(2*f.P1+s2))
	case DistUniform:
		return (f.P1 + f.P2) / 2, (f.P2 - f.P1) / math.Sqrt(12)
	case DistPoisson:
		return f.P1, math.Sqrt(f.P1)
	}
	return 0, 1
}

var defaultModelNames = []string{"fraud-scorer", "churn-model", "credit-risk", "demand-forecast",
	"ad-ctr", "support-router", "search-ranker", "price-optimizer"}

var numericPool = []NumericSpec{
	{"amount", DistLognormal, 3.5, 0.9},
	{"account_age_days", DistUniform, 0, 2000},
	{"txn_count_24h", DistPoisson, 3, 0},
	{"credit_score", DistNormal, 680, 75},
	{"avg_basket", DistLognormal, 3.8, 0.5},
	{"distance_km", DistLognormal, 2.0, 1.2},
	{"session_seconds", DistLognormal, 5.5, 0.8},
	{"items_in_cart", DistPoisson, 2.5, 0},
	{"monthly_spend", DistNormal, 55, 18},
	{"ip_risk", DistUniform, 0, 1},
	{"support_calls_30d", DistPoisson, 1.2, 0},
	{"age", DistNormal, 41, 12},
	{"income_k", DistLognormal, 4.0, 0.6},
	{"tenure_months", DistUniform, 0, 120},
	{"velocity_1h", DistPoisson, 1.5, 0},
	{"failed_logins_7d", DistPoisson, 0.3, 0},
}

var categoricalPool = []CategoricalSpec{
	{"country", []string{"US", "DE", "GB", "FR", "IN", "BR"}, []float64{35, 15, 15, 10, 15, 10}},
	{"device", []string{"ios", "android", "web"}, []float64{40, 35, 25}},
	{"channel", []string{"web", "app", "partner", "call_center"}, []float64{50, 30, 15, 5}},
	{"plan", []string{"free", "basic", "pro", "enterprise"}, []float64{55, 25, 15, 5}},
	{"payment_method", []string{"card", "paypal", "bank_transfer", "wallet"}, []float64{60, 20, 12, 8}},
	{"browser", []string{"chrome", "safari", "firefox", "edge", "other"}, []float64{60, 22, 8, 7, 3}},
}

// DefaultScenario returns a scenario of the given number of models (at least
// 1) with the given number of features each (at least 8): about three quarters
// numeric (normal, lognormal, uniform and Poisson) and at least two
// categorical. Models are named "fraud-scorer", "churn-model", "credit-risk",
// ... and then "model-09" onwards. It has no shift, no malformed messages,
// Rate 0 and a 1ms event step.
func DefaultScenario(models, features int) Scenario {
	models = max(models, 1)
	features = max(features, 8)
	ncat := max(2, features/4)
	nnum := features - ncat
	sc := Scenario{EventStep: time.Millisecond}
	for i := 0; i < models; i++ {
		id := fmt.Sprintf("model-%02d", i+1)
		if i < len(defaultModelNames) {
			id = defaultModelNames[i]
		}
		m := ModelSpec{ID: id, Version: fmt.Sprintf("2026-11-%02d.%d", 1+i%28, 1+i%5)}
		for j := 0; j < nnum; j++ {
			f := numericPool[(i+j)%len(numericPool)]
			if round := j / len(numericPool); round > 0 {
				f.Name = fmt.Sprintf("%s_%d", f.Name, round+1)
			}
			m.Numeric = append(m.Numeric, f)
		}
		for j := 0; j < ncat; j++ {
			f := categoricalPool[(i+j)%len(categoricalPool)]
			if round := j / len(categoricalPool); round > 0 {
				f.Name = fmt.Sprintf("%s_%d", f.Name, round+1)
			}
			m.Categorical = append(m.Categorical, f)
		}
		sc.Models = append(sc.Models, m)
	}
	return sc
}
