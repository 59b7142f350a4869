package telemetry

import "strconv"

// CloudEvents types (binary-mode header ce_type) of the three event kinds.
const (
	// TypeInference is the ce_type of an inference event.
	TypeInference = "ai.driftwatch.inference.v1"
	// TypeLabel is the ce_type of a label (ground truth) event.
	TypeLabel = "ai.driftwatch.label.v1"
	// TypeFeedback is the ce_type of a training-feedback event.
	TypeFeedback = "ai.driftwatch.training_feedback.v1"
)

// Kind is the kind of an event: inference, label or training feedback.
type Kind int

// The event kinds.
const (
	// KindInference is an Event.
	KindInference Kind = iota
	// KindLabel is a Label.
	KindLabel
	// KindFeedback is a Feedback.
	KindFeedback
)

// String returns the kind's short name: "inference", "label" or "feedback".
func (k Kind) String() string {
	switch k {
	case KindInference:
		return "inference"
	case KindLabel:
		return "label"
	case KindFeedback:
		return "feedback"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// KindOf maps a CloudEvents ce_type header to a Kind. An absent header ("")
// means an inference event; an unknown type is a *RejectError with
// ReasonUnknownType.
func KindOf(ceType string) (Kind, error) {
	switch ceType {
	case "", TypeInference:
		return KindInference, nil
	case TypeLabel:
		return KindLabel, nil
	case TypeFeedback:
		return KindFeedback, nil
	}
	d := ceType
	if len(d) > DefaultMaxValueLength {
		d = d[:DefaultMaxValueLength] + "..."
	}
	return 0, reject(ReasonUnknownType, "ce_type: unknown event type "+strconv.Quote(d))
}
