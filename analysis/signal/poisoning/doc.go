// Package poisoning holds the signals about what goes into a model's next
// training set: per model and window of training-feedback examples, six
// mergeable partials and the scorers that turn them into verdicts naming
// the sources, values, labels and example ids that drive them.
//
//   - poisoning_label_flip (LabelFlip): the share of proposed labels that
//     differ from the model's own prediction, per source against the other
//     sources' rate (one-sided exact binomial test, Benjamini–Hochberg
//     across sources) and overall against the reference (one-sided Fisher
//     exact test: both rates are estimated).
//   - poisoning_concentration (Concentration): the Herfindahl–Hirschman
//     index of the sources (unbiased U-statistic, z-test of its rise over
//     the reference's), and new sources arriving in volume (binomial test
//     of a share above NewSource.Warning).
//   - poisoning_flood (Flood): near-duplicate floods, by content hash and by
//     SimHash of the quantized features grouped within a Hamming radius
//     (binomial test against the group's smoothed share in the reference).
//   - poisoning_trigger (Trigger): backdoor triggers, categorical values
//     whose association with one proposed label jumps (lift, one-sided
//     Fisher exact tests, Benjamini–Hochberg across (feature, value, label)
//     triples); a value the reference never had is said so.
//   - poisoning_spectral (Spectral): spectral signatures (Tran, Li and
//     Mądry 2018) per proposed label on a bottom-k sample of the numeric
//     features: the share of examples whose squared projection on the top
//     singular vector is an outlier, against the reference's (Fisher).
//   - poisoning_drift (Drift): the feedback moving away from the
//     reference: two-sample Kolmogorov–Smirnov per numeric feature and
//     chi-square of the proposed labels; and, on its sample,
//     poisoning_serving_drift (Window.ScoreServing): the same KS test per
//     numeric feature against what the model serves, the sample of its
//     serving reference.
//
// Each type's comment gives its statistic, test, effect and verdicts; the
// defaults are in Config. Subjects: "*" (the model's feedback as a whole),
// sources (label flips, new sources), "content:<hash>" and
// "simhash:<16 hex digits>" (floods), "<feature>=<value> -> <label>"
// (triggers), proposed labels (spectral signatures) and numeric features
// (drift); at most 256 bytes, valid UTF-8. Every decision is a signal.Decision whose p-value
// has been adjusted across the signal's subjects and whose effect is graded
// by the signal's levels after the evaluation adjusts it again with the
// window's other decisions. Only label flips per source decide without a
// reference: every other comparison needs to know what the feedback
// normally looks like (a benign value that predicts a label, a common
// repeated answer, heavy tails), so without a reference those verdicts
// inform. The evidence of a verdict is at most MaxEvidence (256) bytes,
// with at most three example ids and, for floods, triggers and spectral
// signatures, the sources of those examples ("from \"mallory\" ×3"): who
// sent what drives the verdict. A flip or new-source verdict's subject is
// the source itself. Drift is the feedback as a whole moving: its evidence
// names the feature or the labels and both periods' figures, no examples.
//
// # Inputs
//
// An Example is one feedback event reduced to what the statistics read; an
// adapter from telemetry.Feedback fills it (this package does not import
// telemetry). Its strings may alias a buffer reused after Observe: the
// partials copy what they keep into their own fixed-width slots, shortening
// a key beyond 64 bytes (an id beyond 40) to a prefix and 16 hex digits of
// its xxHash64. Observe does not allocate per example once a partial's
// state has reached its bound.
//
// # Merging
//
// Counts are kept in Space-Saving tables (Metwally et al. 2005, merged as
// in Agarwal et al. 2012): exact, and independent of how the examples were
// split across partitions, while a window has fewer distinct keys than a
// table's capacity; beyond, every key holding more than 1/capacity of the
// table's events keeps a counter that overestimates it by at most its
// recorded overcount, and the scorers use the counts less their overcount
// where that errs towards no alarm. Samples are bottom-k by the hash of the
// example's id and source (exampleKey), each such example kept once (of its
// repeats, the least row), so the merge of partitions' samples is exactly
// the sample of the union, and a source repeating an id takes one place;
// the ids kept as evidence are the three smallest id hashes
// (sketch.SampleKey) per key. A window's encoding (Window.AppendBinary:
// the partials topic, the stored reference feedback) says in its flags
// whether its partials keep their ids' sources, whether the drift's label
// counters keep ids, and whether the drift keeps its sample of examples'
// ids and sources; one encoded before decodes, with none kept
// (TestWindowEncodedBeforeSourcesDecodes,
// TestWindowEncodedBeforeDriftIDsDecodes,
// TestWindowEncodedBeforeDriftExamplesDecodes). A binary older than a flag
// rejects a window that sets it: deciders are upgraded first.
//
// # Memory
//
// In bytes, at the bound (the arrays grow to it with the distinct keys and
// sampled examples a window has; Go's allocator may round each array up by
// a few percent), with d the numeric features:
//
//	poisoning_label_flip      269·MaxSources
//	poisoning_concentration   269·MaxSources
//	poisoning_flood           872·MaxFingerprints
//	poisoning_trigger         122·MaxLabels + 655·MaxPairs
//	poisoning_spectral        (183 + 8·d)·SpectralSample + 12·slots(SpectralSample)
//	poisoning_drift           16·d·DriftSample + 12·d·slots(DriftSample) + 464·MaxLabels
//	                          + 119·min(256, DriftSample) + 12·slots(min(256, DriftSample))
//
// where slots(k), the index of a sample's keys (sketch.KeySet, 12 bytes a
// slot), is the power of two at least 2·k (at least 16).
//
// A table slot is 58 bytes of counters, heap and index, its key width (64;
// 8 for a SimHash fingerprint; 66 for a pair, 131 for a triple) and, where
// ids are kept, 147 bytes for three of them, and 195 more for their
// examples' sources where the evidence names them (flood, trigger, the
// drift's labels; a spectral row keeps its source in 65 bytes, as do the
// 119-byte rows of the drift's sample of examples' ids). With the defaults and d = 20
// that is at most about 5.7 MB per model, window and partition, of which
// the trigger takes 45% (its triples 38%). Scoring a flood partial compares its
// fingerprints pairwise: O(MaxFingerprints²) bit counts per window.
//
// # Not here
//
// No I/O and no sequential tests: each window is scored on its own (a source
// that flips more than the others every window is named every window;
// across-window detection, e.g. CUSUM on a source's rate, belongs to the
// evaluation). No per-source history against its own past, no MinHash, no
// activation clustering, no streaming covariance (Frequent Directions) for
// the spectral signatures: a bounded sample and an exact SVD are enough at
// these sizes.
package poisoning
