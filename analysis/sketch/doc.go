// Package sketch holds the mergeable, serialisable per-window states of the
// analysis: a bottom-k sample (of values, Sample, or of whole events as rows
// of numeric columns, Rows), numeric moments with bin counts and a sample,
// categorical counts, the heaviest keys (Space-Saving) and distinct counts
// (HyperLogLog). Each has the same three verbs: observe a value, merge the
// state of a disjoint set of events, and append itself to (or decode itself
// from) bytes.
//
// It knows nothing of events, models, references or tests: callers pass the
// bin edges and category indexes a state counts against. It imports nothing
// of driftwatch, so it can be read, tested and benchmarked alone.
package sketch
