// Package analysis turns decoded telemetry into per-window state and drift
// scores. It keeps, per model version and event-time window, exact counts in
// fixed reference bins, moments, a bounded uniform sample of every numeric
// feature and bounded category counts of every categorical feature; it builds
// and pins references; and it scores closed windows against them with PSI,
// Jensen–Shannon, Wasserstein-1, Kolmogorov–Smirnov and chi-square. The
// statistics themselves are in analysis/stat, the change detectors it runs on
// their evidence across windows in analysis/detect.
//
// It deliberately does no I/O: Kafka lives in ingest, ClickHouse in storage and
// alert delivery in alerting. Memory is bounded by models × features × (bins +
// sample size), never by the number of events.
package analysis
