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

type seriesKey struct {
	model         analysis.ModelKey
	feature, test string
}

// Evidence runs, per decision series, a one-sided CUSUM (River's semantics:
// CUSUMConfig with known mean 0 and σ 1) on the per-window evidence
// z = Φ⁻¹(1 − p). It finds drifts too small for any single window to be
// significant, and ends a series' alarm by resetting it on its next window.
// It is safe for concurrent use; it is called once per window, never per event.
type Evidence struct {
	cfg     analysis.SequentialConfig
	mu      sync.Mutex
	series  map[seriesKey]*series
	signals map[seriesKey]*signalSeries // History's series (history.go)
	dropped int
	evicted int
	swept   time.Time // the window end of the last sweep for idle series
}

type series struct {
	det     detect.Detector
	stat    func() float64 // the detector's statistic after the last update
	rising  func() bool    // whether a detection is an increase (ADWIN sees both directions)
	last    time.Time      // end of the last window fed
	lastRow Score          // the row returned for it, returned again for a re-read window
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
	return &Evidence{cfg: cfg, series: make(map[seriesKey]*series), signals: make(map[seriesKey]*signalSeries)}
}

// Add feeds the decision scores of one closed window of model m, ending at
// end, to their series and returns one score per series fed: test
// "cusum_<test>", the upper CUSUM sum as statistic, the decision interval as
// threshold, drifted (warning) when the sum passed it. A window that does not
// end after the series' last one (re-read after a failed write, or late from
// another partition) is not fed again.
func (e *Evidence) Add(m analysis.ModelKey, end time.Time, scores []Score) []Score {
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
		se.det.Update(math.Max(-maxEvidence, math.Min(maxEvidence, z)))
		th := math.NaN()
		if e.cfg.Detector == analysis.DetectorCUSUM {
			th = e.cfg.Threshold
		}
		row := Score{Feature: sc.Feature, Kind: sc.Kind, Test: e.cfg.Detector + "_" + sc.Test, Statistic: se.stat(),
			PValue: math.NaN(), Effect: math.NaN(), AdjustedP: math.NaN(), Threshold: th,
			Severity: verdict.SeverityOK, NReference: sc.NReference, NCurrent: sc.NCurrent}
		rising := true
		if se.rising != nil {
			rising = se.rising()
		}
		if se.det.DriftDetected() && rising {
			row.Drifted, row.Severity = true, verdict.SeverityWarning
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
