package alerting

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/alerting/alertmanager"
	"github.com/driftwatch/driftwatch/alerting/pagerduty"
	"github.com/driftwatch/driftwatch/alerting/slack"
	"github.com/driftwatch/driftwatch/alerting/webhook"
)

// Default values of Config.
const (
	DefaultPendingWindows  = 2
	DefaultResolveWindows  = 2
	DefaultQueueSize       = 1000
	DefaultMaxAttempts     = 5
	DefaultInitialBackoff  = time.Second
	DefaultMaxBackoff      = time.Minute
	DefaultStaleAfter      = time.Hour
	DefaultSource          = "driftwatch"
	DefaultMaxBudgetModels = 1000
	DefaultGroupWait       = 30 * time.Second
	DefaultGroupInterval   = 5 * time.Minute
	DefaultRepeatInterval  = 4 * time.Hour
	DefaultSilenceRefresh  = 30 * time.Second
	DefaultStateInterval   = 10 * time.Second
)

// Config configures the alert lifecycle and the receivers. Start from
// DefaultConfig, which holds every documented default: a zero field is taken
// as it is, and Validate rejects it where zero makes no sense. Receivers in
// YAML lists are decoded onto their own DefaultConfig. Two defaults are
// derived from other fields, and filled in by WithDerived (which New
// applies) after the file and the environment are read: an empty receiver
// name becomes its kind and index ("slack", "slack-1", ...) and an empty
// pagerduty source becomes Source.
type Config struct {
	// PendingWindows is how many consecutive drifted windows make an alert fire.
	// Default: 2 (one window can be noise; two in a row rarely are).
	PendingWindows int `yaml:"pending_windows"`
	// ResolveWindows is how many consecutive clean windows resolve a firing alert.
	// Default: 2 (hysteresis against flapping).
	ResolveWindows int `yaml:"resolve_windows"`
	// MaxAlerts bounds the pending and firing alerts tracked. At the bound a
	// new series that drifts is not tracked (counted in
	// driftwatch_alerts_untracked_total and logged): alerts already pending
	// or firing go on. Default: 10000.
	MaxAlerts int `yaml:"max_alerts"`
	// StaleAfter ends the alerts of series that went silent: a pending or
	// firing alert that gets no observation (drifted or clean) for this long,
	// in wall-clock time, because its model version stopped sending events
	// or its feature left them, is dropped (pending) or resolved with a
	// summary saying it went stale (firing), and counted in
	// driftwatch_alerts_stale_total. Without it the alert state of a silent
	// version would stay forever and its incident never close. Default: 1h.
	StaleAfter time.Duration `yaml:"stale_after"`
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
	// DashboardURL, when set, is linked from every notification (a policy
	// rule's dashboard_url annotation takes its place for the rule's alerts).
	DashboardURL string `yaml:"dashboard_url"`
	// PolicyFile is the path of an alert policy file (docs/policy.md):
	// rules that decide, per model, version, test or signal and feature or
	// subject, the thresholds, timing, labels, annotations and receivers of
	// alerts, and risk budgets with burn-rate alerts. It is read and
	// checked at start-up (Validate, New) and again by
	// Manager.ReloadPolicy. Default: "" (no file: every alert follows the
	// built-in default rule, which is pending_windows and resolve_windows
	// on the analysis's severity, to every receiver, as without a policy).
	PolicyFile string `yaml:"policy_file"`
	// MaxBudgetModels bounds the models whose risk budget is tracked (and
	// exported as metrics, one series per budget, model and burn window). At
	// the bound a further model with a budget is not tracked: its windows
	// are counted in driftwatch_alerts_budget_untracked_windows_total and
	// the first is logged. 0 stands for DefaultMaxBudgetModels.
	// Default: 0 (1000).
	MaxBudgetModels int `yaml:"max_budget_models"`
	// GroupBy turns on notification grouping, as Alertmanager's route
	// group_by does: the labels whose values put alerts in one group, one
	// of model_id, model_version, feature, test, signal, subject, rule, or
	// a label a policy rule sets (an alert without the label has the empty
	// value). [model_id] sends one message per model (and receiver) listing
	// every alert firing for it, worst first, and those resolved since the
	// previous message; PagerDuty gets one incident per group. The webhook
	// and Alertmanager receivers still get every alert on its own
	// (Alertmanager groups by its own route). Default: [] (no grouping: one
	// notification per alert and transition, as before grouping existed).
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first message. 0 stands for DefaultGroupWait. Default: 0 (30s).
	GroupWait time.Duration `yaml:"group_wait"`
	// GroupInterval is the least time between two messages of a group
	// about changes (an alert joined, resolved or changed severity).
	// 0 stands for DefaultGroupInterval. Default: 0 (5m).
	GroupInterval time.Duration `yaml:"group_interval"`
	// RepeatInterval is how often a group whose firing alerts did not
	// change is sent again; at least GroupInterval. 0 stands for
	// DefaultRepeatInterval. Default: 0 (4h).
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// SilenceRefresh is how often the silences (created with 'driftwatch
	// silence add', stored in ClickHouse) are read again; they are read at
	// start too, and a firing alert whose silence ended gets its firing
	// notification at the next read (or when a silence read before ends).
	// At least 1s; 0 stands for DefaultSilenceRefresh. Default: 0 (30s).
	SilenceRefresh time.Duration `yaml:"silence_refresh"`
	// StateInterval is how often the alert state of the models whose state
	// changed is written to ClickHouse (alert_state), so that a restart
	// keeps firing alerts, groups and risk budgets (docs/alerting.md,
	// "State across restarts"). A transition that notifies is written at
	// once (batched with the others of its window), and the state is
	// written at shutdown and when a model moves to another instance. At
	// least 100ms; 0 stands for DefaultStateInterval. Default: 0 (10s).
	StateInterval time.Duration `yaml:"state_interval"`
	// WindowSize is the analysis window length, which risk budgets count
	// their periods and burn windows in. It is not read from the alerting
	// section: the monitor sets it from analysis.window_size. It is
	// required when the policy has budgets.
	WindowSize time.Duration `yaml:"-"`
	// Slack lists Slack incoming webhooks.
	Slack []slack.Config `yaml:"slack"`
	// PagerDuty lists PagerDuty Events API v2 integrations.
	PagerDuty []pagerduty.Config `yaml:"pagerduty"`
	// Webhook lists generic JSON webhooks.
	Webhook []webhook.Config `yaml:"webhook"`
	// Alertmanager lists Alertmanagers.
	Alertmanager []alertmanager.Config `yaml:"alertmanager"`
}

// DefaultConfig returns the documented defaults, with no receivers.
func DefaultConfig() Config {
	return Config{
		PendingWindows: DefaultPendingWindows,
		MaxAlerts:      10000,
		StaleAfter:     DefaultStaleAfter,
		ResolveWindows: DefaultResolveWindows,
		QueueSize:      DefaultQueueSize,
		MaxAttempts:    DefaultMaxAttempts,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		Source:         DefaultSource,
	}
}

// WithDerived returns c with its derived defaults filled in: an empty
// receiver name becomes its kind, then kind-1, kind-2, ... by position in
// its list, and an empty pagerduty source becomes Source. It is idempotent
// and does not change c: the receiver lists it fills are copies.
func (c Config) WithDerived() Config {
	name := func(n *string, kind string, i int) {
		if *n != "" {
			return
		}
		*n = kind
		if i > 0 {
			*n = fmt.Sprintf("%s-%d", kind, i)
		}
	}
	c.Slack = slices.Clone(c.Slack)
	for i := range c.Slack {
		name(&c.Slack[i].Name, "slack", i)
	}
	c.PagerDuty = slices.Clone(c.PagerDuty)
	for i := range c.PagerDuty {
		name(&c.PagerDuty[i].Name, "pagerduty", i)
		if c.PagerDuty[i].Source == "" {
			c.PagerDuty[i].Source = c.Source
		}
	}
	c.Webhook = slices.Clone(c.Webhook)
	for i := range c.Webhook {
		name(&c.Webhook[i].Name, "webhook", i)
	}
	c.Alertmanager = slices.Clone(c.Alertmanager)
	for i := range c.Alertmanager {
		name(&c.Alertmanager[i].Name, "alertmanager", i)
	}
	return c
}

// Validate checks every field (reading the receivers' secrets and the
// policy file) of c as WithDerived completes it and returns an error naming
// the first bad one, e.g. "pagerduty[0].routing_key_file: ..." or
// "policy_file: policy.yml:12: rules[0].receivers.critical[0]: unknown
// receiver ...". It does not change c.
func (c Config) Validate() error {
	if err := c.validateCore(); err != nil {
		return err
	}
	c = c.WithDerived()
	names := map[string]string{}
	check := func(kind string, i int, name string, validate func() error) error {
		if err := validate(); err != nil {
			return fmt.Errorf("%s[%d].%w", kind, i, err)
		}
		at := fmt.Sprintf("%s[%d]", kind, i)
		if prev, dup := names[name]; dup {
			return fmt.Errorf("%s.name: %q is already used by %s", at, name, prev)
		}
		names[name] = at
		return nil
	}
	for i, r := range c.Slack {
		if err := check("slack", i, r.Name, r.Validate); err != nil {
			return err
		}
	}
	for i, r := range c.PagerDuty {
		if err := check("pagerduty", i, r.Name, r.Validate); err != nil {
			return err
		}
	}
	for i, r := range c.Webhook {
		if err := check("webhook", i, r.Name, r.Validate); err != nil {
			return err
		}
	}
	for i, r := range c.Alertmanager {
		if err := check("alertmanager", i, r.Name, r.Validate); err != nil {
			return err
		}
	}
	if _, err := c.loadPolicy(func(name string) bool { _, ok := names[name]; return ok }); err != nil {
		return fmt.Errorf("policy_file: %w", err)
	}
	return nil
}

// validateCore checks the fields that are not receivers.
func (c Config) validateCore() error {
	ints := []struct {
		name string
		v    int
	}{
		{"pending_windows", c.PendingWindows},
		{"resolve_windows", c.ResolveWindows},
		{"max_alerts", c.MaxAlerts},
		{"queue_size", c.QueueSize},
		{"max_attempts", c.MaxAttempts},
	}
	for _, f := range ints {
		if f.v < 1 {
			return fmt.Errorf("%s: must be positive, got %d", f.name, f.v)
		}
	}
	if c.StaleAfter <= 0 {
		return fmt.Errorf("stale_after: must be positive, got %s", c.StaleAfter)
	}
	if c.InitialBackoff <= 0 {
		return fmt.Errorf("initial_backoff: must be positive, got %s", c.InitialBackoff)
	}
	if c.MaxBackoff < c.InitialBackoff {
		return fmt.Errorf("max_backoff: %s is less than initial_backoff %s", c.MaxBackoff, c.InitialBackoff)
	}
	if c.MaxBudgetModels < 0 {
		return fmt.Errorf("max_budget_models: must not be negative, got %d", c.MaxBudgetModels)
	}
	if c.WindowSize < 0 {
		return fmt.Errorf("window_size: must not be negative, got %s", c.WindowSize)
	}
	if c.Source == "" {
		return fmt.Errorf("source: required")
	}
	if c.SilenceRefresh != 0 && c.SilenceRefresh < time.Second {
		return fmt.Errorf("silence_refresh: must be at least 1s (or 0 for the default %s), got %s", DefaultSilenceRefresh, c.SilenceRefresh)
	}
	if c.StateInterval != 0 && c.StateInterval < 100*time.Millisecond {
		return fmt.Errorf("state_interval: must be at least 100ms (or 0 for the default %s), got %s", DefaultStateInterval, c.StateInterval)
	}
	if err := c.validateGrouping(); err != nil {
		return err
	}
	if c.DashboardURL != "" {
		if u, err := url.Parse(c.DashboardURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("dashboard_url: %q is not an absolute URL", c.DashboardURL)
		}
	}
	return nil
}

// groupLabels are the group_by values that name a field of an alert; any
// other valid label name is a policy rule's label.
var groupLabels = []string{"model_id", "model_version", "feature", "test", "signal", "subject", "rule"}

// validateGrouping checks group_by and the three grouping intervals.
func (c Config) validateGrouping() error {
	seen := map[string]bool{}
	for i, name := range c.GroupBy {
		if !labelName(name) {
			return fmt.Errorf("group_by[%d]: %q is not a label name (one of %v or a rule label, [a-zA-Z_][a-zA-Z0-9_]*)",
				i, name, groupLabels)
		}
		if seen[name] {
			return fmt.Errorf("group_by[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"group_wait", c.GroupWait}, {"group_interval", c.GroupInterval}, {"repeat_interval", c.RepeatInterval}} {
		if f.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %s", f.name, f.v)
		}
	}
	_, interval, repeat := c.groupTimes()
	if repeat < interval {
		return fmt.Errorf("repeat_interval: %s is less than group_interval %s", repeat, interval)
	}
	return nil
}

// silenceRefresh returns SilenceRefresh, zero replaced by its default.
func (c Config) silenceRefresh() time.Duration {
	if c.SilenceRefresh == 0 {
		return DefaultSilenceRefresh
	}
	return c.SilenceRefresh
}

// stateInterval returns StateInterval, zero replaced by its default.
func (c Config) stateInterval() time.Duration {
	if c.StateInterval == 0 {
		return DefaultStateInterval
	}
	return c.StateInterval
}

// groupTimes returns group_wait, group_interval and repeat_interval, each
// zero replaced by its default.
func (c Config) groupTimes() (wait, interval, repeat time.Duration) {
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	return or(c.GroupWait, DefaultGroupWait), or(c.GroupInterval, DefaultGroupInterval), or(c.RepeatInterval, DefaultRepeatInterval)
}

// labelName reports whether s is a Prometheus label name.
func labelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
