package ingest

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestEmbeddedIsVisibleToKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not installed (apt-get install kcat): %v", err)
	}
	e := startBroker(t, "telemetry", "telemetry.dlq")
	if err := e.CreateTopic("labels", 5); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if err := e.CreateTopic("labels", 5); err != nil {
		t.Errorf("CreateTopic of an existing topic: %v", err)
	}
	out, err := exec.Command(kcat, "-b", e.Brokers()[0], "-L", "-m", "5").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for _, want := range []string{
		`topic "telemetry" with 3 partitions`,
		`topic "telemetry.dlq" with 3 partitions`,
		`topic "labels" with 5 partitions`,
		"1 brokers:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, out)
		}
	}
}

func TestEmbeddedListensOnConfiguredAddr(t *testing.T) {
	// Find a free port, release it, and ask the broker to listen there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	e, err := StartEmbedded(EmbeddedConfig{Addr: addr, Topics: []string{"t"}, Partitions: 2})
	if err != nil {
		t.Fatalf("StartEmbedded(%s): %v", addr, err)
	}
	defer e.Close()
	if got := e.Brokers(); len(got) != 1 || got[0] != addr {
		t.Errorf("Brokers() = %v, want [%s]", got, addr)
	}
	// A second broker cannot take the same port.
	if e2, err := StartEmbedded(EmbeddedConfig{Addr: addr}); err == nil {
		e2.Close()
		t.Errorf("second broker on %s started", addr)
	}
	produce(t, e.Brokers(), "t", 1, 3, "v")
	if got := len(readAll(t, e.Brokers(), "t", 3)); got != 3 {
		t.Errorf("read %d messages back", got)
	}
	_, port, _ := net.SplitHostPort(addr)
	if p, _ := strconv.Atoi(port); p == 0 {
		t.Errorf("port 0 in %s", addr)
	}
}

func TestStartEmbeddedRejectsBadConfig(t *testing.T) {
	for _, cfg := range []EmbeddedConfig{
		{Addr: "no-port"},
		{Partitions: -1},
	} {
		if e, err := StartEmbedded(cfg); err == nil {
			e.Close()
			t.Errorf("StartEmbedded(%+v) succeeded", cfg)
		}
	}
}
