package telemetry

import (
	"time"

	json "github.com/goccy/go-json"
)

// Label is a ground-truth event for an earlier prediction. It may arrive days
// after the inference and may be corrected later with a higher Revision.
// Labels are joined to inferences on (ModelID, PredictionID).
type Label struct {
	// SchemaVersion is the contract version; "1" when absent.
	SchemaVersion string `json:"schema_version,omitempty"`
	// PredictionID is the inference this label is for. Required.
	PredictionID string `json:"prediction_id"`
	// ModelID is the model that made the prediction. Required.
	ModelID string `json:"model_id"`
	// Truth is the true outcome; at least one of its class or value is required.
	Truth Truth `json:"label"`
	// LabelSource names where the truth came from, e.g. "chargeback-feed".
	LabelSource string `json:"label_source,omitempty"`
	// LabelTime is when the truth became known (RFC 3339 or epoch milliseconds on the wire). Required.
	LabelTime time.Time `json:"-"`
	// Revision orders corrections of the same label; the highest wins. Default 0.
	Revision uint64 `json:"revision,omitempty"`
}

// Truth is the true outcome of a prediction: a class, a value, or both.
type Truth struct {
	// Class is the true class of a classifier.
	Class string `json:"class,omitempty"`
	// Value is the true value of a regression, or the numeric encoding of Class.
	Value *float64 `json:"value,omitempty"`
}

type labelWire struct {
	SchemaVersion string   `json:"schema_version"`
	PredictionID  string   `json:"prediction_id"`
	ModelID       string   `json:"model_id"`
	Truth         Truth    `json:"label"`
	LabelSource   string   `json:"label_source"`
	LabelTime     wireTime `json:"label_time"`
	Revision      uint64   `json:"revision"`
}

// DecodeLabel decodes one label event from b into l and checks it against the
// limits. On bad input it returns a *RejectError.
func (d *Decoder) DecodeLabel(b []byte, l *Label) (err error) {
	if err := d.precheck(b); err != nil {
		return err
	}
	defer recoverReject(&err)
	w := &d.lw
	*w = labelWire{}
	if err := json.Unmarshal(b, w); err != nil {
		return classify(b, err)
	}
	*l = Label{
		SchemaVersion: w.SchemaVersion,
		PredictionID:  w.PredictionID,
		ModelID:       w.ModelID,
		Truth:         w.Truth,
		LabelSource:   w.LabelSource,
		LabelTime:     w.LabelTime.t,
		Revision:      w.Revision,
	}
	if rj := checkSchemaVersion(&l.SchemaVersion); rj != nil {
		return rj
	}
	switch {
	case l.PredictionID == "":
		return reject(ReasonMissingField, "prediction_id: required")
	case l.ModelID == "":
		return reject(ReasonMissingField, "model_id: required")
	case l.Truth.Class == "" && l.Truth.Value == nil:
		return reject(ReasonMissingField, "label: class or value required")
	}
	if rj := d.checkTime("label_time", &w.LabelTime); rj != nil {
		return rj
	}
	if l.Truth.Value != nil && !finite(*l.Truth.Value) {
		return notFinite("label.value")
	}
	if rj := checkLens(d.lim.MaxValueLength,
		"prediction_id", l.PredictionID,
		"model_id", l.ModelID,
		"label.class", l.Truth.Class,
		"label_source", l.LabelSource); rj != nil {
		return rj
	}
	if rj := checkIdentifiers("prediction_id", l.PredictionID, "model_id", l.ModelID); rj != nil {
		return rj
	}
	if rj := checkValues("label.class", l.Truth.Class, "label_source", l.LabelSource); rj != nil {
		return rj
	}
	return nil
}
