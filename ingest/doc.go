// Package ingest reads model telemetry from Kafka and writes dead letters back
// to it.
//
// A Consumer joins a Kafka consumer group (github.com/segmentio/kafka-go) and
// runs one fetch loop per assigned partition. Each loop fetches record
// batches from the partition's leader with kafka-go's Client.Fetch (the
// whole response is read into kafka-go's pooled pages), hands the messages
// in offset order to a PartitionHandler, and commits the offset the handler
// reports as committable. A handler that keeps nothing of a message's key
// and value after Handle returns says so (Borrower): its messages are then
// copied into one buffer per partition, reused, so that reading allocates
// nothing per message; other handlers get messages of their own. A
// transaction's control records (commit and abort markers) are passed over,
// not handed out, and a fetch that fails with a temporary error (a moved
// leader) is retried until the client's metadata finds the new leader,
// without reopening the handler. Delivery is at least once: after a crash, a rebalance or a
// handler error the partition is read again from the last committed offset.
//
// A DeadLetterWriter copies rejected messages, with the reason and origin in
// headers, to a dead-letter topic and waits for the broker's acknowledgement.
// CheckWritable asks a broker, before the first dead letter, whether the
// principal may write that topic.
//
// StartEmbedded runs an in-process Kafka-compatible broker (kfake) on a
// loopback TCP port for the demo and for tests.
//
// The package deliberately knows nothing about the event format: decoding,
// validation and windowing live in telemetry, analysis and monitor.
package ingest
