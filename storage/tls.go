package storage

import (
	"crypto/tls"
	"errors"

	"github.com/driftwatch/driftwatch/internal/tlsconfig"
)

// TLSConfig encrypts the native-protocol connections to ClickHouse. The server listens for them on
// its secure native port (tcp_port_secure, usually 9440), not on the plaintext one (tcp_port, 9000).
type TLSConfig = tlsconfig.Client

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
