package detect

import (
	"fmt"
	"math"
)

// ADWINConfig configures an ADWIN detector. A zero field takes its default.
type ADWINConfig struct {
	// Delta is the significance δ of the cut test, in (0, 1). Default: 0.002.
	Delta float64
	// Clock is how often, in values, the window is searched for a cut.
	// Default: 32.
	Clock int
	// MaxBuckets is how many buckets of one size are kept before the two
	// oldest are merged. Default: 5.
	MaxBuckets int
	// MinWindowLength is the smallest size of either sub-window at a cut.
	// Default: 5.
	MinWindowLength int
	// GracePeriod is how many values the window must exceed before it is
	// searched for a cut. Default: 10.
	GracePeriod int
}

// DefaultADWINConfig returns River's defaults.
func DefaultADWINConfig() ADWINConfig {
	return ADWINConfig{Delta: 0.002, Clock: 32, MaxBuckets: 5, MinWindowLength: 5, GracePeriod: 10}
}

// adwinRow holds the buckets of one size, 2^i values each, oldest first: the
// sum of each bucket's values and the sum of squared deviations from its mean.
type adwinRow struct {
	total    []float64
	variance []float64
}

// ADWIN is River's adaptive windowing detector (river.drift.ADWIN over the
// C-array AdaptiveWindowing of adwin_c.pyx, Bifet & Gavaldà 2007): an
// exponential histogram of the recent values, cut where the means of the
// older and newer parts differ by more than a Hoeffding-style bound. As in
// River, the whole window is discarded on the Update after a detection.
type ADWIN struct {
	delta           float64
	clock           int
	maxBuckets      int
	minWindowLength float64
	gracePeriod     float64

	rows     []adwinRow // rows[i] holds buckets of 2^i values; rows[0] is the newest
	width    float64
	total    float64
	variance float64 // sum of squared deviations from the window mean
	tick     int
	drift    bool
}

// NewADWIN validates c, fills its zero fields with defaults and returns a
// fresh detector.
func NewADWIN(c ADWINConfig) (*ADWIN, error) {
	const name = "adwin"
	d := DefaultADWINConfig()
	if c.Delta == 0 {
		c.Delta = d.Delta
	}
	if c.Clock == 0 {
		c.Clock = d.Clock
	}
	if c.MaxBuckets == 0 {
		c.MaxBuckets = d.MaxBuckets
	}
	if c.MinWindowLength == 0 {
		c.MinWindowLength = d.MinWindowLength
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = d.GracePeriod
	}
	if err := checkDetectorFloat(name, "delta", c.Delta); err != nil {
		return nil, err
	}
	if c.Delta <= 0 || c.Delta >= 1 {
		return nil, fmt.Errorf("%s: delta must be in (0, 1), got %g", name, c.Delta)
	}
	for _, f := range []struct {
		field string
		v     int
	}{{"clock", c.Clock}, {"max_buckets", c.MaxBuckets}, {"min_window_length", c.MinWindowLength}, {"grace_period", c.GracePeriod}} {
		if f.v < 1 {
			return nil, fmt.Errorf("%s: %s must be at least 1, got %d", name, f.field, f.v)
		}
	}
	a := &ADWIN{
		delta:           c.Delta,
		clock:           c.Clock,
		maxBuckets:      c.MaxBuckets,
		minWindowLength: float64(c.MinWindowLength),
		gracePeriod:     float64(c.GracePeriod),
	}
	a.reset()
	return a, nil
}

// reset empties the window, keeping the rows' memory for reuse.
func (a *ADWIN) reset() {
	a.rows = a.rows[:0]
	a.addRow()
	a.width, a.total, a.variance = 0, 0, 0
	a.tick = 0
	a.drift = false
}

// addRow appends an empty row, reusing a previously allocated one if any.
func (a *ADWIN) addRow() {
	if len(a.rows) < cap(a.rows) {
		a.rows = a.rows[:len(a.rows)+1]
		r := &a.rows[len(a.rows)-1]
		r.total, r.variance = r.total[:0], r.variance[:0]
		return
	}
	a.rows = append(a.rows, adwinRow{
		total:    make([]float64, 0, a.maxBuckets+1),
		variance: make([]float64, 0, a.maxBuckets+1),
	})
}

// dropOldest removes the n oldest buckets of row r.
func (r *adwinRow) dropOldest(n int) {
	k := copy(r.total, r.total[n:])
	copy(r.variance, r.variance[n:])
	r.total, r.variance = r.total[:k], r.variance[:k]
}

// Update feeds x. After a detection, it first empties the window.
func (a *ADWIN) Update(x float64) {
	if !detectorFinite(x) {
		return
	}
	if a.drift {
		a.reset()
	}
	a.insert(x)
	a.drift = a.detect()
}

// DriftDetected reports whether the last Update detected a change.
func (a *ADWIN) DriftDetected() bool { return a.drift }

// Width is the number of values in the current window.
func (a *ADWIN) Width() int { return int(a.width) }

// Estimation is the mean of the current window, 0 when it is empty.
func (a *ADWIN) Estimation() float64 {
	if a.width == 0 {
		return 0
	}
	return a.total / a.width
}

// Variance is the population variance of the current window (the sum of
// squared deviations divided by the width), 0 when it is empty. River's
// ADWIN.variance property returns the undivided sum instead.
func (a *ADWIN) Variance() float64 {
	if a.width == 0 {
		return 0
	}
	return a.variance / a.width
}

// insert adds x as a new bucket of one value and merges full rows.
func (a *ADWIN) insert(x float64) {
	if len(a.rows) == 0 {
		a.addRow()
	}
	r := &a.rows[0]
	r.total = append(r.total, x)
	r.variance = append(r.variance, 0)
	a.width++
	if a.width > 1 {
		d := x - a.total/(a.width-1)
		a.variance += (a.width - 1) * d * d / a.width
	}
	a.total += x
	a.compress()
}

// compress merges the two oldest buckets of every row holding MaxBuckets+1
// buckets into one bucket of the next row, as far up as rows overflow.
func (a *ADWIN) compress() {
	for i := 0; i < len(a.rows); i++ {
		if len(a.rows[i].total) != a.maxBuckets+1 {
			return
		}
		if i+1 == len(a.rows) {
			a.addRow()
		}
		r, next := &a.rows[i], &a.rows[i+1]
		n := float64(uint64(1) << uint(i))
		mu1, mu2 := r.total[0]/n, r.total[1]/n
		next.total = append(next.total, r.total[0]+r.total[1])
		next.variance = append(next.variance, r.variance[0]+r.variance[1]+n*0.5*(mu1-mu2)*(mu1-mu2))
		r.dropOldest(2)
		if len(next.total) <= a.maxBuckets {
			return
		}
	}
}

// deleteOldest removes the oldest bucket of the window and returns its size.
func (a *ADWIN) deleteOldest() float64 {
	last := len(a.rows) - 1
	r := &a.rows[last]
	n := float64(uint64(1) << uint(last))
	u, v := r.total[0], r.variance[0]
	mu := u / n
	a.width -= n
	a.total -= u
	muW := a.total / a.width
	a.variance -= v + n*a.width*(mu-muW)*(mu-muW)/(n+a.width)
	r.dropOldest(1)
	if len(r.total) == 0 {
		a.rows = a.rows[:last]
	}
	return n
}

// detect searches the window for a cut every Clock values once it is longer
// than GracePeriod, dropping the oldest bucket and searching again after each
// cut found, and reports whether it found any. Like River's current
// adwin_c.pyx, the sweep visits every bucket of every row, oldest first.
func (a *ADWIN) detect() bool {
	a.tick++
	if a.tick%a.clock != 0 || a.width <= a.gracePeriod {
		return false
	}
	changed := false
	for again := true; again; {
		again = false
		n0, n1 := 0.0, a.width
		u0, u1 := 0.0, a.total
	sweep:
		for i := len(a.rows) - 1; i >= 0; i-- {
			size := float64(uint64(1) << uint(i))
			t := a.rows[i].total
			for k := range t {
				n0 += size
				n1 -= size
				u0 += t[k]
				u1 -= t[k]
				if i == 0 && k == len(t)-1 {
					break sweep
				}
				if n1 >= a.minWindowLength && n0 >= a.minWindowLength && a.cut(n0, n1, u0/n0-u1/n1) {
					again, changed = true, true
					a.deleteOldest()
					break sweep
				}
			}
		}
	}
	return changed
}

// cut reports whether the difference of the sub-window means exceeds ε_cut,
// River's variant of the bound of Bifet & Gavaldà with n − MinWindowLength + 1
// in place of each sub-window size.
func (a *ADWIN) cut(n0, n1, deltaMean float64) bool {
	deltaPrime := math.Log(2 * math.Log(a.width) / a.delta)
	mRecip := 1/(n0-a.minWindowLength+1) + 1/(n1-a.minWindowLength+1)
	eps := math.Sqrt(2*mRecip*(a.variance/a.width)*deltaPrime) + 2.0/3.0*deltaPrime*mRecip
	return math.Abs(deltaMean) > eps
}
