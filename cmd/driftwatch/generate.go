package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/generator"
)

const generateExamples = `  driftwatch generate --brokers 127.0.0.1:9092 --topic driftwatch.telemetry --rate 500
  driftwatch generate --brokers kafka:9092 --models 3 --features 12 --events 100000 --rate 0
  driftwatch generate --brokers kafka:9092 --shift-model fraud-scorer --shift-after 10m --shift-sigma 1 --bad-fraction 0.01
  driftwatch generate --brokers kafka:9092 --error-rate 0.01 --shift-model fraud-scorer --scenario error-burst
  driftwatch generate --brokers kafka:9092 --labels-topic driftwatch.labels --label-delay 5m --label-share 0.8
  driftwatch generate --brokers kafka:9092 --labels-topic driftwatch.labels --shift-model fraud-scorer --scenario concept-drift --shift-after 30m
  driftwatch generate --brokers kafka:9092 --callers 10000 --shift-model fraud-scorer --scenario extraction,probing --shift-after 10m
  driftwatch generate --brokers kafka:9092 --feedback-topic driftwatch.feedback --shift-model fraud-scorer --scenario input-drift,label-flip
  driftwatch generate --brokers kafka:9092 --labels-topic driftwatch.labels --feedback-topic driftwatch.feedback --feedback-delay 3m --scenario backdoor,scraping
`

// cmdGenerate produces synthetic telemetry.
func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("generate", "Produce realistic synthetic inference telemetry to a Kafka topic, keyed by model id (or prediction id),\n"+
		"optionally with an injected shift and a share of malformed events. With --labels-topic it also produces\n"+
		"ground-truth label events (ai.driftwatch.label.v1, keyed by model id), each --label-delay of event time after\n"+
		"its inference; labels still pending when the run ends are produced at the end. With --feedback-topic it also\n"+
		"produces training feedback (ai.driftwatch.training_feedback.v1, keyed by model id) from honest annotators.\n"+
		"Scenarios combine (--scenario a,b): input and behaviour shifts of --shift-model\n"+
		"("+strings.Join(shiftScenarios(), ", ")+"),\n"+
		"callers of --shift-model (default: the first model) that extract, probe, scrape or call heavily but benignly\n"+
		"("+strings.Join(generator.AccessKinds, ", ")+"), and attacks on the feedback ("+strings.Join(feedbackAttacks, ", ")+"; the\n"+
		"first by mallory, the next by mallory-2 and mallory-3); each from --shift-after on.", generateExamples, stdout, stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	topic := fs.String("topic", "driftwatch.telemetry", "topic to produce to")
	rate := fs.Float64("rate", 1000, "events per second over all models (0: as fast as possible)")
	models := fs.Int("models", 2, "number of models")
	features := fs.Int("features", 10, "features per model (numeric and categorical)")
	events := fs.Int("events", 0, "events to produce (0: until interrupted)")
	seed := fs.Int64("seed", 1, "random seed")
	start := fs.String("start", "", "event time of the first event, RFC 3339 (default: now)")
	shiftModel := fs.String("shift-model", "", "model that shifts (default: none)")
	scenario := fs.String("scenario", generator.ScenarioInputDrift, "comma-separated scenarios: "+strings.Join(validScenarios(), ", "))
	errorRate := fs.Float64("error-rate", 0, "share of failed calls (error.type timeout) of every model")
	shiftAfter := fs.Duration("shift-after", 5*time.Minute, "event time after the start at which the shift begins")
	shiftSigma := fs.Float64("shift-sigma", 1, "mean shift of the shifted numeric features, in standard deviations")
	shiftFeatures := fs.String("shift-features", "", "comma-separated features to shift (default: the model's first three)")
	bad := fs.Float64("bad-fraction", 0, "share of malformed events (they go to the dead-letter topic)")
	key := fs.String("key", "model_id", "message key: model_id (a model's events in one partition) or prediction_id (spread over all)")
	labelsTopic := fs.String("labels-topic", "", "topic to produce label events (ground truth) to (default: no labels)")
	labelDelay := fs.Duration("label-delay", 5*time.Minute, "event time from an inference to its label")
	labelJitter := fs.Duration("label-jitter", 0, "a uniform random extra label delay in [0, jitter]")
	labelShare := fs.Float64("label-share", 1, "share of predictions that get a label, in (0, 1]")
	labelMaxPending := fs.Int("label-max-pending", generator.DefaultMaxPendingLabels,
		"most labels waiting for their label time (about 100 bytes each); more are dropped and counted")
	feedbackTopic := fs.String("feedback-topic", "", "topic to produce training-feedback events to (default: no feedback; required by "+
		strings.Join(feedbackAttacks, ", ")+")")
	feedbackDelay := fs.Duration("feedback-delay", 2*time.Minute, "event time from an inference to its feedback (after the monitor's window of\n"+
		"the prediction closed: it compares feedback with the predictions it stored)")
	callers := fs.Int("callers", 200, "ordinary callers, with heavy-tailed rates (0: 2,000 users picked uniformly, and no access scenarios)")
	if err := parse(fs, args); err != nil {
		return err
	}
	scenarioSet := false
	fs.Visit(func(f *flag.Flag) { scenarioSet = scenarioSet || f.Name == "scenario" })
	if !scenarioSet && *shiftModel == "" {
		*scenario = "" // the default input-drift shifts only a model given
	}
	set, err := parseScenarios(*scenario, *feedbackTopic)
	if err != nil {
		return err
	}
	if len(set.shifts) > 0 && *shiftModel == "" {
		return fmt.Errorf("--scenario %s shifts a model: give --shift-model", strings.Join(set.shifts, ","))
	}
	if *feedbackDelay < 0 {
		return fmt.Errorf("--feedback-delay: must not be negative, got %s", *feedbackDelay)
	}
	if *callers < 0 {
		return fmt.Errorf("--callers: want a number >= 0, got %d", *callers)
	}
	if len(set.access) > 0 && *callers == 0 {
		return fmt.Errorf("--scenario %s adds callers to a population: give --callers > 0", strings.Join(set.access, ","))
	}
	sc := generator.DefaultScenario(*models, *features)
	sc.Rate = *rate
	sc.BadFraction = *bad
	sc.ErrorRate = *errorRate
	switch *key {
	case "model_id":
	case "prediction_id":
		sc.KeyByPrediction = true
	default:
		return fmt.Errorf("--key: want model_id or prediction_id, got %q", *key)
	}
	sc.Start = time.Now().UTC()
	if *start != "" {
		t, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		sc.Start = t
	}
	if *labelsTopic != "" {
		if !(*labelShare > 0 && *labelShare <= 1) {
			return fmt.Errorf("--label-share: want a share in (0, 1], got %v", *labelShare)
		}
		if *labelMaxPending <= 0 {
			return fmt.Errorf("--label-max-pending: want a number > 0, got %d", *labelMaxPending)
		}
		sc.Labels = &generator.Labels{Share: *labelShare, Delay: *labelDelay, Jitter: *labelJitter, MaxPending: *labelMaxPending}
	}
	if len(set.shifts) > 0 {
		if slices.Contains(set.shifts, generator.ScenarioConceptDrift) && *labelsTopic == "" {
			return fmt.Errorf("--scenario %s changes only labels: give --labels-topic", generator.ScenarioConceptDrift)
		}
		sh, err := combineShifts(set.shifts, *shiftModel, *shiftAfter, *shiftSigma)
		if err != nil {
			return err
		}
		if *shiftFeatures != "" {
			sh.Features = strings.Split(*shiftFeatures, ",")
		}
		sc.Shift = sh
	}
	if *callers > 0 {
		sc.Callers = &generator.Callers{N: *callers}
		target := cmp.Or(*shiftModel, sc.Models[0].ID)
		for _, kind := range set.access {
			a, err := generator.DefaultActor(kind, target, *shiftAfter)
			if err != nil {
				return fmt.Errorf("--scenario: %w", err)
			}
			sc.Callers.Actors = append(sc.Callers.Actors, a)
		}
	}
	if *feedbackTopic != "" {
		fb := generator.DefaultFeedback()
		fb.Attacks, fb.After = set.attacks, *shiftAfter
		sc.Feedback = &fb
	}
	g, err := generator.New(sc, *seed)
	if err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info")
	p, err := generator.ProduceWith(ctx, strings.Split(*brokers, ","), *topic, g, *events,
		generator.ProduceOptions{LabelsTopic: *labelsTopic, FeedbackTopic: *feedbackTopic, FeedbackDelay: *feedbackDelay}, log)
	fmt.Fprintf(stdout, "produced %d events to %s\n", p.Events, *topic)
	if *labelsTopic != "" {
		fmt.Fprintf(stdout, "produced %d labels to %s (%d dropped: more than %d pending)\n", p.Labels, *labelsTopic, p.DroppedLabels, *labelMaxPending)
	}
	if *feedbackTopic != "" {
		fmt.Fprintf(stdout, "produced %d feedback events to %s (%d dropped: more than %d pending)\n",
			p.Feedback, *feedbackTopic, p.DroppedFeedback, generator.DefaultMaxPendingFeedback)
	}
	if sc.Callers != nil {
		calls := g.ActorCalls()
		for _, a := range sc.Callers.Actors {
			fmt.Fprintf(stdout, "caller %s (%s) made %d calls to %s\n", a.ID, a.Kind, calls[a.ID], a.Model)
		}
	}
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// feedbackAttacks are the scenarios that attack the training feedback.
var feedbackAttacks = []string{generator.AttackLabelFlip, generator.AttackFlood, generator.AttackBackdoor}

// shiftScenarios returns the scenarios that shift --shift-model (the
// generator's shift presets but the access ones, which are callers).
func shiftScenarios() []string {
	var out []string
	for _, s := range generator.Scenarios {
		if !slices.Contains(generator.AccessKinds, s) {
			out = append(out, s)
		}
	}
	return out
}

// validScenarios returns every name --scenario accepts.
func validScenarios() []string {
	return slices.Concat(shiftScenarios(), generator.AccessKinds, feedbackAttacks)
}

// scenarioSet is a parsed --scenario list.
type scenarioSet struct {
	shifts  []string // shifts of --shift-model (shiftScenarios)
	access  []string // callers (generator.AccessKinds)
	attacks []string // the attacks on the feedback, in the order given
}

// parseScenarios parses a comma-separated --scenario list: every name
// known and given once, the attacks on the feedback only with a feedback
// topic. An empty list is no scenario.
func parseScenarios(list, feedbackTopic string) (scenarioSet, error) {
	var set scenarioSet
	if list == "" {
		return set, nil
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return set, fmt.Errorf("--scenario %q: an empty name; valid scenarios: %s", list, strings.Join(validScenarios(), ", "))
		case seen[name]:
			return set, fmt.Errorf("--scenario %q: %s given twice", list, name)
		case slices.Contains(shiftScenarios(), name):
			set.shifts = append(set.shifts, name)
		case slices.Contains(generator.AccessKinds, name):
			set.access = append(set.access, name)
		case slices.Contains(feedbackAttacks, name):
			set.attacks = append(set.attacks, name)
		default:
			return set, fmt.Errorf("--scenario: unknown scenario %q; valid scenarios: %s", name, strings.Join(validScenarios(), ", "))
		}
		seen[name] = true
	}
	if len(set.attacks) > 0 && feedbackTopic == "" {
		return set, fmt.Errorf("--scenario %s attacks the training feedback: give --feedback-topic", strings.Join(set.attacks, ","))
	}
	return set, nil
}

// combineShifts returns the shift of model that makes every one of the
// named shift scenarios from after on (their changes touch different
// fields, so they add up).
func combineShifts(names []string, model string, after time.Duration, sigma float64) (*generator.Shift, error) {
	out := &generator.Shift{Model: model, After: after}
	for _, name := range names {
		s, err := generator.ShiftFor(name, model, after, sigma)
		if err != nil {
			return nil, fmt.Errorf("--%w", err)
		}
		out.MeanShift += s.MeanShift
		out.CategoryFlip = out.CategoryFlip || s.CategoryFlip
		out.LatencyFactor = cmp.Or(s.LatencyFactor, out.LatencyFactor)
		out.ErrorRate += s.ErrorRate
		out.ErrorType = cmp.Or(s.ErrorType, out.ErrorType)
		out.ClassFlip += s.ClassFlip
		out.ConfidenceScale = cmp.Or(s.ConfidenceScale, out.ConfidenceScale)
		out.RefusalRate += s.RefusalRate
		out.TokenFactor = cmp.Or(s.TokenFactor, out.TokenFactor)
		out.LabelFlip += s.LabelFlip
	}
	return out, nil
}
