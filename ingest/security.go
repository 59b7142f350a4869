package ingest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/driftwatch/driftwatch/internal/tlsconfig"
)

// TLSConfig encrypts the connections to the brokers.
type TLSConfig = tlsconfig.Client

// SASLConfig authenticates driftwatch to the brokers.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "" disables SASL.
	// PLAIN sends the password as it is: use it with TLS only.
	// Default: "".
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user.
	Username string `yaml:"username"`
	// PasswordFile names a file whose content (trailing newline removed) is
	// the password; it is never read from the configuration itself, and
	// never logged.
	PasswordFile string `yaml:"password_file"`
}

// Security holds the TLS and SASL settings of every connection driftwatch
// makes to Kafka: the consumer groups, the dead-letter writer, the partials
// publisher and the metadata reads.
type Security struct {
	TLS  TLSConfig  `yaml:"tls"`
	SASL SASLConfig `yaml:"sasl"`
}

// Validate checks the settings and that the files they name can be read;
// the error names the field.
func (s Security) Validate() error {
	_, _, err := s.build()
	return err
}

// build reads the files and returns the TLS configuration (nil without TLS)
// and the SASL mechanism (nil without SASL).
func (s Security) build() (*tls.Config, sasl.Mechanism, error) {
	tc, err := s.TLS.Build()
	if err != nil {
		return nil, nil, err
	}
	if s.SASL.Mechanism == "" {
		if s.SASL.Username != "" || s.SASL.PasswordFile != "" {
			return nil, nil, errors.New("sasl: username or password_file set without sasl.mechanism")
		}
		return tc, nil, nil
	}
	if s.SASL.Username == "" {
		return nil, nil, errors.New("sasl.username: required with sasl.mechanism")
	}
	if s.SASL.PasswordFile == "" {
		return nil, nil, errors.New("sasl.password_file: required with sasl.mechanism (passwords are read from files only)")
	}
	b, err := os.ReadFile(s.SASL.PasswordFile)
	if err != nil {
		return nil, nil, fmt.Errorf("sasl.password_file: %w", err)
	}
	password := strings.TrimRight(string(b), "\r\n")
	if password == "" {
		return nil, nil, fmt.Errorf("sasl.password_file: %s is empty", s.SASL.PasswordFile)
	}
	var m sasl.Mechanism
	switch strings.ToUpper(s.SASL.Mechanism) {
	case "PLAIN":
		m = plain.Mechanism{Username: s.SASL.Username, Password: password}
	case "SCRAM-SHA-256":
		m, err = scram.Mechanism(scram.SHA256, s.SASL.Username, password)
	case "SCRAM-SHA-512":
		m, err = scram.Mechanism(scram.SHA512, s.SASL.Username, password)
	default:
		return nil, nil, fmt.Errorf("sasl.mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.SASL.Mechanism)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sasl: %w", err)
	}
	return tc, m, nil
}

// Cluster is how driftwatch reaches one Kafka cluster: its bootstrap brokers
// and the TLS and SASL settings of every connection to it.
type Cluster struct {
	// Brokers are the bootstrap addresses.
	Brokers []string
	tls     *tls.Config
	sasl    sasl.Mechanism
	user    string // the SASL user, "" without SASL
}

// NewCluster reads the security settings' files once and returns the
// cluster; a nil sec is plaintext without authentication.
func NewCluster(brokers []string, sec Security) (*Cluster, error) {
	tc, m, err := sec.build()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c := &Cluster{Brokers: brokers, tls: tc, sasl: m}
	if m != nil {
		c.user = sec.SASL.Username
	}
	return c, nil
}

// Plaintext returns a cluster reached without TLS or SASL (tests, the
// embedded broker).
func Plaintext(brokers []string) *Cluster { return &Cluster{Brokers: brokers} }

// Dialer returns a dialer for direct connections (metadata, positioning a
// partition, the consumer groups, reading the dead-letter topic back).
func (c *Cluster) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, ClientID: "driftwatch", DialFunc: dialBuffered, TLS: c.tlsConfig(), SASLMechanism: c.sasl}
}

// ReadBufferSize is the read buffer of each connection the Dialer makes (the
// partitions' fetches go through the consumer's kafka-go Client, which
// reads a response into its own 64 KiB pages): a batch read over such a
// connection, such as the dead-letter topic read back at start-up, is read
// with one system call per ReadBufferSize bytes, where
// kafka-go's own 4 KiB buffer would take one per 4 KiB (about five events).
const ReadBufferSize = 64 << 10

// dialBuffered dials as kafka-go's default dialer does (TLS, when set, is
// layered on top by kafka-go) and reads through a ReadBufferSize buffer.
func dialBuffered(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, ReadBufferSize)}, nil
}

// bufferedConn is a connection read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer, refilling it with one read of the connection
// when empty (a read at least as large as the buffer goes straight through).
func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Transport returns a new transport for a writer, limited to the metadata
// of topics (all when empty).
func (c *Cluster) Transport(topics ...string) *kafka.Transport {
	return &kafka.Transport{ClientID: "driftwatch", MetadataTopics: topics, TLS: c.tlsConfig(), SASL: c.sasl}
}

func (c *Cluster) tlsConfig() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls.Clone()
}
