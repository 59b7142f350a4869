package analysis

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigWithDerived(t *testing.T) {
	tests := []struct {
		name      string
		window    time.Duration
		idleFlush time.Duration
		want      time.Duration
	}{
		{"default window", time.Minute, 0, 2 * time.Minute},
		{"other window", 5 * time.Minute, 0, 10 * time.Minute},
		{"explicit idle flush", 5 * time.Minute, time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.WindowSize, c.IdleFlush = tc.window, tc.idleFlush
			if got := c.WithDerived().IdleFlush; got != tc.want {
				t.Errorf("idle_flush %s, want %s", got, tc.want)
			}
			if c.IdleFlush != tc.idleFlush {
				t.Errorf("WithDerived changed its receiver's idle_flush to %s", c.IdleFlush)
			}
			if d := c.WithDerived(); !reflect.DeepEqual(d.WithDerived(), d) {
				t.Error("WithDerived is not idempotent")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"no lateness", with(func(c *Config) { c.AllowedLateness = 0 }), ""},
		{"reference modes", with(func(c *Config) { c.ReferenceModes = map[string]string{"m": ModePreviousDay} }), ""},
		{"zero thresholds", with(func(c *Config) { c.Thresholds.PSI = Threshold{} }), ""},
		{"zero value", Config{}, "window_size"},
		{"fraction of a second", with(func(c *Config) { c.WindowSize = 1500 * time.Millisecond }), "window_size"},
		{"negative lateness", with(func(c *Config) { c.AllowedLateness = -time.Second }), "allowed_lateness"},
		{"negative idle flush", with(func(c *Config) { c.IdleFlush = -time.Second }), "idle_flush"},
		{"no idle wait", with(func(c *Config) { c.IdleWait = 0 }), ""},
		{"negative idle wait", with(func(c *Config) { c.IdleWait = -time.Second }), "idle_wait"},
		{"zero merge timeout", with(func(c *Config) { c.MergeTimeout = 0 }), "merge_timeout"},
		{"zero warm-up", with(func(c *Config) { c.WarmupWindows = 0 }), "warmup_windows"},
		{"zero bins", with(func(c *Config) { c.Bins = 0 }), "bins"},
		{"small reference sample", with(func(c *Config) { c.ReferenceSampleSize = 500 }), "reference_sample_size"},
		{"zero fdr", with(func(c *Config) { c.FDR = 0 }), "fdr"},
		{"bad mode", with(func(c *Config) { c.ReferenceModes = map[string]string{"m": "yesterday"} }), "reference_modes"},
		{"critical below warning", with(func(c *Config) { c.Thresholds.LInf = Threshold{Warning: 0.3, Critical: 0.2} }), "thresholds.linf"},
		{"no detector", with(func(c *Config) { c.Sequential.Detector = "" }), "sequential.detector"},
		{"no caller history", with(func(c *Config) { c.Sequential.CallerHistory.MaxCallers = 0 }), ""},
		{"negative caller history", with(func(c *Config) { c.Sequential.CallerHistory.MaxCallers = -1 }), "sequential.caller_history.max_callers"},
		{"no new callers", with(func(c *Config) { c.Sequential.CallerHistory.MaxNew = 0 }), "sequential.caller_history.max_new"},
		{"zero caller min calls", with(func(c *Config) { c.Sequential.CallerHistory.MinCalls = 0 }), "sequential.caller_history.min_calls"},
		{"zero caller versions", with(func(c *Config) { c.Sequential.CallerHistory.MaxVersions = 0 }), "sequential.caller_history.max_versions"},
		{"too many caller subjects", with(func(c *Config) { c.Sequential.CallerHistory.MaxSubjects = 1001 }), "sequential.caller_history.max_subjects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg
			before.ReferenceModes = maps.Clone(tc.cfg.ReferenceModes)
			err := tc.cfg.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field)):
				t.Errorf("got %v, want an error naming %s", err, tc.field)
			}
			if !reflect.DeepEqual(tc.cfg, before) {
				t.Errorf("Validate changed its receiver:\n got %+v\nwant %+v", tc.cfg, before)
			}
		})
	}
}
