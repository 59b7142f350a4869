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
`

// cmdGenerate produces synthetic telemetry.
func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("generate", "Produce realistic synthetic inference telemetry to a Kafka topic, keyed by model id (or prediction id),\n"+
		"optionally with an injected shift and a share of malformed events.", generateExamples, stdout, stderr)
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
	if *shiftModel != "" {
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
	n, err := generator.Produce(ctx, strings.Split(*brokers, ","), *topic, g, *events, log)
	fmt.Fprintf(stdout, "produced %d events to %s\n", n, *topic)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
