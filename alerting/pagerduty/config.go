package pagerduty

import (
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// DefaultURL is PagerDuty's Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Default values of Config.
const (
	DefaultClass         = "feature_drift"
	DefaultRatePerSecond = 2
	DefaultBurst         = 4
)

// Config configures one PagerDuty service integration (Events API v2). The
// routing key is a secret read from routing_key_file or from the environment
// variable named by routing_key_env. Start from DefaultConfig; in a YAML list,
// each element is decoded onto it.
type Config struct {
	// Name identifies the receiver in metrics, logs and alert records.
	// Default: "", which alerting.Config.WithDerived makes "pagerduty" (then
	// "pagerduty-1", ... for further integrations).
	Name string `yaml:"name"`
	// URL is the Events API endpoint; override it to point at a local server.
	// It must be https, or http to a loopback host (127.0.0.0/8, ::1,
	// localhost); redirects are not followed. Default:
	// https://events.pagerduty.com/v2/enqueue.
	URL string `yaml:"url"`
	// RoutingKeyFile is a file holding the 32-character integration key.
	// Exactly one of routing_key_file and routing_key_env is required.
	RoutingKeyFile string `yaml:"routing_key_file"`
	// RoutingKeyEnv names an environment variable holding the integration key.
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// Source is payload.source. Required; default: "", which
	// alerting.Config.WithDerived makes the alerting source ("driftwatch").
	Source string `yaml:"source"`
	// Group is payload.group. Default: the model id of the alert.
	Group string `yaml:"group"`
	// Class is payload.class of drift alerts; a signal alert's class is its
	// signal's name (e.g. "error_rate"). Default: "feature_drift".
	Class string `yaml:"class"`
	// Timeout bounds one HTTP attempt. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RatePerSecond paces events to this integration (PagerDuty allows about 120
	// a minute per key). Default: 2; zero or negative disables pacing.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is how many events may go out back to back. Default: 4.
	Burst int `yaml:"burst"`
}

// DefaultConfig returns the documented defaults; the routing key's source is
// left for the caller to set, and Source for alerting.Config.WithDerived.
func DefaultConfig() Config {
	return Config{URL: DefaultURL, Class: DefaultClass, Timeout: alert.DefaultTimeout,
		RatePerSecond: DefaultRatePerSecond, Burst: DefaultBurst}
}

// UnmarshalYAML decodes a receiver onto DefaultConfig, so that the keys a
// list element leaves out keep their defaults.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Config
	p := plain(DefaultConfig())
	if err := unmarshal(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// Validate reads the routing key to check it and returns an error naming the
// first bad field. The key never appears in the error. It does not change c.
func (c Config) Validate() error {
	if err := alert.CheckURL("pagerduty", c.Name, c.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if c.Source == "" {
		return fmt.Errorf("source: required")
	}
	if c.Class == "" {
		return fmt.Errorf("class: required")
	}
	if err := alert.ValidateDelivery(c.Timeout, c.Burst); err != nil {
		return err
	}
	_, err := c.routingKey()
	return err
}

func (c Config) routingKey() (string, error) {
	k, err := alert.LoadSecret(c.RoutingKeyFile, c.RoutingKeyEnv, "routing_key_file", "routing_key_env")
	if err != nil {
		return "", err
	}
	field := "routing_key_file"
	if c.RoutingKeyEnv != "" {
		field = "routing_key_env"
	}
	if len(k) != 32 || strings.ContainsAny(k, " \t\r\n") {
		return "", fmt.Errorf("%s: routing key must be 32 characters without spaces, got %d characters", field, len(k))
	}
	return k, nil
}
