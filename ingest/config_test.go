package ingest

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// minimalConfig is DefaultConfig with the two required fields set.
func minimalConfig(topic string) Config {
	c := DefaultConfig()
	c.Brokers = []string{"k:9092"}
	c.Topic = topic
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := minimalConfig("telemetry")
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := Config{
		Brokers: []string{"k:9092"}, Topic: "telemetry", GroupID: "driftwatch", DeadLetterTopic: "telemetry.dlq",
		StartOffset: "earliest", MaxBatch: 1000, MaxWait: 250 * time.Millisecond, CommitInterval: time.Second,
		MinBytes: 1, MaxBytes: 4 << 20, MaxCompressionRatio: 32, SessionTimeout: 30 * time.Second, HeartbeatInterval: 3 * time.Second,
		RebalanceTimeout: 30 * time.Second, JoinGroupBackoff: 2 * time.Second, StallAfter: time.Minute,
	}
	if got := c.WithDerived(); !configEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if c.DeadLetterTopic != "" {
		t.Errorf("WithDerived changed its receiver: dead_letter_topic %q", c.DeadLetterTopic)
	}
	c.DeadLetterTopic = "rejects"
	if got := c.WithDerived(); got.DeadLetterTopic != "rejects" {
		t.Errorf("WithDerived replaced an explicit dead_letter_topic with %q", got.DeadLetterTopic)
	}
}

func TestConfigValidateNamesBadField(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"brokers", func(c *Config) { c.Brokers = nil }},
		{"brokers[1]", func(c *Config) { c.Brokers = append(c.Brokers, "") }},
		{"topic", func(c *Config) { c.Topic = "" }},
		{"group_id", func(c *Config) { c.GroupID = "" }},
		{"dead_letter_topic", func(c *Config) { c.DeadLetterTopic = "telemetry" }},
		{"start_offset", func(c *Config) { c.StartOffset = "newest" }},
		{"start_offset", func(c *Config) { c.StartOffset = "" }},
		{"max_batch", func(c *Config) { c.MaxBatch = -1 }},
		{"max_batch", func(c *Config) { c.MaxBatch = 0 }},
		{"min_bytes", func(c *Config) { c.MinBytes = 2 << 20; c.MaxBytes = 1 << 20 }},
		{"max_bytes", func(c *Config) { c.MaxBytes = -5 }},
		{"max_compression_ratio", func(c *Config) { c.MaxCompressionRatio = 0 }},
		{"max_compression_ratio", func(c *Config) { c.MaxCompressionRatio = 1<<20 + 1 }},
		{"max_wait", func(c *Config) { c.MaxWait = -time.Second }},
		{"max_wait", func(c *Config) { c.MaxWait = 0 }},
		{"commit_interval", func(c *Config) { c.CommitInterval = -1 }},
		{"session_timeout", func(c *Config) { c.SessionTimeout = 1000 * time.Hour }},
		{"heartbeat_interval", func(c *Config) { c.HeartbeatInterval = time.Minute }},
		{"rebalance_timeout", func(c *Config) { c.RebalanceTimeout = -1 }},
		{"join_group_backoff", func(c *Config) { c.JoinGroupBackoff = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := minimalConfig("telemetry")
			tt.edit(&c)
			before := c
			before.Brokers = slices.Clone(c.Brokers)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			if !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
			if !configEqual(c, before) {
				t.Errorf("Validate changed its receiver:\n got %+v\nwant %+v", c, before)
			}
		})
	}
	c := minimalConfig("telemetry")
	c.CommitInterval = 0 // commit after every batch
	if err := c.Validate(); err != nil {
		t.Errorf("commit_interval 0: %v", err)
	}
}

func TestConfigFromYAML(t *testing.T) {
	decode := func(path string) (Config, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, err
		}
		return c.WithDerived(), c.Validate()
	}
	c, err := decode("testdata/consumer.good.yml")
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	want := Config{
		Brokers: []string{"kafka-1:9092", "kafka-2:9092"}, Topic: "telemetry", GroupID: "driftwatch-prod",
		DeadLetterTopic: "telemetry.rejected", StartOffset: "latest", MaxBatch: 500, MaxWait: 500 * time.Millisecond,
		CommitInterval: 2 * time.Second, MinBytes: 1024, MaxBytes: 8 << 20, MaxCompressionRatio: 16, SessionTimeout: 45 * time.Second,
		HeartbeatInterval: 3 * time.Second, RebalanceTimeout: time.Minute, JoinGroupBackoff: time.Second, StallAfter: time.Minute,
	}
	if !configEqual(c, want) {
		t.Errorf("good config:\n got %+v\nwant %+v", c, want)
	}
	if _, err := decode("testdata/consumer.bad.yml"); err == nil || !strings.Contains(err.Error(), "commit_intervall") {
		t.Errorf("bad config: got %v, want an error naming the unknown key commit_intervall", err)
	}
}

func configEqual(a, b Config) bool {
	return reflect.DeepEqual(a, b)
}
