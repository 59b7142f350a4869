package storage

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig encrypts the native-protocol connections to ClickHouse. The server listens for them on
// its secure native port (tcp_port_secure, usually 9440), not on the plaintext one (tcp_port, 9000).
type TLSConfig struct {
	// Enabled turns TLS on. Default: false (plaintext).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the certificate authorities that sign the server's certificate.
	// Default: "", the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for servers that authenticate
	// clients by certificate; set both or neither. Default: none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry.
	// Default: "", the host of Addr.
	ServerName string `yaml:"server_name"`
}

// build reads the files and returns the TLS configuration of the connections, nil when TLS is off.
// Its errors name the field.
func (t TLSConfig) build() (*tls.Config, error) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" {
			return nil, errors.New("tls: files or server_name set but tls.enabled is false")
		}
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls.cert_file and tls.key_file: set both or neither")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// tlsMismatch reports whether err says that the server did not answer TLS (a TLS client on a
// plaintext port) or that its certificate failed verification (unknown authority, wrong name,
// expired): a retry does not change either.
func tlsMismatch(err error) bool {
	var (
		rh  tls.RecordHeaderError
		ver *tls.CertificateVerificationError
	)
	return errors.As(err, &rh) || errors.As(err, &ver)
}
