// Package outputs holds the signals about what a model answers and how it
// serves, per model version and window: its error rate by error type
// (error_rate), its latency quantiles (latency), the share of each
// predicted class (class_share), how sure it is (confidence) and how many
// of its scores fall near their threshold (margin_density).
//
// Each signal is a mergeable partial (exact counts, or a DDSketch of
// latencies whose bucket counts are exact) and a scorer that tests the
// window against the signal's state over the reference period, with a
// test whose p-value is calibrated under "nothing changed" (the pooled
// two-proportion z-test), an effect size oriented so that larger is worse,
// and documented warning and critical levels. The evaluation then decides
// across all signals of the window with Benjamini–Hochberg. Without a
// reference state (a reference imported from a data set, or loaded from an
// older release) the verdicts only inform.
//
// Subjects come from telemetry: error types and classes are counted exactly
// for at most Config.MaxSubjects distinct values per window; further values
// are counted together as "other" (which values are named then depends on
// arrival order; the totals never do).
package outputs
