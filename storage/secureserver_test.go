package storage

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// secureServer is a second, private ClickHouse server started by a test, apart from the shared one
// of scripts/clickhouse.sh: its own run directory, ports picked free at start, a plaintext and a
// secure native port (no HTTP or interserver port), a certificate made by the test, client
// certificates required (verificationMode strict), and one user with a password.
type secureServer struct {
	plain, secure string // native ports, 127.0.0.1:port
	dir           string
	caFile        string // the CA that signs the server's and the client's certificates
	certFile      string // client certificate and key
	keyFile       string
	otherCAFile   string // a CA that signed nothing here
	user          string
	passwordFile  string
}

// secureServerName is the only name in the secure server's certificate (no IP address).
const secureServerName = "localhost"

// clickhouseServerBin returns the clickhouse-server binary, "" when it is not installed.
func clickhouseServerBin() string {
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/clickhouse-server"); err == nil {
		return "/usr/sbin/clickhouse-server"
	}
	return ""
}

// startSecureServer starts the server and stops it (and removes its directory) when the test ends.
// make test installs clickhouse-server (scripts/deps.sh): its absence, or a server that does not
// start, fails the test.
func startSecureServer(t *testing.T) *secureServer {
	t.Helper()
	bin := clickhouseServerBin()
	if bin == "" {
		t.Fatal("clickhouse-server is not installed here (run scripts/deps.sh): cannot start a second, TLS-enabled server")
	}
	dir := t.TempDir()
	ca, caKey := newCA(t, dir, "ca", "driftwatch test CA")
	newCA(t, dir, "other-ca", "driftwatch other CA")
	issue(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth, secureServerName)
	issue(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth, "driftwatch")
	s := &secureServer{
		dir:          dir,
		caFile:       filepath.Join(dir, "ca.pem"),
		certFile:     filepath.Join(dir, "client.pem"),
		keyFile:      filepath.Join(dir, "client.key"),
		otherCAFile:  filepath.Join(dir, "other-ca.pem"),
		user:         "driftwatch",
		passwordFile: filepath.Join(dir, "password"),
	}
	password := randomHex(t)
	writeFile(t, s.passwordFile, password+"\n")
	ports := freePorts(t, 2)
	s.plain, s.secure = "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(password))
	writeFile(t, filepath.Join(dir, "config.xml"), fmt.Sprintf(secureConfigXML, dir, ports[0], ports[1]))
	writeFile(t, filepath.Join(dir, "users.xml"), fmt.Sprintf(secureUsersXML, s.user, hex.EncodeToString(sum[:])))

	out, err := os.Create(filepath.Join(dir, "log", "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the server has its own descriptor
	cmd := exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Logf("secure test server did not stop within 10s; killing it")
			cmd.Process.Kill()
			<-exited
		}
	})
	fail := func(format string, args ...any) {
		t.Helper()
		stdout, _ := os.ReadFile(filepath.Join(dir, "log", "stdout.log"))
		errLog, _ := os.ReadFile(filepath.Join(dir, "log", "err.log"))
		t.Fatalf("%s\n--- output ---\n%s\n--- err.log ---\n%s", fmt.Sprintf(format, args...), tail(stdout, 2000), tail(errLog, 4000))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			fail("secure test server exited at start: %v", err)
		default:
		}
		if up(s.plain) && up(s.secure) {
			return s
		}
		if time.Now().After(deadline) {
			fail("secure test server does not listen on %s and %s after 15s", s.plain, s.secure)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config returns a Store configuration for the secure server: TLS on the secure port with the
// right CA, server name, client certificate and password file, and a fresh database.
func (s *secureServer) config(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Addr = s.secure
	cfg.Database = "driftwatch_tls_" + randomHex(t)
	cfg.Username, cfg.PasswordFile = s.user, s.passwordFile
	cfg.DialTimeout = 3 * time.Second
	cfg.TLS = TLSConfig{Enabled: true, CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile, ServerName: secureServerName}
	return cfg
}

func up(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// freePorts returns n ports that were free a moment ago, as strings.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

func randomHex(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// newCA writes a self-signed CA certificate to dir/name.pem (and its key to dir/name.key).
func newCA(t *testing.T, dir, name, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, name, der, key)
	return cert, key
}

// issue writes a certificate for dnsName signed by ca, for usage, to dir/name.pem and its key to
// dir/name.key.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage, dnsName string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, name, der, key)
}

func writePEM(t *testing.T, dir, name string, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name+".pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, name+".key"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
}

// secureConfigXML is the server's config.xml: %[1]s the run directory, %[2]s the plaintext and
// %[3]s the secure native port.
const secureConfigXML = `<?xml version="1.0"?>
<!-- Written by the storage package's TLS test for a private, short-lived server. -->
<yandex>
    <logger>
        <level>information</level>
        <log>%[1]s/log/server.log</log>
        <errorlog>%[1]s/log/err.log</errorlog>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]s</tcp_port>
    <tcp_port_secure>%[3]s</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>%[1]s/server.pem</certificateFile>
            <privateKeyFile>%[1]s/server.key</privateKeyFile>
            <caConfig>%[1]s/ca.pem</caConfig>
            <verificationMode>strict</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>false</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <max_connections>64</max_connections>
    <max_concurrent_queries>16</max_concurrent_queries>
    <uncompressed_cache_size>16777216</uncompressed_cache_size>
    <mark_cache_size>16777216</mark_cache_size>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
`

// secureUsersXML is the server's users.xml: %[1]s the user, %[2]s the SHA-256 of its password.
const secureUsersXML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>1000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <%[1]s>
            <password_sha256_hex>%[2]s</password_sha256_hex>
            <networks>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </%[1]s>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
