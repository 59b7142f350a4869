// Package telemetry defines the events driftwatch consumes (inference, label and
// training feedback), how they are decoded from JSON and which limits they must
// respect. It knows nothing of Kafka, windows or statistics.
package telemetry

import "time"

// Event is one inference: what a model saw, what it answered and who asked.
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
	Attributes map[string]string `json:"attributes,omitempty"`
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

// Features are a model's inputs split by type.
type Features struct {
	// Numeric maps a feature name to a finite number.
	Numeric map[string]float64 `json:"numeric,omitempty"`
	// Categorical maps a feature name to a category.
	Categorical map[string]string `json:"categorical,omitempty"`
}

// Prediction is a model's output.
type Prediction struct {
	// Score is the model's score or regression output, when it has one.
	Score *float64 `json:"score,omitempty"`
	// Class is the predicted class, when it has one.
	Class string `json:"class,omitempty"`
	// Probabilities maps each class to its probability.
	Probabilities map[string]float64 `json:"probabilities,omitempty"`
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
