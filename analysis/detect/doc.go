// Package detect holds sequential change detectors fed one value at a time:
// ADWIN, CUSUM, EWMA and Page–Hinkley behind the Detector interface, each
// following River's conventions and checked against River's docstring
// examples and hand-computed charts (testdata, with the scripts that wrote
// them).
//
// It deliberately knows nothing of what the values are: no windows, models,
// p-values or alerts (analysis feeds it the per-window evidence), no I/O, and
// it imports nothing of driftwatch (only the standard library).
package detect
