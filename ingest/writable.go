package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"
)

// ErrNotWritable is wrapped by the error of CheckWritable when the broker
// says that driftwatch's principal may not write the topic.
var ErrNotWritable = errors.New("not authorized to write the topic")

// Kafka ACL operation codes (org.apache.kafka.common.acl.AclOperation);
// bit 1<<code of an authorized-operations field says the operation is
// allowed.
const (
	aclRead            = 3
	aclWrite           = 4
	aclCreate          = 5
	aclDelete          = 6
	aclAlter           = 7
	aclDescribe        = 8
	aclDescribeConfigs = 10
	aclAlterConfigs    = 11
)

// authorizedOpsUnknown is what a broker puts in an authorized-operations
// field when it was not asked or cannot tell (INT32_MIN).
const authorizedOpsUnknown = math.MinInt32

// minAuthorizedOpsVersion is the first Metadata version that carries the
// topics' authorized operations (KIP-430).
const minAuthorizedOpsVersion = 8

// checkTimeout bounds one broker's part of CheckWritable when ctx has no
// earlier deadline.
const checkTimeout = 10 * time.Second

// CheckWritable asks a bootstrap broker of cluster, over a connection of its
// own with the cluster's TLS and SASL, whether driftwatch's principal may
// write topic. It returns nil when the broker lists WRITE among the
// principal's authorized operations on the topic, and an error naming the
// topic otherwise: one wrapping ErrNotWritable, naming the principal and
// saying what to grant, when WRITE is missing; one wrapping the broker's
// error when the topic does not exist or may not be described.
//
// Brokers older than Kafka 2.3 (Metadata below version 8), and brokers
// that answer "unknown" for the authorized operations, cannot say: then
// CheckWritable returns nil once the topic is found, and a missing write
// permission shows only at the first write.
//
// kafka-go's Transport answers metadata from a cache that does not carry
// authorized operations, so the check speaks the protocol itself.
func CheckWritable(ctx context.Context, cluster *Cluster, topic string) error {
	if len(cluster.Brokers) == 0 {
		return fmt.Errorf("checking that topic %q accepts writes: no brokers", topic)
	}
	var last error
	for _, addr := range cluster.Brokers {
		ops, version, topicErr, err := topicAuthorizedOps(ctx, cluster, addr, topic)
		if topicErr != 0 {
			// The broker answered for the topic: the others would say the
			// same.
			return topicError(cluster, topic, topicErr)
		}
		if err != nil {
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if version < minAuthorizedOpsVersion || ops == authorizedOpsUnknown || ops&(1<<aclWrite) != 0 {
			return nil
		}
		p := cluster.principal()
		return fmt.Errorf("checking that topic %q accepts writes: %s is %w (it may: %s); grant %s WRITE on topic %q "+
			"and remove any DENY WRITE that matches it (kafka-acls.sh --add --allow-principal %s --operation Write --topic %s)",
			topic, p, ErrNotWritable, opNames(ops), p, topic, p, topic)
	}
	return fmt.Errorf("checking that topic %q accepts writes: %w", topic, last)
}

// topicError says what a topic error in the metadata of topic means.
func topicError(cluster *Cluster, topic string, err kafka.Error) error {
	switch err {
	case kafka.UnknownTopicOrPartition:
		return fmt.Errorf("checking that topic %q accepts writes: topic %q does not exist: %w", topic, topic, err)
	case kafka.TopicAuthorizationFailed:
		p := cluster.principal()
		return fmt.Errorf("checking that topic %q accepts writes: %s may not even DESCRIBE it; grant %s WRITE on topic %q (WRITE implies DESCRIBE): %w",
			topic, p, p, topic, err)
	default:
		return fmt.Errorf("checking that topic %q accepts writes: %w", topic, err)
	}
}

// topicAuthorizedOps asks the broker at addr for the metadata of topic with
// its authorized operations, and returns them with the Metadata version
// used, or the topic's error code in the answer, or the error that kept it
// from getting an answer.
func topicAuthorizedOps(ctx context.Context, cluster *Cluster, addr, topic string) (ops int32, version int16, topicErr kafka.Error, err error) {
	deadline := time.Now().Add(checkTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	pc, err := dialProtocol(ctx, cluster, addr)
	if err != nil {
		return 0, 0, 0, err
	}
	defer pc.Close()
	// Closing the connection interrupts a round trip when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = pc.Close() })
	defer stop()
	if err := pc.SetDeadline(deadline); err != nil {
		return 0, 0, 0, fmt.Errorf("broker %s: %w", addr, err)
	}

	r, err := pc.RoundTrip(new(apiversions.Request))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("broker %s: negotiating API versions: %w", addr, err)
	}
	av := r.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return 0, 0, 0, fmt.Errorf("broker %s: negotiating API versions: %w", addr, kafka.Error(av.ErrorCode))
	}
	versions := make(map[protocol.ApiKey]int16, len(av.ApiKeys))
	for _, k := range av.ApiKeys {
		key := protocol.ApiKey(k.ApiKey)
		versions[key] = key.SelectVersion(k.MinVersion, k.MaxVersion)
	}
	mv, ok := versions[protocol.Metadata]
	if !ok {
		return 0, 0, 0, fmt.Errorf("broker %s: it does not offer the Metadata API", addr)
	}
	pc.SetVersions(versions)

	if cluster.sasl != nil {
		if err := authenticate(ctx, pc, cluster.sasl, addr); err != nil {
			return 0, 0, 0, fmt.Errorf("broker %s: SASL %s authentication: %w", addr, cluster.sasl.Name(), err)
		}
	}

	r, err = pc.RoundTrip(&metadata.Request{
		TopicNames:                       []string{topic},
		AllowAutoTopicCreation:           false, // a check must not create what it checks
		IncludeTopicAuthorizedOperations: true,
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("broker %s: reading metadata: %w", addr, err)
	}
	for _, t := range r.(*metadata.Response).Topics {
		if t.Name != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return 0, mv, kafka.Error(t.ErrorCode), nil
		}
		return t.TopicAuthorizedOperations, mv, 0, nil
	}
	return 0, 0, 0, fmt.Errorf("broker %s: the metadata does not mention the topic", addr)
}

// dialProtocol connects to addr with the cluster's TLS.
func dialProtocol(ctx context.Context, cluster *Cluster, addr string) (*protocol.Conn, error) {
	d := net.Dialer{Timeout: checkTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing broker %s: %w", addr, err)
	}
	if tc := cluster.tlsConfig(); tc != nil {
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			tc.ServerName = host
		}
		conn := tls.Client(nc, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("broker %s: TLS handshake: %w", addr, err)
		}
		nc = conn
	}
	return protocol.NewConn(nc, "driftwatch"), nil
}

// authenticate runs the SASL exchange of mechanism on pc: a SaslHandshake,
// then SaslAuthenticate round trips until the mechanism is done, as
// kafka-go's own connections do.
func authenticate(ctx context.Context, pc *protocol.Conn, mechanism sasl.Mechanism, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("port of %s: %w", addr, err)
	}
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: portNum})

	r, err := pc.RoundTrip(&saslhandshake.Request{Mechanism: mechanism.Name()})
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if code := r.(*saslhandshake.Response).ErrorCode; code != 0 {
		return fmt.Errorf("handshake: %w", kafka.Error(code))
	}
	sess, state, err := mechanism.Start(ctx)
	if err != nil {
		return err
	}
	for done := false; !done; {
		r, err := pc.RoundTrip(&saslauthenticate.Request{AuthBytes: state})
		if err != nil {
			if errors.Is(err, io.EOF) {
				// A broker may refuse an exchange by closing the connection.
				return kafka.SASLAuthenticationFailed
			}
			return err
		}
		res := r.(*saslauthenticate.Response)
		if res.ErrorCode != 0 {
			if res.ErrorMessage != "" {
				return fmt.Errorf("%w: %s", kafka.Error(res.ErrorCode), res.ErrorMessage)
			}
			return kafka.Error(res.ErrorCode)
		}
		if done, state, err = sess.Next(ctx, res.AuthBytes); err != nil {
			return err
		}
	}
	return nil
}

// opNames lists the topic operations an authorized-operations field allows.
func opNames(ops int32) string {
	var names []string
	for _, op := range []struct {
		code int
		name string
	}{
		{aclRead, "READ"}, {aclWrite, "WRITE"}, {aclCreate, "CREATE"}, {aclDelete, "DELETE"}, {aclAlter, "ALTER"},
		{aclDescribe, "DESCRIBE"}, {aclDescribeConfigs, "DESCRIBE_CONFIGS"}, {aclAlterConfigs, "ALTER_CONFIGS"},
	} {
		if ops&(1<<op.code) != 0 {
			names = append(names, op.name)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// principal is how the brokers most likely name driftwatch's connections in
// their ACLs: the SASL user, else the subject of the TLS client certificate
// (Kafka's default mapping; a broker's ssl.principal.mapping.rules may
// change it), else User:ANONYMOUS.
func (c *Cluster) principal() string {
	switch {
	case c.user != "":
		return "User:" + c.user
	case c.tls != nil && len(c.tls.Certificates) > 0 && c.tls.Certificates[0].Leaf != nil:
		return "User:" + c.tls.Certificates[0].Leaf.Subject.String()
	default:
		return "User:ANONYMOUS"
	}
}
