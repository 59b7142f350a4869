package storage

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config says how to reach ClickHouse. Zero values mean the documented defaults.
type Config struct {
	// Addr is the host:port of the server's native protocol.
	// Default: 127.0.0.1:19000
	Addr string `yaml:"addr"`
	// Database holds driftwatch's tables; Open creates it when missing.
	// Default: driftwatch
	Database string `yaml:"database"`
	// Username is the ClickHouse user.
	// Default: "" (the server's default user)
	Username string `yaml:"username"`
	// Password is the user's password. Prefer PasswordFile; at most one of the two may be set.
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
}

// Defaults of Config, applied by Open to zero fields.
const (
	DefaultAddr            = "127.0.0.1:19000"
	DefaultDatabase        = "driftwatch"
	DefaultDialTimeout     = 5 * time.Second
	DefaultMaxRetryBackoff = 30 * time.Second
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports the first invalid field of c, by name. Zero values are valid (they mean the default).
func (c *Config) Validate() error {
	if c.Addr != "" {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return fmt.Errorf("addr %q: %w", c.Addr, err)
		}
		if host == "" || port == "" {
			return fmt.Errorf("addr %q: want host:port", c.Addr)
		}
	}
	if c.Database != "" && !identifier.MatchString(c.Database) {
		return fmt.Errorf("database %q: want letters, digits and underscores, not starting with a digit", c.Database)
	}
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("password and password_file are both set: use one")
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("dial_timeout %s: must not be negative", c.DialTimeout)
	}
	if c.MaxRetryBackoff < 0 {
		return fmt.Errorf("max_retry_backoff %s: must not be negative", c.MaxRetryBackoff)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	return c
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
