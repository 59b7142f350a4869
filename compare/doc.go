// Package compare is the offline comparison behind `driftwatch compare`: it
// tests every column of a current data set against the same column of a
// reference data set (KS, Anderson–Darling, Wasserstein-1, energy, PSI, JS,
// Hellinger, KL, chi-square, L∞), tests the numeric columns jointly (MMD and
// the Mahalanobis distance of the mean), and decides drift per column with
// Benjamini–Hochberg across columns and effect-size levels. The report's JSON
// form is the contract documented in docs/compare.md.
//
// It deliberately does not read files (dataset does), print reports
// (cmd/driftwatch does) or touch the streaming monitor's windows and
// references; it takes the tests from analysis/stat and the severities and
// threshold type from analysis, which must not import it.
package compare
