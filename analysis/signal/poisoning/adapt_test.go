package poisoning

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestAdaptedFeedbackNamesTheFlipper runs feedback events as a producer
// writes them through the telemetry decoder and the Adapter into the label
// flip signal: 20 honest annotators override 3% of the model's labels, one
// overrides 60%; the flipper is critical and named, the others are not.
func TestAdaptedFeedbackNamesTheFlipper(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return now })
	a := Adapter{Features: Features{Numeric: []string{"amount", "missing"}, Categorical: []string{"country"}},
		SourceFields: []string{access.FieldEndUser, access.FieldService}}
	s := LabelFlip{DefaultConfig()}
	p := s.NewPartial()
	var fb telemetry.Feedback
	batch := make([]Example, 1)
	n := 0
	add := func(source string, flip bool) {
		n++
		predicted, proposed := "ok", "ok"
		if flip {
			proposed = "fraud"
		}
		msg := fmt.Sprintf(`{"feedback_id":"f-%d","event_time":"2026-11-26T13:59:00Z","model_id":"fraud-scorer","prediction_id":"p-%d",`+
			`"principal":{"enduser.id":%q},"kind":"label_override","proposed_label":%q,"previous_label":%q,`+
			`"features":{"numeric":{"amount":%d.5},"categorical":{"country":"DE"}}}`, n, n, source, proposed, predicted, n)
		if err := d.DecodeFeedback([]byte(msg), &fb); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		a.Adapt(&fb, predicted, &batch[0])
		e := &batch[0]
		if e.ID != fb.FeedbackID || e.Source != source || e.ProposedLabel != proposed || e.PredictedLabel != predicted ||
			len(e.Numeric) != 2 || e.Numeric[0] != float64(n)+0.5 || !math.IsNaN(e.Numeric[1]) || len(e.Categorical) != 1 || e.Categorical[0] != "DE" {
			t.Fatalf("adapted %+v from %s", *e, msg)
		}
		p.Observe(batch)
	}
	for i := range 20 {
		for j := range 100 {
			add(fmt.Sprintf("annotator-%d", i), j%33 == 0)
		}
	}
	for j := range 100 {
		add("mallory", j%5 < 3)
	}
	vs := s.Score(p, nil)
	decide(0.01, vs)
	for _, v := range vs {
		switch {
		case v.Subject == "mallory" && v.Severity != verdict.SeverityCritical:
			t.Errorf("mallory: %s (%+v)", v.Severity, v)
		case v.Subject != "mallory" && v.Subject != "*" && v.Severity != verdict.SeverityOK:
			t.Errorf("%s: %s", v.Subject, v.Severity)
		}
	}
	if find(vs, "mallory") == nil {
		t.Fatalf("mallory is not named: %+v", vs)
	}
}
