// Package storage keeps driftwatch's results in ClickHouse: the schema and its versioned migrations,
// the batched, retried writers for closed windows, references and alert records, and the few reads the
// monitor needs at start-up (flushed windows of a partition, the newest references).
//
// The schema runs unchanged on ClickHouse 18.16 (Debian bookworm) and on current releases: the base
// DDL uses only String, DateTime, numeric and Array columns with (Replacing)MergeTree engines, and
// LowCardinality and column codecs are rendered only when the server version supports them.
//
// It deliberately computes no statistics and knows nothing about Kafka beyond the offsets it stores:
// rows are written as given. See docs/clickhouse.md for the tables and example queries.
package storage
