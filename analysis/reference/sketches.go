package reference

import (
	"math"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// Sketches is the state of a model version over one window, or over
// several merged, that references are built from: window.Window.Sketches
// returns a view of a window's. Names and states go index for index; the
// slices are the window's own, not copies.
type Sketches struct {
	// Model is the model version.
	Model analysis.ModelKey
	// Start is the (first) window's start.
	Start time.Time
	// FirstOffset is the smallest Kafka offset the window counted, which
	// with Start identifies a window re-read after a failed write.
	FirstOffset int64
	// Events is the number of events counted.
	Events uint64
	// NumericNames and Numeric are the numeric features' states.
	NumericNames []string
	Numeric      []sketch.Numeric
	// CategoricalNames and Categorical are the categorical features' states.
	CategoricalNames []string
	Categorical      []sketch.Categorical
	// Signals are the signal partials, in Config.Signals order.
	Signals []signal.Partial
	// Rows is the sample of whole events the numeric states' samples are
	// filled from, column i for NumericNames[i], or nil when the states
	// were sampled per feature (merged or decoded windows). When it is
	// set the states' samples may be left unfilled (Window.RowSketches):
	// Build and Store.Contribute read the rows.
	Rows *sketch.Rows
}

// inKeyOrder returns the sample of numeric feature i in sampling-key order
// (what Sample.InKeyOrder returns): from s.Rows when set, along order (the
// rows' slots in key order, SlotsInKeyOrder), else from the state's
// sample. Along order it is exactly what sorting the feature's sample
// filled from the rows gives, ties included, when every kept row carries
// the feature: that sample's keys are then the rows' keys in the same
// order, which SlotsInKeyOrder sorts the same way. When some row lacks it,
// its sample (Rows.Column) is heap-ordered otherwise: it is filled and
// sorted on its own.
func (s *Sketches) inKeyOrder(i int, order []int) []float64 {
	rows := s.Rows
	if rows == nil {
		return s.Numeric[i].Sample.InKeyOrder()
	}
	out := make([]float64, 0, len(order))
	for _, slot := range order {
		v := rows.Value(slot, i)
		if math.IsNaN(v) {
			var col sketch.Sample
			rows.Column(i, &col)
			return col.InKeyOrder()
		}
		out = append(out, v)
	}
	return out
}

// sample sets dst to the sample of numeric feature i: from s.Rows when set
// (Rows.Column, what Window.Sync fills the state's sample with), else the
// state's own. dst's room is reused.
func (s *Sketches) sample(i int, dst *sketch.Sample) *sketch.Sample {
	if s.Rows == nil {
		return &s.Numeric[i].Sample
	}
	s.Rows.Column(i, dst)
	return dst
}

// warmup is a model version's warm-up in progress: the merged states of its
// first windows, bounded like a window's (MaxFeatures, and the reference
// sample size and MaxCategories per feature).
type warmup struct {
	state Sketches
	// rows merges the windows' samples of whole events while every window
	// had one (byRows), for state.Rows; state's samples are filled from it
	// (fill) only when a window without rows comes: Build reads the rows.
	rows    sketch.Rows
	byRows  bool
	scratch sketch.Sample // a window's column, merged per feature (add)
	num     map[string]int
	cat     map[string]int
	windows int
	seen    map[[2]int64]bool // (start, first offset) of the windows merged
}

func newWarmup(cfg *analysis.Config, s Sketches) *warmup {
	return &warmup{
		state: Sketches{Model: s.Model, Start: s.Start, Signals: cfg.Signals.NewPartials()},
		num:   make(map[string]int), cat: make(map[string]int), seen: make(map[[2]int64]bool),
		rows: sketch.NewRows(cfg.ReferenceSampleSize, 0), byRows: true,
	}
}

// fill fills the numeric states' samples from the merged rows, when the
// warm-up has them: when it stops merging rows (Build reads the rows
// themselves).
func (wu *warmup) fill() {
	if !wu.byRows {
		return
	}
	for i := range wu.state.Numeric {
		wu.rows.Column(i, &wu.state.Numeric[i].Sample)
	}
}

// add merges s, the state of a disjoint set of events of the same model
// version, into the warm-up: features are matched by name, samples merge to
// the bottom-k sample of the union, of whole events while every window
// brought its rows (then the joint reference is built from them), per
// feature from the first window that did not.
func (wu *warmup) add(cfg *analysis.Config, s Sketches) {
	st := &wu.state
	if wu.byRows && (s.Rows == nil || s.Rows.Cap() != wu.rows.Cap()) {
		wu.fill()
		wu.rows, wu.byRows, st.Rows = sketch.Rows{}, false, nil
	}
	var cols []int // s's column j is the warm-up's column cols[j] (-1: untracked)
	st.Events += s.Events
	if len(s.Signals) == len(st.Signals) {
		for i, p := range st.Signals {
			p.Merge(s.Signals[i])
		}
	}
	features := func() int { return len(st.NumericNames) + len(st.CategoricalNames) }
	for j, name := range s.NumericNames {
		i, ok := wu.num[name]
		if !ok {
			if features() >= cfg.MaxFeatures {
				cols = append(cols, -1)
				continue
			}
			i = len(st.Numeric)
			wu.num[name] = i
			st.NumericNames = append(st.NumericNames, name)
			st.Numeric = append(st.Numeric, sketch.NewNumeric(cfg.ReferenceSampleSize, 0))
		}
		if wu.byRows {
			st.Numeric[i].MergeUnsampled(&s.Numeric[j])
			cols = append(cols, i)
		} else {
			// s's sample of the feature: its rows' column when it has
			// rows (its state's sample may be unfilled), as Merge
			// would read it from a synced window.
			st.Numeric[i].MergeUnsampled(&s.Numeric[j])
			st.Numeric[i].Sample.Merge(s.sample(j, &wu.scratch))
		}
	}
	if wu.byRows {
		wu.rows.SetColumns(len(st.Numeric))
		wu.rows.Merge(s.Rows, cols)
		st.Rows = &wu.rows
	}
	for j, name := range s.CategoricalNames {
		i, ok := wu.cat[name]
		if !ok {
			if features() >= cfg.MaxFeatures {
				continue
			}
			i = len(st.Categorical)
			wu.cat[name] = i
			st.CategoricalNames = append(st.CategoricalNames, name)
			st.Categorical = append(st.Categorical, sketch.NewCategorical(nil))
		}
		st.Categorical[i].Merge(&s.Categorical[j], cfg.MaxCategories)
	}
}
