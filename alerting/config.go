package alerting

import (
	"fmt"
	"net/url"
	"time"

	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// Default values of Config.
const (
	DefaultPendingWindows = 2
	DefaultResolveWindows = 2
	DefaultQueueSize      = 1000
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultSource         = "driftwatch"
)

// Config configures the alert lifecycle and the receivers. Zero values take the
// documented defaults (applied by Validate).
type Config struct {
	// PendingWindows is how many consecutive drifted windows make an alert fire.
	// Default: 2 (one window can be noise; two in a row rarely are).
	PendingWindows int `yaml:"pending_windows"`
	// ResolveWindows is how many consecutive clean windows resolve a firing alert.
	// Default: 2 (hysteresis against flapping).
	ResolveWindows int `yaml:"resolve_windows"`
	// QueueSize bounds each receiver's delivery queue; notifications refused
	// when it is full are counted and recorded as dropped. Default: 1000.
	QueueSize int `yaml:"queue_size"`
	// MaxAttempts bounds the attempts per delivery. Default: 5.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the wait after the first failed attempt; it doubles per
	// attempt, with jitter. Default: 1s.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps every wait, including a receiver's Retry-After. Default: 1m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Source names this driftwatch in notifications (PagerDuty payload.source). Default: "driftwatch".
	Source string `yaml:"source"`
	// DashboardURL, when set, is linked from every notification.
	DashboardURL string `yaml:"dashboard_url"`
	// Slack lists Slack incoming webhooks.
	Slack []slack.Config `yaml:"slack"`
	// PagerDuty lists PagerDuty Events API v2 integrations.
	PagerDuty []pagerduty.Config `yaml:"pagerduty"`
	// Webhook lists generic JSON webhooks.
	Webhook []webhook.Config `yaml:"webhook"`
	// Alertmanager lists Alertmanagers.
	Alertmanager []alertmanager.Config `yaml:"alertmanager"`
}

// Validate applies defaults, checks every field (reading the receivers'
// secrets) and returns an error naming the first bad one, e.g.
// "pagerduty[0].routing_key_file: ...".
func (c *Config) Validate() error {
	if err := c.validateCore(); err != nil {
		return err
	}
	names := map[string]string{}
	check := func(kind string, i int, name *string, validate func() error) error {
		if err := validate(); err != nil {
			return fmt.Errorf("%s[%d].%w", kind, i, err)
		}
		if *name == "" {
			*name = kind
			if i > 0 {
				*name = fmt.Sprintf("%s-%d", kind, i)
			}
		}
		at := fmt.Sprintf("%s[%d]", kind, i)
		if prev, dup := names[*name]; dup {
			return fmt.Errorf("%s.name: %q is already used by %s", at, *name, prev)
		}
		names[*name] = at
		return nil
	}
	for i := range c.Slack {
		if err := check("slack", i, &c.Slack[i].Name, c.Slack[i].Validate); err != nil {
			return err
		}
	}
	for i := range c.PagerDuty {
		if c.PagerDuty[i].Source == "" {
			c.PagerDuty[i].Source = c.Source
		}
		if err := check("pagerduty", i, &c.PagerDuty[i].Name, c.PagerDuty[i].Validate); err != nil {
			return err
		}
	}
	for i := range c.Webhook {
		if err := check("webhook", i, &c.Webhook[i].Name, c.Webhook[i].Validate); err != nil {
			return err
		}
	}
	for i := range c.Alertmanager {
		if err := check("alertmanager", i, &c.Alertmanager[i].Name, c.Alertmanager[i].Validate); err != nil {
			return err
		}
	}
	return nil
}

// validateCore applies defaults to and checks the fields that are not receivers.
func (c *Config) validateCore() error {
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"pending_windows", &c.PendingWindows, DefaultPendingWindows},
		{"resolve_windows", &c.ResolveWindows, DefaultResolveWindows},
		{"queue_size", &c.QueueSize, DefaultQueueSize},
		{"max_attempts", &c.MaxAttempts, DefaultMaxAttempts},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 {
			return fmt.Errorf("%s: must be positive, got %d", f.name, *f.v)
		}
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = DefaultInitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.InitialBackoff < 0 {
		return fmt.Errorf("initial_backoff: must be positive, got %s", c.InitialBackoff)
	}
	if c.MaxBackoff < c.InitialBackoff {
		return fmt.Errorf("max_backoff: %s is less than initial_backoff %s", c.MaxBackoff, c.InitialBackoff)
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.DashboardURL != "" {
		if u, err := url.Parse(c.DashboardURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("dashboard_url: %q is not an absolute URL", c.DashboardURL)
		}
	}
	return nil
}
