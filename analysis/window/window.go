package window

import (
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// schema maps a model version's feature names to state indexes, in the order
// they were first seen on one partition. It only grows, up to MaxFeatures.
type schema struct {
	numIndex map[string]int
	numNames []string
	catIndex map[string]int
	catNames []string
	// numAt and catAt remember the index of the feature at each position
	// of the last event: producers write features in the same order, so
	// comparing names is enough, without hashing them (-1: none).
	numAt, catAt []int
	// namesID is the telemetry.Features.NamesID whose every feature
	// numAt and catAt map, namesNum and namesCat its numeric and
	// categorical features: its events' features are found by position
	// without comparing names (0: none).
	namesID            uint64
	namesNum, namesCat int
}

// mapsAll reports whether numAt and catAt map every feature of f, at its
// position.
func (s *schema) mapsAll(f *telemetry.Features) bool {
	if len(f.Numeric) > len(s.numAt) || len(f.Categorical) > len(s.catAt) {
		return false
	}
	for j, n := range f.Numeric {
		if i := s.numAt[j]; i < 0 || s.numNames[i] != n.Name {
			return false
		}
	}
	for j, c := range f.Categorical {
		if i := s.catAt[j]; i < 0 || s.catNames[i] != c.Name {
			return false
		}
	}
	return true
}

// index returns the index of name, the feature at position pos of an
// event, among names (through the map byName), or -1.
func index(name string, pos int, names []string, byName map[string]int, at *[]int) int {
	if pos < len(*at) {
		if i := (*at)[pos]; i >= 0 && names[i] == name {
			return i
		}
	}
	i, ok := byName[name]
	if !ok {
		return -1
	}
	if pos < maxRemembered {
		for len(*at) <= pos {
			*at = append(*at, -1)
		}
		(*at)[pos] = i
	}
	return i
}

// maxRemembered bounds the positions a schema remembers.
const maxRemembered = 1024

func newSchema() *schema {
	return &schema{numIndex: make(map[string]int), catIndex: make(map[string]int)}
}

func (s *schema) features() int { return len(s.numNames) + len(s.catNames) }

// Window is the state of one model version over one event-time window, as
// read from one partition.
type Window struct {
	// Model is the model version.
	Model analysis.ModelKey
	// Start and End bound the window: [Start, End).
	Start, End time.Time
	// Events is the number of events counted in the window.
	Events uint64
	// Late counts events of this model version that arrived, while this
	// window was the oldest open one (the next to close), for a window
	// already closed.
	Late uint64
	// Rejected counts dead-lettered messages keyed by this model that arrived
	// while this window was its oldest open one.
	Rejected uint64
	// Untracked counts feature values beyond MaxFeatures.
	Untracked uint64
	// FirstOffset and LastOffset are the smallest and largest Kafka offsets
	// counted in the window (events, late and rejected).
	FirstOffset, LastOffset int64
	// Ref is the reference the window was opened against; nil during warm-up.
	Ref *reference.Reference
	// Numeric and Categorical hold per-feature state, named by NumericNames
	// and CategoricalNames.
	Numeric     []sketch.Numeric
	Categorical []sketch.Categorical
	// Signals holds the partial state of every registered signal
	// (Config.Signals), in registration order.
	Signals []signal.Partial

	pending []*telemetry.Event // events of the current batch, for the signals
	batch   signal.Batch       // pending with the columns the signals share
	// rows samples whole events for the numeric features (column i is
	// Numeric[i]) while byRows: one bottom-k decision per event. Numeric's
	// samples are then filled from it by Sync; dirty says they are stale.
	// Once Numeric's samples hold state rows cannot (a merged, decoded or
	// rebound window), byRows is false and Numeric samples alone.
	rows     sketch.Rows
	byRows   bool
	dirty    bool
	sch      *schema
	numEdges [][]float64
	numScan  []bool // binIndex may scan numEdges[i]
	catIdx   []*sketch.CategoryIndex
	cfg      *analysis.Config
	startMs  int64
	endMs    int64
}

// newWindow returns an empty window; partials are its signals' partials,
// empty (nil: new ones), and rows a sample whose memory serves the
// window's (sketch.Rows.Reuse; zero: none).
func newWindow(m analysis.ModelKey, startMs, sizeMs int64, sch *schema, ref *reference.Reference, cfg *analysis.Config, partials []signal.Partial, rows sketch.Rows) *Window {
	w := &Window{
		Model:       m,
		Start:       time.UnixMilli(startMs).UTC(),
		End:         time.UnixMilli(startMs + sizeMs).UTC(),
		FirstOffset: -1,
		LastOffset:  -1,
		Ref:         ref,
		sch:         sch,
		cfg:         cfg,
		startMs:     startMs,
		endMs:       startMs + sizeMs,
	}
	w.Signals = partials
	if w.Signals == nil {
		w.Signals = cfg.Signals.NewPartials()
	}
	rows.Reuse(w.sampleCap(), 0)
	w.rows, w.byRows = rows, true
	w.grow()
	return w
}

// sampleCap returns the capacity of w's samples: warm-up windows sample as
// much as a reference keeps, so that merging them gives the reference's
// uniform sample.
func (w *Window) sampleCap() int { return sampleCap(w.cfg, w.Ref) }

// sampleCap returns the capacity of the samples of a window opened
// against ref (nil: a warm-up window).
func sampleCap(cfg *analysis.Config, ref *reference.Reference) int {
	if ref == nil {
		return cfg.ReferenceSampleSize
	}
	return cfg.SampleSize
}

// Sync fills every numeric feature's Sample (Numeric[i].Sample) from the
// window's sample of whole events, when events were admitted to it since
// the last call. Every method of Window that reads the samples calls it
// (Sketches, Merge; AppendBinary writes the rows instead, and Rebind,
// AppendSample and RowSketches read the rows when they may); call it
// before reading Numeric[i].Sample of a window that observed events
// otherwise. It writes to the window, so
// readers in several goroutines need it called before they start. It
// allocates up to 16 bytes per kept row and feature, reusing the samples'
// room from the previous call; the windows of a partition, encoded as rows,
// never need it.
//
// When every event carries every numeric feature, each feature's sample is
// exactly what sampling the feature alone gives (the same keys and values,
// in the same heap order). Otherwise a feature's sample holds the rows of
// the window's bottom-k events that carry it: a uniform sample of the
// events that carry it, but not the bottom k among them, so it may hold
// fewer values than per-feature sampling would.
func (w *Window) Sync() {
	if !w.dirty {
		return
	}
	for i := range w.Numeric {
		w.rows.Column(i, &w.Numeric[i].Sample)
	}
	w.dirty = false
}

// AppendSample appends to dst the values of numeric feature i's sample, in
// the order Numeric[i].Sample.Values() has once filled (Sync): read from
// the window's sample of whole events without filling the feature's
// sample when every kept event carries the feature, from the filled sample
// otherwise. A reader of the values alone (the drift tests, which sort
// them) then needs neither the copy into the feature's sample nor its
// room.
func (w *Window) AppendSample(dst []float64, i int) []float64 {
	if w.byRows {
		if out, ok := w.rows.AppendColumn(dst, i); ok {
			return out
		}
	}
	w.Sync()
	return append(dst, w.Numeric[i].Sample.Values()...)
}

// dropRows makes Numeric's samples the state of w (filled from the rows
// first) and stops sampling whole events: from then on each feature samples
// its own values, as Merge, DecodeWindow and Rebind need.
func (w *Window) dropRows() {
	w.Sync()
	w.rows, w.byRows = sketch.Rows{}, false
}

// NumericNames returns the names of w.Numeric's states, index for index.
func (w *Window) NumericNames() []string { return w.sch.numNames[:len(w.Numeric)] }

// CategoricalNames returns the names of w.Categorical's states, index for index.
func (w *Window) CategoricalNames() []string { return w.sch.catNames[:len(w.Categorical)] }

// Sketches returns a view of w's state, for building references from it:
// the slices are w's own, the numeric states' samples filled (Sync).
func (w *Window) Sketches() reference.Sketches {
	w.Sync()
	return w.RowSketches()
}

// RowSketches is Sketches without filling the numeric states' samples
// when w samples whole events: the view's Rows is then set, and its
// readers that take Rows when set (reference.Build, Store.Contribute) do
// not read the samples. A warm-up window's contribution then costs no copy
// of its rows into per-feature samples (a reference-sized sample each).
func (w *Window) RowSketches() reference.Sketches {
	var rows *sketch.Rows
	if w.byRows {
		rows = &w.rows
	}
	return reference.Sketches{
		Rows:  rows,
		Model: w.Model, Start: w.Start, FirstOffset: w.FirstOffset, Events: w.Events,
		NumericNames: w.NumericNames(), Numeric: w.Numeric,
		CategoricalNames: w.CategoricalNames(), Categorical: w.Categorical,
		Signals: w.Signals,
	}
}

// SampleSize returns the size of the samples of windows opened against a
// reference (Config.SampleSize).
func (w *Window) SampleSize() int { return w.cfg.SampleSize }

// grow adds states for features the schema learned since w was opened.
func (w *Window) grow() {
	for i := len(w.Numeric); i < len(w.sch.numNames); i++ {
		var edges []float64
		if w.Ref != nil {
			if nr := w.Ref.Numeric[w.sch.numNames[i]]; nr != nil {
				edges = nr.Edges
			}
		}
		w.numEdges = append(w.numEdges, edges)
		w.numScan = append(w.numScan, scannable(edges))
		w.Numeric = append(w.Numeric, sketch.NewNumeric(w.sampleCap(), binCount(edges)))
	}
	if w.byRows {
		w.rows.SetColumns(len(w.Numeric))
	}
	for i := len(w.Categorical); i < len(w.sch.catNames); i++ {
		var cr *reference.Categorical
		if w.Ref != nil {
			cr = w.Ref.Categorical[w.sch.catNames[i]]
		}
		w.catIdx = append(w.catIdx, cr.Lookup())
		w.Categorical = append(w.Categorical, sketch.NewCategorical(cr.Lookup()))
	}
}

// binCount returns the number of bins of inner edges; 0 for none (nil).
func binCount(edges []float64) int {
	if edges == nil {
		return 0
	}
	return len(edges) + 1
}

func (w *Window) touch(off int64) {
	if w.FirstOffset < 0 || off < w.FirstOffset {
		w.FirstOffset = off
	}
	if off > w.LastOffset {
		w.LastOffset = off
	}
}

// Observe counts event e, read at Kafka offset off, in w. It decides once
// whether e is in the window's sample (bottom-k on its key) and, if so,
// keeps its numeric values as one row. It does not allocate once the
// window's sample is full and its features known. With signals registered,
// e is kept for them until EndBatch and must stay valid until then.
func (w *Window) Observe(e *telemetry.Event, off int64) {
	w.Events++
	w.touch(off)
	key := sketch.SampleKey(e.PredictionID)
	num := e.Features.Numeric
	slot := -1
	if w.byRows && (len(num) > 0 || e.Prediction.Score != nil) {
		if slot = w.rows.Offer(key); slot >= 0 {
			w.dirty = true
		}
	}
	// Features of the last list of names mapped are found at their places,
	// without comparing names (telemetry.Features.NamesID).
	id := e.Features.NamesID
	known := id != 0 && id == w.sch.namesID && len(num) == w.sch.namesNum && len(e.Features.Categorical) == w.sch.namesCat
	if !known {
		w.sch.namesID = 0
	}
	for j, f := range num {
		if known {
			w.observeNumericAt(w.sch.numAt[j], f.Value, key, slot)
		} else {
			w.observeNumeric(f.Name, j, f.Value, key, slot)
		}
	}
	if e.Prediction.Score != nil {
		w.observeNumeric(telemetry.ScoreFeature, len(num), *e.Prediction.Score, key, slot)
	}
	cat := e.Features.Categorical
	for j, f := range cat {
		if known {
			w.observeCategoricalAt(w.sch.catAt[j], f.Value)
		} else {
			w.observeCategorical(f.Name, j, f.Value)
		}
	}
	if !known && id != 0 && w.sch.mapsAll(&e.Features) {
		w.sch.namesID, w.sch.namesNum, w.sch.namesCat = id, len(num), len(cat)
	}
	if e.Prediction.Class != "" {
		w.observeCategorical(telemetry.ClassFeature, len(cat), e.Prediction.Class)
	}
	if w.Signals != nil {
		w.pending = append(w.pending, e)
	}
}

// EndBatch hands the events observed since the last call to every signal's
// partial, in one call each, and forgets them. A Windower calls it for its
// windows (Windower.EndBatch); call it on a window used alone before reading
// or encoding its signals.
func (w *Window) EndBatch() {
	if len(w.pending) == 0 {
		return
	}
	w.batch.Reset(w.pending)
	for _, p := range w.Signals {
		w.batch.Observe(p)
	}
	w.batch.Reset(nil)
	clear(w.pending)
	w.pending = w.pending[:0]
}

// observeNumeric counts value v of feature name, at position pos of its
// event, and writes it in row slot of w's rows (none when slot is -1), or,
// once w samples per feature, samples it under key. A NaN value (which the
// telemetry decoder rejects) is counted but reads as absent from the row.
func (w *Window) observeNumeric(name string, pos int, v float64, key uint64, slot int) {
	sch := w.sch
	i := index(name, pos, sch.numNames, sch.numIndex, &sch.numAt)
	if i < 0 {
		if w.sch.features() >= w.cfg.MaxFeatures {
			w.Untracked++
			return
		}
		// Event strings share the message's bytes: a kept name is copied.
		name = strings.Clone(name)
		i = len(w.sch.numNames)
		w.sch.numNames = append(w.sch.numNames, name)
		w.sch.numIndex[name] = i
	}
	w.observeNumericAt(i, v, key, slot)
}

// observeNumericAt is observeNumeric of the feature of index i.
func (w *Window) observeNumericAt(i int, v float64, key uint64, slot int) {
	if i >= len(w.Numeric) {
		w.grow()
	}
	bin := 0
	if edges := w.numEdges[i]; edges != nil {
		bin = binIndex(edges, v, w.numScan[i])
	}
	if !w.byRows {
		w.Numeric[i].Observe(v, key, bin)
		return
	}
	w.Numeric[i].ObserveUnsampled(v, bin)
	if slot >= 0 {
		w.rows.Set(slot, i, v)
	}
}

// maxScanEdges bounds the edges binIndex counts one by one.
const maxScanEdges = 32

// binIndex returns stat.BinIndex(edges, v). With scan (scannable(edges):
// a few sorted edges, as a reference's deciles) it counts the edges below v
// without branching, which a binary search over random values cannot do:
// the same count, since the edges below v are then a prefix.
func binIndex(edges []float64, v float64, scan bool) int {
	if !scan {
		return stat.BinIndex(edges, v)
	}
	n := 0
	for _, e := range edges {
		below := 0
		if e < v {
			below = 1
		}
		n += below
	}
	return n
}

// scannable reports whether binIndex may count edges one by one: at most
// maxScanEdges of them, in non-decreasing order (no NaN).
func scannable(edges []float64) bool {
	if len(edges) > maxScanEdges {
		return false
	}
	for i := 1; i < len(edges); i++ {
		if !(edges[i-1] <= edges[i]) {
			return false
		}
	}
	return true
}

// observeCategorical counts value v of feature name, at position pos of
// its event.
func (w *Window) observeCategorical(name string, pos int, v string) {
	sch := w.sch
	i := index(name, pos, sch.catNames, sch.catIndex, &sch.catAt)
	if i < 0 {
		if w.sch.features() >= w.cfg.MaxFeatures {
			w.Untracked++
			return
		}
		name = strings.Clone(name)
		i = len(w.sch.catNames)
		w.sch.catNames = append(w.sch.catNames, name)
		w.sch.catIndex[name] = i
	}
	w.observeCategoricalAt(i, v)
}

// observeCategoricalAt is observeCategorical of the feature of index i.
func (w *Window) observeCategoricalAt(i int, v string) {
	if i >= len(w.Categorical) {
		w.grow()
	}
	w.Categorical[i].Observe(v, w.catIdx[i], w.cfg.MaxCategories)
}

// Missing returns how many of the window's events lacked numeric feature i.
func (w *Window) Missing(count uint64) uint64 {
	if count > w.Events {
		return 0
	}
	return w.Events - count
}

// Merge adds o, the window state of a disjoint set of events of the same
// model version and window, to w. Features are matched by name. Counts, bins
// and moments merge exactly; samples merge to the bottom-k sample of the
// union: as whole events when both windows sample whole events (the
// columns matched by name), otherwise per feature, w then sampling each
// feature on its own (see Sync); warm-up category tracking stays bounded by
// MaxCategories.
func (w *Window) Merge(o *Window) {
	w.MergeCounts(o)
	byRows := w.byRows && o.byRows && w.rows.Cap() == o.rows.Cap()
	if !byRows {
		w.dropRows()
		o.Sync()
	}
	var cols []int // o's column j is w's column cols[j] (-1: untracked)
	for j, name := range o.NumericNames() {
		i, ok := w.sch.numIndex[name]
		if !ok {
			if w.sch.features() >= w.cfg.MaxFeatures {
				// Partials of other partitions may name other features:
				// the union stays bounded too.
				w.Untracked += o.Numeric[j].Count
				cols = append(cols, -1)
				continue
			}
			i = len(w.sch.numNames)
			w.sch.numNames = append(w.sch.numNames, name)
			w.sch.numIndex[name] = i
		}
		if i >= len(w.Numeric) {
			w.grow()
		}
		if byRows {
			w.Numeric[i].MergeUnsampled(&o.Numeric[j])
			cols = append(cols, i)
		} else {
			w.Numeric[i].Merge(&o.Numeric[j])
		}
	}
	if byRows && o.rows.Len() > 0 {
		w.rows.Merge(&o.rows, cols)
		w.dirty = true
	}
	for j, name := range o.CategoricalNames() {
		i, ok := w.sch.catIndex[name]
		if !ok {
			if w.sch.features() >= w.cfg.MaxFeatures {
				w.Untracked += o.Categorical[j].Count
				continue
			}
			i = len(w.sch.catNames)
			w.sch.catNames = append(w.sch.catNames, name)
			w.sch.catIndex[name] = i
		}
		if i >= len(w.Categorical) {
			w.grow()
		}
		w.Categorical[i].Merge(&o.Categorical[j], w.cfg.MaxCategories)
	}
}

// MergeCounts adds only o's event counts, offsets and signal partials
// (which do not depend on the reference) to w: for a partial whose feature
// states cannot merge with w's (opened against another reference). It reads
// no sample.
func (w *Window) MergeCounts(o *Window) {
	if len(o.Signals) == len(w.Signals) {
		for i, p := range w.Signals {
			p.Merge(o.Signals[i])
		}
	}
	w.Events += o.Events
	w.Late += o.Late
	w.Rejected += o.Rejected
	w.Untracked += o.Untracked
	if o.FirstOffset >= 0 {
		w.touch(o.FirstOffset)
		w.touch(o.LastOffset)
	}
}

// NewWindow returns an empty window of model m starting at start, for
// merging and tests; ref may be nil (warm-up).
func NewWindow(cfg *analysis.Config, m analysis.ModelKey, start time.Time, ref *reference.Reference) *Window {
	return newWindow(m, start.UnixMilli(), cfg.WindowSize.Milliseconds(), newSchema(), ref, cfg, nil, sketch.Rows{})
}
