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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI writes a CA certificate to dir and returns its path with a server
// TLS configuration for 127.0.0.1 signed by it.
func testPKI(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "driftwatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"broker.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
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
			cfg := testConfig(e.Brokers(), "telemetry", "secured")
			cfg.Security = sec
			var seen atomic.Int64
			c, err := NewConsumer(cfg, func(context.Context, string, int32, int64) (PartitionHandler, error) {
				return handlerFunc(func(b []Message) { seen.Add(int64(len(b))) }), nil
			}, nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
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
