package telemetry

import (
	"time"

	json "github.com/goccy/go-json"
)

// Feedback is a training-feedback event: someone proposed data for a model's
// next training set (a label override, a rating, a new example, a preference).
// Monitoring who injects what is how poisoning is detected.
//
// A Feedback filled by Decoder.DecodeFeedback refers to the message it was
// decoded from (its strings share the message's bytes) and to its own
// storage (Rating), as an Event does: it is valid while the message's bytes
// are unchanged and until the next decode into it. Whoever keeps a string
// of it beyond that clones it (strings.Clone).
type Feedback struct {
	// SchemaVersion is the contract version; "1" when absent.
	SchemaVersion string `json:"schema_version,omitempty"`
	// FeedbackID identifies this feedback. Required.
	FeedbackID string `json:"feedback_id"`
	// EventTime is when the feedback was given (RFC 3339 or epoch milliseconds on the wire). Required.
	EventTime time.Time `json:"-"`
	// ModelID is the model whose training data the feedback targets. Required.
	ModelID string `json:"model_id"`
	// TargetDataset names the training set the feedback goes to.
	TargetDataset string `json:"target_dataset,omitempty"`
	// PredictionID links the feedback to an inference, when it is about one.
	PredictionID string `json:"prediction_id,omitempty"`
	// Principal is who gave the feedback.
	Principal Principal `json:"principal"`
	// Kind is one of FeedbackKinds. Required.
	Kind string `json:"kind"`
	// Features are the example's inputs, for new examples.
	Features Features `json:"features"`
	// ProposedLabel is the label the feedback proposes.
	ProposedLabel string `json:"proposed_label,omitempty"`
	// PreviousLabel is the label it replaces, for overrides.
	PreviousLabel string `json:"previous_label,omitempty"`
	// Rating is a thumbs or preference rating, e.g. -1 or +1.
	Rating *int64 `json:"rating,omitempty"`
	// AnnotatorKind is HUMAN, LLM or CODE (OpenInference's annotator kinds), when known.
	AnnotatorKind string `json:"annotator_kind,omitempty"`
	// ContentSHA256 is the hex SHA-256 of the example's content, when it has text content.
	ContentSHA256 string `json:"content_sha256,omitempty"`

	// rating backs Rating when the fast path decodes, so that decoding
	// does not allocate.
	rating int64
}

// FeedbackKinds are the accepted values of Feedback.Kind.
var FeedbackKinds = []string{"label_override", "thumbs", "new_example", "rlhf_preference"}

// AnnotatorKinds are the accepted values of Feedback.AnnotatorKind besides "".
var AnnotatorKinds = []string{"HUMAN", "LLM", "CODE"}

type feedbackWire struct {
	SchemaVersion string       `json:"schema_version"`
	FeedbackID    string       `json:"feedback_id"`
	EventTime     wireTime     `json:"event_time"`
	ModelID       string       `json:"model_id"`
	TargetDataset string       `json:"target_dataset"`
	PredictionID  string       `json:"prediction_id"`
	Principal     Principal    `json:"principal"`
	Kind          string       `json:"kind"`
	Features      wireFeatures `json:"features"`
	ProposedLabel string       `json:"proposed_label"`
	PreviousLabel string       `json:"previous_label"`
	Rating        *int64       `json:"rating"`
	AnnotatorKind string       `json:"annotator_kind"`
	ContentSHA256 string       `json:"content_sha256"`
}

// DecodeFeedback decodes one training-feedback event from b into f and checks
// it against the limits, reusing f's feature slices. On bad input it returns
// a *RejectError and leaves f in an unspecified state. f refers to b
// afterwards (see Feedback).
//
// Like Decode it takes the fast path first (fastScanner.scanFeedback) and
// leaves what that does not take to the JSON library; both end in the same
// checks (FuzzFeedbackFastPathAgrees).
func (d *Decoder) DecodeFeedback(b []byte, f *Feedback) error {
	if err := d.precheck(b); err != nil {
		return err
	}
	if took, err := d.decodeFeedbackFast(b, f); took {
		return err
	}
	d.slow++
	return d.decodeFeedbackSlow(b, f)
}

// decodeFeedbackFast decodes b into f by the fast path, if it takes b.
func (d *Decoder) decodeFeedbackFast(b []byte, f *Feedback) (took bool, err error) {
	if !d.fast.scanFeedback(b, f, d.lim.MaxFeatures) {
		return false, nil
	}
	if rj := d.checkFeedback(f, nil, &d.fast.time, d.fast.namesKnown); rj != nil {
		return true, rj
	}
	if !d.fast.namesKnown {
		d.fast.remember(&f.Features)
	}
	return true, nil
}

// decodeFeedbackSlow decodes b into f with the JSON library.
func (d *Decoder) decodeFeedbackSlow(b []byte, f *Feedback) (err error) {
	defer recoverReject(&err)
	m := d.maps.reset()
	w := &d.fw
	*w = feedbackWire{Features: wireFeatures{Numeric: m.num, Categorical: m.cat}}
	if err := json.Unmarshal(b, w); err != nil {
		return classify(b, err)
	}
	*f = Feedback{
		SchemaVersion: w.SchemaVersion,
		FeedbackID:    w.FeedbackID,
		EventTime:     w.EventTime.t,
		ModelID:       w.ModelID,
		TargetDataset: w.TargetDataset,
		PredictionID:  w.PredictionID,
		Principal:     w.Principal,
		Kind:          w.Kind,
		Features:      w.Features.slices(f.Features),
		ProposedLabel: w.ProposedLabel,
		PreviousLabel: w.PreviousLabel,
		Rating:        w.Rating,
		AnnotatorKind: w.AnnotatorKind,
		ContentSHA256: w.ContentSHA256,
	}
	if rj := d.checkFeedback(f, w.Features.Numeric, &w.EventTime, false); rj != nil {
		return rj
	}
	return nil
}

// checkFeedback applies the contract's checks to a decoded feedback event;
// numeric and namesKnown are as for checkFeatures.
func (d *Decoder) checkFeedback(f *Feedback, numeric map[string]float64, t *wireTime, namesKnown bool) *RejectError {
	if rj := checkSchemaVersion(&f.SchemaVersion); rj != nil {
		return rj
	}
	switch {
	case f.FeedbackID == "":
		return reject(ReasonMissingField, "feedback_id: required")
	case f.ModelID == "":
		return reject(ReasonMissingField, "model_id: required")
	case f.Kind == "":
		return reject(ReasonMissingField, "kind: required")
	}
	if rj := d.checkTime("event_time", t); rj != nil {
		return rj
	}
	if rj := checkLens(d.lim.MaxValueLength,
		"feedback_id", f.FeedbackID,
		"model_id", f.ModelID,
		"target_dataset", f.TargetDataset,
		"prediction_id", f.PredictionID,
		"principal.enduser.id", f.Principal.EndUserID,
		"principal.service", f.Principal.Service,
		"principal.tenant", f.Principal.Tenant,
		"principal.client.address", f.Principal.ClientAddress,
		"kind", f.Kind,
		"proposed_label", f.ProposedLabel,
		"previous_label", f.PreviousLabel,
		"annotator_kind", f.AnnotatorKind,
		"content_sha256", f.ContentSHA256); rj != nil {
		return rj
	}
	// The fields are named only when one breaks the policy.
	pr := &f.Principal
	if !(ValidIdentifier(f.FeedbackID) && ValidIdentifier(f.ModelID) && ValidIdentifier(f.TargetDataset) &&
		ValidIdentifier(f.PredictionID) && ValidIdentifier(pr.EndUserID) && ValidIdentifier(pr.Service) && ValidIdentifier(pr.Tenant)) {
		if rj := checkIdentifiers("feedback_id", f.FeedbackID, "model_id", f.ModelID, "target_dataset", f.TargetDataset,
			"prediction_id", f.PredictionID, "principal.enduser.id", pr.EndUserID,
			"principal.service", pr.Service, "principal.tenant", pr.Tenant); rj != nil {
			return rj
		}
	}
	if !(ValidValue(pr.ClientAddress) && ValidValue(f.ProposedLabel) && ValidValue(f.PreviousLabel)) {
		if rj := checkValues("principal.client.address", pr.ClientAddress,
			"proposed_label", f.ProposedLabel, "previous_label", f.PreviousLabel); rj != nil {
			return rj
		}
	}
	if !oneOf(f.Kind, FeedbackKinds) {
		return reject(ReasonInvalidValue, "kind: must be one of label_override, thumbs, new_example, rlhf_preference")
	}
	if f.AnnotatorKind != "" && !oneOf(f.AnnotatorKind, AnnotatorKinds) {
		return reject(ReasonInvalidValue, "annotator_kind: must be one of HUMAN, LLM, CODE")
	}
	if f.ContentSHA256 != "" && !isHexSHA256(f.ContentSHA256) {
		return reject(ReasonInvalidValue, "content_sha256: must be 64 lowercase hex digits")
	}
	return d.checkFeatures(&f.Features, numeric, namesKnown)
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
