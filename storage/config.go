package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config says how to reach ClickHouse. Start from DefaultConfig, which holds
// the documented defaults: a zero field is taken as it is, and Validate
// rejects it where zero makes no sense.
type Config struct {
	// Addr is the host:port of the server's native protocol: its plaintext port (tcp_port, usually
	// 9000), or its secure port (tcp_port_secure, usually 9440) when TLS is enabled.
	// Default: 127.0.0.1:19000
	Addr string `yaml:"addr"`
	// Database holds driftwatch's tables; Open creates it when missing.
	// Default: driftwatch
	Database string `yaml:"database"`
	// Username is the ClickHouse user.
	// Default: "" (the server's default user)
	Username string `yaml:"username"`
	// Password is the user's password.
	//
	// Deprecated: use PasswordFile. Password is still read, and Open and OpenRetrying log a warning
	// when it is set; at most one of the two may be set.
	// Default: ""
	Password string `yaml:"password"`
	// PasswordFile names a file whose content (trailing newline removed) is the password.
	// Default: ""
	PasswordFile string `yaml:"password_file"`
	// DialTimeout bounds each connection attempt.
	// Default: 5s
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxRetryBackoff caps the exponential backoff between retried writes.
	// Default: 30s
	MaxRetryBackoff time.Duration `yaml:"max_retry_backoff"`
	// TLS encrypts the connections. Default: off (plaintext).
	TLS TLSConfig `yaml:"tls"`
}

// Defaults of Config (see DefaultConfig).
const (
	DefaultAddr            = "127.0.0.1:19000"
	DefaultDatabase        = "driftwatch"
	DefaultDialTimeout     = 5 * time.Second
	DefaultMaxRetryBackoff = 30 * time.Second
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Addr:            DefaultAddr,
		Database:        DefaultDatabase,
		DialTimeout:     DefaultDialTimeout,
		MaxRetryBackoff: DefaultMaxRetryBackoff,
	}
}

// Validate reports the first invalid field of c, by name, reading the TLS files to check them.
// It does not change c.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if host == "" || port == "" {
		return fmt.Errorf("addr %q: want host:port", c.Addr)
	}
	if !identifier.MatchString(c.Database) {
		return fmt.Errorf("database %q: want letters, digits and underscores, not starting with a digit", c.Database)
	}
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("password and password_file are both set: use one")
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("dial_timeout %s: must be positive", c.DialTimeout)
	}
	if c.MaxRetryBackoff <= 0 {
		return fmt.Errorf("max_retry_backoff %s: must be positive", c.MaxRetryBackoff)
	}
	if _, err := c.TLS.Build(); err != nil {
		return err
	}
	return nil
}

// passwordDeprecation is logged when Config.Password is set.
const passwordDeprecation = "clickhouse.password is deprecated: use password_file"

// warnDeprecated logs a warning for each deprecated key c sets.
func (c Config) warnDeprecated(log *slog.Logger) {
	if c.Password != "" {
		log.Warn(passwordDeprecation)
	}
}

// password returns the configured password, reading PasswordFile when set.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading storage password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
