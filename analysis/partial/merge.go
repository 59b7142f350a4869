package partial

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/window"
)

// Outcome says what Merger.Add did with a partial.
type Outcome int

const (
	// Merged means the partial was merged into its window.
	Merged Outcome = iota
	// Duplicate means a partial of the same source was already merged into
	// the window (a replay after a crash or a rebalance); it was ignored.
	Duplicate
	// AlreadyDecided means the window was decided before the partial came:
	// a replay of a decided window, or a source that was waited for no
	// longer (see Config.Timeout). Its events are still counted in the
	// source's inference_windows rows.
	AlreadyDecided
	// Dropped means the merger holds its bound of model versions, or of
	// windows and the partial is older than every window being merged.
	Dropped
)

// Config bounds a Merger.
type Config struct {
	// Lateness is the allowed lateness of the windows (analysis.allowed_lateness).
	Lateness time.Duration
	// Timeout is how long (wall clock, from its first partial) a window
	// waits for the sources that have not reported progress past it; then it
	// is decided without them. Event time cannot bound the wait: an idle
	// source reports the wall clock, far ahead of a backfill's event time.
	Timeout time.Duration
	// IdleWait is how long (wall clock, from its first partial) a window
	// waits for a source that says it is idle and has not passed it: a
	// source that wakes up with events of the window says it is active again
	// within this time, and is then waited for.
	IdleWait time.Duration
	// MaxModels bounds the model versions with windows being merged.
	MaxModels int
	// MaxWindows bounds the windows being merged per model version: a
	// partial of a newer window at the bound decides the oldest one at once,
	// without the sources that have not passed it (Complete.Missing).
	MaxWindows int
}

// Ops say how a MergerOf reads and merges its window states of type W.
type Ops[W any] struct {
	// Key returns the model version of w and its bounds in Unix
	// milliseconds.
	Key func(w W) (m analysis.ModelKey, startMs, endMs int64)
	// Merge merges w into acc (taking ownership of w) and reports whether
	// only part of it could be merged (CompleteOf.MixedReferences).
	Merge func(acc, w W) (mixed bool)
}

// Merger merges inference windows (the partials of the telemetry topic).
type Merger = MergerOf[*window.Window]

// Complete is a merged inference window ready to be decided.
type Complete = CompleteOf[*window.Window]

// windowOps are the Ops of inference windows: a partial opened before the
// model's reference reached its partition is rebound to it when that is
// exact; partials opened against different references merge their counts
// only.
var windowOps = Ops[*window.Window]{
	Key: func(w *window.Window) (analysis.ModelKey, int64, int64) {
		return w.Model, w.Start.UnixMilli(), w.End.UnixMilli()
	},
	Merge: func(acc, w *window.Window) bool {
		switch {
		case acc.Ref == nil && w.Ref != nil:
			acc.Rebind(w.Ref)
		case acc.Ref != nil && w.Ref == nil:
			w.Rebind(acc.Ref)
		}
		if w.RefID() == acc.RefID() {
			acc.Merge(w)
			return false
		}
		acc.MergeCounts(w)
		return true
	},
}

// CompleteOf is a merged window ready to be decided.
type CompleteOf[W any] struct {
	// Window is the merged state.
	Window W
	// Partials is how many source partitions contributed.
	Partials int
	// Missing are the sources whose progress had not passed the window when
	// it was decided (forced by Config.Timeout), and those whose partial of
	// it was dropped at a bound (MaxModels, MaxWindows); empty normally.
	Missing []Source
	// MixedReferences is set when partials were opened against different
	// references (the window a reference was pinned in): only the counts of
	// the partials whose reference differs from the first one's were merged.
	// (For other states: when Ops.Merge said a partial merged in part.)
	MixedReferences bool
	// First is the smallest partials-topic offset merged into the window.
	First int64
}

type pending[W any] struct {
	c              CompleteOf[W]
	startMs, endMs int64
	from           map[Source]bool
	arrived        time.Time // when the first partial was merged
}

type modelWindows[W any] struct {
	open    []*pending[W] // by window start
	decided int64         // end (ms) of the last decided window; MinInt64 before
}

// MergerOf merges the partials of window states W read from one partition
// of the partials topic and says which windows are complete. It is not safe
// for concurrent use.
type MergerOf[W any] struct {
	cfg      Config
	ops      Ops[W]
	lateMs   int64
	topic    string           // the telemetry topic (Expect); other sources are refused
	parts    int              // its partition count (Expect); higher partitions are refused
	progress map[Source]int64 // ms; MinInt64 until a source reports
	idle     map[Source]bool  // sources that said they are idle, until they report progress again
	models   map[analysis.ModelKey]*modelWindows[W]
	restored map[analysis.ModelKey]int64
	// dropped remembers, for a window not decided yet, the sources whose
	// partial was dropped at a bound, so that the window is not decided as
	// complete without them (they are listed in Complete.Missing).
	dropped map[windowKey][]Source
	// forced are the windows that Add decided early to make room for a
	// newer one at Config.MaxWindows; Ready returns them first.
	forced []CompleteOf[W]
}

type windowKey struct {
	model   analysis.ModelKey
	startMs int64
}

// maxDroppedWindows bounds Merger.dropped; beyond it the oldest entries go.
const maxDroppedWindows = 4096

// NewMerger returns an empty merger of inference windows.
func NewMerger(cfg Config) *Merger { return NewMergerOf(cfg, windowOps) }

// NewMergerOf returns an empty merger of window states W.
func NewMergerOf[W any](cfg Config, ops Ops[W]) *MergerOf[W] {
	return &MergerOf[W]{
		cfg:      cfg,
		ops:      ops,
		lateMs:   cfg.Lateness.Milliseconds(),
		progress: make(map[Source]int64),
		idle:     make(map[Source]bool),
		models:   make(map[analysis.ModelKey]*modelWindows[W]),
		restored: make(map[analysis.ModelKey]int64),
		dropped:  make(map[windowKey][]Source),
	}
}

// Lost records that the partial named by identity (an assembler's
// TakeLost) will not come: its window is decided with its source missing.
func (m *MergerOf[W]) Lost(identity string) {
	if src, mv, startMs, ok := parseIdentity(identity); ok {
		m.dropKey(src, windowKey{mv, startMs})
	}
}

// drop records that src's partial of the window of mv starting at startMs
// was dropped and returns Dropped.
func (m *MergerOf[W]) drop(src Source, mv analysis.ModelKey, startMs int64) Outcome {
	m.dropKey(src, windowKey{mv, startMs})
	return Dropped
}

func (m *MergerOf[W]) dropKey(src Source, k windowKey) {
	if _, ok := m.dropped[k]; !ok && len(m.dropped) >= maxDroppedWindows {
		var oldest windowKey
		first := true
		for d := range m.dropped {
			if first || d.startMs < oldest.startMs {
				oldest, first = d, false
			}
		}
		delete(m.dropped, oldest)
	}
	if !slices.Contains(m.dropped[k], src) {
		m.dropped[k] = append(m.dropped[k], src)
	}
}

// Expect declares partitions 0..n-1 of topic as the sources: no window is
// complete before each has reported progress past it, and records of other
// sources are refused. Calling it again with more partitions (the topic
// grew) adds them.
func (m *MergerOf[W]) Expect(topic string, partitions int) {
	m.topic, m.parts = topic, max(m.parts, partitions)
	for p := range partitions {
		s := Source{topic, int32(p)}
		if _, ok := m.progress[s]; !ok {
			m.progress[s] = math.MinInt64
		}
	}
}

// Restore sets, per model version, the end of the last window already
// decided (stored) before this merger started: partials of windows ending at
// or before it are replays.
func (m *MergerOf[W]) Restore(decided map[analysis.ModelKey]time.Time) {
	for k, end := range decided {
		m.restored[k] = max(m.restored[k], end.UnixMilli())
	}
	m.boundRestored()
}

// Knows reports whether the merger knows where model version mv's decided
// windows end (it merges some, or remembers them). A caller that sees it
// does not reads the stored decisions and calls Restore before Add, so that
// a replayed partial of a window decided long ago is not decided again.
func (m *MergerOf[W]) Knows(mv analysis.ModelKey) bool {
	if m.models[mv] != nil {
		return true
	}
	_, ok := m.restored[mv]
	return ok
}

// boundRestored keeps at most 4 × MaxModels versions in restored, forgetting
// those whose decided windows end first (their next partial is then looked
// up: Knows).
func (m *MergerOf[W]) boundRestored() {
	for len(m.restored) > 4*max(m.cfg.MaxModels, 1) {
		var oldest analysis.ModelKey
		end := int64(math.MaxInt64)
		for k, e := range m.restored {
			if e < end {
				oldest, end = k, e
			}
		}
		delete(m.restored, oldest)
	}
}

// Advance records that source src has sealed every window whose end plus the
// lateness is at or before atMs, and whether it is idle; it returns false
// when src is not a partition of the expected topic. Progress only moves
// forward. An idle source is waited for only IdleWait (as event-time engines
// treat idle inputs): a window its later events fall in may be decided
// without them if it wakes up later than that, and their partial is then
// AlreadyDecided.
func (m *MergerOf[W]) Advance(src Source, atMs int64, idle bool) bool {
	if !m.accepts(src) {
		return false
	}
	if p, ok := m.progress[src]; !ok || atMs > p {
		m.progress[src] = atMs
	}
	if idle {
		m.idle[src] = true
	} else {
		delete(m.idle, src)
	}
	return true
}

// accepts reports whether src is a partition of the expected telemetry
// topic: a record naming another topic or a partition it does not have
// cannot hold windows back. (Call Expect again when the topic grew.)
func (m *MergerOf[W]) accepts(src Source) bool {
	return m.topic == "" || src.Topic == m.topic && int(src.Partition) < m.parts
}

// Accepts reports whether records of src are taken (see Expect).
func (m *MergerOf[W]) Accepts(src Source) bool { return m.accepts(src) }

// Add merges the partial w of source src, whose first chunk was read at
// offset off, at wall-clock time now. Merging takes ownership of w.
func (m *MergerOf[W]) Add(src Source, w W, off int64, now time.Time) Outcome {
	if !m.accepts(src) {
		return Dropped
	}
	if _, ok := m.progress[src]; !ok {
		m.progress[src] = math.MinInt64 // a source that was not expected (a grown topic)
	}
	mv, startMs, endMs := m.ops.Key(w)
	mw := m.models[mv]
	decided := m.restored[mv]
	if mw != nil {
		decided = max(decided, mw.decided)
	}
	if endMs <= decided {
		return AlreadyDecided
	}
	if mw == nil {
		if len(m.models) >= m.cfg.MaxModels {
			return m.drop(src, mv, startMs)
		}
		mw = &modelWindows[W]{decided: decided}
		m.models[mv] = mw
	}
	i, found := slices.BinarySearchFunc(mw.open, startMs, func(p *pending[W], s int64) int { return cmp.Compare(p.startMs, s) })
	if !found {
		if len(mw.open) >= m.cfg.MaxWindows {
			if i == 0 {
				// Older than every window being merged: no room.
				return m.drop(src, mv, startMs)
			}
			// A backfill runs ahead of a source that has not reported
			// yet (a partition with no events says nothing until it is
			// idle): the oldest window is decided without the sources
			// that have not passed it, rather than the newest lost.
			m.force(mv, mw)
			i--
		}
		p := &pending[W]{c: CompleteOf[W]{Window: w, Partials: 1, First: off}, startMs: startMs, endMs: endMs,
			from: map[Source]bool{src: true}, arrived: now}
		mw.open = slices.Insert(mw.open, i, p)
		return Merged
	}
	p := mw.open[i]
	if p.from[src] {
		return Duplicate
	}
	p.from[src] = true
	p.c.Partials++
	p.c.First = min(p.c.First, off)
	if m.ops.Merge(p.c.Window, w) {
		p.c.MixedReferences = true
	}
	return Merged
}

// force decides the oldest window of mw now, with the sources that have not
// passed it missing; Ready returns it.
func (m *MergerOf[W]) force(mv analysis.ModelKey, mw *modelWindows[W]) {
	p := mw.open[0]
	mw.open = slices.Delete(mw.open, 0, 1)
	due := p.endMs + m.lateMs
	for s, at := range m.progress {
		if at < due && !p.from[s] && !m.idle[s] {
			p.c.Missing = append(p.c.Missing, s)
		}
	}
	m.missingDropped(mv, p)
	mw.decided = max(mw.decided, p.endMs)
	m.forced = append(m.forced, p.c)
}

// missingDropped adds to p's missing sources those whose partial of it was
// dropped at a bound, and sorts them.
func (m *MergerOf[W]) missingDropped(mv analysis.ModelKey, p *pending[W]) {
	if d, ok := m.dropped[windowKey{mv, p.startMs}]; ok {
		for _, s := range d {
			if !slices.Contains(p.c.Missing, s) {
				p.c.Missing = append(p.c.Missing, s)
			}
		}
		delete(m.dropped, windowKey{mv, p.startMs})
	}
	slices.SortFunc(p.c.Missing, func(a, b Source) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

// Ready removes and returns the windows that are complete at wall-clock
// time now: every active source has reported progress at or past their end
// plus the lateness, and every idle one too or their first partial came
// IdleWait ago; or their first partial came Timeout ago. A model's windows
// are decided in order: a window waited out takes the model's earlier
// windows with it. They come oldest end first (then by model).
func (m *MergerOf[W]) Ready(now time.Time) []CompleteOf[W] {
	lo, loIdle := int64(math.MaxInt64), int64(math.MaxInt64)
	for s, p := range m.progress {
		if m.idle[s] {
			loIdle = min(loIdle, p)
		} else {
			lo = min(lo, p)
		}
	}
	var out []CompleteOf[W]
	for k, mw := range m.models {
		// The newest window waited out forces the older ones too.
		forceUpTo := -1
		for i, p := range mw.open {
			if now.Sub(p.arrived) >= m.cfg.Timeout {
				forceUpTo = i
			}
		}
		n := 0
		blocked := false // a model's windows are decided in order: none after one that waits
		for i, p := range mw.open {
			due := p.endMs + m.lateMs
			switch {
			case blocked && i > forceUpTo:
				mw.open[n] = p
				n++
				continue
			case lo >= due && (loIdle >= due || now.Sub(p.arrived) >= m.cfg.IdleWait):
			case i <= forceUpTo:
				for s, at := range m.progress {
					if at < due && !m.idle[s] {
						p.c.Missing = append(p.c.Missing, s)
					}
				}
				slices.SortFunc(p.c.Missing, func(a, b Source) int {
					return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
				})
			default:
				blocked = true
				mw.open[n] = p
				n++
				continue
			}
			// Sources whose partial was dropped at a bound: not complete.
			m.missingDropped(k, p)
			out = append(out, p.c)
			mw.decided = max(mw.decided, p.endMs)
		}
		clear(mw.open[n:])
		mw.open = mw.open[:n]
		if n == 0 {
			delete(m.models, k)
			m.restored[k] = max(m.restored[k], mw.decided)
			m.boundRestored()
		}
	}
	slices.SortFunc(out, func(a, b CompleteOf[W]) int {
		am, _, ae := m.ops.Key(a.Window)
		bm, _, be := m.ops.Key(b.Window)
		return cmp.Or(cmp.Compare(ae, be), cmp.Compare(am.ID, bm.ID), cmp.Compare(am.Version, bm.Version))
	})
	if len(m.forced) > 0 {
		// Decided by Add, before any window it returns now.
		out = append(m.forced, out...)
		m.forced = nil
	}
	return out
}

// Committable returns the offset up to which the partials partition may be
// committed: the smallest first offset of a window still being merged, or
// next when there is none.
func (m *MergerOf[W]) Committable(next int64) int64 {
	c := next
	for _, f := range m.forced {
		c = min(c, f.First)
	}
	for _, mw := range m.models {
		for _, p := range mw.open {
			c = min(c, p.c.First)
		}
	}
	return c
}

// Open returns the number of windows being merged, and decided but not yet
// returned by Ready.
func (m *MergerOf[W]) Open() int {
	n := len(m.forced)
	for _, mw := range m.models {
		n += len(mw.open)
	}
	return n
}

// Forced returns the number of windows decided at a bound (MaxWindows) and
// not yet returned by Ready: a caller that does not call Ready after each
// Add calls it when there are any, so that they do not pile up.
func (m *MergerOf[W]) Forced() int { return len(m.forced) }

// Sources returns the number of sources the merger waits for.
func (m *MergerOf[W]) Sources() int { return len(m.progress) }
