// Package stat holds the two-sample tests and distances driftwatch scores
// drift with, and their null distributions: Kolmogorov–Smirnov (exact and
// scipy's asymptotic p-value), k-sample Anderson–Darling, Wasserstein-1,
// energy distance, PSI, Jensen–Shannon, Hellinger, Kullback–Leibler, L∞,
// chi-square of homogeneity, the RBF-kernel MMD permutation test, the
// Mahalanobis distance of a mean, numpy's quantiles and the right-closed bins
// they define, and Benjamini–Hochberg. Each is checked against committed
// scipy and numpy reference values (testdata, with the scripts that wrote
// them).
//
// It deliberately holds pure functions of slices only: no windows, references,
// thresholds or drift decisions (those are in analysis), no I/O, and it
// imports nothing of driftwatch (only the standard library and gonum).
package stat
