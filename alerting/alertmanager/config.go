package alertmanager

import (
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// DefaultResendInterval is how often a firing alert is re-posted, as Prometheus does.
const DefaultResendInterval = time.Minute

// Config configures one Alertmanager (or an HA set behind one URL). Start from
// DefaultConfig; in a YAML list, each element is decoded onto it.
type Config struct {
	// Name identifies the receiver in metrics, logs and alert records.
	// Default: "", which alerting.Config.WithDerived makes "alertmanager"
	// (then "alertmanager-1", ... for further ones).
	Name string `yaml:"name"`
	// URL is Alertmanager's base URL, e.g. https://alertmanager:9093; alerts go to
	// <url>/api/v2/alerts. Required; https, or http to a loopback host
	// (127.0.0.0/8, ::1, localhost). Redirects are not followed.
	URL string `yaml:"url"`
	// ResendInterval is how often a firing alert is posted again. Alertmanager
	// resolves an alert whose endsAt passes, and driftwatch sets endsAt to four
	// intervals ahead, so a stopped driftwatch resolves its alerts after that
	// long. Default: 1m.
	ResendInterval time.Duration `yaml:"resend_interval"`
	// Timeout bounds one HTTP attempt. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig returns the documented defaults; the URL is left for the
// caller to set.
func DefaultConfig() Config {
	return Config{ResendInterval: DefaultResendInterval, Timeout: alert.DefaultTimeout}
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

// Validate returns an error naming the first bad field. It does not change c.
func (c Config) Validate() error {
	if c.URL == "" {
		return fmt.Errorf("url: required")
	}
	if err := alert.CheckURL("alertmanager", c.Name, c.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if c.ResendInterval <= 0 {
		return fmt.Errorf("resend_interval: must be positive, got %s", c.ResendInterval)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: must be positive, got %s", c.Timeout)
	}
	return nil
}
