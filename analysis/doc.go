// Package analysis is the analysis stage's shared vocabulary: its
// configuration (Config, validated in one place), the model version key, the
// feature kinds and the reference modes. The work is done in its rooms, each
// with one job and none doing I/O:
//
//   - analysis/window: event time. Per partition, the windows of each model
//     version (watermark, lateness, replay skip) and their mergeable,
//     serialisable state.
//   - analysis/reference: the references windows are opened and scored
//     against (warm-up, import, pin, rolling), content-hashed, and the store
//     of those an instance holds.
//   - analysis/evaluate: a merged window and a reference in, a decision out
//     (scores, Benjamini–Hochberg, sequential evidence, signal verdicts).
//   - analysis/partial: the partial records of windows and the merge of a
//     model window across source partitions.
//   - analysis/sketch, analysis/stat, analysis/detect and analysis/verdict:
//     leaves that import nothing of driftwatch (mergeable states, two-sample
//     tests, change detectors, severities); analysis/signal: how signals
//     plug in.
//
// Kafka lives in ingest, ClickHouse in storage and alert delivery in
// alerting. Memory is bounded by the configuration (docs/architecture.md,
// "Memory"), never by the number of events.
package analysis
