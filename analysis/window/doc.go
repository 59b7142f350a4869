// Package window is event time for the analysis: per partition, a Windower
// assigns each decoded event to the tumbling window of its model version,
// closes windows as the partition's watermark passes their end plus the
// allowed lateness (or the partition goes idle), skips events re-read after
// a restart, and bounds the versions it tracks. A Window is the state of one
// model version over one window as read from one partition: counts and
// offsets, per-feature sketches binned against the reference it was opened
// against, and the signal partials. Windows merge exactly across
// partitions, encode to bytes for the partials topic, and rebind to a
// reference pinned while they were open. Nothing here scores or does I/O.
package window
