package slack

import (
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Config configures one Slack incoming webhook. The webhook URL is a secret and is
// read from url_file or from the environment variable named by url_env. Start
// from DefaultConfig; in a YAML list, each element is decoded onto it.
type Config struct {
	// Name identifies the receiver in metrics, logs and alert records.
	// Default: "", which alerting.Config.WithDerived makes "slack" (then
	// "slack-1", "slack-2", ... for further webhooks).
	Name string `yaml:"name"`
	// URLFile is a file holding the webhook URL (https, or http to a loopback
	// host; redirects are not followed). Exactly one of url_file and url_env is required.
	URLFile string `yaml:"url_file"`
	// URLEnv names an environment variable holding the webhook URL.
	URLEnv string `yaml:"url_env"`
	// Timeout bounds one HTTP attempt. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RatePerSecond paces messages to this webhook (Slack allows about one a
	// second). Default: 1; zero or negative disables pacing.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is how many messages may go out back to back before pacing starts. Default: 3.
	Burst int `yaml:"burst"`
}

// Default values of Config.
const (
	DefaultRatePerSecond = 1
	DefaultBurst         = 3
)

// DefaultConfig returns the documented defaults; the URL's source is left for
// the caller to set.
func DefaultConfig() Config {
	return Config{Timeout: alert.DefaultTimeout, RatePerSecond: DefaultRatePerSecond, Burst: DefaultBurst}
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

// Validate reads the webhook URL to check it (https, or http to a loopback
// host) and returns an error naming the first bad field. The URL's path and
// query never appear in the error. It does not change c.
func (c Config) Validate() error {
	if err := alert.ValidateDelivery(c.Timeout, c.Burst); err != nil {
		return err
	}
	_, err := c.webhookURL()
	return err
}

// webhookURL loads the secret URL and checks it with alert.CheckURL: https,
// or http to a loopback host. The error names the URL's scheme and host only.
func (c Config) webhookURL() (string, error) {
	return alert.LoadURL("slack", c.Name, c.URLFile, c.URLEnv)
}
