package telemetry

// Bits of the keys seen in a feedback event, to refuse duplicates.
const (
	fbSchema = 1 << iota
	fbFeedbackID
	fbEventTime
	fbModelID
	fbTargetDataset
	fbPredictionID
	fbPrincipal
	fbKind
	fbFeatures
	fbProposedLabel
	fbPreviousLabel
	fbRating
	fbAnnotatorKind
	fbContentSHA256
)

// feedbackKeys are the keys of a feedback event, for refusing keys that
// match only regardless of case.
var feedbackKeys = []string{"schema_version", "feedback_id", "event_time", "model_id", "target_dataset", "prediction_id",
	"principal", "kind", "features", "proposed_label", "previous_label", "rating", "annotator_kind", "content_sha256"}

// scanFeedback decodes b, a training-feedback event, into f as scan does
// an inference event: strings share b's bytes, the features go to f's
// reused slices, Rating points to f's own storage. False sends b to the
// slow path, leaving f in an unspecified state.
func (s *fastScanner) scanFeedback(b []byte, f *Feedback, maxEntries int) bool {
	s.b, s.i, s.time, s.maxEnts, s.namesKnown = b, 0, wireTime{}, maxEntries, false
	*f = Feedback{Features: Features{Numeric: f.Features.Numeric[:0], Categorical: f.Features.Categorical[:0]}}
	s.ws()
	if !s.object(func(key []byte) (uint32, bool) { return s.feedbackField(key, f) }) {
		return false
	}
	s.ws()
	f.EventTime = s.time.t
	return s.i == len(s.b)
}

// feedbackField decodes the value of top-level key into f, returning the
// key's bit (0 for an unknown key).
func (s *fastScanner) feedbackField(key []byte, f *Feedback) (uint32, bool) {
	switch string(key) {
	case "schema_version":
		return fbSchema, s.stringInto(&f.SchemaVersion)
	case "feedback_id":
		return fbFeedbackID, s.stringInto(&f.FeedbackID)
	case "event_time":
		return fbEventTime, s.eventTime()
	case "model_id":
		return fbModelID, s.stringInto(&f.ModelID)
	case "target_dataset":
		return fbTargetDataset, s.stringInto(&f.TargetDataset)
	case "prediction_id":
		return fbPredictionID, s.stringInto(&f.PredictionID)
	case "principal":
		return fbPrincipal, s.principal(&f.Principal)
	case "kind":
		return fbKind, s.stringInto(&f.Kind)
	case "features":
		return fbFeatures, s.features(&f.Features)
	case "proposed_label":
		return fbProposedLabel, s.stringInto(&f.ProposedLabel)
	case "previous_label":
		return fbPreviousLabel, s.stringInto(&f.PreviousLabel)
	case "rating":
		return fbRating, s.intPtr(&f.Rating, &f.rating)
	case "annotator_kind":
		return fbAnnotatorKind, s.stringInto(&f.AnnotatorKind)
	case "content_sha256":
		return fbContentSHA256, s.stringInto(&f.ContentSHA256)
	}
	return 0, s.unknown(key, feedbackKeys)
}
