package alert

import (
	"fmt"
	"os"
	"strings"
)

// LoadSecret reads a secret from the file named by file or from the environment
// variable named by env; exactly one of them must be set. fileKey and envKey are
// the config keys, used to name the bad field in errors. The secret itself never
// appears in an error.
func LoadSecret(file, env, fileKey, envKey string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("%s: only one of %s and %s may be set", fileKey, fileKey, envKey)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: reading secret: %w", fileKey, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s: file %s is empty", fileKey, file)
		}
		return s, nil
	case env != "":
		s := strings.TrimSpace(os.Getenv(env))
		if s == "" {
			return "", fmt.Errorf("%s: environment variable %s is unset or empty", envKey, env)
		}
		return s, nil
	default:
		return "", fmt.Errorf("%s: one of %s and %s is required", fileKey, fileKey, envKey)
	}
}

// OptionalSecret is LoadSecret for a secret that may be absent: it returns ""
// when neither file nor env is set.
func OptionalSecret(file, env, fileKey, envKey string) (string, error) {
	if file == "" && env == "" {
		return "", nil
	}
	return LoadSecret(file, env, fileKey, envKey)
}

// LoadURL reads a receiver's secret URL from url_file or url_env (exactly one)
// and checks it with CheckURL: https, or http to a loopback host. Errors name
// the field and the URL's scheme and host only.
func LoadURL(kind, name, file, env string) (string, error) {
	s, err := LoadSecret(file, env, "url_file", "url_env")
	if err != nil {
		return "", err
	}
	field := "url_file"
	if env != "" {
		field = "url_env"
	}
	if err := CheckURL(kind, name, s); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}
