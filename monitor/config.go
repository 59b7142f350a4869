package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/analysis"
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
	// Listen is the address of /metrics and /healthz.
	// Default: 127.0.0.1:9464
	Listen string `yaml:"listen"`
	// MaxDriftSeries caps the series of driftwatch_drift_statistic; further
	// (model, feature, test) combinations are counted in
	// driftwatch_drift_series_dropped_total. Default: 1000
	MaxDriftSeries int `yaml:"max_drift_series"`
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
	checks := []struct {
		name string
		err  func() error
	}{
		{"kafka", c.Kafka.Consumer.Validate},
		{"clickhouse", c.ClickHouse.Validate},
		{"analysis", c.Analysis.Validate},
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
// the matching key (lists are comma-separated), and WithDerived fills the
// derived defaults. It does not validate; call Validate.
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

// EnvPrefix prefixes every configuration environment variable.
const EnvPrefix = "DRIFTWATCH_"

// applyEnv overrides fields of c from env. Variables are named after the YAML
// path of a scalar or list-of-scalars field: kafka.brokers is
// DRIFTWATCH_KAFKA_BROKERS, analysis.thresholds.psi.warning is
// DRIFTWATCH_ANALYSIS_THRESHOLDS_PSI_WARNING.
func applyEnv(c *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	return walkEnv(reflect.ValueOf(c).Elem(), strings.TrimSuffix(EnvPrefix, "_"), vars)
}

var durationType = reflect.TypeOf(time.Duration(0))

func walkEnv(v reflect.Value, prefix string, vars map[string]string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		name := tag[0]
		fv := v.Field(i)
		inline := len(tag) > 1 && tag[1] == "inline"
		if name == "-" {
			continue
		}
		path := prefix
		if !inline {
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			path = prefix + "_" + strings.ToUpper(name)
		}
		if fv.Kind() == reflect.Struct && f.Type != durationType {
			if err := walkEnv(fv, path, vars); err != nil {
				return err
			}
			continue
		}
		raw, ok := vars[path]
		if !ok {
			continue
		}
		if err := setScalar(fv, raw); err != nil {
			return fmt.Errorf("environment %s=%q: %w", path, raw, err)
		}
	}
	return nil
}

func setScalar(fv reflect.Value, raw string) error {
	if fv.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case reflect.Float64, reflect.Float32:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("lists of %s cannot be set from the environment; use the config file", fv.Type().Elem())
		}
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}
