package telemetry

// Rejection reasons. Each is a bounded label value for metrics and dead-letter headers.
const (
	// ReasonTooLarge: the body is larger than Limits.MaxBytes.
	ReasonTooLarge = "too_large"
	// ReasonInvalidJSON: the body is not one JSON object.
	ReasonInvalidJSON = "invalid_json"
	// ReasonMissingField: a required field is absent or empty.
	ReasonMissingField = "missing_field"
	// ReasonInvalidValue: a value has the wrong type, is not a finite number, or is outside its allowed set.
	ReasonInvalidValue = "invalid_value"
	// ReasonBadTimestamp: a time is unparsable, older than Limits.MaxAge or further than Limits.MaxFuture ahead.
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonTooManyFeatures: an event has more than Limits.MaxFeatures features.
	ReasonTooManyFeatures = "too_many_features"
	// ReasonTooLong: a name, id or value is longer than its limit.
	ReasonTooLong = "too_long"
	// ReasonUnknownType: the CloudEvents type is not one driftwatch knows.
	ReasonUnknownType = "unknown_type"
)

// Reasons returns every rejection reason, for pre-registering metric series.
func Reasons() []string {
	return []string{ReasonTooLarge, ReasonInvalidJSON, ReasonMissingField, ReasonInvalidValue,
		ReasonBadTimestamp, ReasonTooManyFeatures, ReasonTooLong, ReasonUnknownType, ReasonInvalidCharacter}
}

// RejectError says why an event was refused; Reason is a bounded label value.
type RejectError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Detail names the offending field and what is wrong with it, for logs and dead letters.
	Detail string
}

// Error returns "rejected (<reason>): <detail>".
func (e *RejectError) Error() string {
	return "rejected (" + e.Reason + "): " + e.Detail
}

func reject(reason, detail string) *RejectError {
	return &RejectError{Reason: reason, Detail: detail}
}
