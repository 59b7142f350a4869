package evaluate

import (
	"math"
	"sync"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/detect"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// maxEvidence bounds one window's evidence so that a single extreme p-value
// cannot carry the sum alone.
const maxEvidence = 8

// SelfStartWindows is how many windows a series learns its own in-control
// evidence from before its detector is fed (docs/detectors.md, "Self-starting
// evidence").
const SelfStartWindows = 10

// learnLimit is the largest standardised evidence a series learns from:
// beyond it (0.13% of in-control windows) a window is taken as out of
// control and kept out of the in-control estimates, so that a long drift
// is not learnt as the new normal while it lasts.
const learnLimit = 3

// The moments of N(0, 1) truncated above at learnLimit, with which the
// learnt moments are corrected for the windows left out: mean −φ(3)/Φ(3)
// and variance 1 − 3φ(3)/Φ(3) − (φ(3)/Φ(3))².
const (
	truncatedMean     = -0.004443
	truncatedVariance = 0.986667
)

// minEvidenceSD floors the standard deviation the evidence is standardised
// with: a series whose p-values barely vary (ties, a test that never moves)
// must not turn its first small change into a huge standardised value.
const minEvidenceSD = 0.25

type seriesKey struct {
	model         analysis.ModelKey
	feature, test string
}

// Evidence runs, per decision series, a one-sided CUSUM (River's semantics:
// CUSUMConfig with known mean 0 and σ 1) on the per-window evidence
// z = Φ⁻¹(1 − p), standardised against the series' own history since the
// reference was pinned (a self-starting chart, Hawkins 1987). It finds
// drifts too small for any single window to be significant, and ends a
// series' alarm by resetting it on its next window.
//
// Why self-starting: every window of a series is tested against the same
// finite reference sample, whose own sampling error shifts the series'
// p-values the same way in every window, so z is not N(0, 1) but N(μ, σ²)
// with a μ of its own; a chart with known mean 0 accumulates μ and alarms
// within tens of windows. Each window's z is instead turned into
// u = Φ⁻¹(F_{t,n−1}((z − z̄_n)/(s_n·√(1 + 1/n)))), where z̄_n and s_n are the
// mean and standard deviation of the series' n earlier windows (corrected for
// the windows left out, below): u is exactly
// N(0, 1) and independent across windows when the z are normal with any
// fixed μ and σ (Hawkins 1987; Quesenberry 1991), which is the in-control
// state the detectors assume. A series only learns during its first
// SelfStartWindows windows; afterwards a window on which the detector
// alarms, or whose u exceeds learnLimit, is not learnt (it is out of
// control: a drift must not become the series' normal while it lasts).
//
// It is safe for concurrent use; it is called once per window, never per event.
type Evidence struct {
	cfg     analysis.SequentialConfig
	mu      sync.Mutex
	series  map[seriesKey]*series
	signals map[seriesKey]*signalSeries       // History's series (history.go)
	callers map[analysis.ModelKey]*callerBook // CallerHistory's callers (caller_history.go)
	// histories are the model versions whose History has been fed or
	// restored here (history.go), at most maxHistoryVersions.
	histories map[analysis.ModelKey]bool
	dropped   int
	evicted   int
	swept     time.Time // the window end of the last sweep for idle series
	// The callers refused a history, and those forgotten to make room.
	callersRefused, callersEvicted int
	// selfStart is SelfStartWindows; 0 feeds the raw evidence (known N(0, 1)
	// in control), which the tests of the detectors' arithmetic use.
	selfStart int
}

type series struct {
	det     detect.Detector
	stat    func() float64 // the detector's statistic after the last update
	rising  func() bool    // whether a detection is an increase (ADWIN sees both directions)
	last    time.Time      // end of the last window fed
	lastRow Score          // the row returned for it, returned again for a re-read window

	ref string // the pinned reference the series learnt against ("": any)

	// The evidence learnt so far (Welford's running moments).
	n        int
	mean, m2 float64
}

// standardise returns z standardised against the evidence learnt: the
// self-starting transform u = Φ⁻¹(F_{t,n−1}(√(n/(n+1))·(z − z̄)/s)).
func (se *series) standardise(z float64) float64 {
	sd := math.Max(math.Sqrt(se.m2/float64(se.n-1)/truncatedVariance), minEvidenceSD)
	t := math.Sqrt(float64(se.n)/float64(se.n+1)) * (z - (se.mean - truncatedMean*sd)) / sd
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(se.n - 1)}
	// Read the smaller tail, where the probability keeps its precision.
	if t > 0 {
		return -distuv.UnitNormal.Quantile(st.Survival(t))
	}
	return distuv.UnitNormal.Quantile(st.CDF(t))
}

// learn adds z to the series' in-control evidence.
func (se *series) learn(z float64) {
	se.n++
	d := z - se.mean
	se.mean += d / float64(se.n)
	se.m2 += d * (z - se.mean)
}

// newSeries returns a fresh detector of the configured kind.
func (e *Evidence) newSeries() (*series, error) {
	switch e.cfg.Detector {
	// Only an increase of the evidence is drift: its end is not.
	case analysis.DetectorPageHinkley:
		c := detect.DefaultPageHinkleyConfig()
		c.Mode = "up"
		d, err := detect.NewPageHinkley(c)
		return &series{det: d, stat: func() float64 { return math.NaN() }}, err
	case analysis.DetectorADWIN:
		d, err := detect.NewADWIN(detect.DefaultADWINConfig())
		if err != nil {
			return nil, err
		}
		se := &series{det: d, stat: d.Estimation}
		before := math.NaN()
		se.rising = func() bool {
			// Called after Update: the estimate moves to the recent mean after a cut.
			up := math.IsNaN(before) || d.Estimation() > before
			before = d.Estimation()
			return up
		}
		return se, nil
	case analysis.DetectorEWMA:
		c := detect.DefaultEWMAConfig()
		c.Mode = "up"
		d, err := detect.NewEWMA(c)
		if err != nil {
			return nil, err
		}
		return &series{det: d, stat: d.Statistic}, nil
	}
	d, err := detect.NewCUSUM(detect.CUSUMConfig{Slack: e.cfg.Slack, Threshold: e.cfg.Threshold, Mode: "up", Mean: 0, Sigma: 1})
	if err != nil {
		return nil, err
	}
	return &series{det: d, stat: func() float64 { up, _ := d.Sums(); return up }}, nil
}

// NewEvidence returns an empty set of series.
func NewEvidence(cfg analysis.SequentialConfig) *Evidence {
	return &Evidence{cfg: cfg, series: make(map[seriesKey]*series), signals: make(map[seriesKey]*signalSeries),
		callers: make(map[analysis.ModelKey]*callerBook), histories: make(map[analysis.ModelKey]bool), selfStart: SelfStartWindows}
}

// Add feeds the decision scores of one closed window of model m, ending at
// end, to their series and returns one score per series fed: test
// "cusum_<test>", the upper CUSUM sum as statistic, the decision interval as
// threshold, drifted (warning) when the sum passed it. During a series' first
// SelfStartWindows windows its detector is not fed (its row says so with the
// detector's initial statistic). A window that does not end after the
// series' last one (re-read after a failed write, or late from another
// partition) is not fed again.
func (e *Evidence) Add(m analysis.ModelKey, end time.Time, scores []Score) []Score {
	return e.AddAgainst(m, "", end, scores)
}

// AddAgainst is Add for windows opened against the pinned reference refID:
// a series that learnt its evidence against another reference (the model
// version was given a new one) starts again, as its in-control evidence was
// that of the other reference's sampling error. An empty refID is any.
func (e *Evidence) AddAgainst(m analysis.ModelKey, refID string, end time.Time, scores []Score) []Score {
	if e == nil || e.cfg.Disabled {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Score
	normal := distuv.UnitNormal
	for _, sc := range scores {
		if math.IsNaN(sc.AdjustedP) || math.IsNaN(sc.PValue) {
			continue // not a decision, or not enough observations to test
		}
		k := seriesKey{m, sc.Feature, sc.Test}
		se := e.series[k]
		if se != nil && refID != "" && se.ref != refID {
			delete(e.series, k) // learnt against another reference
			se = nil
		}
		if se == nil {
			// One bound for these series and History's.
			if len(e.series)+len(e.signals) >= e.cfg.MaxSeries {
				e.sweep(end)
			}
			if len(e.series)+len(e.signals) >= e.cfg.MaxSeries {
				e.dropped++
				continue
			}
			var err error
			if se, err = e.newSeries(); err != nil {
				panic("BUG: validated sequential config rejected: " + err.Error())
			}
			se.ref = refID
			e.series[k] = se
		}
		if end.Equal(se.last) {
			// Re-read after a failed write: the detector already saw this
			// window; store the same row again.
			out = append(out, se.lastRow)
			continue
		}
		if end.Before(se.last) {
			continue
		}
		se.last = end
		z := normal.Quantile(1 - sc.PValue)
		if math.IsNaN(z) {
			continue
		}
		z = math.Max(-maxEvidence, math.Min(maxEvidence, z))
		fed := se.n >= e.selfStart
		u := z
		if fed {
			if e.selfStart > 0 {
				u = math.Max(-maxEvidence, math.Min(maxEvidence, se.standardise(z)))
			}
			se.det.Update(u)
		}
		th := math.NaN()
		if e.cfg.Detector == analysis.DetectorCUSUM {
			th = e.cfg.Threshold
		}
		row := Score{Feature: sc.Feature, Kind: sc.Kind, Test: e.cfg.Detector + "_" + sc.Test, Statistic: se.stat(),
			PValue: math.NaN(), Effect: math.NaN(), AdjustedP: math.NaN(), Threshold: th,
			Severity: verdict.SeverityOK, NReference: sc.NReference, NCurrent: sc.NCurrent}
		rising := true
		if fed && se.rising != nil {
			rising = se.rising()
		}
		alarm := fed && se.det.DriftDetected()
		if alarm && rising {
			row.Drifted, row.Severity = true, verdict.SeverityWarning
		}
		if !alarm && (!fed || u <= learnLimit) {
			se.learn(z)
		}
		se.lastRow = row
		out = append(out, row)
	}
	return out
}

// Dropped returns how many series were not tested because of MaxSeries.
func (e *Evidence) Dropped() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// Evicted returns how many idle series were evicted to make room.
func (e *Evidence) Evicted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evicted
}

// sweep evicts the series whose last window ended more than IdleAfter
// before end, at most once per window end (a full map of live series is not
// scanned again for every new one). Called with mu held.
func (e *Evidence) sweep(end time.Time) {
	if !end.After(e.swept) {
		return
	}
	e.swept = end
	for k, se := range e.series {
		if end.Sub(se.last) > e.cfg.IdleAfter {
			delete(e.series, k)
			e.evicted++
		}
	}
	for k, se := range e.signals {
		if end.Sub(se.last) > e.cfg.IdleAfter {
			delete(e.signals, k)
			e.evicted++
		}
	}
}
