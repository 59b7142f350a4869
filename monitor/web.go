package monitor

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

// WebConfig secures the HTTP endpoints (/metrics, /healthz, /readyz). By
// default they are plain HTTP without authentication, on a loopback address
// (Config.Listen).
type WebConfig struct {
	// TLSCertFile and TLSKeyFile are a PEM certificate and key: set both to
	// serve HTTPS. Default: none (HTTP).
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// BasicAuthUser and BasicAuthPasswordFile require HTTP basic
	// authentication; the password is read from the file only.
	BasicAuthUser         string `yaml:"basic_auth_user"`
	BasicAuthPasswordFile string `yaml:"basic_auth_password_file"`
	// BearerTokenFile requires "Authorization: Bearer <token>", the token
	// read from the file. At most one of basic authentication and a bearer
	// token.
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// web is a WebConfig with its files read.
type web struct {
	tls         *tls.Config
	user        string
	secret      [32]byte // SHA-256 of the password or token
	basic, bear bool
}

// Validate checks the settings and that their files can be read; the error
// names the field.
func (c WebConfig) Validate() error {
	_, err := c.load()
	return err
}

func readSecret(field, path string) ([32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%s: %w", field, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return [32]byte{}, fmt.Errorf("%s: %s is empty", field, path)
	}
	return sha256.Sum256([]byte(s)), nil
}

func (c WebConfig) load() (*web, error) {
	w := &web{}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return nil, errors.New("web.tls_cert_file and web.tls_key_file: set both or neither")
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("web.tls_cert_file, web.tls_key_file: %w", err)
		}
		w.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if (c.BasicAuthUser == "") != (c.BasicAuthPasswordFile == "") {
		return nil, errors.New("web.basic_auth_user and web.basic_auth_password_file: set both or neither")
	}
	if c.BasicAuthUser != "" && c.BearerTokenFile != "" {
		return nil, errors.New("web.bearer_token_file: set basic authentication or a bearer token, not both")
	}
	var err error
	switch {
	case c.BasicAuthUser != "":
		w.basic, w.user = true, c.BasicAuthUser
		w.secret, err = readSecret("web.basic_auth_password_file", c.BasicAuthPasswordFile)
	case c.BearerTokenFile != "":
		w.bear = true
		w.secret, err = readSecret("web.bearer_token_file", c.BearerTokenFile)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// listener wraps ln in TLS when configured.
func (w *web) listener(ln net.Listener) net.Listener {
	if w.tls == nil {
		return ln
	}
	return tls.NewListener(ln, w.tls)
}

// protect requires the configured authentication of every request to h.
// Secrets are compared by their SHA-256, in constant time.
func (w *web) protect(h http.Handler) http.Handler {
	if !w.basic && !w.bear {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ok := false
		if w.basic {
			user, pass, has := r.BasicAuth()
			sum := sha256.Sum256([]byte(pass))
			ok = has && subtle.ConstantTimeCompare([]byte(user), []byte(w.user)) == 1 && subtle.ConstantTimeCompare(sum[:], w.secret[:]) == 1
		} else if token, has := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); has {
			sum := sha256.Sum256([]byte(token))
			ok = subtle.ConstantTimeCompare(sum[:], w.secret[:]) == 1
		}
		if !ok {
			if w.basic {
				rw.Header().Set("WWW-Authenticate", `Basic realm="driftwatch"`)
			}
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(rw, r)
	})
}

// loopbackHost reports whether host names the loopback interface.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
