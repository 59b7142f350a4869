package monitor

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
	"github.com/driftwatch/driftwatch/analysis"
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

// TestAbsentKeysKeepDefaults: the file is decoded onto DefaultConfig, so an
// absent key keeps its documented default and an explicit value wins, zero
// included (allowed_lateness: 0 is valid and differs from the default 10s).
func TestAbsentKeysKeepDefaults(t *testing.T) {
	tests := []struct {
		name string
		path string
		env  []string
		want time.Duration
	}{
		{"absent", "testdata/embedded.good.yml", nil, 10 * time.Second},
		{"explicit zero", "testdata/no-lateness.good.yml", nil, 0},
		{"explicit zero from the environment", "testdata/embedded.good.yml", []string{"DRIFTWATCH_ANALYSIS_ALLOWED_LATENESS=0s"}, 0},
		{"no file", "", nil, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(tc.path, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Analysis.AllowedLateness != tc.want {
				t.Errorf("allowed_lateness %s, want %s", c.Analysis.AllowedLateness, tc.want)
			}
			if tc.path != "" {
				if err := c.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			}
			// Other absent keys keep their defaults too, in every section.
			if c.Analysis.MinCount != 100 || c.Kafka.Consumer.MaxBatch != 1000 || c.ClickHouse.DialTimeout != 5*time.Second ||
				c.Alerting.MaxAttempts != 5 || c.Limits.MaxBytes != 65536 || c.Analysis.Sequential.Threshold != 12 {
				t.Errorf("absent keys lost their defaults: %+v", c)
			}
		})
	}
}

// TestDerivedDefaults: the defaults computed from other fields are filled by
// WithDerived (applied by LoadConfig and New), keep explicit values, and are
// computed from the values in force, not from the defaults.
func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name              string
		edit              func(*Config)
		dlq, partials     string
		brokers           []string
		idleFlush         time.Duration
		slackName, pdName string
		pdSource          string
	}{
		{
			name: "defaults", edit: func(*Config) {},
			dlq: "driftwatch.telemetry.dlq", partials: "driftwatch.telemetry.partials", idleFlush: 2 * time.Minute,
		},
		{
			name: "from the fields in force",
			edit: func(c *Config) {
				c.Kafka.Consumer.Topic = "t"
				c.Kafka.Embedded, c.Kafka.EmbeddedAddr = true, "127.0.0.1:29092"
				c.Analysis.WindowSize = 5 * time.Minute
				c.Alerting.Source = "dw-prod"
				c.Alerting.Slack = []slack.Config{slack.DefaultConfig(), slack.DefaultConfig()}
				c.Alerting.PagerDuty = []pagerduty.Config{pagerduty.DefaultConfig()}
			},
			dlq: "t.dlq", partials: "t.partials", brokers: []string{"127.0.0.1:29092"}, idleFlush: 10 * time.Minute,
			slackName: "slack-1", pdName: "pagerduty", pdSource: "dw-prod",
		},
		{
			name: "explicit values win",
			edit: func(c *Config) {
				c.Kafka.Consumer.DeadLetterTopic, c.Kafka.PartialsTopic = "rejects", "partials"
				c.Kafka.Embedded, c.Kafka.Consumer.Brokers = true, []string{"k:9092"}
				c.Analysis.IdleFlush = time.Second
				c.Alerting.Slack = []slack.Config{slack.DefaultConfig(), slack.DefaultConfig()}
				c.Alerting.Slack[1].Name = "ml"
				c.Alerting.PagerDuty = []pagerduty.Config{pagerduty.DefaultConfig()}
				c.Alerting.PagerDuty[0].Name, c.Alerting.PagerDuty[0].Source = "oncall", "pd"
			},
			dlq: "rejects", partials: "partials", brokers: []string{"k:9092"}, idleFlush: time.Second,
			slackName: "ml", pdName: "oncall", pdSource: "pd",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mk := func() Config {
				c := DefaultConfig()
				tc.edit(&c)
				return c
			}
			c := mk()
			d := c.WithDerived()
			got := []any{d.Kafka.Consumer.DeadLetterTopic, d.Kafka.PartialsTopic, d.Kafka.Consumer.Brokers, d.Analysis.IdleFlush}
			want := []any{tc.dlq, tc.partials, tc.brokers, tc.idleFlush}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("derived %v, want %v", got, want)
			}
			if len(d.Alerting.Slack) > 1 && (d.Alerting.Slack[0].Name != "slack" || d.Alerting.Slack[1].Name != tc.slackName) {
				t.Errorf("slack names %q, %q, want slack, %s", d.Alerting.Slack[0].Name, d.Alerting.Slack[1].Name, tc.slackName)
			}
			if len(d.Alerting.PagerDuty) > 0 && (d.Alerting.PagerDuty[0].Name != tc.pdName || d.Alerting.PagerDuty[0].Source != tc.pdSource) {
				t.Errorf("pagerduty name %q, source %q, want %s, %s", d.Alerting.PagerDuty[0].Name, d.Alerting.PagerDuty[0].Source, tc.pdName, tc.pdSource)
			}
			if !reflect.DeepEqual(c, mk()) {
				t.Errorf("WithDerived changed its receiver")
			}
			if !reflect.DeepEqual(d.WithDerived(), d) {
				t.Errorf("WithDerived is not idempotent")
			}
		})
	}
}

// TestValidateDoesNotChangeItsReceiver: Validate only validates, valid or
// not, derived defaults filled or not.
func TestValidateDoesNotChangeItsReceiver(t *testing.T) {
	load := func(path string) func() Config {
		return func() Config {
			c, err := LoadConfig(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	edit := func(f func(*Config)) func() Config {
		return func() Config {
			c := DefaultConfig()
			c.Kafka.Consumer.Brokers = []string{"k:9092"}
			f(&c)
			return c
		}
	}
	tests := []struct {
		name  string
		mk    func() Config
		valid bool
	}{
		{"example", load("../driftwatch.example.yaml"), true},
		{"embedded", load("testdata/embedded.good.yml"), true},
		{"defaults, nothing derived", edit(func(*Config) {}), true},
		{"embedded, nothing derived", edit(func(c *Config) { c.Kafka.Embedded, c.Kafka.Consumer.Brokers = true, nil }), true},
		{"unnamed receivers, nothing derived", edit(func(c *Config) {
			hooks := []webhook.Config{webhook.DefaultConfig(), webhook.DefaultConfig()}
			hooks[0].URL, hooks[1].URL = "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"
			c.Alerting.Webhook = hooks
			c.Analysis.ReferenceModes = map[string]string{"m": analysis.ModePreviousDay}
		}), true},
		{"zero value", func() Config { return Config{} }, false},
		{"no brokers", edit(func(c *Config) { c.Kafka.Consumer.Brokers = nil }), false},
		{"zero sample size", edit(func(c *Config) { c.Analysis.SampleSize = 0 }), false},
		{"zero dial timeout", edit(func(c *Config) { c.ClickHouse.DialTimeout = 0 }), false},
		{"zero queue", edit(func(c *Config) { c.Alerting.QueueSize = 0 }), false},
		{"zero max_bytes", edit(func(c *Config) { c.Limits.MaxBytes = 0 }), false},
		{"partials on the dead-letter topic", edit(func(c *Config) { c.Kafka.PartialsTopic = "driftwatch.telemetry.dlq" }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.mk()
			err := c.Validate()
			if (err == nil) != tc.valid {
				t.Errorf("Validate = %v, want valid %t", err, tc.valid)
			}
			if want := tc.mk(); !reflect.DeepEqual(c, want) {
				t.Errorf("Validate changed its receiver:\n got %+v\nwant %+v", c, want)
			}
		})
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
		"signal-levels.bad.yml":   "signals.outputs: latency: levels",
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
		"DRIFTWATCH_SIGNALS_OUTPUTS_ENABLED=false",
		"DRIFTWATCH_SIGNALS_LLM_ENABLED=false",
		"DRIFTWATCH_SIGNALS_PERFORMANCE_ENABLED=false",
		"DRIFTWATCH_SIGNALS_OUTPUTS_LATENCY_WARNING=0.5",
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
		c.Alerting.PendingWindows != 3 || c.Listen != "127.0.0.1:9999" ||
		c.Signals.Outputs.Enabled || c.Signals.Outputs.Config.Latency.Warning != 0.5 || len(c.Signals.List()) != 0 {
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

func TestEnvironmentUnknownVariable(t *testing.T) {
	tests := []struct {
		kv, want string
	}{
		{"DRIFTWATCH_ANALYSIS_WINDOW=5m",
			"environment DRIFTWATCH_ANALYSIS_WINDOW: unknown configuration key (did you mean DRIFTWATCH_ANALYSIS_WINDOW_SIZE?)"},
		{"DRIFTWATCH_KAFKA_BROKER=k:9092",
			"environment DRIFTWATCH_KAFKA_BROKER: unknown configuration key (did you mean DRIFTWATCH_KAFKA_BROKERS?)"},
		{"DRIFTWATCH_ANALYSIS_THRESHOLD_PSI_WARNING=0.1",
			"environment DRIFTWATCH_ANALYSIS_THRESHOLD_PSI_WARNING: unknown configuration key (did you mean DRIFTWATCH_ANALYSIS_THRESHOLDS_PSI_WARNING?)"},
		{"DRIFTWATCH_NOTHING_LIKE_IT=1", "environment DRIFTWATCH_NOTHING_LIKE_IT: unknown configuration key"},
		{"DRIFTWATCH_CONSUMER_TOPIC=t", "environment DRIFTWATCH_CONSUMER_TOPIC: unknown configuration key"},
	}
	for _, tc := range tests {
		t.Run(tc.kv, func(t *testing.T) {
			_, err := LoadConfig("testdata/embedded.good.yml", []string{"DRIFTWATCH_LISTEN=127.0.0.1:0", tc.kv})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEnvironmentAllowsWhatIsNotConfiguration: the DRIFTWATCH_ variables of
// the scripts, tests and Grafana, and the variables the file names as
// secrets, are not configuration and are ignored.
func TestEnvironmentAllowsWhatIsNotConfiguration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(`kafka:
  brokers: [127.0.0.1:9092]
alerting:
  slack:
    - url_env: DRIFTWATCH_SLACK_URL
  pagerduty:
    - routing_key_env: DRIFTWATCH_PAGERDUTY_KEY
  webhook:
    - url: http://127.0.0.1:1/hook
      bearer_token_env: DRIFTWATCH_HOOK_TOKEN
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"DRIFTWATCH_TEST_CLICKHOUSE=127.0.0.1:19000",
		"DRIFTWATCH_TEST_ANYTHING=x",
		"DRIFTWATCH_RUN_DIR=/tmp/driftwatch",
		"DRIFTWATCH_CLICKHOUSE_PORT=19000",
		"DRIFTWATCH_CLICKHOUSE_HTTP_PORT=18123",
		"DRIFTWATCH_CLICKHOUSE_INTERSERVER_PORT=19009",
		"DRIFTWATCH_CLICKHOUSE_START_TIMEOUT=60",
		"DRIFTWATCH_GRAFANA_CLICKHOUSE_PASSWORD=secret",
		"DRIFTWATCH_SLACK_URL=https://hooks.slack.com/services/T/B/X",
		"DRIFTWATCH_PAGERDUTY_KEY=0123456789abcdef0123456789abcdef",
		"DRIFTWATCH_HOOK_TOKEN=token",
		"DRIFTWATCH_CLICKHOUSE_ADDR=ch:9000",
	}
	c, err := LoadConfig(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Addr != "ch:9000" {
		t.Errorf("clickhouse.addr %q, want the environment's", c.ClickHouse.Addr)
	}
	// Without the file, the secrets' variables are unknown.
	if _, err := LoadConfig("", []string{"DRIFTWATCH_SLACK_URL=x"}); err == nil || !strings.Contains(err.Error(), "DRIFTWATCH_SLACK_URL") {
		t.Errorf("a secret's variable not named by the file: %v, want an error naming it", err)
	}
}

// TestMakeFuzzRunsEveryFuzzer: every fuzz test of the repository is run by
// make fuzz, in its package.
func TestMakeFuzzRunsEveryFuzzer(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	fuzzer := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	found := 0
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzer.FindAllSubmatch(b, -1) {
			found++
			run := fmt.Sprintf("-fuzz '^%s$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./%s/", m[1], filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../"))))
			if !bytes.Contains(mk, []byte(run)) {
				t.Errorf("%s: %s is not run by make fuzz (want %q in the Makefile)", path, m[1], run)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 12 {
		t.Errorf("%d fuzz tests found, want the 12 known at least", found)
	}
}

// TestEveryDriftwatchVariableIsKnown scans the repository (code, scripts,
// Makefile, docs, configs; not the tests) for DRIFTWATCH_ names: each must be
// a configuration key or be allowed, so that exporting it never breaks
// `driftwatch run`.
func TestEveryDriftwatchVariableIsKnown(t *testing.T) {
	name := regexp.MustCompile(`DRIFTWATCH_[A-Z0-9_]*`)
	known := EnvKeys()
	seen := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != ".." && d.Name() != ".ci" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || strings.Contains(path, "testdata") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.IndexByte(b, 0) >= 0 { // binaries
			return err
		}
		for _, m := range name.FindAll(b, -1) {
			if !bytes.HasSuffix(m, []byte("_")) { // not a pattern such as DRIFTWATCH_ANALYSIS_*
				seen[string(m)] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("no DRIFTWATCH_ name found: the scan is broken")
	}
	for n, path := range seen {
		if !slices.Contains(known, n) && !slices.Contains(EnvAllowed, n) && !strings.HasPrefix(n, EnvTestPrefix) {
			t.Errorf("%s (in %s) is neither a configuration key nor in EnvAllowed: `driftwatch run` would refuse it", n, path)
		}
	}
}

// TestFeedbackConfig: kafka.feedback_topic and signals.poisoning decode
// strictly (the poisoning signals' keys inline), default to the documented
// values, and are validated: the topic distinct from the other topics, the
// stage's bounds and the signals' configuration, each error naming its
// field.
func TestFeedbackConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.yml")
	yml := "kafka:\n  brokers: [k:9092]\n  feedback_topic: fb\nsignals:\n  poisoning:\n    max_windows: 2\n    min_count: 30\n    label_flip: {warning: 0.2, critical: 0.4}\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Signals.Poisoning
	if c.Kafka.FeedbackTopic != "fb" || !p.Enabled || p.MaxWindows != 2 || p.MaxModels != 100 || p.Config.MinCount != 30 ||
		p.Config.LabelFlip.Critical != 0.4 || p.Config.MaxSources != 1000 || !c.feedbackEnabled() {
		t.Errorf("decoded %+v (topic %q)", p, c.Kafka.FeedbackTopic)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := DefaultConfig(); d.Kafka.FeedbackTopic != "" || d.feedbackEnabled() || !d.Signals.Poisoning.Enabled {
		t.Error("by default there is no feedback topic, and the poisoning signals are enabled for when it is set")
	}
	if err := os.WriteFile(path, []byte("signals:\n  poisoning:\n    max_sourcez: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "max_sourcez") {
		t.Errorf("an unknown poisoning key: %v", err)
	}

	// The key of the feedback samples: read from its file, the newline
	// left out, at least 16 bytes.
	dir := t.TempDir()
	shortKey, key := filepath.Join(dir, "short"), filepath.Join(dir, "key")
	if err := os.WriteFile(shortKey, []byte("fifteen bytes!!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("sixteen bytes!!!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := sampleKey(key); err != nil || got != "sixteen bytes!!!" {
		t.Errorf("sampleKey = %q, %v", got, err)
	}
	keyed := c
	keyed.Signals.Poisoning.SampleKeyFile = key
	if err := keyed.Validate(); err != nil {
		t.Errorf("a sample key of 16 bytes: %v", err)
	}

	for _, tc := range []struct {
		name, want string
		edit       func(*Config)
	}{
		{"feedback on the telemetry topic", "kafka: feedback_topic", func(c *Config) { c.Kafka.FeedbackTopic = c.Kafka.Consumer.Topic }},
		{"feedback on the dead-letter topic", "kafka: feedback_topic", func(c *Config) { c.Kafka.FeedbackTopic = "driftwatch.telemetry.dlq" }},
		{"feedback on the partials topic", "kafka: feedback_topic", func(c *Config) { c.Kafka.FeedbackTopic = "driftwatch.telemetry.partials" }},
		{"feedback on the labels topic", "kafka: feedback_topic", func(c *Config) { c.Kafka.LabelsTopic, c.Kafka.FeedbackTopic = "x", "x" }},
		{"no open windows", "signals.poisoning: max_windows", func(c *Config) { c.Signals.Poisoning.MaxWindows = 0 }},
		{"no models", "signals.poisoning: max_models", func(c *Config) { c.Signals.Poisoning.MaxModels = 0 }},
		{"a bad signal level", "signals.poisoning: label_flip", func(c *Config) { c.Signals.Poisoning.Config.LabelFlip.Critical = -1 }},
		{"a bad signal bound", "signals.poisoning: max_sources", func(c *Config) { c.Signals.Poisoning.Config.MaxSources = 0 }},
		{"a missing sample key", "signals.poisoning: sample_key_file", func(c *Config) {
			c.Signals.Poisoning.SampleKeyFile = filepath.Join(t.TempDir(), "missing")
		}},
		{"a short sample key", "signals.poisoning: sample_key_file: " + shortKey + " holds 15 bytes, want at least 16", func(c *Config) {
			c.Signals.Poisoning.SampleKeyFile = shortKey
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Kafka.Consumer.Brokers = []string{"k:9092"}
			c.Kafka.FeedbackTopic = "fb"
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
