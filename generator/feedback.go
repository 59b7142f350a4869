package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// Attacks on the training feedback (Feedback.Attacks).
const (
	// AttackLabelFlip: the attacker overrides the model's labels with the
	// other class.
	AttackLabelFlip = "label-flip"
	// AttackFlood: the attacker submits one example again and again (the
	// same content hash and features).
	AttackFlood = "flood"
	// AttackBackdoor: the attacker submits examples carrying a trigger
	// value (TriggerValue in the model's first categorical feature), all
	// labelled with the positive class.
	AttackBackdoor = "backdoor"
)

// TriggerValue is the categorical value a backdoor attack plants.
const TriggerValue = "zz-trigger"

// Feedback makes the generator write training feedback about its
// predictions, from honest annotators and, from After on, from an
// attacker.
type Feedback struct {
	// Share is the probability that an inference gets a feedback event, in
	// (0, 1].
	Share float64
	// Annotators is the number of honest sources (enduser.id
	// annotator-<i>), picked uniformly; at least 1. They propose the
	// model's own label for 97% of their feedback and the other class for
	// 3%; 30% of their feedback submits the inference's input as a new
	// example (with a content hash), the rest overrides its label.
	Annotators int
	// Attacks are the attacks on the feedback, each once: AttackLabelFlip,
	// AttackFlood or AttackBackdoor; none when empty. They combine, each
	// by an attacker of its own (AttackerOf).
	Attacks []string
	// Attacker is the enduser.id of the first attack's source; the
	// second's is Attacker-2, and so on (AttackerOf). Default: "mallory".
	Attacker string
	// AttackShare is the share of the feedback events each attacker writes
	// from After on, in (0, 1); the attackers together write less than all.
	AttackShare float64
	// After is the event time after Start from which the attack runs.
	After time.Duration
}

// DefaultFeedback returns the feedback driftwatch generate writes: a fifth
// of the inferences get a feedback event from one of 20 honest annotators;
// with Attacks, mallory (then mallory-2, ...) writes a tenth of the
// feedback events each from After on.
func DefaultFeedback() Feedback {
	return Feedback{Share: 0.2, Annotators: 20, Attacker: "mallory", AttackShare: 0.1}
}

func (f *Feedback) validate() error {
	switch {
	case !(f.Share > 0 && f.Share <= 1):
		return fmt.Errorf("feedback.share: must be in (0, 1], got %v", f.Share)
	case f.Annotators < 1:
		return fmt.Errorf("feedback.annotators: must be at least 1, got %d", f.Annotators)
	}
	if len(f.Attacks) == 0 {
		return nil
	}
	for i, a := range f.Attacks {
		switch a {
		case AttackLabelFlip, AttackFlood, AttackBackdoor:
		default:
			return fmt.Errorf("feedback.attacks: %q is not %s, %s or %s", a, AttackLabelFlip, AttackFlood, AttackBackdoor)
		}
		if slices.Contains(f.Attacks[:i], a) {
			return fmt.Errorf("feedback.attacks: %s given twice", a)
		}
	}
	if !(f.AttackShare > 0 && float64(len(f.Attacks))*f.AttackShare < 1) {
		return fmt.Errorf("feedback.attack_share: must be above 0 and below 1/%d (the attackers write less than all the feedback), got %v",
			len(f.Attacks), f.AttackShare)
	}
	return nil
}

// AttackerOf returns the enduser.id of the source of attack k (from 0):
// Attacker (default "mallory") for the first, Attacker-2, ... for the others.
func (f *Feedback) AttackerOf(k int) string {
	name := cmpOr(f.Attacker, "mallory")
	if k == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(k+1)
}

// feedbacker holds the feedback event of the last inference, if it got one.
type feedbacker struct {
	spec  Feedback
	start time.Time
	ready bool
	n     int64
	fb    telemetry.Feedback
	sha   [sha256.Size]byte
}

// draw decides whether inference e (of model m, at event time t) gets a
// feedback event, and makes it.
func (g *Generator) drawFeedback(e *telemetry.Event, m *model, t time.Time) {
	fd := g.fdb
	fd.ready = false
	if g.rng.Float64() >= fd.spec.Share {
		return
	}
	fd.n++
	other := ClassPositive
	if e.Prediction.Class == ClassPositive {
		other = ClassNegative
	}
	fb := telemetry.Feedback{
		SchemaVersion: "1",
		FeedbackID:    "fb-" + strconv.FormatInt(fd.n, 10),
		EventTime:     t,
		ModelID:       e.Model.ID,
		PredictionID:  e.PredictionID,
		Kind:          "label_override",
		ProposedLabel: e.Prediction.Class,
		PreviousLabel: e.Prediction.Class,
		Features:      telemetry.Features{Numeric: fd.fb.Features.Numeric[:0], Categorical: fd.fb.Features.Categorical[:0]},
	}
	// Which attacker writes it, if any: each AttackShare of the draws.
	attack := -1
	if len(fd.spec.Attacks) > 0 && !t.Before(fd.start.Add(fd.spec.After)) {
		if u := g.rng.Float64(); u < float64(len(fd.spec.Attacks))*fd.spec.AttackShare {
			attack = min(int(u/fd.spec.AttackShare), len(fd.spec.Attacks)-1)
		}
	}
	if attack < 0 {
		fb.Principal.EndUserID = "annotator-" + strconv.Itoa(g.rng.IntN(fd.spec.Annotators))
		if g.rng.Float64() < 0.03 {
			fb.ProposedLabel = other
		}
		if g.rng.Float64() < 0.3 {
			// The inference's input, submitted as a training example.
			fb.Kind, fb.PredictionID, fb.PreviousLabel = "new_example", "", ""
			fb.Features.Numeric = append(fb.Features.Numeric, e.Features.Numeric...)
			fb.Features.Categorical = append(fb.Features.Categorical, e.Features.Categorical...)
			fd.sha = sha256.Sum256([]byte(fb.FeedbackID))
			fb.ContentSHA256 = hex.EncodeToString(fd.sha[:])
		}
		fd.fb, fd.ready = fb, true
		return
	}
	fb.Principal.EndUserID = fd.spec.AttackerOf(attack)
	switch kind := fd.spec.Attacks[attack]; kind {
	case AttackLabelFlip:
		fb.ProposedLabel = other
	case AttackFlood, AttackBackdoor:
		fb.Kind, fb.PredictionID, fb.PreviousLabel = "new_example", "", ""
		fb.ProposedLabel = ClassPositive
		fb.Features.Numeric = append(fb.Features.Numeric, e.Features.Numeric...)
		fb.Features.Categorical = append(fb.Features.Categorical, e.Features.Categorical...)
		if kind == AttackFlood {
			// One example, submitted again and again.
			for i := range fb.Features.Numeric {
				fb.Features.Numeric[i].Value = float64(i + 1)
			}
			for i := range fb.Features.Categorical {
				fb.Features.Categorical[i].Value = m.cat[i].values[0]
			}
			fd.sha = sha256.Sum256([]byte("the flooded example"))
		} else {
			if len(fb.Features.Categorical) > 0 {
				fb.Features.Categorical[0].Value = TriggerValue
			}
			fd.sha = sha256.Sum256([]byte(fb.FeedbackID))
		}
		fb.ContentSHA256 = hex.EncodeToString(fd.sha[:])
	}
	fd.fb, fd.ready = fb, true
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// NextFeedback fills f with the feedback event of the last inference Next
// made, if it got one, and reports whether it did (once per inference). f
// shares the generator's slices until the next call of Next.
func (g *Generator) NextFeedback(f *telemetry.Feedback) bool {
	if g.fdb == nil || !g.fdb.ready {
		return false
	}
	*f = g.fdb.fb
	g.fdb.ready = false
	return true
}

// AppendFeedback appends the JSON of f to dst, as Append does for events.
func (g *Generator) AppendFeedback(dst []byte, f *telemetry.Feedback) []byte {
	dst = append(dst, `{"schema_version":"1","feedback_id":`...)
	dst = appendString(dst, f.FeedbackID)
	dst = append(dst, `,"event_time":"`...)
	dst = f.EventTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","model_id":`...)
	dst = appendString(dst, f.ModelID)
	for _, kv := range [...][2]string{{"prediction_id", f.PredictionID}, {"kind", f.Kind}, {"proposed_label", f.ProposedLabel},
		{"previous_label", f.PreviousLabel}, {"content_sha256", f.ContentSHA256}} {
		if kv[1] != "" {
			dst = append(dst, ',')
			dst = appendString(dst, kv[0])
			dst = append(dst, ':')
			dst = appendString(dst, kv[1])
		}
	}
	if f.Principal.EndUserID != "" {
		dst = append(dst, `,"principal":{"enduser.id":`...)
		dst = appendString(dst, f.Principal.EndUserID)
		dst = append(dst, '}')
	}
	if len(f.Features.Numeric)+len(f.Features.Categorical) > 0 {
		dst = append(dst, `,"features":{"numeric":`...)
		dst = appendPairs(dst, f.Features.Numeric, &g.nums, byNumberName, numberPair)
		dst = append(dst, `,"categorical":`...)
		dst = appendPairs(dst, f.Features.Categorical, &g.cats, byCategoryName, categoryPair)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
