package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
)

// Config controls windows, references and drift decisions. Start from
// DefaultConfig, which holds every documented default: a zero field is taken
// as it is (allowed_lateness: 0 accepts no late event), and Validate rejects
// it where zero makes no sense. One default is derived from another field:
// IdleFlush 0 means 2 × WindowSize, filled in by WithDerived after the file
// and the environment are read.
type Config struct {
	// WindowSize is the length of the event-time tumbling windows. Default: 1m.
	WindowSize time.Duration `yaml:"window_size"`
	// AllowedLateness is how long after a window's end, in event time, its
	// events are still accepted. Default: 10s.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// IdleFlush closes, after this much wall-clock time without events on a
	// partition that has nothing left to read, the open windows whose end
	// plus lateness has passed (by the clock). A partition behind its high
	// watermark is lagging, not idle.
	// Default: 0, which WithDerived makes 2 × WindowSize.
	IdleFlush time.Duration `yaml:"idle_flush"`
	// MergeTimeout bounds how long a model window waits for a silent source
	// partition: once the most advanced partition's watermark is this far
	// (in event time) past the window's end plus the lateness, the window
	// is decided without the partitions that have not passed it, which are
	// recorded in model_windows.missing_partitions. Default: 5m.
	MergeTimeout time.Duration `yaml:"merge_timeout"`
	// IdleWait is how long a model window waits for a partition that says it
	// is idle (nothing read for idle_flush) before it is decided without it:
	// a partition that wakes up with events of the window says so within
	// this time and is then waited for; 0 does not wait. Default: 5s.
	IdleWait time.Duration `yaml:"idle_wait"`
	// WarmupWindows is how many closed windows of a model version make its
	// reference when none was imported. Default: 5.
	WarmupWindows int `yaml:"warmup_windows"`
	// SampleSize bounds the uniform sample kept per numeric feature and
	// window; KS compares it with the whole reference sample. At most 10000,
	// so KS p-values are exact while the reference sample is no larger.
	// Default: 1000.
	SampleSize int `yaml:"sample_size"`
	// ReferenceSampleSize bounds the uniform sample of a reference (and of
	// its warm-up windows): reference bins and proportions come from it, so
	// it sets the PSI decision's power. Memory: 16 bytes per value per
	// numeric feature of a model in warm-up. Default: 10000.
	ReferenceSampleSize int `yaml:"reference_sample_size"`
	// FDR is the Benjamini–Hochberg false discovery rate applied, within a
	// window, across the features of each decision test. Default: 0.01.
	FDR float64 `yaml:"fdr"`
	// Bins is the number of reference-quantile bins of numeric features. Default: 10 (deciles).
	Bins int `yaml:"bins"`
	// MaxCategories bounds the categories tracked per categorical feature;
	// the rest are counted as "other". Default: 64.
	MaxCategories int `yaml:"max_categories"`
	// MaxFeatures bounds the features tracked per model version; events'
	// further features are counted in driftwatch_analysis_untracked_features_total. Default: 256.
	MaxFeatures int `yaml:"max_features"`
	// MaxModels bounds the model versions tracked per partition; versions
	// with a pinned reference may take MaxVersions more, which versions in
	// warm-up cannot, so that a flood of made-up versions cannot lock the
	// established ones out. Default: 1000.
	MaxModels int `yaml:"max_models"`
	// MaxOpenVersions bounds, over all partitions of an instance, the model
	// versions with open windows (a version open on two partitions counts
	// twice; versions with a pinned reference may take MaxVersions more); an
	// event of a further one is dead-lettered as too_many_models, as beyond
	// MaxModels, and still moves its partition's event time on. Default: 5000.
	MaxOpenVersions int `yaml:"max_open_versions"`
	// MaxVersions bounds the model versions whose reference or warm-up
	// state an instance keeps in memory (and, in previous_window mode, whose
	// previous window each decider keeps). Beyond it the least recently used
	// one is evicted (driftwatch_analysis_versions_evicted_total): an
	// evicted reference is read from ClickHouse again when its version comes
	// back; an evicted warm-up starts again. A reference takes about
	// 2 × reference_sample_size × 8 bytes per numeric feature, a warm-up
	// state up to 16 bytes per value kept. Default: 100.
	MaxVersions int `yaml:"max_versions"`
	// MinCount is the smallest number of observations on each side for a
	// test to decide drift. Default: 100.
	MinCount int `yaml:"min_count"`
	// Thresholds are the warning and critical thresholds per test.
	Thresholds Thresholds `yaml:"thresholds"`
	// Sequential is the CUSUM run across windows on each decision's evidence.
	Sequential SequentialConfig `yaml:"sequential"`
	// ReferenceModes chooses, per model id, what its windows are scored
	// against: pinned (default), previous_window, previous_day or
	// previous_week (seasonal). Rolling modes still need the pinned
	// reference for their bins and categories, and fall back to it when the
	// earlier window is missing.
	ReferenceModes map[string]string `yaml:"reference_modes"`
	// Signals are the signals every window carries, registered once by the
	// program (not configuration). Default: none.
	Signals *signal.Set `yaml:"-"`
}

// Threshold is a pair of effect-size levels: how large a drift must be to
// matter (material), as opposed to detectable. A test that is significant
// after Benjamini–Hochberg marks its feature drifted (detectable, recorded);
// its severity is warning when its effect size also reaches Warning, critical
// when it reaches Critical, and only a severity pages.
type Threshold struct {
	Warning  float64 `yaml:"warning"`
	Critical float64 `yaml:"critical"`
}

// Thresholds holds the material effect-size levels of the four decisions.
// The defaults lie well above what stationary data reach in windows of 500
// events against a reference of 2,500 (the null values shrink as
// √(1/n_ref + 1/n_window), PSI as 1/n_ref + 1/n_window), and a shift of
// 0.5 standard deviations of one feature reaches warning; docs/statistics.md
// derives them ("Detectable and material").
type Thresholds struct {
	// PSI is the effect of the PSI decision on numeric features (exact
	// counts in reference bins, significance from PSI's chi-square null).
	// Default: 0.15 / 0.25.
	PSI Threshold `yaml:"psi"`
	// WassersteinNorm (Wasserstein-1 over the reference standard deviation)
	// is the effect of the KS decision on numeric features. Default: 0.35 / 0.75.
	WassersteinNorm Threshold `yaml:"wasserstein_norm"`
	// LInf (the largest change of a category's share) is the effect of the
	// chi-square decision on categorical features. Default: 0.15 / 0.3.
	LInf Threshold `yaml:"linf"`
	// Mahalanobis is the effect of the multivariate decision: the
	// Mahalanobis distance of the window mean of all numeric features from
	// the reference mean, in reference standard deviations. Default: 0.4 / 0.8.
	Mahalanobis Threshold `yaml:"mahalanobis"`
}

// DefaultConfig returns the documented defaults. IdleFlush is left 0, to be
// derived from WindowSize by WithDerived.
func DefaultConfig() Config {
	return Config{
		WindowSize:          time.Minute,
		AllowedLateness:     10 * time.Second,
		MergeTimeout:        5 * time.Minute,
		IdleWait:            5 * time.Second,
		WarmupWindows:       5,
		SampleSize:          1000,
		ReferenceSampleSize: 10000,
		FDR:                 0.01,
		Bins:                10,
		MaxCategories:       64,
		MaxFeatures:         256,
		MaxModels:           1000,
		MaxVersions:         100,
		MaxOpenVersions:     5000,
		MinCount:            100,
		Thresholds: Thresholds{
			PSI:             Threshold{Warning: 0.15, Critical: 0.25},
			WassersteinNorm: Threshold{Warning: 0.35, Critical: 0.75},
			LInf:            Threshold{Warning: 0.15, Critical: 0.3},
			Mahalanobis:     Threshold{Warning: 0.4, Critical: 0.8},
		},
		Sequential: DefaultSequentialConfig(),
	}
}

// WithDerived returns c with its derived default filled in: IdleFlush 0
// becomes 2 × WindowSize. It is idempotent and does not change c.
func (c Config) WithDerived() Config {
	if c.IdleFlush == 0 {
		c.IdleFlush = 2 * c.WindowSize
	}
	return c
}

// Validate names the first invalid field. It checks c as WithDerived
// completes it, and does not change c.
func (c Config) Validate() error {
	c = c.WithDerived()
	if c.WindowSize < time.Second || c.WindowSize%time.Second != 0 {
		return fmt.Errorf("window_size: must be a whole number of seconds >= 1s, got %s", c.WindowSize)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("allowed_lateness: must not be negative, got %s", c.AllowedLateness)
	}
	if c.IdleFlush < 0 {
		return fmt.Errorf("idle_flush: must not be negative, got %s", c.IdleFlush)
	}
	if c.MergeTimeout <= 0 {
		return fmt.Errorf("merge_timeout: must be positive, got %s", c.MergeTimeout)
	}
	if c.IdleWait < 0 {
		return fmt.Errorf("idle_wait: must not be negative, got %s", c.IdleWait)
	}
	ints := []struct {
		name     string
		v        int
		min, max int
	}{
		{"warmup_windows", c.WarmupWindows, 1, 10000},
		{"sample_size", c.SampleSize, 10, 10000},
		{"reference_sample_size", c.ReferenceSampleSize, 10, 1000000},
		{"bins", c.Bins, 2, 1000},
		{"max_categories", c.MaxCategories, 2, 100000},
		{"max_features", c.MaxFeatures, 1, 100000},
		{"max_models", c.MaxModels, 1, 1000000},
		{"max_versions", c.MaxVersions, 1, 1000000},
		{"max_open_versions", c.MaxOpenVersions, 1, 100000000},
		{"min_count", c.MinCount, 1, math.MaxInt32},
	}
	for _, f := range ints {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("%s: must be between %d and %d, got %d", f.name, f.min, f.max, f.v)
		}
	}
	if c.ReferenceSampleSize < c.SampleSize {
		return fmt.Errorf("reference_sample_size: must be at least sample_size (%d), got %d", c.SampleSize, c.ReferenceSampleSize)
	}
	if err := c.Sequential.validate(); err != nil {
		return err
	}
	for model, mode := range c.ReferenceModes {
		if !validMode(mode) {
			return fmt.Errorf("reference_modes[%q]: %q is not one of pinned, previous_window, previous_day, previous_week", model, mode)
		}
	}
	if !(c.FDR > 0 && c.FDR < 1) {
		return fmt.Errorf("fdr: must be in (0, 1), got %g", c.FDR)
	}
	ths := []struct {
		name string
		t    Threshold
	}{
		{"thresholds.psi", c.Thresholds.PSI},
		{"thresholds.wasserstein_norm", c.Thresholds.WassersteinNorm},
		{"thresholds.linf", c.Thresholds.LInf},
		{"thresholds.mahalanobis", c.Thresholds.Mahalanobis},
	}
	for _, th := range ths {
		w, cr := th.t.Warning, th.t.Critical
		if w < 0 || cr < 0 || math.IsNaN(w) || math.IsNaN(cr) || math.IsInf(w, 0) || math.IsInf(cr, 0) {
			return fmt.Errorf("%s: levels must be finite non-negative numbers", th.name)
		}
		if cr < w {
			return fmt.Errorf("%s: critical (%g) must not be below warning (%g)", th.name, cr, w)
		}
	}
	return nil
}

// SequentialConfig configures the sequential test run across windows on the
// evidence of each decision series (model version, feature, decision test).
type SequentialConfig struct {
	// Disabled turns the sequential test off. Default: false.
	Disabled bool `yaml:"disabled"`
	// Detector runs on each series: cusum (one-sided, known N(0,1) evidence,
	// Slack and Threshold below), page_hinkley, adwin or ewma (River's
	// defaults, on the evidence in its own units). Default: cusum.
	Detector string `yaml:"detector"`
	// Slack is the CUSUM allowance k on the evidence z = Φ⁻¹(1 − p), which is
	// N(0, 1) while nothing drifts. Default: 0.5.
	Slack float64 `yaml:"slack"`
	// Threshold is the CUSUM decision interval h. The in-control run length
	// of one series is about (e^{2k(h+1.166)} − 2k(h+1.166) − 1)/(2k²)
	// windows (Siegmund): ≈ 2.8 million windows at k 0.5, h 12, so that
	// thousands of series raise few false alarms. It holds because each
	// series' evidence is standardised against its own history since the
	// reference was pinned (self-starting, docs/detectors.md): the finite
	// reference biases a series' raw evidence, which a chart with known
	// mean 0 would accumulate. Default: 12.
	Threshold float64 `yaml:"threshold"`
	// MaxSeries bounds the series tracked. When it is reached, series whose
	// last window ended more than IdleAfter before the new one are evicted
	// (their model version went silent); with none to evict, the new series
	// is not tested (0 tests none). Default: 100000.
	MaxSeries int `yaml:"max_series"`
	// IdleAfter is how long a series may go without a window before it can
	// be evicted for MaxSeries. Default: 24h.
	IdleAfter time.Duration `yaml:"idle_after"`
	// HistoryWindows is how many previous windows of a signal statistic its
	// robust z (<signal>_history, docs/signals.md) is computed against; 0
	// turns the history and the DDM of the 0/1 signals off. Default: 24.
	HistoryWindows int `yaml:"history_windows"`
	// HistoryLevel is the |robust z| at which a signal statistic is a
	// warning against its own history. Default: 5 (with 24 windows, about
	// 0.1% of stationary normal windows; Iglewicz and Hoaglin's 3.5 labels
	// outliers in 2.4% of them against 12 windows).
	HistoryLevel float64 `yaml:"history_level"`
	// HistoryPages makes the <signal>_history warnings open alerts. They
	// are recorded in the signals table either way. Default: false: a
	// robust z against 24 windows is a detectable change, not a material
	// one: on skewed statistics (rates, densities) it warns in about 1% of
	// stationary windows, and 30 days of stationary telemetry paged on one
	// (make stationary; docs/signals.md).
	HistoryPages bool `yaml:"history_pages"`
	// CallerHistory bounds the history of the access signals' callers,
	// each against its own last HistoryWindows windows (caller_history.go
	// in analysis/evaluate, docs/signals.md).
	CallerHistory CallerHistoryConfig `yaml:"caller_history"`
}

// CallerHistoryConfig bounds the per-caller history of the access signals:
// per model version, five figures of its tracked callers (calls, shares
// of probes, of distinct inputs and of inputs out of distribution, entropy
// of the classes) in their last sequential.history_windows windows.
// Memory: at most MaxVersions × MaxCallers × (20·history_windows + 300 +
// the caller's name) bytes, about 100 MB at the defaults with 256-byte
// names (80 MB with 16-byte ones). It lives in the decider's memory; a
// decider that meets a version it holds no caller history of (after a
// restart, or a move of the model to it) reads it back from the version's
// last 2·history_windows windows: their caller_windows rows and the light
// callers their model_windows rows keep.
type CallerHistoryConfig struct {
	// MaxCallers bounds the callers with a history per model version; 0
	// turns the per-caller history and caller_new_heavy off. When it is
	// reached, a new caller takes the place of the caller seen least
	// recently among those whose history is not full yet, else among all,
	// never of one seen in the same window. Default: 1000.
	MaxCallers int `yaml:"max_callers"`
	// MaxNew bounds the callers admitted per model version and window, the
	// heaviest first; the others are refused and counted, so that a flood of
	// made-up callers replaces at most MaxNew kept callers a window (and
	// never one with a full history while others have none). Default: 100.
	MaxNew int `yaml:"max_new"`
	// MinCalls is the fewest calls of a caller in a window before it is
	// judged against its own history (calls of the kind, under its own
	// counter, for a share: scored calls for probes, calls with inputs for
	// distinct inputs and inputs out of distribution, calls with a class
	// for the classes' entropy).
	// Default: 100.
	MinCalls int `yaml:"min_calls"`
	// MaxVersions bounds the model versions with caller histories; beyond
	// it the version whose last window is the oldest is forgotten.
	// Default: 100.
	MaxVersions int `yaml:"max_versions"`
	// MaxSubjects bounds the callers named per window in each of
	// caller_volume_history, caller_probing_history,
	// caller_diversity_history, caller_ood_history and
	// caller_harvest_history, the largest z first. Default: 16.
	MaxSubjects int `yaml:"max_subjects"`
}

// DefaultSequentialConfig returns the documented defaults of SequentialConfig.
func DefaultSequentialConfig() SequentialConfig {
	return SequentialConfig{Detector: DetectorCUSUM, Slack: 0.5, Threshold: 12, MaxSeries: 100000, IdleAfter: 24 * time.Hour,
		HistoryWindows: 24, HistoryLevel: 5,
		CallerHistory: CallerHistoryConfig{MaxCallers: 1000, MaxNew: 100, MinCalls: 100, MaxVersions: 100, MaxSubjects: 16}}
}

// validate names the bad field; it does not change c.
func (c SequentialConfig) validate() error {
	switch c.Detector {
	case DetectorCUSUM, DetectorPageHinkley, DetectorADWIN, DetectorEWMA:
	default:
		return fmt.Errorf("sequential.detector: %q is not one of cusum, page_hinkley, adwin, ewma", c.Detector)
	}
	switch {
	case !(c.Slack > 0) || math.IsInf(c.Slack, 0):
		return fmt.Errorf("sequential.slack: must be positive, got %g", c.Slack)
	case !(c.Threshold > 0) || math.IsInf(c.Threshold, 0):
		return fmt.Errorf("sequential.threshold: must be positive, got %g", c.Threshold)
	case c.MaxSeries < 0:
		return fmt.Errorf("sequential.max_series: must not be negative, got %d", c.MaxSeries)
	case c.IdleAfter <= 0:
		return fmt.Errorf("sequential.idle_after: must be positive, got %s", c.IdleAfter)
	case c.HistoryWindows < 0 || c.HistoryWindows > 1000:
		return fmt.Errorf("sequential.history_windows: must be in [0, 1000], got %d", c.HistoryWindows)
	case !(c.HistoryLevel > 0) || math.IsInf(c.HistoryLevel, 0):
		return fmt.Errorf("sequential.history_level: must be positive, got %g", c.HistoryLevel)
	}
	h := c.CallerHistory
	for _, f := range []struct {
		name     string
		v        int
		min, max int
	}{
		{"max_callers", h.MaxCallers, 0, 1000000},
		{"max_new", h.MaxNew, 1, 1000000},
		{"min_calls", h.MinCalls, 1, math.MaxInt32},
		{"max_versions", h.MaxVersions, 1, 1000000},
		{"max_subjects", h.MaxSubjects, 1, 1000},
	} {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("sequential.caller_history.%s: must be between %d and %d, got %d", f.name, f.min, f.max, f.v)
		}
	}
	return nil
}

// Sequential detectors the monitor can run on decision evidence.
const (
	DetectorCUSUM       = "cusum"
	DetectorPageHinkley = "page_hinkley"
	DetectorADWIN       = "adwin"
	DetectorEWMA        = "ewma"
)
