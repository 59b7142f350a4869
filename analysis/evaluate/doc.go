// Package evaluate turns a merged model window and a reference into a
// decision: the drift tests of every feature (PSI, Jensen–Shannon,
// Wasserstein-1, Kolmogorov–Smirnov, chi-square, Mahalanobis), the
// Benjamini–Hochberg decision per test across a window's features, the
// sequential evidence across windows (Evidence), and the signal verdicts,
// with their history across windows: the model's own, and that of the
// access signals' callers, each against its own previous windows.
// The Evaluator also feeds the warm-up, pins the reference it completes and
// chooses what each window is scored against (pinned, previous window or a
// seasonal window the caller reads). It does no I/O.
package evaluate
