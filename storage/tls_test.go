package storage

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSConfigValidate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t, dir, "ca", "test CA")
	issue(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth, "driftwatch")
	issue(t, dir, "other", ca, caKey, x509.ExtKeyUsageClientAuth, "other")
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "not a certificate\n")
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	missing := filepath.Join(dir, "missing.pem")
	on := func(f func(*TLSConfig)) Config {
		c := DefaultConfig()
		c.TLS.Enabled = true
		f(&c.TLS)
		return c
	}
	off := func(f func(*TLSConfig)) Config {
		c := DefaultConfig()
		f(&c.TLS)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"off", DefaultConfig(), ""},
		{"on, system roots", on(func(*TLSConfig) {}), ""},
		{"on, everything", on(func(c *TLSConfig) {
			c.CAFile, c.CertFile, c.KeyFile, c.ServerName = caFile, certFile, keyFile, "clickhouse.example"
		}), ""},
		{"unreadable ca_file", on(func(c *TLSConfig) { c.CAFile = missing }), "tls.ca_file"},
		{"ca_file not PEM", on(func(c *TLSConfig) { c.CAFile = notPEM }), "tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"cert_file without key_file", on(func(c *TLSConfig) { c.CertFile = certFile }), "tls.cert_file and tls.key_file: set both or neither"},
		{"key_file without cert_file", on(func(c *TLSConfig) { c.KeyFile = keyFile }), "tls.cert_file and tls.key_file: set both or neither"},
		{"unreadable cert_file", on(func(c *TLSConfig) { c.CertFile, c.KeyFile = missing, keyFile }), "tls.cert_file"},
		{"cert_file not PEM", on(func(c *TLSConfig) { c.CertFile, c.KeyFile = notPEM, keyFile }), "tls.cert_file"},
		{"key of another certificate", on(func(c *TLSConfig) { c.CertFile, c.KeyFile = certFile, filepath.Join(dir, "other.key") }), "tls.cert_file, tls.key_file"},
		{"files while off", off(func(c *TLSConfig) { c.CAFile = caFile }), "tls.enabled is false"},
		{"server_name while off", off(func(c *TLSConfig) { c.ServerName = "clickhouse.example" }), "tls.enabled is false"},
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
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPasswordDeprecated: the inline password still works as before but Open and OpenRetrying log
// the deprecation once (not at each attempt), without the password; password_file logs nothing.
func TestPasswordDeprecated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pw, "from-a-file\n")
	const secret = "inline-secret-value"
	count := func(t *testing.T, open func(*testing.T, context.Context, Config, *slog.Logger) error, cfg Config) int {
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil))
		cfg.Addr, cfg.DialTimeout, cfg.MaxRetryBackoff = closed, 500*time.Millisecond, 500*time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 1800*time.Millisecond)
		defer cancel()
		if err := open(t, ctx, cfg, log); err == nil {
			t.Fatal("opened a store on a closed port")
		}
		if strings.Contains(logged.String(), secret) {
			t.Fatalf("the log shows the password:\n%s", logged.String())
		}
		return strings.Count(logged.String(), passwordDeprecation)
	}
	viaOpen := func(_ *testing.T, ctx context.Context, cfg Config, log *slog.Logger) error {
		_, err := Open(ctx, cfg, nil, log)
		return err
	}
	viaRetrying := func(t *testing.T, ctx context.Context, cfg Config, log *slog.Logger) error {
		var attempts int
		log = slog.New(countingHandler{Handler: log.Handler(), n: &attempts})
		_, err := OpenRetrying(ctx, cfg, nil, log)
		if attempts < 2 {
			t.Fatalf("OpenRetrying retried %d times, want at least 2 to show the warning is not repeated", attempts)
		}
		return err
	}
	inline, file := DefaultConfig(), DefaultConfig()
	inline.Password, file.PasswordFile = secret, pw
	for _, tt := range []struct {
		name string
		open func(*testing.T, context.Context, Config, *slog.Logger) error
		cfg  Config
		want int
	}{
		{"Open, password", viaOpen, inline, 1},
		{"Open, password_file", viaOpen, file, 0},
		{"OpenRetrying, password", viaRetrying, inline, 1},
		{"OpenRetrying, password_file", viaRetrying, file, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if n := count(t, tt.open, tt.cfg); n != tt.want {
				t.Fatalf("%q logged %d times, want %d", passwordDeprecation, n, tt.want)
			}
		})
	}
}

// countingHandler counts OpenRetrying's retry warnings.
type countingHandler struct {
	slog.Handler
	n *int
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "ClickHouse not available at start-up, retrying" {
		*h.n++
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{Handler: h.Handler.WithAttrs(as), n: h.n}
}

// TestOpenTLS connects to a second, private ClickHouse server (started here, not the shared test
// server) on its secure native port, and checks what a wrong TLS setting does.
func TestOpenTLS(t *testing.T) {
	srv := startSecureServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("secure port", func(t *testing.T) {
		cfg := srv.config(t)
		var logged bytes.Buffer
		s, err := Open(ctx, cfg, nil, slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil)))
		if err != nil {
			t.Fatalf("Open over TLS: %v", err)
		}
		defer s.Close()
		if !strings.Contains(logged.String(), "tls=true") {
			t.Errorf("the connection log does not say TLS is on:\n%s", logged.String())
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate over TLS: %v", err)
		}
		if n := queryInt(t, s, "SELECT count() FROM schema_migrations"); n != uint64(len(migrations)) {
			t.Errorf("%d migrations applied over TLS, want %d", n, len(migrations))
		}
		if n := queryInt(t, s, "SELECT count() FROM system.databases WHERE name = ?", cfg.Database); n != 1 {
			t.Errorf("database %s exists %d times, want 1", cfg.Database, n)
		}
	})

	for _, tt := range []struct {
		name string
		edit func(*Config)
		want []string // all in the error
	}{
		{"TLS to the plaintext port", func(c *Config) { c.Addr = srv.plain },
			[]string{"connecting to clickhouse at " + srv.plain + " over TLS", "secure native port (tcp_port_secure"}},
		{"wrong CA", func(c *Config) { c.TLS.CAFile = srv.otherCAFile },
			[]string{"connecting to clickhouse at " + srv.secure, "certificate signed by unknown authority"}},
		{"system roots", func(c *Config) { c.TLS.CAFile = "" },
			[]string{"connecting to clickhouse at " + srv.secure, "certificate signed by unknown authority"}},
		{"no server_name, certificate without the address", func(c *Config) { c.TLS.ServerName = "" },
			[]string{"connecting to clickhouse at " + srv.secure, "certificate", "127.0.0.1"}},
		{"wrong server_name", func(c *Config) { c.TLS.ServerName = "clickhouse.example" },
			[]string{"connecting to clickhouse at " + srv.secure, "certificate is valid for localhost, not clickhouse.example"}},
		{"no client certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" },
			[]string{"connecting to clickhouse at " + srv.secure}},
		{"plaintext to the secure port", func(c *Config) { c.TLS = TLSConfig{} },
			[]string{"connecting to clickhouse at " + srv.secure}},
		{"wrong password file", func(c *Config) {
			c.PasswordFile = filepath.Join(t.TempDir(), "wrong")
			writeFile(t, c.PasswordFile, "wrong\n")
		}, []string{"connecting to clickhouse at " + srv.secure, "password"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(t)
			tt.edit(&cfg)
			start := time.Now()
			s, err := Open(ctx, cfg, nil, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			t.Logf("Open: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open error %q does not contain %q", err, w)
				}
			}
		})
	}

	// A TLS mismatch is a configuration error: OpenRetrying does not wait for it to go away.
	for name, edit := range map[string]func(*Config){
		"plaintext port": func(c *Config) { c.Addr = srv.plain },
		"wrong CA":       func(c *Config) { c.TLS.CAFile = srv.otherCAFile },
	} {
		t.Run("OpenRetrying gives up at once, "+name, func(t *testing.T) {
			cfg := srv.config(t)
			edit(&cfg)
			start := time.Now()
			if _, err := OpenRetrying(ctx, cfg, nil, nil); err == nil || time.Since(start) > 3*time.Second {
				t.Fatalf("OpenRetrying: %v after %s, want an error at once", err, time.Since(start))
			}
		})
	}
}
