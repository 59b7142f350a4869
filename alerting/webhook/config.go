package webhook

import (
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
)

// Config configures one generic JSON webhook. Start from DefaultConfig; in a
// YAML list, each element is decoded onto it.
type Config struct {
	// Name identifies the receiver in metrics, logs and alert records.
	// Default: "", which alerting.Config.WithDerived makes "webhook" (then
	// "webhook-1", ... for further webhooks).
	Name string `yaml:"name"`
	// URL receives the POST: https, or http to a loopback host
	// (127.0.0.0/8, ::1, localhost). Redirects are not followed. Exactly one
	// of url, url_file and url_env is required.
	URL string `yaml:"url"`
	// URLFile is a file holding the URL, for URLs that carry a secret.
	URLFile string `yaml:"url_file"`
	// URLEnv names an environment variable holding the URL.
	URLEnv string `yaml:"url_env"`
	// BearerTokenFile is a file holding a token sent as "Authorization: Bearer <token>". Optional.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BearerTokenEnv names an environment variable holding the token. Optional;
	// at most one of bearer_token_file and bearer_token_env.
	BearerTokenEnv string `yaml:"bearer_token_env"`
	// SigningSecretFile is a file holding a secret with which every body
	// is signed: the header X-Driftwatch-Signature carries
	// "sha256=" and the hex HMAC-SHA256 of the body under the secret, so
	// that the receiver can check that driftwatch sent it, unchanged.
	// Optional.
	SigningSecretFile string `yaml:"signing_secret_file"`
	// SigningSecretEnv names an environment variable holding the secret.
	// Optional; at most one of signing_secret_file and signing_secret_env.
	SigningSecretEnv string `yaml:"signing_secret_env"`
	// Timeout bounds one HTTP attempt. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig returns the documented defaults; the URL is left for the
// caller to set.
func DefaultConfig() Config {
	return Config{Timeout: alert.DefaultTimeout}
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

// Validate reads the token if one is configured and returns an error naming
// the first bad field. The token never appears in the error. It does not
// change c.
func (c Config) Validate() error {
	if _, err := c.url(); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: must be positive, got %s", c.Timeout)
	}
	if _, err := c.token(); err != nil {
		return err
	}
	_, err := c.signingSecret()
	return err
}

// url returns the URL from url, url_file or url_env (exactly one), checked
// with alert.CheckURL; errors name the field, never a secret URL.
func (c Config) url() (string, error) {
	if c.URL != "" {
		if c.URLFile != "" || c.URLEnv != "" {
			return "", fmt.Errorf("url: only one of url, url_file and url_env may be set")
		}
		if err := alert.CheckURL("webhook", c.Name, c.URL); err != nil {
			return "", fmt.Errorf("url: %w", err)
		}
		return c.URL, nil
	}
	if c.URLFile == "" && c.URLEnv == "" {
		return "", fmt.Errorf("url: required (or url_file, url_env)")
	}
	return alert.LoadURL("webhook", c.Name, c.URLFile, c.URLEnv)
}

func (c Config) token() (string, error) {
	return alert.OptionalSecret(c.BearerTokenFile, c.BearerTokenEnv, "bearer_token_file", "bearer_token_env")
}

func (c Config) signingSecret() (string, error) {
	return alert.OptionalSecret(c.SigningSecretFile, c.SigningSecretEnv, "signing_secret_file", "signing_secret_env")
}
