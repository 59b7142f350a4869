package window

import (
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Outcome says what Windower.Observe did with an event.
type Outcome int

const (
	// Counted means the event was counted in its window.
	Counted Outcome = iota
	// Late means the event's window had closed; it was counted as late.
	Late
	// Replayed means the event was already counted in a stored window before
	// a restart and was skipped.
	Replayed
	// Dropped means the partition tracks MaxModels model versions already.
	Dropped
)

// FlushedWindow is a window already stored for a partition, used to resume
// after a restart without counting an event twice.
type FlushedWindow struct {
	Model       analysis.ModelKey
	WindowStart time.Time
	LastOffset  int64
}

type windowKey struct {
	model   analysis.ModelKey
	startMs int64
}

type modelState struct {
	key  analysis.ModelKey
	sch  *schema
	open []*Window // sorted by start
	// rows is how many events the last window of the version to close
	// sampled: see expectedRows.
	rows int
}

// expectedRows returns how many events a window of m opened now is likely
// to sample: as many as the fullest of its open windows (the previous
// window, near its end when the next one opens) and the last one to
// close. The window reserves that room up front
// (sketch.Rows.Reserve), within the capacity it would fill anyway, instead
// of growing its sample from empty: steady traffic fills windows alike.
func (m *modelState) expectedRows() int {
	n := m.rows
	for _, win := range m.open {
		n = max(n, win.rows.Len())
	}
	return n
}

// Windower assigns one partition's events to event-time tumbling windows per
// model version and closes windows as the partition's watermark passes their
// end plus the allowed lateness. It is not safe for concurrent use: each
// partition has its own.
type Windower struct {
	cfg    *analysis.Config
	refs   *reference.Store
	open   *OpenVersions
	sizeMs int64
	lateMs int64

	models   map[analysis.ModelKey]*modelState
	skip     map[windowKey]int64
	skipByMV map[analysis.ModelKey]int64 // model version → largest stored last offset (late events)
	skipByID map[string]int64            // model id → largest stored last offset (rejected messages carry no version)

	watermark int64 // largest event time seen, ms
	horizon   int64 // largest end of a closed window, ms
	nextClose int64 // smallest end+lateness over open windows, ms
	lastSeen  time.Time
	closed    []*Window
	touched   []*Window          // windows holding events for their signals
	spare     [][]signal.Partial // signal partials of recycled windows, at most maxSpare
	spareRows []sketch.Rows      // samples of recycled windows, at most maxSpare

	dropped uint64
}

// NewWindower returns a windower for one partition, opening windows against
// the references pinned in refs; open is the instance's bound of versions
// with open windows, shared by its windowers (nil: one of its own, of
// cfg.MaxOpenVersions).
func NewWindower(cfg *analysis.Config, refs *reference.Store, open *OpenVersions) *Windower {
	if open == nil {
		open = NewOpenVersions(cfg.MaxOpenVersions)
	}
	return &Windower{
		cfg:       cfg,
		refs:      refs,
		open:      open,
		sizeMs:    cfg.WindowSize.Milliseconds(),
		lateMs:    cfg.AllowedLateness.Milliseconds(),
		models:    make(map[analysis.ModelKey]*modelState),
		watermark: math.MinInt64,
		horizon:   math.MinInt64,
		nextClose: math.MaxInt64,
	}
}

// Restore tells the windower which windows of its partition are already
// stored, so that re-read events are skipped, and the largest stored window
// end, before which every window is closed.
func (w *Windower) Restore(flushed []FlushedWindow, maxEnd time.Time) {
	w.skip = make(map[windowKey]int64, len(flushed))
	w.skipByMV = make(map[analysis.ModelKey]int64)
	w.skipByID = make(map[string]int64)
	for _, f := range flushed {
		w.skip[windowKey{f.Model, f.WindowStart.UnixMilli()}] = f.LastOffset
		w.skipByMV[f.Model] = max(w.skipByMV[f.Model], f.LastOffset)
		w.skipByID[f.Model.ID] = max(w.skipByID[f.Model.ID], f.LastOffset)
	}
	if !maxEnd.IsZero() {
		end := maxEnd.UnixMilli()
		w.horizon = max(w.horizon, end)
		w.watermark = max(w.watermark, end+w.lateMs)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Observe counts event e read at offset off.
func (w *Windower) Observe(e *telemetry.Event, off int64) Outcome {
	t := e.EventTime.UnixMilli()
	k := analysis.ModelKey{ID: e.Model.ID, Version: e.Model.Version}
	m := w.models[k]
	start := floorDiv(t, w.sizeMs) * w.sizeMs
	end := start + w.sizeMs
	if end <= w.horizon || end+w.lateMs <= w.watermark {
		// The event's window is closed: it opens no state.
		if last, ok := w.skip[windowKey{k, start}]; ok && off <= last {
			return Replayed
		}
		// Late events are counted in the model version's oldest open window,
		// the next one to close: a replay then skips them exactly when that
		// window was stored.
		if m != nil {
			if target := m.oldest(); target != nil {
				if off <= w.skipByMV[k] {
					return Replayed
				}
				target.Late++
				target.touch(off)
			}
		}
		return Late
	}
	if m == nil {
		// A version with a pinned reference has MaxVersions slots beyond
		// MaxModels that versions still warming up cannot take: a flood of
		// made-up versions cannot lock the established ones out.
		extra := 0
		if w.refs.Get(k) != nil {
			extra = w.cfg.MaxVersions
		}
		if len(w.models) >= w.cfg.MaxModels+extra || !w.open.reserve(extra) {
			w.dropped++
			// A dropped event still moves event time on, so that the
			// windows holding the slots close and free them.
			w.advance(t)
			return Dropped
		}
		// Event strings share the message's bytes: the kept key is a copy.
		k = analysis.ModelKey{ID: strings.Clone(k.ID), Version: strings.Clone(k.Version)}
		m = &modelState{key: k, sch: newSchema()}
		w.models[k] = m
	}
	win := m.window(start, w)
	win.Observe(e, off)
	if len(win.pending) == 1 {
		w.touched = append(w.touched, win)
	}
	w.advance(t)
	return Counted
}

// advance moves the watermark to event time t (ms) if later, and closes the
// windows it passes.
func (w *Windower) advance(t int64) {
	if t > w.watermark {
		w.watermark = t
	}
	if w.watermark >= w.nextClose {
		w.closeUpTo(w.watermark - w.lateMs)
	}
}

// Reject attributes a dead-lettered message at offset off, keyed by model
// id, to the oldest open window (the next to close) of any version of that
// model. It returns false when the message was counted before a restart, or
// no window of the model is open.
func (w *Windower) Reject(modelID string, off int64) bool {
	if off <= w.skipByID[modelID] {
		return false
	}
	var target *Window
	for k, m := range w.models {
		if k.ID != modelID {
			continue
		}
		if o := m.oldest(); o != nil && (target == nil || o.endMs < target.endMs ||
			o.endMs == target.endMs && o.Model.Version < target.Model.Version) {
			target = o
		}
	}
	if target == nil {
		return false
	}
	target.Rejected++
	target.touch(off)
	return true
}

func (m *modelState) oldest() *Window {
	if len(m.open) == 0 {
		return nil
	}
	return m.open[0]
}

func (m *modelState) window(startMs int64, w *Windower) *Window {
	// Open windows are few (about 1 + lateness/size): a linear scan from the newest.
	for i := len(m.open) - 1; i >= 0; i-- {
		if m.open[i].startMs == startMs {
			return m.open[i]
		}
		if m.open[i].startMs < startMs {
			break
		}
	}
	ref := w.refs.Get(m.key)
	win := newWindow(m.key, startMs, w.sizeMs, m.sch, ref, w.cfg, w.takePartials(), w.takeRows(sampleCap(w.cfg, ref)))
	win.rows.Reserve(m.expectedRows())
	i := len(m.open)
	for i > 0 && m.open[i-1].startMs > startMs {
		i--
	}
	m.open = append(m.open, nil)
	copy(m.open[i+1:], m.open[i:])
	m.open[i] = win
	w.nextClose = min(w.nextClose, win.endMs+w.lateMs)
	return win
}

// closeUpTo closes every open window whose end is at or before limit (ms).
func (w *Windower) closeUpTo(limit int64) {
	next := int64(math.MaxInt64)
	for _, m := range w.models {
		n := 0
		for _, win := range m.open {
			if win.endMs <= limit {
				m.rows = win.rows.Len()
				w.closed = append(w.closed, win)
				w.horizon = max(w.horizon, win.endMs)
				continue
			}
			m.open[n] = win
			n++
			next = min(next, win.endMs+w.lateMs)
		}
		clear(m.open[n:])
		m.open = m.open[:n]
		if n == 0 {
			// Forget model versions without open windows, so that
			// MaxModels bounds the live ones, not all ever seen.
			delete(w.models, m.key)
			w.open.release(1)
		}
	}
	w.nextClose = next
}

// Touch records wall-clock activity on the partition (call it per batch).
func (w *Windower) Touch(now time.Time) { w.lastSeen = now }

// Idle closes, when the partition has seen nothing for IdleFlush, the open
// windows whose end plus lateness has passed in wall-clock time now, and
// reports whether the partition is idle. The event-time watermark does not
// move: events that come later open new windows unless theirs was closed.
func (w *Windower) Idle(now time.Time) bool {
	if w.lastSeen.IsZero() || now.Sub(w.lastSeen) < w.cfg.IdleFlush {
		return false
	}
	limit := now.UnixMilli() - w.lateMs
	if w.nextClose-w.lateMs <= limit {
		w.closeUpTo(limit)
	}
	return true
}

// Progress returns, in Unix milliseconds, how far the partition has come:
// every window (of any model) whose end plus the allowed lateness is at or
// before it is closed, and an event for it would be late. It is
// math.MinInt64 before the first event or restored window.
func (w *Windower) Progress() int64 {
	p := w.watermark
	if w.horizon != math.MinInt64 {
		p = max(p, w.horizon+w.lateMs)
	}
	return p
}

// Lateness returns the allowed lateness in milliseconds.
func (w *Windower) Lateness() int64 { return w.lateMs }

// EndBatch hands the events observed since the last call to the signals of
// their windows. Events passed to Observe must stay valid until then; call it
// once per batch of events.
func (w *Windower) EndBatch() {
	for _, win := range w.touched {
		win.EndBatch()
	}
	clear(w.touched)
	w.touched = w.touched[:0]
}

// TakeClosed returns the windows closed since the last call, oldest end first
// within a model, and forgets them. It ends the current batch first.
func (w *Windower) TakeClosed() []*Window {
	w.EndBatch()
	c := w.closed
	w.closed = nil
	return c
}

// Committable returns the offset up to which the partition may be committed:
// the smallest first offset of an open window, or next (the next offset to
// read) when every counted event is in a closed window.
func (w *Windower) Committable(next int64) int64 {
	c := next
	for _, win := range w.closed {
		if win.FirstOffset >= 0 && win.FirstOffset < c {
			c = win.FirstOffset
		}
	}
	for _, m := range w.models {
		for _, win := range m.open {
			if win.FirstOffset >= 0 && win.FirstOffset < c {
				c = win.FirstOffset
			}
		}
	}
	return c
}

// Release returns the instance-wide slots of the versions with open windows
// (Config.MaxOpenVersions) when the windower is dropped (its partition
// revoked or closed); it must not be used afterwards.
func (w *Windower) Release() {
	w.open.release(len(w.models))
	clear(w.models)
}

// Models returns the model versions with open windows.
func (w *Windower) Models() []analysis.ModelKey {
	out := make([]analysis.ModelKey, 0, len(w.models))
	for k := range w.models {
		out = append(out, k)
	}
	return out
}

// Open returns the number of open windows.
func (w *Windower) Open() int {
	n := 0
	for _, m := range w.models {
		n += len(m.open)
	}
	return n
}

// Dropped returns how many events were dropped because of MaxModels.
func (w *Windower) Dropped() uint64 { return w.dropped }

// OpenVersions bounds, over the windowers of an instance, the model versions
// with open windows (Config.MaxOpenVersions, plus Config.MaxVersions that only
// versions with a pinned reference may take): a version open on two
// partitions counts twice. It is safe for concurrent use.
type OpenVersions struct {
	max int64
	n   atomic.Int64
}

// NewOpenVersions returns a bound of max versions (at least 1).
func NewOpenVersions(n int) *OpenVersions { return &OpenVersions{max: int64(max(n, 1))} }

// reserve takes one slot, or reports that none is left; extra slots beyond
// the bound are open to the caller.
func (o *OpenVersions) reserve(extra int) bool {
	if o.n.Add(1) > o.max+int64(extra) {
		o.n.Add(-1)
		return false
	}
	return true
}

// release returns n slots.
func (o *OpenVersions) release(n int) { o.n.Add(int64(-n)) }

// Held returns how many versions have open windows.
func (o *OpenVersions) Held() int { return int(o.n.Load()) }

// maxSpare bounds the windows whose signal partials, and those whose
// samples, a Windower keeps for reuse (Recycle): as many as close at once
// for a few model versions. With the access signals a window's partials
// grow to about 1.5 MB at their default bounds, so a partition keeps at
// most 6 MB of them spare; a sample holds at most
// reference_sample_size × (12 + 8 × features) bytes (1.4 MB for a warm-up
// window of 16 numeric features at the defaults, 140 KB scoring), so at
// most 4 of those.
const maxSpare = 4

// Recycle takes back a closed window that its caller has encoded and will
// read no more: its signal partials are reset (signal.Resetter) and its
// sample is kept, to be emptied when a window opened later takes it
// (takeRows), so that partials that grew to their bounds (the access
// signals' per-caller sketches and samples) and samples of whole events
// are not allocated again every window (and their memory not touched for
// the first time: on some virtual machines a page of memory first touched
// costs 10 µs). Partials that cannot be reset are made anew. With
// maxSpare samples kept, a smaller one takes the place of the largest:
// the samples of a version's warm-up, reference-sized, would otherwise
// hold the places once scoring windows, ten times smaller, cannot take
// them.
func (w *Windower) Recycle(win *Window) {
	if len(win.Signals) > 0 && len(w.spare) < maxSpare {
		w.spare = append(w.spare, win.Signals)
	}
	win.Signals = nil
	if win.byRows && win.rows.Room() > 0 {
		if len(w.spareRows) < maxSpare {
			w.spareRows = append(w.spareRows, win.rows)
		} else if i := w.largestSpare(); win.rows.Room() < w.spareRows[i].Room() {
			w.spareRows[i] = win.rows
		}
	}
	win.rows, win.byRows = sketch.Rows{}, false
}

// largestSpare returns the index of the spare sample with the most room.
func (w *Windower) largestSpare() int {
	largest := 0
	for i := range w.spareRows {
		if w.spareRows[i].Room() > w.spareRows[largest].Room() {
			largest = i
		}
	}
	return largest
}

// takeRows returns the recycled sample with the most room for at most k
// rows, or a zero sample: a sample holds its memory whole, so a window
// never takes one larger than its own capacity (a warm-up window's for a
// scoring one).
func (w *Windower) takeRows(k int) sketch.Rows {
	best := -1
	for i := range w.spareRows {
		if room := w.spareRows[i].Room(); room <= k && (best < 0 || room > w.spareRows[best].Room()) {
			best = i
		}
	}
	if best < 0 {
		return sketch.Rows{}
	}
	r := w.spareRows[best]
	last := len(w.spareRows) - 1
	w.spareRows[best], w.spareRows[last] = w.spareRows[last], sketch.Rows{}
	w.spareRows = w.spareRows[:last]
	return r
}

// takePartials returns the partials of a recycled window, reset, or nil
// for new ones.
func (w *Windower) takePartials() []signal.Partial {
	n := len(w.spare)
	if n == 0 {
		return nil
	}
	ps := w.spare[n-1]
	w.spare[n-1] = nil
	w.spare = w.spare[:n-1]
	for i, p := range ps {
		if r, ok := p.(signal.Resetter); ok {
			r.Reset()
		} else {
			ps[i] = w.cfg.Signals.At(i).NewPartial()
		}
	}
	return ps
}
