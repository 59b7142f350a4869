package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestCheckWritable asks the embedded broker, with ACLs on, over SASL (PLAIN
// and SCRAM) with and without TLS, whether principals may write the
// dead-letter topic, and checks each verdict against a real dead-letter
// write: a principal denied WRITE on it gets an error naming the topic and
// the principal; a principal denied WRITE on another topic only, and a
// superuser, get nil; a missing topic is an error naming it, and is not
// created; a wrong password is an error naming the topic.
func TestCheckWritable(t *testing.T) {
	caFile, serverTLS, pw, wrong := securedFiles(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		for _, withTLS := range []bool{false, true} {
			name := mech
			if withTLS {
				name += "+TLS"
			}
			t.Run(name, func(t *testing.T) {
				cfg := EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1,
					Users: []EmbeddedUser{
						{Mechanism: mech, Username: "admin", Password: "s3cret"},
						{Mechanism: mech, Username: "reader", Password: "s3cret", DenyWrite: []string{"telemetry.dlq"}},
						{Mechanism: mech, Username: "writer", Password: "s3cret", DenyWrite: []string{"telemetry"}},
					}}
				var tc TLSConfig
				if withTLS {
					cfg.TLS, tc = serverTLS, TLSConfig{Enabled: true, CAFile: caFile}
				}
				e, err := StartEmbedded(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cluster := func(user, passwordFile string) *Cluster {
					t.Helper()
					c, err := NewCluster(e.Brokers(), Security{TLS: tc, SASL: SASLConfig{Mechanism: mech, Username: user, PasswordFile: passwordFile}})
					if err != nil {
						t.Fatal(err)
					}
					return c
				}
				// deadLetter writes one dead letter as the monitor would.
				deadLetter := func(c *Cluster) error {
					w := NewDeadLetterWriter(c, "telemetry.dlq", "g", nil, testLog(t))
					defer w.Close()
					wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					return w.Write(wctx, []DeadLetter{{Msg: Message{Topic: "telemetry", Value: []byte("x")}, Reason: "invalid_json"}})
				}

				reader := cluster("reader", pw)
				err = CheckWritable(ctx, reader, "telemetry.dlq")
				if !errors.Is(err, ErrNotWritable) {
					t.Fatalf("a principal denied WRITE: %v, want ErrNotWritable", err)
				}
				for _, want := range []string{`topic "telemetry.dlq"`, "User:reader", "grant User:reader WRITE", "DESCRIBE", "READ"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("the error lacks %q: %v", want, err)
					}
				}
				if strings.Contains(err.Error(), "WRITE,") || strings.Contains(err.Error(), ", WRITE") {
					t.Errorf("the error lists WRITE among the allowed operations: %v", err)
				}
				if err := deadLetter(reader); !writeDenied(err) {
					t.Errorf("a dead letter written by the denied principal: %v, want TopicAuthorizationFailed", err)
				}

				writer := cluster("writer", pw)
				if err := CheckWritable(ctx, writer, "telemetry.dlq"); err != nil {
					t.Errorf("a principal allowed to write: %v", err)
				}
				if err := deadLetter(writer); err != nil {
					t.Errorf("a dead letter written by the allowed principal: %v", err)
				}
				// Its deny on another topic is seen there.
				if err := CheckWritable(ctx, writer, "telemetry"); !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), `topic "telemetry"`) {
					t.Errorf("the allowed principal on the topic it is denied: %v", err)
				}

				admin := cluster("admin", pw)
				if err := CheckWritable(ctx, admin, "telemetry.dlq"); err != nil {
					t.Errorf("a superuser: %v", err)
				}

				err = CheckWritable(ctx, writer, "missing.dlq")
				if !errors.Is(err, kafka.UnknownTopicOrPartition) || !strings.Contains(err.Error(), `topic "missing.dlq" does not exist`) {
					t.Errorf("a missing topic: %v", err)
				}
				if _, err := PartitionCount(ctx, admin.Dialer(), admin.Brokers, "missing.dlq"); err == nil {
					t.Error("the check created the missing topic")
				}

				short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
				defer cancelShort()
				err = CheckWritable(short, cluster("reader", wrong), "telemetry.dlq")
				if err == nil || errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), `topic "telemetry.dlq"`) {
					t.Errorf("a wrong password: %v", err)
				}
			})
		}
	}
}

// TestCheckWritableWithoutACLs: a broker without ACLs (the embedded broker
// as the demo runs it) lets everyone write.
func TestCheckWritableWithoutACLs(t *testing.T) {
	e := startBroker(t, "telemetry.dlq")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := CheckWritable(ctx, Plaintext(e.Brokers()), "telemetry.dlq"); err != nil {
		t.Fatal(err)
	}
}

// TestCheckWritableDescribeDenied: a principal that may not even describe
// the topic (here the anonymous one, which no ACL allows anything) gets an
// error naming the topic and the principal.
func TestCheckWritableDescribeDenied(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "telemetry.dlq"), kfake.EnableACLs())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = CheckWritable(ctx, Plaintext(c.ListenAddrs()), "telemetry.dlq")
	if !errors.Is(err, kafka.TopicAuthorizationFailed) {
		t.Fatalf("%v, want TopicAuthorizationFailed", err)
	}
	for _, want := range []string{`topic "telemetry.dlq"`, "User:ANONYMOUS may not even DESCRIBE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
}

// TestCheckWritableOldBroker: a broker that speaks Metadata below version 8
// (Kafka 2.2) cannot tell the principal's operations, so the check passes
// even for a principal denied WRITE, and leaves it to the first write; a
// missing topic is still an error.
func TestCheckWritableOldBroker(t *testing.T) {
	deny := []kfake.ACL{
		{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true},
		{Resource: kmsg.ACLResourceTypeTopic, Name: "telemetry.dlq", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationWrite},
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "telemetry.dlq"), kfake.MaxVersions(kversion.V2_2_0()),
		kfake.EnableSASL(), kfake.User("PLAIN", "reader", "s3cret", deny...), kfake.EnableACLs())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cluster, err := NewCluster(c.ListenAddrs(), Security{SASL: SASLConfig{Mechanism: "PLAIN", Username: "reader", PasswordFile: pw}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := CheckWritable(ctx, cluster, "telemetry.dlq"); err != nil {
		t.Errorf("a broker that cannot tell: %v, want nil", err)
	}
	if err := CheckWritable(ctx, cluster, "missing"); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("a missing topic on an old broker: %v", err)
	}
}

// writeDenied says whether err of a write is the broker's refusal to let the
// principal write the topic, for the whole write or message by message.
func writeDenied(err error) bool {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && !errors.Is(e, kafka.TopicAuthorizationFailed) {
				return false
			}
		}
		return len(werrs) > 0
	}
	return errors.Is(err, kafka.TopicAuthorizationFailed)
}
