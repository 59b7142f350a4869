package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority of a test, written to file.
type testCA struct {
	file string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newTestCA writes a new CA certificate to dir/name.
func newTestCA(t *testing.T, dir, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "driftwatch test CA " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{file: file, cert: cert, key: key}
}

// issue returns a certificate of tmpl signed by the CA, with its key.
func (c testCA) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(time.Now().UnixNano()), time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serverCert is the brokers' certificate: 127.0.0.1 and broker.test.
func (c testCA) serverCert(t *testing.T) tls.Certificate {
	return c.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "broker"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"broker.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// clientFiles writes a client certificate of the CA and its key to dir.
func (c testCA) clientFiles(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	cert := c.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "driftwatch"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// testPKI writes a CA certificate to dir and returns its path with a server
// TLS configuration for 127.0.0.1 signed by it.
func testPKI(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	ca := newTestCA(t, dir, "ca.pem")
	return ca.file, &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}, MinVersion: tls.VersionTLS12}
}

// TestSecuredBroker runs the consumer group, the partials publisher, the
// dead-letter writer and the metadata reads against the embedded broker
// with TLS and each SASL mechanism; a wrong password and a plaintext client
// are refused.
func TestSecuredBroker(t *testing.T) {
	caFile, serverTLS, pw, wrong := securedFiles(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			e, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq", "partials"}, Partitions: 2,
				TLS: serverTLS, Users: []EmbeddedUser{{Mechanism: mech, Username: "driftwatch", Password: "s3cret"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			sec := Security{TLS: TLSConfig{Enabled: true, CAFile: caFile}, SASL: SASLConfig{Mechanism: mech, Username: "driftwatch", PasswordFile: pw}}
			cluster, err := NewCluster(e.Brokers(), sec)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if n, err := PartitionCount(ctx, cluster.Dialer(), cluster.Brokers, "telemetry"); err != nil || n != 2 {
				t.Fatalf("partition count over TLS+SASL: %d, %v", n, err)
			}
			p := NewPublisher(cluster, "telemetry", nil, testLog(t))
			defer p.Close()
			if err := p.Publish(ctx, []Record{{Value: []byte("a"), Partition: 0}, {Value: []byte("b"), Partition: 1}}); err != nil {
				t.Fatalf("publishing over TLS+SASL: %v", err)
			}
			dlq := NewDeadLetterWriter(cluster, "telemetry.dlq", "g", nil, testLog(t))
			defer dlq.Close()
			if err := dlq.Write(ctx, []DeadLetter{{Msg: Message{Value: []byte("x")}, Reason: "invalid_json"}}); err != nil {
				t.Fatalf("dead letter over TLS+SASL: %v", err)
			}
			c, seen := countingConsumer(t, e.Brokers(), "secured", sec)
			cctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(cctx) }()
			for seen.Load() < 2 && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			stop()
			<-done
			c.Close()
			if seen.Load() != 2 {
				t.Fatalf("the consumer group read %d of 2 messages over TLS+SASL", seen.Load())
			}

			// A wrong password and a plaintext client get nothing.
			bad := sec
			bad.SASL.PasswordFile = wrong
			badCluster, err := NewCluster(e.Brokers(), bad)
			if err != nil {
				t.Fatal(err)
			}
			short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
			defer cancelShort()
			if _, err := PartitionCount(short, badCluster.Dialer(), e.Brokers(), "telemetry"); err == nil {
				t.Fatal("a wrong password was accepted")
			}
			if _, err := PartitionCount(short, Plaintext(e.Brokers()).Dialer(), e.Brokers(), "telemetry"); err == nil {
				t.Fatal("a plaintext client was accepted")
			}
		})
	}
}

// TestSecuredBrokerIsVerified: over TLS every Kafka path (the metadata
// reads, the partials publisher, the dead-letter writer and its reader, the
// consumer group) refuses a broker whose certificate another CA signed, or
// that does not carry tls.server_name, and accepts it with the right CA and
// name; a broker that asks for client certificates accepts tls.cert_file and
// tls.key_file signed by its CA and refuses a client without them.
func TestSecuredBrokerIsVerified(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, dir, "ca.pem"), newTestCA(t, dir, "other.pem")
	certFile, keyFile := ca.clientFiles(t, dir)
	clients := x509.NewCertPool()
	clients.AddCert(ca.cert)
	start := func(t *testing.T, mutual bool) *Embedded {
		serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}, MinVersion: tls.VersionTLS12}
		if mutual {
			serverTLS.ClientAuth, serverTLS.ClientCAs = tls.RequireAndVerifyClientCert, clients
		}
		e, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1, TLS: serverTLS})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		// A message for the consumer group to read, written by a client
		// the broker accepts.
		cluster, err := NewCluster(e.Brokers(), Security{TLS: TLSConfig{Enabled: true, CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}})
		if err != nil {
			t.Fatal(err)
		}
		p := NewPublisher(cluster, "telemetry", nil, testLog(t))
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Publish(ctx, []Record{{Value: []byte("first"), Partition: 0}}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	// paths tries every path with sec; it returns those that worked.
	paths := func(t *testing.T, e *Embedded, sec Security) []string {
		t.Helper()
		cluster, err := NewCluster(e.Brokers(), sec)
		if err != nil {
			t.Fatal(err)
		}
		// Each path has a time of its own: a refused handshake is retried
		// until it runs out, which must not leave the next path none.
		try := func(path func(context.Context) error) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return path(ctx) == nil
		}
		var ok []string
		if try(func(ctx context.Context) error {
			_, err := PartitionCount(ctx, cluster.Dialer(), cluster.Brokers, "telemetry")
			return err
		}) {
			ok = append(ok, "metadata")
		}
		p := NewPublisher(cluster, "telemetry", nil, testLog(t))
		if try(func(ctx context.Context) error { return p.Publish(ctx, []Record{{Value: []byte("a"), Partition: 0}}) }) {
			ok = append(ok, "publisher")
		}
		p.Close()
		dlq := NewDeadLetterWriter(cluster, "telemetry.dlq", "g", nil, testLog(t))
		if try(func(ctx context.Context) error {
			return dlq.Write(ctx, []DeadLetter{{Msg: Message{Topic: "telemetry", Value: []byte("x")}, Reason: "invalid_json"}})
		}) {
			ok = append(ok, "dead letters")
		}
		if try(func(ctx context.Context) error { _, err := dlq.LastOffset(ctx, "telemetry", 0); return err }) {
			ok = append(ok, "dead-letter reader")
		}
		dlq.Close()
		c, seen := countingConsumer(t, e.Brokers(), t.Name(), sec) // a group of its own: the cases run in parallel
		if try(func(ctx context.Context) error {
			run, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(run) }()
			for seen.Load() == 0 && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			stop()
			<-done
			if seen.Load() == 0 {
				return errors.New("nothing read")
			}
			return nil
		}) {
			ok = append(ok, "consumer group")
		}
		c.Close()
		return ok
	}
	all := []string{"metadata", "publisher", "dead letters", "dead-letter reader", "consumer group"}
	t.Run("server", func(t *testing.T) {
		e := start(t, false)
		for _, tt := range []struct {
			name string
			tls  TLSConfig
			want []string
		}{
			{"its CA", TLSConfig{Enabled: true, CAFile: ca.file}, all},
			{"its CA and name", TLSConfig{Enabled: true, CAFile: ca.file, ServerName: "broker.test"}, all},
			{"another CA", TLSConfig{Enabled: true, CAFile: other.file}, nil},
			{"the system's roots", TLSConfig{Enabled: true}, nil},
			{"another name", TLSConfig{Enabled: true, CAFile: ca.file, ServerName: "other.test"}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				if got := paths(t, e, Security{TLS: tt.tls}); !slices.Equal(got, tt.want) {
					t.Errorf("%v worked, want %v", got, tt.want)
				}
			})
		}
	})
	t.Run("client certificates", func(t *testing.T) {
		e := start(t, true)
		if got := paths(t, e, Security{TLS: TLSConfig{Enabled: true, CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}}); !slices.Equal(got, all) {
			t.Errorf("with a client certificate: %v worked, want %v", got, all)
		}
		if got := paths(t, e, Security{TLS: TLSConfig{Enabled: true, CAFile: ca.file}}); got != nil {
			t.Errorf("without a client certificate: %v worked, want none", got)
		}
	})
}

// countingConsumer returns a consumer of topic telemetry in group with sec,
// and the count of the messages it handles.
func countingConsumer(t *testing.T, brokers []string, group string, sec Security) (*Consumer, *atomic.Int64) {
	t.Helper()
	cfg := testConfig(brokers, "telemetry", group)
	cfg.Security = sec
	seen := new(atomic.Int64)
	c, err := NewConsumer(cfg, func(context.Context, string, int32, int64) (PartitionHandler, error) {
		return handlerFunc(func(b []Message) { seen.Add(int64(len(b))) }), nil
	}, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return c, seen
}

type handlerFunc func([]Message)

func (f handlerFunc) Handle(_ context.Context, b []Message) error { f(b); return nil }
func (f handlerFunc) Committable() int64                          { return -1 }
func (f handlerFunc) Close(context.Context) error                 { return nil }

// TestSecurityValidate: every wrong combination names its field; the
// password is read from a file only.
func TestSecurityValidate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sec  Security
		want string
	}{
		{"plaintext", Security{}, ""},
		{"tls with system roots", Security{TLS: TLSConfig{Enabled: true}}, ""},
		{"scram", Security{SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pw}}, ""},
		{"ca without tls", Security{TLS: TLSConfig{CAFile: pw}}, "tls.enabled is false"},
		{"missing ca", Security{TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "none")}}, "tls.ca_file"},
		{"not a ca", Security{TLS: TLSConfig{Enabled: true, CAFile: pw}}, "no PEM certificate"},
		{"cert without key", Security{TLS: TLSConfig{Enabled: true, CertFile: pw}}, "set both or neither"},
		{"unknown mechanism", Security{SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u", PasswordFile: pw}}, "sasl.mechanism"},
		{"no user", Security{SASL: SASLConfig{Mechanism: "PLAIN", PasswordFile: pw}}, "sasl.username"},
		{"no password file", Security{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u"}}, "sasl.password_file: required"},
		{"empty password", Security{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: empty}}, "is empty"},
		{"user without mechanism", Security{SASL: SASLConfig{Username: "u"}}, "without sasl.mechanism"},
	} {
		err := tt.sec.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// securedFiles writes a test PKI and the password files of the secured
// broker tests: the right password ("s3cret") and a wrong one.
func securedFiles(t *testing.T) (caFile string, serverTLS *tls.Config, password, wrong string) {
	t.Helper()
	dir := t.TempDir()
	caFile, serverTLS = testPKI(t, dir)
	password, wrong = filepath.Join(dir, "password"), filepath.Join(dir, "wrong")
	for file, content := range map[string]string{password: "s3cret\n", wrong: "guess\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, serverTLS, password, wrong
}
