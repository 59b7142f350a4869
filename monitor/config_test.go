package monitor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestExampleConfigIsValid(t *testing.T) {
	c, err := LoadConfig("../driftwatch.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("driftwatch.example.yaml: %v", err)
	}
	if c.Analysis.WindowSize != time.Minute || c.Analysis.Thresholds.PSI.Critical != 0.25 || c.Kafka.Consumer.DeadLetterTopic != "driftwatch.telemetry.dlq" {
		t.Errorf("example config decoded to %+v", c)
	}
}

func TestBadConfigsNameTheField(t *testing.T) {
	want := map[string]string{
		"unknown-key.bad.yml":     "brokerz",
		"unknown-section.bad.yml": "analysys",
		"window-size.bad.yml":     "analysis: window_size",
		"thresholds.bad.yml":      "analysis: thresholds.psi",
		"no-brokers.bad.yml":      "brokers",
		"pvalue.bad.yml":          "analysis: fdr",
		"webhook.bad.yml":         "webhook[0].url",
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(want) {
		t.Fatalf("%d bad configs in testdata, %d in the table", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, err := LoadConfig(f, nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), want[name]) {
				t.Errorf("error %q does not name %q", err, want[name])
			}
		})
	}
}

func TestEmbeddedKafkaDefaultsBrokers(t *testing.T) {
	c, err := LoadConfig("testdata/embedded.good.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Kafka.Consumer.Brokers) != 1 || c.Kafka.Consumer.Brokers[0] != "127.0.0.1:19092" {
		t.Errorf("brokers %v, want the embedded broker's address", c.Kafka.Consumer.Brokers)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	env := []string{
		"DRIFTWATCH_KAFKA_BROKERS=k1:9092, k2:9092",
		"DRIFTWATCH_KAFKA_EMBEDDED=false",
		"DRIFTWATCH_CLICKHOUSE_ADDR=ch:9000",
		"DRIFTWATCH_ANALYSIS_WINDOW_SIZE=5m",
		"DRIFTWATCH_ANALYSIS_THRESHOLDS_PSI_WARNING=0.2",
		"DRIFTWATCH_ANALYSIS_THRESHOLDS_PSI_CRITICAL=0.4",
		"DRIFTWATCH_ALERTING_PENDING_WINDOWS=3",
		"DRIFTWATCH_LISTEN=127.0.0.1:9999",
		"HOME=/root",
	}
	c, err := LoadConfig("testdata/embedded.good.yml", env)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := []any{c.Kafka.Consumer.Brokers, c.Kafka.Embedded, c.ClickHouse.Addr, c.Analysis.WindowSize,
		c.Analysis.Thresholds.PSI, c.Alerting.PendingWindows, c.Listen}
	if strings.Join(c.Kafka.Consumer.Brokers, ",") != "k1:9092,k2:9092" || c.Kafka.Embedded || c.ClickHouse.Addr != "ch:9000" ||
		c.Analysis.WindowSize != 5*time.Minute || c.Analysis.Thresholds.PSI.Warning != 0.2 || c.Analysis.Thresholds.PSI.Critical != 0.4 ||
		c.Alerting.PendingWindows != 3 || c.Listen != "127.0.0.1:9999" {
		t.Errorf("overrides not applied: %v", got)
	}
}

func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	for _, kv := range []string{"DRIFTWATCH_ANALYSIS_WINDOW_SIZE=soon", "DRIFTWATCH_ANALYSIS_BINS=ten", "DRIFTWATCH_KAFKA_EMBEDDED=perhaps"} {
		_, err := LoadConfig("", []string{kv})
		name, _, _ := strings.Cut(kv, "=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name the variable", kv, err)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("error %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestExampleConfigListsEveryKey keeps driftwatch.example.yaml complete: every
// scalar or list-of-scalars key of Config must appear in it.
func TestExampleConfigListsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../driftwatch.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(typ reflect.Type, node map[string]any, path string)
	walk = func(typ reflect.Type, node map[string]any, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag[0] == "-" {
				continue
			}
			if len(tag) > 1 && tag[1] == "inline" {
				walk(f.Type, node, path)
				continue
			}
			key := path + tag[0]
			v, ok := node[tag[0]]
			if !ok {
				missing = append(missing, key)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				sub, _ := v.(map[string]any)
				walk(f.Type, sub, key+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), doc, "")
	// Receivers are lists of structs, shown commented out with their keys in docs/alerting.md.
	var real []string
	for _, k := range missing {
		if !strings.HasPrefix(k, "alerting.slack") && !strings.HasPrefix(k, "alerting.pagerduty") &&
			!strings.HasPrefix(k, "alerting.webhook") && !strings.HasPrefix(k, "alerting.alertmanager") {
			real = append(real, k)
		}
	}
	if len(real) > 0 {
		t.Errorf("driftwatch.example.yaml lacks %v", real)
	}
}
