package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EmbeddedConfig configures the in-process broker.
type EmbeddedConfig struct {
	// Addr is the TCP address to listen on.
	// Default: 127.0.0.1:0 (a free loopback port)
	Addr string `yaml:"addr"`
	// Topics are created at start with Partitions partitions each.
	Topics []string `yaml:"topics"`
	// Partitions is the partition count of Topics.
	// Default: 3
	Partitions int `yaml:"partitions"`
	// TLS, when not nil, makes the broker accept TLS connections only (for
	// tests of secured clusters).
	TLS *tls.Config `yaml:"-"`
	// Users, when not empty, makes the broker require SASL and know these
	// users (for tests of secured clusters).
	Users []EmbeddedUser `yaml:"-"`
}

// EmbeddedUser is a SASL user of the embedded broker.
type EmbeddedUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism, Username, Password string
	// DenyWrite, when not empty, makes the user subject to ACLs instead of
	// a superuser (and turns ACL checks on for the broker): it is allowed
	// every operation on every topic, group, transactional id and the
	// cluster, but denied WRITE on these topics. As in Kafka, a DENY
	// overrides any ALLOW, and the topics stay readable and describable.
	// Default: none (a superuser, which no ACL restricts).
	DenyWrite []string
}

// acls returns the ACLs of a user subject to them: allow everything, deny
// WRITE on u.DenyWrite.
func (u EmbeddedUser) acls() []kfake.ACL {
	lit := kmsg.ACLResourcePatternTypeLiteral
	acls := []kfake.ACL{
		{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: lit, Operation: kmsg.ACLOperationAll, Allow: true},
		{Resource: kmsg.ACLResourceTypeGroup, Name: "*", Pattern: lit, Operation: kmsg.ACLOperationAll, Allow: true},
		{Resource: kmsg.ACLResourceTypeCluster, Name: "*", Pattern: lit, Operation: kmsg.ACLOperationAll, Allow: true},
		{Resource: kmsg.ACLResourceTypeTransactionalId, Name: "*", Pattern: lit, Operation: kmsg.ACLOperationAll, Allow: true},
	}
	for _, t := range u.DenyWrite {
		acls = append(acls, kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: t, Pattern: lit, Operation: kmsg.ACLOperationWrite})
	}
	return acls
}

// Embedded is a single-node, in-memory Kafka-compatible broker (kfake) that
// any Kafka client can reach over TCP. It is meant for the demo and tests: it
// keeps nothing on disk.
type Embedded struct {
	cluster *kfake.Cluster
	addrs   []string
}

// StartEmbedded starts a broker listening on cfg.Addr.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 3
	}
	if cfg.Partitions < 0 {
		return nil, fmt.Errorf("starting embedded broker: partitions: must be positive, got %d", cfg.Partitions)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("starting embedded broker: addr: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, cfg.Addr)
		}),
		kfake.DefaultNumPartitions(cfg.Partitions),
		// Allow the short session timeouts tests use.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(cfg.Partitions), cfg.Topics...))
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		acls := false
		for _, u := range cfg.Users {
			if len(u.DenyWrite) == 0 {
				opts = append(opts, kfake.Superuser(u.Mechanism, u.Username, u.Password))
				continue
			}
			acls = true
			opts = append(opts, kfake.User(u.Mechanism, u.Username, u.Password, u.acls()...))
		}
		if acls {
			opts = append(opts, kfake.EnableACLs())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker: %w", err)
	}
	return &Embedded{cluster: c, addrs: c.ListenAddrs()}, nil
}

// Brokers returns the addresses clients bootstrap from.
func (e *Embedded) Brokers() []string {
	return append([]string(nil), e.addrs...)
}

// CreateTopic creates a topic with the given number of partitions through the
// Kafka protocol, as any client would. An existing topic is left as it is.
func (e *Embedded) CreateTopic(name string, partitions int) error {
	if partitions <= 0 {
		return fmt.Errorf("creating topic %q: partitions must be positive, got %d", name, partitions)
	}
	conn, err := kafka.Dial("tcp", e.addrs[0])
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", name, err)
	}
	defer conn.Close()
	err = conn.CreateTopics(kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1})
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %q: %w", name, err)
	}
	return nil
}

// Close stops the broker and drops its data.
func (e *Embedded) Close() {
	e.cluster.Close()
}
