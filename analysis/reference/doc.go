// Package reference builds and holds the references windows are opened and
// scored against: reference-quantile bins and counts, moments and a uniform
// sample per numeric feature, categories per categorical feature, the joint
// mean and covariance of the numeric features, and the signal states. A
// reference is built from merged warm-up window state (Sketches), from a
// data set's columns (import), from stored window summaries (pin) or from
// the previous window (rolling), and is identified by a content hash. The
// Store holds the pinned references and warm-ups of an instance, at most
// Config.MaxVersions of them. It reads windows only through Sketches and
// does no I/O.
package reference
