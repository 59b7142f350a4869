package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/llm"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/signal/performance"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/storage"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Config is the whole configuration of `driftwatch run`.
//
// Defaults: DefaultConfig returns every documented default, nesting each
// section's own DefaultConfig; LoadConfig decodes the file onto it, so an
// absent key keeps its default and an explicit value, zero included, wins.
// Validate only validates.
//
// Derived defaults: a few defaults are computed from other fields. Their
// field is left empty (or zero) by DefaultConfig, and "empty means derived";
// WithDerived, the one place that computes them, fills them in. LoadConfig
// applies it after the file and the environment, and New applies it again
// (it is idempotent) for configs built in code:
//   - kafka.dead_letter_topic: <topic>.dlq
//   - kafka.partials_topic: <topic>.partials
//   - kafka.brokers, with kafka.embedded: [kafka.embedded_addr]
//   - analysis.idle_flush: 2 × analysis.window_size
//   - alerting: receiver names (slack, slack-1, ...) and pagerduty sources (alerting.source)
type Config struct {
	// Kafka says where telemetry comes from.
	Kafka KafkaConfig `yaml:"kafka"`
	// ClickHouse says where aggregates, scores and alerts go.
	ClickHouse storage.Config `yaml:"clickhouse"`
	// Analysis sets windows, references and drift thresholds.
	Analysis analysis.Config `yaml:"analysis"`
	// Alerting sets the alert lifecycle and receivers.
	Alerting alerting.Config `yaml:"alerting"`
	// Limits bound what one event may carry.
	Limits telemetry.Limits `yaml:"limits"`
	// Listen is the address of /metrics, /healthz and /readyz.
	// Default: 127.0.0.1:9464
	Listen string `yaml:"listen"`
	// Web secures them: TLS, basic authentication or a bearer token.
	// Default: plain HTTP, no authentication.
	Web WebConfig `yaml:"web"`
	// MaxDriftSeries caps the series of driftwatch_drift_statistic and
	// driftwatch_signal_statistic together; further combinations are
	// counted in driftwatch_drift_series_dropped_total. Default: 1000
	MaxDriftSeries int `yaml:"max_drift_series"`
	// Signals chooses the signals every window carries besides the drift
	// tests. Every instance of a consumer group must use the same.
	Signals SignalsConfig `yaml:"signals"`
	// Labels sets how delayed labels are joined to predictions and how
	// realized performance is decided; they are read from
	// kafka.labels_topic.
	Labels LabelsConfig `yaml:"labels"`
}

// LabelsConfig configures delayed labels and realized performance
// (docs/signals.md). It takes effect when kafka.labels_topic is set.
type LabelsConfig struct {
	// MaxDelay is how long after its prediction a label still counts; a
	// later one is counted in performance_windows.late_labels only.
	// Default: 720h (30 days)
	MaxDelay time.Duration `yaml:"max_delay"`
	// PredictionBatch is how many predictions a partition holds before
	// writing them to the predictions table (they are also written before
	// every closed window is handed over). Default: 10000
	PredictionBatch int `yaml:"prediction_batch"`
	// Realized sets the realized accuracy decision, at the same level.
	Realized performance.Config `yaml:",inline"`
}

// Validate names the first invalid field.
func (c LabelsConfig) Validate() error {
	if c.MaxDelay <= 0 {
		return fmt.Errorf("max_delay: must be positive, got %s", c.MaxDelay)
	}
	if c.PredictionBatch < 1 {
		return fmt.Errorf("prediction_batch: must be positive, got %d", c.PredictionBatch)
	}
	return c.Realized.Validate()
}

// SignalsConfig chooses and configures the signal families.
type SignalsConfig struct {
	// Outputs are the output signals: error_rate, latency, class_share,
	// confidence, margin_density
	// (docs/signals.md). Default: enabled.
	Outputs OutputsConfig `yaml:"outputs"`
	// LLM are the GenAI signals: refusal_rate, finish_reason, tokens,
	// time_to_first_chunk (docs/signals.md); calls without GenAI usage do
	// not count. Default: enabled.
	LLM LLMConfig `yaml:"llm"`
	// Performance is the performance estimated from the scores of binary
	// classifiers (estimated_performance, docs/signals.md). Default: enabled.
	Performance PerformanceConfig `yaml:"performance"`
	// Access are the caller signals: caller_volume, caller_probing,
	// caller_diversity, caller_ood and caller_harvest (docs/signals.md).
	// Default: disabled: together they add about a third to the CPU time
	// of an event's window step (docs/signals.md).
	Access AccessConfig `yaml:"access"`
	// Poisoning are the training-data poisoning signals over the feedback
	// topic (kafka.feedback_topic): poisoning_label_flip, _concentration,
	// _flood, _trigger, _spectral, _drift (docs/signals.md). They run when
	// the topic is set. Default: enabled.
	Poisoning PoisoningConfig `yaml:"poisoning"`
}

// PoisoningConfig is the poisoning signals' switch, the bounds of the
// feedback stage and the signals' configuration.
//
// The features an example carries (poisoning.Features) are chosen per model
// and feedback partition: the sorted names of the first feedback event of
// the model that has features, at most poisoning.MaxFeatures of each kind,
// kept for as long as the partition is owned. They travel with the
// partials; a decider that merges partials over other features merges only
// their feature-free signals (label flips, concentration).
type PoisoningConfig struct {
	// Enabled consumes kafka.feedback_topic when it is set. Default: true
	Enabled bool `yaml:"enabled"`
	// MaxModels bounds the models with open feedback windows per feedback
	// partition; feedback of further models is counted in
	// driftwatch_feedback_dropped_total{reason="max_models"}. Default: 100
	MaxModels int `yaml:"max_models"`
	// MaxWindows bounds the open feedback windows of one model per
	// feedback partition; feedback that would open another is counted in
	// driftwatch_feedback_dropped_total{reason="max_windows"}. Default: 4
	MaxWindows int `yaml:"max_windows"`
	// ReferenceWindows is how many of a model's first decided feedback
	// windows are merged into its reference feedback, which later windows
	// are scored against (stored in the references table, version
	// "#feedback"); until it is complete, and with 0, the verdicts that
	// need a reference only inform. Default: 3
	ReferenceWindows int `yaml:"reference_windows"`
	// SampleKeyFile names a file whose content (at least 16 bytes, trailing
	// newline removed; the same on every instance) keys the hash that
	// chooses the feedback examples the signals' samples keep. Without it
	// the hash is public, and a producer can choose feedback ids that no
	// sample takes, hiding its examples from poisoning_drift,
	// poisoning_serving_drift and poisoning_spectral (a warning at start).
	// Default: "".
	SampleKeyFile string `yaml:"sample_key_file"`
	// Config sets the signals' bounds and levels, at the same level.
	Config poisoning.Config `yaml:",inline"`
}

// minSampleKey is the fewest bytes signals.poisoning.sample_key_file holds.
const minSampleKey = 16

// sampleKey reads the key of the feedback samples from path.
func sampleKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sample_key_file: %w", err)
	}
	key := strings.TrimRight(string(b), "\r\n")
	if len(key) < minSampleKey {
		return "", fmt.Errorf("sample_key_file: %s holds %d bytes, want at least %d", path, len(key), minSampleKey)
	}
	return key, nil
}

// Validate names the first invalid field.
func (c PoisoningConfig) Validate() error {
	if c.MaxModels < 1 || c.MaxModels > 100_000 {
		return fmt.Errorf("max_models: must be in [1, 100000], got %d", c.MaxModels)
	}
	if c.MaxWindows < 1 || c.MaxWindows > 1000 {
		return fmt.Errorf("max_windows: must be in [1, 1000], got %d", c.MaxWindows)
	}
	if c.ReferenceWindows < 0 || c.ReferenceWindows > 10_000 {
		return fmt.Errorf("reference_windows: must be in [0, 10000], got %d", c.ReferenceWindows)
	}
	if c.SampleKeyFile != "" {
		if _, err := sampleKey(c.SampleKeyFile); err != nil {
			return err
		}
	}
	return c.Config.Validate()
}

// AccessConfig is the access signals' switch and configuration.
type AccessConfig struct {
	// Enabled registers the access signals. Default: false
	Enabled bool `yaml:"enabled"`
	// Config sets their bounds and levels, at the same level.
	Config access.Config `yaml:",inline"`
}

// PerformanceConfig is the estimated performance's switch and configuration.
type PerformanceConfig struct {
	// Enabled registers the estimated performance. Default: true
	Enabled bool `yaml:"enabled"`
	// Config sets its levels, at the same level.
	Config performance.Config `yaml:",inline"`
}

// LLMConfig is the GenAI signals' switch and configuration.
type LLMConfig struct {
	// Enabled registers the GenAI signals. Default: true
	Enabled bool `yaml:"enabled"`
	// Config sets their levels and bounds, at the same level.
	Config llm.Config `yaml:",inline"`
}

// OutputsConfig is the output signals' switch and configuration.
type OutputsConfig struct {
	// Enabled registers the output signals. Default: true
	Enabled bool `yaml:"enabled"`
	// Config sets their levels and bounds, at the same level.
	Config outputs.Config `yaml:",inline"`
}

// List returns the signals c enables, in registration order.
func (c SignalsConfig) List() []signal.Signal {
	var out []signal.Signal
	if c.Outputs.Enabled {
		out = append(out, outputs.Signals(c.Outputs.Config)...)
	}
	if c.LLM.Enabled {
		out = append(out, llm.Signals(c.LLM.Config)...)
	}
	if c.Performance.Enabled {
		out = append(out, performance.Estimated{Config: c.Performance.Config})
	}
	if c.Access.Enabled {
		a := c.Access.Config
		out = append(out, access.Volume{Config: a}, access.Probing{Config: a},
			access.Diversity{Config: a}, access.OOD{Config: a}, access.Harvest{Config: a})
	}
	return out
}

// KafkaConfig is the consumer configuration plus the embedded broker switch.
type KafkaConfig struct {
	// Consumer holds brokers, topic, group and fetch settings, at the same level.
	Consumer ingest.Config `yaml:",inline"`
	// PartialsTopic is the internal topic on which each partition's window
	// state travels to the one decider of its model (keyed by model id; the
	// group <group_id>.decide consumes it). It is created, with the
	// telemetry topic's partition count, when it does not exist.
	// Default: "", which WithDerived makes <topic>.partials
	PartialsTopic string `yaml:"partials_topic"`
	// Embedded starts an in-process Kafka-protocol broker (for demos and
	// tests); empty Brokers are then derived as [EmbeddedAddr]. Default: false
	Embedded bool `yaml:"embedded"`
	// EmbeddedAddr is the embedded broker's listen address.
	// Default: 127.0.0.1:19092
	EmbeddedAddr string `yaml:"embedded_addr"`
	// EmbeddedPartitions is the partition count of the embedded broker's topics. Default: 3
	EmbeddedPartitions int `yaml:"embedded_partitions"`
	// LabelsTopic is the topic of label events (docs/telemetry.md), read by
	// the consumer group <group_id>.labels; labels are joined to the
	// predictions of the telemetry topic and give realized performance.
	// Default: "" (no labels: predictions are not stored)
	LabelsTopic string `yaml:"labels_topic"`
	// FeedbackTopic is the topic of training-feedback events
	// (docs/telemetry.md), read by the consumer group <group_id>.feedback
	// for the poisoning signals (signals.poisoning). Label flips compare a
	// feedback's proposed label with the model's prediction as the
	// predictions table holds it, which is written when labels_topic is
	// set. Default: "" (no feedback)
	FeedbackTopic string `yaml:"feedback_topic"`
}

// Defaults of Config that are not another package's.
const (
	// DefaultListen is the default metrics address.
	DefaultListen = "127.0.0.1:9464"
	// DefaultTopic is the default telemetry topic.
	DefaultTopic = "driftwatch.telemetry"
	// DefaultEmbeddedAddr is the default listen address of the embedded broker.
	DefaultEmbeddedAddr = "127.0.0.1:19092"
	// DefaultEmbeddedPartitions is the default partition count of the embedded broker's topics.
	DefaultEmbeddedPartitions = 3
	// DefaultMaxDriftSeries is the default cap of driftwatch_drift_statistic's series.
	DefaultMaxDriftSeries = 1000
)

// DefaultConfig returns every documented default. The derived fields are
// left empty; see WithDerived.
func DefaultConfig() Config {
	consumer := ingest.DefaultConfig()
	consumer.Topic = DefaultTopic
	return Config{
		Kafka: KafkaConfig{
			Consumer:           consumer,
			EmbeddedAddr:       DefaultEmbeddedAddr,
			EmbeddedPartitions: DefaultEmbeddedPartitions,
		},
		ClickHouse:     storage.DefaultConfig(),
		Analysis:       analysis.DefaultConfig(),
		Alerting:       alerting.DefaultConfig(),
		Limits:         telemetry.DefaultLimits(),
		Listen:         DefaultListen,
		MaxDriftSeries: DefaultMaxDriftSeries,
		Signals: SignalsConfig{
			Outputs:     OutputsConfig{Enabled: true, Config: outputs.DefaultConfig()},
			LLM:         LLMConfig{Enabled: true, Config: llm.DefaultConfig()},
			Performance: PerformanceConfig{Enabled: true, Config: performance.DefaultConfig()},
			Access:      AccessConfig{Config: access.DefaultConfig()},
			Poisoning:   PoisoningConfig{Enabled: true, MaxModels: 100, MaxWindows: 4, ReferenceWindows: 3, Config: poisoning.DefaultConfig()},
		},
		Labels: LabelsConfig{MaxDelay: 30 * 24 * time.Hour, PredictionBatch: 10000, Realized: performance.DefaultConfig()},
	}
}

// WithDerived returns c with every derived default filled in (see Config):
// the fields left empty take the value computed from the others; fields set
// explicitly are kept. It is idempotent and does not change c.
func (c Config) WithDerived() Config {
	if c.Kafka.Embedded && len(c.Kafka.Consumer.Brokers) == 0 && c.Kafka.EmbeddedAddr != "" {
		c.Kafka.Consumer.Brokers = []string{c.Kafka.EmbeddedAddr}
	}
	c.Kafka.Consumer = c.Kafka.Consumer.WithDerived()
	if c.Kafka.PartialsTopic == "" && c.Kafka.Consumer.Topic != "" {
		c.Kafka.PartialsTopic = c.Kafka.Consumer.Topic + ".partials"
	}
	c.Analysis = c.Analysis.WithDerived()
	if c.Alerting.WindowSize == 0 {
		c.Alerting.WindowSize = c.Analysis.WindowSize // risk budgets count in windows
	}
	c.Alerting = c.Alerting.WithDerived()
	return c
}

// Validate reports the first invalid field with its path. It checks c as
// WithDerived completes it, and does not change c.
func (c Config) Validate() error {
	c = c.WithDerived()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := c.Web.Validate(); err != nil {
		return err
	}
	if c.MaxDriftSeries < 0 {
		return fmt.Errorf("max_drift_series: must not be negative, got %d", c.MaxDriftSeries)
	}
	if c.Kafka.Embedded {
		if _, _, err := net.SplitHostPort(c.Kafka.EmbeddedAddr); err != nil {
			return fmt.Errorf("kafka: embedded_addr: %w", err)
		}
		if c.Kafka.EmbeddedPartitions < 1 {
			return fmt.Errorf("kafka: embedded_partitions: must be at least 1, got %d", c.Kafka.EmbeddedPartitions)
		}
	}
	if c.Kafka.PartialsTopic == c.Kafka.Consumer.Topic || c.Kafka.PartialsTopic == c.Kafka.Consumer.DeadLetterTopic {
		return fmt.Errorf("kafka: partials_topic: must differ from the telemetry and dead-letter topics, got %q", c.Kafka.PartialsTopic)
	}
	if t := c.Kafka.LabelsTopic; t != "" && (t == c.Kafka.Consumer.Topic || t == c.Kafka.Consumer.DeadLetterTopic || t == c.Kafka.PartialsTopic) {
		return fmt.Errorf("kafka: labels_topic: must differ from the telemetry, dead-letter and partials topics, got %q", t)
	}
	if t := c.Kafka.FeedbackTopic; t != "" && (t == c.Kafka.Consumer.Topic || t == c.Kafka.Consumer.DeadLetterTopic || t == c.Kafka.PartialsTopic ||
		t == c.Kafka.LabelsTopic) {
		return fmt.Errorf("kafka: feedback_topic: must differ from the telemetry, dead-letter, partials and labels topics, got %q", t)
	}
	checks := []struct {
		name string
		err  func() error
	}{
		{"kafka", c.Kafka.Consumer.Validate},
		{"clickhouse", c.ClickHouse.Validate},
		{"analysis", c.Analysis.Validate},
		{"signals.outputs", c.Signals.Outputs.Config.Validate},
		{"signals.llm", c.Signals.LLM.Config.Validate},
		{"signals.performance", c.Signals.Performance.Config.Validate},
		{"signals.access", c.Signals.Access.Config.Validate},
		{"signals.poisoning", c.Signals.Poisoning.Validate},
		{"labels", c.Labels.Validate},
		{"alerting", c.Alerting.Validate},
		{"limits", c.Limits.Validate},
	}
	for _, ch := range checks {
		if err := ch.err(); err != nil {
			return fmt.Errorf("%s: %w", ch.name, err)
		}
	}
	return nil
}

// LoadConfig decodes the YAML file at path ("" for none) onto DefaultConfig,
// strictly: an unknown key is an error naming it, an absent key keeps its
// default. Then every DRIFTWATCH_<SECTION>_<KEY> variable of env overrides
// the matching key (lists are comma-separated); an unknown DRIFTWATCH_
// variable is an error naming it, except the ones that are not
// configuration (EnvAllowed, EnvTestPrefix, a secret's variable named in the
// file). Last, WithDerived fills the derived defaults. It does not validate;
// call Validate.
func LoadConfig(path string, env []string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("reading config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("parsing config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	return c.WithDerived(), nil
}
