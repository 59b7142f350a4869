package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"full", Config{Addr: "ch.example:9000", Database: "dw_1", Username: "u", PasswordFile: "/run/pw",
			DialTimeout: time.Second, MaxRetryBackoff: time.Minute}, ""},
		{"zero value", Config{}, "addr"},
		{"no addr", with(func(c *Config) { c.Addr = "" }), "addr"},
		{"addr without port", with(func(c *Config) { c.Addr = "localhost" }), "addr"},
		{"addr without host", with(func(c *Config) { c.Addr = ":9000" }), "addr"},
		{"no database", with(func(c *Config) { c.Database = "" }), "database"},
		{"database with dash", with(func(c *Config) { c.Database = "drift-watch" }), "database"},
		{"database starting with digit", with(func(c *Config) { c.Database = "1dw" }), "database"},
		{"database injection", with(func(c *Config) { c.Database = "x; DROP DATABASE y" }), "database"},
		{"both passwords", with(func(c *Config) { c.Password, c.PasswordFile = "hunter2-secret", "/run/pw" }), "password_file"},
		{"negative dial timeout", with(func(c *Config) { c.DialTimeout = -time.Second }), "dial_timeout"},
		{"zero dial timeout", with(func(c *Config) { c.DialTimeout = 0 }), "dial_timeout"},
		{"negative backoff", with(func(c *Config) { c.MaxRetryBackoff = -time.Second }), "max_retry_backoff"},
		{"zero backoff", with(func(c *Config) { c.MaxRetryBackoff = 0 }), "max_retry_backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.cfg
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %q, want it to name %q", err, tt.want)
			}
			if tt.cfg.Password != "" && err != nil && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Fatalf("Validate() error %q contains the password", err)
			}
			if tt.cfg != before {
				t.Fatalf("Validate() changed %+v to %+v", before, tt.cfg)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	want := Config{Addr: "127.0.0.1:19000", Database: "driftwatch", DialTimeout: 5 * time.Second,
		MaxRetryBackoff: 30 * time.Second}
	if got := DefaultConfig(); got != want {
		t.Fatalf("DefaultConfig() = %+v, want %+v", got, want)
	}
}

func TestConfigPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Config{PasswordFile: path}.password()
	if err != nil || got != "s3cret" {
		t.Fatalf("password() = %q, %v; want \"s3cret\"", got, err)
	}
	got, err = Config{Password: "inline"}.password()
	if err != nil || got != "inline" {
		t.Fatalf("password() = %q, %v; want \"inline\"", got, err)
	}
}
