// Package telemetry defines the events driftwatch consumes (inference, label and
// training feedback), how they are decoded from JSON and which limits they must
// respect. It knows nothing of Kafka, windows or statistics.
package telemetry

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Event is one inference: what a model saw, what it answered and who asked.
//
// An Event filled by Decoder.Decode refers to the message it was decoded
// from (its strings share the message's bytes) and to its own storage (the
// pointer fields): it is valid while the message's bytes are unchanged and
// until the next Decode into it. Whoever keeps a string of it beyond that
// clones it (strings.Clone); Clone copies a whole Event.
type Event struct {
	// SchemaVersion is the contract version; "1" when absent.
	SchemaVersion string `json:"schema_version,omitempty"`
	// PredictionID identifies the inference; labels and feedback refer to it. Required.
	PredictionID string `json:"prediction_id"`
	// EventTime is when the inference happened (RFC 3339 or epoch milliseconds on the wire). Required.
	EventTime time.Time `json:"-"`
	// Model names the model and its version. Model.ID is required.
	Model Model `json:"model"`
	// Operation is "predict" or a gen_ai.operation.name such as "chat".
	Operation string `json:"operation,omitempty"`
	// Principal is who called the model.
	Principal Principal `json:"principal"`
	// Features are the model's inputs.
	Features Features `json:"features"`
	// Prediction is the model's output.
	Prediction Prediction `json:"prediction"`
	// LatencyMS is the serving latency in milliseconds, when known.
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	// ErrorType is OpenTelemetry's error.type when the call failed.
	ErrorType string `json:"error.type,omitempty"`
	// LLM holds generative-AI usage, present only for GenAI calls.
	LLM *LLM `json:"llm,omitempty"`
	// Attributes are free-form string attributes (deployment.environment.name, ...).
	Attributes Attributes `json:"attributes,omitempty"`

	// own backs the pointer fields when the fast path decodes, so that
	// decoding does not allocate.
	own owned
}

// MarshalJSON writes f as the wire has it: objects of feature name to
// value, names sorted.
func (f Features) MarshalJSON() ([]byte, error) {
	num := make(map[string]float64, len(f.Numeric))
	for _, n := range f.Numeric {
		num[n.Name] = n.Value
	}
	cat := make(map[string]string, len(f.Categorical))
	for _, c := range f.Categorical {
		cat[c.Name] = c.Value
	}
	type wire struct {
		Numeric     map[string]float64 `json:"numeric,omitempty"`
		Categorical map[string]string  `json:"categorical,omitempty"`
	}
	return json.Marshal(wire{num, cat})
}

// MarshalJSON writes p as the wire has it: an object of class to probability.
func (p Probabilities) MarshalJSON() ([]byte, error) {
	m := make(map[string]float64, len(p))
	for _, c := range p {
		m[c.Class] = c.P
	}
	return json.Marshal(m)
}

// MarshalJSON writes a as the wire has it: an object of key to value.
func (a Attributes) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(a))
	for _, kv := range a {
		m[kv.Key] = kv.Value
	}
	return json.Marshal(m)
}

// Clone returns a deep copy of e that shares nothing with e or with the
// message it was decoded from.
func (e *Event) Clone() *Event {
	c := &Event{
		SchemaVersion: strings.Clone(e.SchemaVersion),
		PredictionID:  strings.Clone(e.PredictionID),
		EventTime:     e.EventTime,
		Model:         Model{ID: strings.Clone(e.Model.ID), Version: strings.Clone(e.Model.Version)},
		Operation:     strings.Clone(e.Operation),
		Principal: Principal{EndUserID: strings.Clone(e.Principal.EndUserID), Service: strings.Clone(e.Principal.Service),
			Tenant: strings.Clone(e.Principal.Tenant), ClientAddress: strings.Clone(e.Principal.ClientAddress)},
		Prediction: Prediction{Score: clonePtr(e.Prediction.Score), Class: strings.Clone(e.Prediction.Class),
			Threshold: clonePtr(e.Prediction.Threshold)},
		LatencyMS: clonePtr(e.LatencyMS),
		ErrorType: strings.Clone(e.ErrorType),
	}
	c.Features.NamesID = e.Features.NamesID
	for _, n := range e.Features.Numeric {
		c.Features.Numeric = append(c.Features.Numeric, Number{Name: strings.Clone(n.Name), Value: n.Value})
	}
	for _, v := range e.Features.Categorical {
		c.Features.Categorical = append(c.Features.Categorical, Category{Name: strings.Clone(v.Name), Value: strings.Clone(v.Value)})
	}
	for _, p := range e.Prediction.Probabilities {
		c.Prediction.Probabilities = append(c.Prediction.Probabilities, ClassProbability{Class: strings.Clone(p.Class), P: p.P})
	}
	for _, a := range e.Attributes {
		c.Attributes = append(c.Attributes, Attribute{Key: strings.Clone(a.Key), Value: strings.Clone(a.Value)})
	}
	if l := e.LLM; l != nil {
		c.LLM = &LLM{InputTokens: clonePtr(l.InputTokens), OutputTokens: clonePtr(l.OutputTokens),
			CacheReadInputTokens: clonePtr(l.CacheReadInputTokens), ReasoningTokens: clonePtr(l.ReasoningTokens),
			TimeToFirstChunk: clonePtr(l.TimeToFirstChunk), Refusal: l.Refusal}
		for _, r := range l.FinishReasons {
			c.LLM.FinishReasons = append(c.LLM.FinishReasons, strings.Clone(r))
		}
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// owned holds the values an Event decoded by the fast path points to.
type owned struct {
	score, threshold, latency, ttfc float64
	tokens                          [4]int64
	llm                             LLM
}

// Model identifies a model version.
type Model struct {
	// ID is the model's stable name. Required.
	ID string `json:"id"`
	// Version is the deployed version; "" when the producer does not know it.
	Version string `json:"version,omitempty"`
}

// Principal is the caller of a model, named with OpenTelemetry's attribute names.
type Principal struct {
	// EndUserID is OpenTelemetry's enduser.id: the end user on whose behalf the call was made.
	EndUserID string `json:"enduser.id,omitempty"`
	// Service is the calling service.
	Service string `json:"service,omitempty"`
	// Tenant is the customer or organisation the call belongs to.
	Tenant string `json:"tenant,omitempty"`
	// ClientAddress is OpenTelemetry's client.address: the caller's network address.
	ClientAddress string `json:"client.address,omitempty"`
}

// Features are a model's inputs split by type. Names are distinct across
// both lists; the order is the producer's (the slow path sorts by name).
type Features struct {
	// Numeric are the numeric features: finite numbers.
	Numeric []Number `json:"numeric,omitempty"`
	// Categorical are the categorical features.
	Categorical []Category `json:"categorical,omitempty"`
	// NamesID, when not 0, names the list of feature names: events with
	// the same NamesID have the same names at the same places, numeric
	// and categorical, so a consumer that mapped one event's names to its
	// columns maps the others' without comparing them. The decoder's fast
	// path sets it (an ID per remembered list, unique in the process);
	// producers cannot.
	NamesID uint64 `json:"-"`
}

// Number is the value of one numeric feature.
type Number struct {
	// Name names the feature.
	Name string
	// Value is its finite value.
	Value float64
}

// Category is the value of one categorical feature.
type Category struct {
	// Name names the feature.
	Name string
	// Value is its category.
	Value string
}

// ClassProbability is the probability a model gave one class.
type ClassProbability struct {
	// Class names the class.
	Class string
	// P is its probability, in [0, 1].
	P float64
}

// Probabilities are a model's probabilities per class.
type Probabilities []ClassProbability

// Attributes are free-form string attributes.
type Attributes []Attribute

// Attribute is one free-form string attribute.
type Attribute struct {
	// Key names the attribute.
	Key string
	// Value is its value.
	Value string
}

// NumericValue returns the value of numeric feature name, if f has it.
func (f *Features) NumericValue(name string) (float64, bool) {
	for _, n := range f.Numeric {
		if n.Name == name {
			return n.Value, true
		}
	}
	return 0, false
}

// CategoricalValue returns the value of categorical feature name, if f has it.
func (f *Features) CategoricalValue(name string) (string, bool) {
	for _, c := range f.Categorical {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

// Prediction is a model's output.
type Prediction struct {
	// Score is the model's score or regression output, when it has one.
	Score *float64 `json:"score,omitempty"`
	// Class is the predicted class, when it has one.
	Class string `json:"class,omitempty"`
	// Probabilities are the probabilities of each class, classes distinct.
	Probabilities Probabilities `json:"probabilities,omitempty"`
	// Threshold is the decision threshold applied to Score, when there is one.
	Threshold *float64 `json:"threshold,omitempty"`
}

// LLM carries OpenTelemetry GenAI usage attributes and a refusal flag.
type LLM struct {
	// InputTokens is gen_ai.usage.input_tokens.
	InputTokens *int64 `json:"gen_ai.usage.input_tokens,omitempty"`
	// OutputTokens is gen_ai.usage.output_tokens.
	OutputTokens *int64 `json:"gen_ai.usage.output_tokens,omitempty"`
	// CacheReadInputTokens is gen_ai.usage.cache_read.input_tokens.
	CacheReadInputTokens *int64 `json:"gen_ai.usage.cache_read.input_tokens,omitempty"`
	// ReasoningTokens is gen_ai.usage.reasoning.output_tokens.
	ReasoningTokens *int64 `json:"gen_ai.usage.reasoning.output_tokens,omitempty"`
	// FinishReasons is gen_ai.response.finish_reasons.
	FinishReasons []string `json:"gen_ai.response.finish_reasons,omitempty"`
	// TimeToFirstChunk is gen_ai.response.time_to_first_chunk in seconds.
	TimeToFirstChunk *float64 `json:"gen_ai.response.time_to_first_chunk,omitempty"`
	// Refusal says the model refused to answer (OpenTelemetry's finish reasons have no refusal value).
	Refusal bool `json:"refusal,omitempty"`
}

// Reserved feature names under which the prediction is monitored like a feature.
const (
	// ScoreFeature is the numeric feature name of Prediction.Score.
	ScoreFeature = "prediction.score"
	// ClassFeature is the categorical feature name of Prediction.Class.
	ClassFeature = "prediction.class"
	// AllNumericFeature names the multivariate score of all numeric features.
	AllNumericFeature = "*"
)

// NumbersOf returns the numeric features of m, sorted by name.
func NumbersOf(m map[string]float64) []Number {
	out := make([]Number, 0, len(m))
	for k, v := range m {
		out = append(out, Number{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Number) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CategoriesOf returns the categorical features of m, sorted by name.
func CategoriesOf(m map[string]string) []Category {
	out := make([]Category, 0, len(m))
	for k, v := range m {
		out = append(out, Category{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Category) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetNumeric sets numeric feature name to v, adding it if f lacks it.
func (f *Features) SetNumeric(name string, v float64) {
	for i := range f.Numeric {
		if f.Numeric[i].Name == name {
			f.Numeric[i].Value = v
			return
		}
	}
	f.Numeric = append(f.Numeric, Number{Name: name, Value: v})
}

// SetCategorical sets categorical feature name to v, adding it if f lacks it.
func (f *Features) SetCategorical(name, v string) {
	for i := range f.Categorical {
		if f.Categorical[i].Name == name {
			f.Categorical[i].Value = v
			return
		}
	}
	f.Categorical = append(f.Categorical, Category{Name: name, Value: v})
}

// ProbabilitiesOf returns the class probabilities of m, sorted by class.
func ProbabilitiesOf(m map[string]float64) Probabilities {
	return probabilities(m, make(Probabilities, 0, len(m)))
}

// AttributesOf returns the attributes of m, sorted by key.
func AttributesOf(m map[string]string) Attributes {
	return attributes(m, make(Attributes, 0, len(m)))
}
