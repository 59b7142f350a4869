package poisoning

import (
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Adapter turns decoded feedback events into Examples, reusing the
// Example's slices. Not safe for concurrent use.
type Adapter struct {
	// Features names the features an Example carries, in order.
	Features Features
	// SourceFields are the principal fields that name a feedback's source,
	// the first non-empty one winning (access.FieldEndUser, ...).
	SourceFields []string
}

// Adapt fills e from fb. predicted is the model's own prediction for the
// inference fb refers to ("" when unknown: the feedback is not compared
// for flips). e's strings are fb's: they are valid as long as fb's are.
func (a *Adapter) Adapt(fb *telemetry.Feedback, predicted string, e *Example) {
	num, cat := e.Numeric[:0], e.Categorical[:0]
	for _, name := range a.Features.Numeric {
		v, ok := fb.Features.NumericValue(name)
		if !ok {
			v = math.NaN()
		}
		num = append(num, v)
	}
	for _, name := range a.Features.Categorical {
		v, _ := fb.Features.CategoricalValue(name)
		cat = append(cat, v)
	}
	*e = Example{
		ID:             fb.FeedbackID,
		Source:         access.CallerOf(&fb.Principal, a.SourceFields),
		ProposedLabel:  fb.ProposedLabel,
		PredictedLabel: predicted,
		ContentSHA256:  fb.ContentSHA256,
		Numeric:        num,
		Categorical:    cat,
	}
}
