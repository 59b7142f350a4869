package monitor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "driftwatch"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveWeb serves a handler answering "ok" behind cfg and returns its base URL.
func serveWeb(t *testing.T, cfg WebConfig) string {
	t.Helper()
	w, err := cfg.load()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: w.protect(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "ok") }))}
	go srv.Serve(w.listener(ln))
	t.Cleanup(func() { srv.Close() })
	scheme := "http"
	if w.tls != nil {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String()
}

func get(t *testing.T, c *http.Client, url string, edit func(*http.Request)) (int, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if edit != nil {
		edit(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestWebEndpointsTLSAndAuthentication: with web settings, the endpoints
// answer over TLS only, and only to the configured basic credentials or
// bearer token.
func TestWebEndpointsTLSAndAuthentication(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	pw := writeFile(t, dir, "pw", "hunter2\n")
	token := writeFile(t, dir, "token", "t0ken")
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	basic := serveWeb(t, WebConfig{TLSCertFile: certFile, TLSKeyFile: keyFile, BasicAuthUser: "prom", BasicAuthPasswordFile: pw})
	for _, tt := range []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"no credentials", nil, http.StatusUnauthorized},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("prom", "hunter3") }, http.StatusUnauthorized},
		{"wrong user", func(r *http.Request) { r.SetBasicAuth("admin", "hunter2") }, http.StatusUnauthorized},
		{"a bearer token instead", func(r *http.Request) { r.Header.Set("Authorization", "Bearer hunter2") }, http.StatusUnauthorized},
		{"right credentials", func(r *http.Request) { r.SetBasicAuth("prom", "hunter2") }, http.StatusOK},
	} {
		if code, err := get(t, tlsClient, basic, tt.edit); err != nil || code != tt.want {
			t.Errorf("basic auth, %s: %d %v, want %d", tt.name, code, err, tt.want)
		}
	}
	if code, err := get(t, http.DefaultClient, strings.Replace(basic, "https:", "http:", 1), func(r *http.Request) { r.SetBasicAuth("prom", "hunter2") }); err == nil && code == http.StatusOK {
		t.Error("plain HTTP was served by a TLS endpoint")
	}

	bearer := serveWeb(t, WebConfig{BearerTokenFile: token})
	for _, tt := range []struct {
		name   string
		header string
		want   int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer t0kem", http.StatusUnauthorized},
		{"not bearer", "Basic t0ken", http.StatusUnauthorized},
		{"right", "Bearer t0ken", http.StatusOK},
	} {
		code, err := get(t, http.DefaultClient, bearer, func(r *http.Request) {
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
		})
		if err != nil || code != tt.want {
			t.Errorf("bearer, %s: %d %v, want %d", tt.name, code, err, tt.want)
		}
	}

	for _, bad := range []struct {
		cfg  WebConfig
		want string
	}{
		{WebConfig{TLSCertFile: certFile}, "set both or neither"},
		{WebConfig{BasicAuthUser: "u"}, "set both or neither"},
		{WebConfig{BasicAuthUser: "u", BasicAuthPasswordFile: pw, BearerTokenFile: token}, "not both"},
		{WebConfig{BearerTokenFile: writeFile(t, dir, "empty", "\n")}, "is empty"},
		{WebConfig{BearerTokenFile: filepath.Join(dir, "missing")}, "web.bearer_token_file"},
		{WebConfig{TLSCertFile: pw, TLSKeyFile: pw}, "web.tls_cert_file"},
	} {
		if err := bad.cfg.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.cfg, err, bad.want)
		}
	}
}

// TestMonitorEndpointsAreProtected: a running monitor with TLS and basic
// authentication serves /metrics, /healthz and /readyz over TLS only, and
// each of them only to the configured credentials.
func TestMonitorEndpointsAreProtected(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	_, cfg, ctx := feedbackPipeline(t, time.Minute)
	cfg.Web = WebConfig{TLSCertFile: certFile, TLSKeyFile: keyFile, BasicAuthUser: "prom", BasicAuthPasswordFile: writeFile(t, dir, "pw", "hunter2\n")}
	m := runHostile(t, ctx, cfg)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	fetch := func(c *http.Client, url string, auth bool) (int, string, error) {
		req, _ := http.NewRequest("GET", url, nil)
		if auth {
			req.SetBasicAuth("prom", "hunter2")
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		url := "https://" + m.Addr() + path
		if code, _, err := fetch(client, url, false); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %v, want 401", path, code, err)
		}
		// /readyz may say not ready (503) while the consumer group joins;
		// it answers, and does not refuse the credentials.
		code, body, err := fetch(client, url, true)
		if err != nil || code == http.StatusUnauthorized || code != http.StatusOK && !(path == "/readyz" && code == http.StatusServiceUnavailable) {
			t.Errorf("%s with the credentials: %d %v, want 200", path, code, err)
		}
		if path == "/metrics" && !strings.Contains(body, "driftwatch_ingest_") {
			t.Errorf("/metrics with the credentials serves no driftwatch metric: %.200s", body)
		}
		if code, _, err := fetch(http.DefaultClient, "http://"+m.Addr()+path, true); err == nil && code == http.StatusOK {
			t.Errorf("%s served over plain HTTP", path)
		}
	}
}

// TestReadyzUntilTheGroupsJoin: before its consumer groups have joined (the
// monitor created, not yet run) /readyz answers 503 naming each group not
// joined; once it runs and they have joined, 200 "ready".
func TestReadyzUntilTheGroupsJoin(t *testing.T) {
	_, cfg, ctx := feedbackPipeline(t, time.Minute)
	m, err := New(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		m.ready(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	code, body := ready()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "consumer group "+cfg.Kafka.Consumer.GroupID+" (topic telemetry): not joined") ||
		!strings.Contains(body, "consumer group "+cfg.Kafka.Consumer.GroupID+".decide") {
		t.Errorf("/readyz before Run: %d %q, want 503 naming the telemetry group and the deciders' as not joined", code, body)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		m.Close(context.Background())
	}()
	deadline := time.Now().Add(30 * time.Second)
	for code, body = ready(); code != http.StatusOK; code, body = ready() {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while running: %d %q, want 200 once the groups joined", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body != "ready\n" {
		t.Errorf("/readyz when ready: %q", body)
	}
}
