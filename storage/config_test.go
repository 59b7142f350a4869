package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"zero value", Config{}, ""},
		{"full", Config{Addr: "ch.example:9000", Database: "dw_1", Username: "u", PasswordFile: "/run/pw",
			DialTimeout: time.Second, MaxRetryBackoff: time.Minute}, ""},
		{"addr without port", Config{Addr: "localhost"}, "addr"},
		{"addr without host", Config{Addr: ":9000"}, "addr"},
		{"database with dash", Config{Database: "drift-watch"}, "database"},
		{"database starting with digit", Config{Database: "1dw"}, "database"},
		{"database injection", Config{Database: "x; DROP DATABASE y"}, "database"},
		{"both passwords", Config{Password: "hunter2-secret", PasswordFile: "/run/pw"}, "password_file"},
		{"negative dial timeout", Config{DialTimeout: -time.Second}, "dial_timeout"},
		{"negative backoff", Config{MaxRetryBackoff: -time.Second}, "max_retry_backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	want := Config{Addr: "127.0.0.1:19000", Database: "driftwatch", DialTimeout: 5 * time.Second,
		MaxRetryBackoff: 30 * time.Second}
	if got != want {
		t.Fatalf("withDefaults() = %+v, want %+v", got, want)
	}
	set := Config{Addr: "h:1", Database: "d", DialTimeout: time.Second, MaxRetryBackoff: time.Second}
	if got := set.withDefaults(); got != set {
		t.Fatalf("withDefaults() changed set fields: %+v", got)
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
