package main

import (
	"context"
	"fmt"
	"io"
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
`

// cmdGenerate produces synthetic telemetry.
func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("generate", "Produce realistic synthetic inference telemetry to a Kafka topic, keyed by model id (or prediction id),\n"+
		"optionally with an injected shift and a share of malformed events. With --labels-topic it also produces\n"+
		"ground-truth label events (ai.driftwatch.label.v1, keyed by model id), each --label-delay of event time after\n"+
		"its inference; labels still pending when the run ends are produced at the end.", generateExamples, stdout, stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	topic := fs.String("topic", "driftwatch.telemetry", "topic to produce to")
	rate := fs.Float64("rate", 1000, "events per second over all models (0: as fast as possible)")
	models := fs.Int("models", 2, "number of models")
	features := fs.Int("features", 10, "features per model (numeric and categorical)")
	events := fs.Int("events", 0, "events to produce (0: until interrupted)")
	seed := fs.Int64("seed", 1, "random seed")
	start := fs.String("start", "", "event time of the first event, RFC 3339 (default: now)")
	shiftModel := fs.String("shift-model", "", "model that shifts (default: none)")
	scenario := fs.String("scenario", generator.ScenarioInputDrift, "what shifts: "+strings.Join(generator.Scenarios, ", "))
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
	if err := parse(fs, args); err != nil {
		return err
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
	if *shiftModel != "" {
		if *scenario == generator.ScenarioConceptDrift && *labelsTopic == "" {
			return fmt.Errorf("--scenario %s changes only labels: give --labels-topic", *scenario)
		}
		sh, err := generator.ShiftFor(*scenario, *shiftModel, *shiftAfter, *shiftSigma)
		if err != nil {
			return fmt.Errorf("--%w", err)
		}
		if *shiftFeatures != "" {
			sh.Features = strings.Split(*shiftFeatures, ",")
		}
		sc.Shift = sh
	}
	g, err := generator.New(sc, *seed)
	if err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info")
	p, err := generator.ProduceWith(ctx, strings.Split(*brokers, ","), *topic, g, *events,
		generator.ProduceOptions{LabelsTopic: *labelsTopic}, log)
	fmt.Fprintf(stdout, "produced %d events to %s\n", p.Events, *topic)
	if *labelsTopic != "" {
		fmt.Fprintf(stdout, "produced %d labels to %s (%d dropped: more than %d pending)\n", p.Labels, *labelsTopic, p.DroppedLabels, *labelMaxPending)
	}
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
