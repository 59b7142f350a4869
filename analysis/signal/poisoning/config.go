package poisoning

import (
	"fmt"
	"math"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// Example is one training-feedback event as the poisoning signals read it.
// The adapter from the feedback topic fills it; every string may alias a
// buffer that is reused once Observe returns (the partials copy what they
// keep).
type Example struct {
	// ID identifies the feedback (its feedback_id): the sampling key and
	// what the evidence names. An example without one is counted but not
	// sampled.
	ID string
	// Source is who gave the feedback (the adapter's choice of principal
	// field); "" when unknown.
	Source string
	// ProposedLabel is the label the feedback proposes; "" for none.
	ProposedLabel string
	// PredictedLabel is the model's own prediction for the example, when
	// the feedback refers to an inference whose prediction is known; ""
	// otherwise.
	PredictedLabel string
	// ContentSHA256 is the hex SHA-256 of the example's content; "" for
	// none.
	ContentSHA256 string
	// Numeric holds the values of the numeric features named by
	// Features.Numeric, in that order; NaN for an absent value. A slice of
	// another length is counted as malformed and its values ignored.
	Numeric []float64
	// Categorical holds the values of the categorical features named by
	// Features.Categorical, in that order; "" for an absent value. A slice
	// of another length is counted as malformed and its values ignored.
	Categorical []string
}

// Features names the model's features in the order of Example.Numeric and
// Example.Categorical.
type Features struct {
	Numeric, Categorical []string
}

// MaxFeatures bounds the features of each kind.
const MaxFeatures = 256

// Validate checks the number of features and that names are distinct and
// non-empty.
func (f Features) Validate() error {
	if len(f.Numeric) > MaxFeatures || len(f.Categorical) > MaxFeatures {
		return fmt.Errorf("features: at most %d of each kind, got %d numeric and %d categorical", MaxFeatures, len(f.Numeric), len(f.Categorical))
	}
	seen := make(map[string]bool, len(f.Numeric)+len(f.Categorical))
	for _, n := range append(append([]string(nil), f.Numeric...), f.Categorical...) {
		if n == "" || seen[n] {
			return fmt.Errorf("features: %q is empty or named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// Config configures the poisoning signals. Start from DefaultConfig.
type Config struct {
	// MaxSources bounds the sources counted per window and partition by
	// poisoning_label_flip and poisoning_concentration (Space-Saving: exact
	// while the window has fewer sources). Default: 1000.
	MaxSources int `yaml:"max_sources"`
	// MaxSubjects bounds the subjects a signal names per window, the most
	// significant first. Default: 16.
	MaxSubjects int `yaml:"max_subjects"`
	// MinCount is the fewest examples a source (label flips, new sources),
	// a label (spectral signatures) or a feature (drift, on each side) needs
	// before it is tested. Default: 50.
	MinCount int `yaml:"min_count"`
	// LabelFlip levels the excess of a source's flip rate over the other
	// sources' (and of the window's over the reference's). Default: 0.1 / 0.3.
	LabelFlip outputs.Levels `yaml:"label_flip"`
	// Concentration levels the rise of the Herfindahl–Hirschman index of
	// sources over the reference's. Default: 0.05 / 0.15.
	Concentration outputs.Levels `yaml:"concentration"`
	// NewSource levels the share of the window of a source the reference
	// did not have. Default: 0.05 / 0.5.
	NewSource outputs.Levels `yaml:"new_source"`
	// MaxFingerprints bounds the content hashes, and separately the SimHash
	// fingerprints, counted per window and partition. Default: 1024.
	MaxFingerprints int `yaml:"max_fingerprints"`
	// QuantizeDigits is the number of significant decimal digits a numeric
	// value keeps before it is hashed into a SimHash fingerprint. Default: 2.
	QuantizeDigits int `yaml:"quantize_digits"`
	// HammingRadius groups SimHash fingerprints at most this many bits
	// apart into one near-duplicate group. Default: 3.
	HammingRadius int `yaml:"hamming_radius"`
	// Flood levels the excess share of the window held by one content hash
	// or near-duplicate group over its share in the reference. Default:
	// 0.02 / 0.1.
	Flood outputs.Levels `yaml:"flood"`
	// MaxPairs bounds the (feature, value) pairs, and separately the
	// (feature, value, label) triples, counted per window and partition.
	// Default: 4096.
	MaxPairs int `yaml:"max_pairs"`
	// MaxLabels bounds the proposed labels counted per window and
	// partition. Default: 64.
	MaxLabels int `yaml:"max_labels"`
	// MinSupport is the fewest examples with a categorical value and a
	// label before their association is tested, and the fewest in a
	// near-duplicate group before it is tested. Default: 20.
	MinSupport int `yaml:"min_support"`
	// Trigger levels the rise of P(label | value) over the reference's (over
	// the reference's base rate of the label for a value the reference did
	// not have). Default: 0.3 / 0.6.
	Trigger outputs.Levels `yaml:"trigger"`
	// SpectralSample bounds the examples kept per window for the spectral
	// signatures (a bottom-k sample by hash of the id). Default: 2000.
	SpectralSample int `yaml:"spectral_sample"`
	// OutlierScore is the standardised spectral score (a χ²₁ scale: the
	// squared projection over its median, times χ²₁'s median) beyond which
	// an example is an outlier. Default: 9.
	OutlierScore float64 `yaml:"outlier_score"`
	// Epsilon is the bound ε on the poisoned fraction of a label, as in
	// Tran, Li and Mądry: the evidence lists the examples among the
	// 1.5·ε·n highest scores. Default: 0.05.
	Epsilon float64 `yaml:"epsilon"`
	// Spectral levels the excess of a label's outlier share over the
	// reference's. Default: 0.01 / 0.03.
	Spectral outputs.Levels `yaml:"spectral"`
	// DriftSample bounds the values kept per numeric feature and window for
	// the Kolmogorov–Smirnov test (at most 10000, where p-values are
	// exact). Default: 1000.
	DriftSample int `yaml:"drift_sample"`
	// Drift levels the Kolmogorov–Smirnov distance of a numeric feature
	// from the reference. Default: 0.1 / 0.3.
	Drift outputs.Levels `yaml:"drift"`
	// LabelShift levels the largest change of a proposed label's share
	// from the reference. Default: 0.05 / 0.15.
	LabelShift outputs.Levels `yaml:"label_shift"`
	// SampleKey keys the hash that chooses the examples the samples keep
	// (poisoning_drift's, poisoning_serving_drift's and
	// poisoning_spectral's): a secret, the same on every instance (the
	// monitor reads it from signals.poisoning.sample_key_file). Unkeyed
	// (""), a producer can choose ids that no sample takes, hiding its
	// examples from those signals. Not configuration: never written out.
	SampleKey string `yaml:"-"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MaxSources: 1000, MaxSubjects: 16, MinCount: 50,
		LabelFlip:       outputs.Levels{Warning: 0.1, Critical: 0.3},
		Concentration:   outputs.Levels{Warning: 0.05, Critical: 0.15},
		NewSource:       outputs.Levels{Warning: 0.05, Critical: 0.5},
		MaxFingerprints: 1024, QuantizeDigits: 2, HammingRadius: 3,
		Flood:    outputs.Levels{Warning: 0.02, Critical: 0.1},
		MaxPairs: 4096, MaxLabels: 64, MinSupport: 20,
		Trigger:        outputs.Levels{Warning: 0.3, Critical: 0.6},
		SpectralSample: 2000, OutlierScore: 9, Epsilon: 0.05,
		Spectral:    outputs.Levels{Warning: 0.01, Critical: 0.03},
		DriftSample: 1000,
		Drift:       outputs.Levels{Warning: 0.1, Critical: 0.3},
		LabelShift:  outputs.Levels{Warning: 0.05, Critical: 0.15},
	}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	for _, b := range []struct {
		name     string
		v, lo, h int
	}{
		{"max_sources", c.MaxSources, 1, 1_000_000},
		{"max_subjects", c.MaxSubjects, 1, 1000},
		{"min_count", c.MinCount, 2, math.MaxInt32},
		{"max_fingerprints", c.MaxFingerprints, 1, 1_000_000},
		{"quantize_digits", c.QuantizeDigits, 1, 15},
		{"hamming_radius", c.HammingRadius, 0, 16},
		{"max_pairs", c.MaxPairs, 1, 1_000_000},
		{"max_labels", c.MaxLabels, 2, 100_000},
		{"min_support", c.MinSupport, 1, math.MaxInt32},
		{"spectral_sample", c.SpectralSample, 2, 1_000_000},
		{"drift_sample", c.DriftSample, 2, 10_000},
	} {
		if b.v < b.lo || b.v > b.h {
			return fmt.Errorf("%s: must be in [%d, %d], got %d", b.name, b.lo, b.h, b.v)
		}
	}
	switch {
	case !(c.OutlierScore > 0) || math.IsInf(c.OutlierScore, 0):
		return fmt.Errorf("outlier_score: must be positive and finite, got %g", c.OutlierScore)
	case !(c.Epsilon > 0 && c.Epsilon < 1):
		return fmt.Errorf("epsilon: must be in (0, 1), got %g", c.Epsilon)
	}
	for _, l := range []struct {
		name string
		l    outputs.Levels
	}{{"label_flip", c.LabelFlip}, {"concentration", c.Concentration}, {"new_source", c.NewSource}, {"flood", c.Flood},
		{"trigger", c.Trigger}, {"spectral", c.Spectral}, {"drift", c.Drift}, {"label_shift", c.LabelShift}} {
		if err := l.l.Validate(); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

// Partial is the state of one poisoning signal over the feedback of one
// model and window read from one partition. It has the verbs of
// signal.Partial, over Examples instead of inference events, so that an
// adapter from the feedback topic wraps it.
type Partial interface {
	// Observe adds examples. It copies what it keeps, and does not
	// allocate per example once its state has grown to its bound.
	Observe(examples []Example)
	// Merge adds o, a partial of the same signal and configuration over a
	// disjoint set of examples of the same model and window.
	Merge(o Partial)
	// AppendBinary appends the state to b.
	AppendBinary(b []byte) []byte
	// Decode reads what AppendBinary wrote into this empty partial,
	// failing d (sketch.ErrCorrupt) on input that does not fit the
	// configured bounds; hostile input allocates within them.
	Decode(d *sketch.Decoder)
}

// Signal is one poisoning signal: it makes empty partials and scores merged
// ones, as signal.Signal does.
type Signal interface {
	// Name names the signal in the signals table and in alerts.
	Name() string
	// NewPartial returns an empty partial.
	NewPartial() Partial
	// Score returns the verdicts of a merged window's partial cur against
	// ref, the merged partial of the reference period (nil when there is
	// none). It does no I/O.
	Score(cur, ref Partial) []signal.Verdict
}

// Signals returns every poisoning signal over features f, in a fixed order.
// cfg and f must be valid.
func Signals(cfg Config, f Features) []Signal {
	return []Signal{LabelFlip{cfg}, Concentration{cfg}, Flood{cfg, f}, Trigger{cfg, f}, Spectral{cfg, f}, Drift{cfg, f}}
}
