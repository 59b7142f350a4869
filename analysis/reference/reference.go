package reference

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Reference is the pinned baseline of a model version that windows are
// compared with.
type Reference struct {
	// ID is a content hash of the reference (16 hex digits).
	ID string
	// Model is the model version.
	Model analysis.ModelKey
	// CreatedAt is when the reference was pinned.
	CreatedAt time.Time
	// Source says where it came from: "warmup" (first windows) or "import".
	Source string
	// Windows is how many windows it was built from.
	Windows int
	// Numeric and Categorical hold per-feature references by name.
	Numeric     map[string]*Numeric
	Categorical map[string]*Categorical
	// Joint is the mean and covariance of the numeric features together,
	// for the multivariate score; nil when it cannot be estimated.
	Joint *stat.Joint
	// Signals are the merged signal partials of the windows the reference
	// was built from, in analysis.Config.Signals order, that signals are scored
	// against; nil for a reference loaded from storage or imported (they
	// are kept in memory only, and not part of the content hash).
	Signals []signal.Partial
}

// Numeric is the reference of one numeric feature.
type Numeric struct {
	// Edges are the inner bin edges (reference quantiles, numpy's rule,
	// duplicates removed); bins are right-closed.
	Edges []float64
	// Counts are the reference sample's counts per bin.
	Counts []uint64
	// N is the number of observations the moments summarise.
	N uint64
	// Mean, Variance (population), Min and Max are their moments and extremes.
	Mean, Variance, Min, Max float64
	// Sample is the reference's uniform sample in sampling-key order, so
	// that any prefix of it is itself a uniform sample.
	Sample []float64

	sorted []float64 // Sample, sorted
}

// Sorted returns the reference sample sorted (after Prepare): KS and
// Wasserstein-1 compare a window with all of it.
func (n *Numeric) Sorted() []float64 { return n.sorted }

// prepare derives the sorted sample.
func (n *Numeric) prepare() {
	n.sorted = slices.Clone(n.Sample)
	slices.Sort(n.sorted)
}

// Prepare derives what scoring needs from the stored fields; call it on a
// reference built elsewhere (loaded from storage or imported) before use.
// subsample, the window sample size, is no longer used: windows are
// compared with the whole reference sample, not with a fixed subsample of
// it (whose sampling error every window's test would share).
func (r *Reference) Prepare(subsample int) {
	_ = subsample
	for _, n := range r.Numeric {
		n.prepare()
	}
	for _, c := range r.Categorical {
		c.Index()
	}
	if r.Joint != nil && r.Joint.Prepare() != nil {
		r.Joint = nil // a singular stored covariance: no multivariate score
	}
}

// Categorical is the reference of one categorical feature.
type Categorical struct {
	// Categories are the reference's categories, most frequent first.
	Categories []string
	// Counts are their counts.
	Counts []uint64
	// Other counts reference observations outside Categories.
	Other uint64
	// N is the number of observations.
	N uint64
	// Complete is true when Categories hold every value the reference saw, so
	// that any other value is new.
	Complete bool

	index *sketch.CategoryIndex
}

// Index prepares the category lookup; call it after filling Categories.
func (c *Categorical) Index() {
	c.index = sketch.NewCategoryIndex(c.Categories, c.Complete)
}

// Lookup returns the category index that Index prepared; nil for a nil c.
func (c *Categorical) Lookup() *sketch.CategoryIndex {
	if c == nil {
		return nil
	}
	return c.index
}

// Build builds a reference from s, the merged state of warm-up windows
// (opened without a reference), with bins quantile bins for numeric
// features. When s.Rows is set the samples are read from it (the numeric
// states' samples need not be filled), otherwise from the numeric states;
// the joint reference too. subsample, the window sample size, is no longer
// used (see Prepare).
func Build(s Sketches, bins, subsample int, source string, windows int, now time.Time) *Reference {
	w := &s
	// The rows in key order, sorted once for every feature (and the joint
	// reference) instead of once per feature.
	var order []int
	if w.Rows != nil {
		order = w.Rows.SlotsInKeyOrder()
	}
	ref := &Reference{
		Model:       w.Model,
		CreatedAt:   now.UTC().Truncate(time.Second),
		Source:      source,
		Windows:     windows,
		Numeric:     make(map[string]*Numeric),
		Categorical: make(map[string]*Categorical),
		Signals:     w.Signals,
	}
	for i, name := range w.NumericNames {
		s := &w.Numeric[i]
		if s.Count == 0 {
			continue
		}
		nr := &Numeric{
			N: s.Count, Mean: s.Mean, Variance: s.Variance(), Min: s.Min, Max: s.Max,
			Sample: w.inKeyOrder(i, order),
		}
		nr.prepare()
		nr.Edges = stat.QuantileEdges(nr.sorted, bins)
		nr.Counts = countSorted(nr.Edges, nr.sorted)
		ref.Numeric[name] = nr
	}
	var jointNames []string
	var jointSamples []*sketch.Sample
	var jointCols []int
	for i, name := range w.NumericNames {
		if w.Numeric[i].Count > 0 {
			jointNames = append(jointNames, name)
			jointSamples = append(jointSamples, &w.Numeric[i].Sample)
			jointCols = append(jointCols, i)
		}
	}
	if w.Rows != nil {
		ref.Joint = jointFromRows(jointNames, jointCols, w.Rows, order)
	} else {
		ref.Joint = jointFromSamples(jointNames, jointSamples)
	}
	for i, name := range w.CategoricalNames {
		s := &w.Categorical[i]
		if s.Count == 0 {
			continue
		}
		cr := &Categorical{N: s.Count, Other: s.Other, Complete: s.Other == 0}
		for v := range s.Tracked {
			cr.Categories = append(cr.Categories, v)
		}
		sort.Slice(cr.Categories, func(a, b int) bool {
			ca, cb := s.Tracked[cr.Categories[a]], s.Tracked[cr.Categories[b]]
			if ca != cb {
				return ca > cb
			}
			return cr.Categories[a] < cr.Categories[b]
		})
		for _, v := range cr.Categories {
			cr.Counts = append(cr.Counts, s.Tracked[v])
		}
		cr.Index()
		ref.Categorical[name] = cr
	}
	ref.ID = ref.Hash()
	return ref
}

// countSorted returns the counts of sorted, sorted ascending, in the bins
// of edges: stat.BinIndex of each value, counted in one pass over both
// when the edges are in order (QuantileEdges': ascending, no NaN), since
// the bin of a value then never comes before the bin of a smaller one.
// (A NaN value sorts first and falls in bin 0, as BinIndex puts it.)
func countSorted(edges, sorted []float64) []uint64 {
	counts := make([]uint64, len(edges)+1)
	for i := range edges {
		if !(i == 0 || edges[i-1] < edges[i]) || math.IsNaN(edges[i]) {
			for _, v := range sorted {
				counts[stat.BinIndex(edges, v)]++
			}
			return counts
		}
	}
	b := 0
	for _, v := range sorted {
		for b < len(edges) && edges[b] < v {
			b++
		}
		counts[b]++
	}
	return counts
}

// Hash returns the reference's content hash: 16 hex digits of a SHA-256 over
// its features in name order.
func (r *Reference) Hash() string {
	h := sha256.New()
	var buf [8]byte
	f := func(v float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
		h.Write(buf[:])
	}
	u := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	s := func(v string) {
		u(uint64(len(v)))
		h.Write([]byte(v))
	}
	s(r.Model.ID)
	s(r.Model.Version)
	for _, name := range sortedKeys(r.Numeric) {
		n := r.Numeric[name]
		s("n:" + name)
		u(uint64(len(n.Edges)))
		for _, e := range n.Edges {
			f(e)
		}
		for _, c := range n.Counts {
			u(c)
		}
		u(n.N)
		for _, v := range []float64{n.Mean, n.Variance, n.Min, n.Max} {
			f(v)
		}
		u(uint64(len(n.Sample)))
		for _, v := range n.Sample {
			f(v)
		}
	}
	for _, name := range sortedKeys(r.Categorical) {
		c := r.Categorical[name]
		s("c:" + name)
		u(uint64(len(c.Categories)))
		for i, v := range c.Categories {
			s(v)
			u(c.Counts[i])
		}
		u(c.Other)
		u(c.N)
	}
	if j := r.Joint; j != nil {
		s("joint")
		u(uint64(len(j.Features)))
		for _, f := range j.Features {
			s(f)
		}
		for _, v := range j.Mean {
			f(v)
		}
		for _, v := range j.Covariance {
			f(v)
		}
		u(j.N)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Store holds the pinned reference of every model version and the
// warm-up state of those still without one, at most MaxVersions of them
// together. It is shared by all partitions and deciders of an instance; its
// methods are called once per window, never per event.
type Store struct {
	cfg  *analysis.Config
	mu   sync.Mutex
	refs map[analysis.ModelKey]*Reference
	warm map[analysis.ModelKey]*warmup
	now  func() time.Time

	// used orders the versions held (references and warm-ups) by their
	// last use, for the MaxVersions bound.
	used          map[analysis.ModelKey]uint64
	clock         uint64
	evictedRefs   uint64
	evictedWarmup uint64
}

// NewStore returns an empty set of references.
func NewStore(cfg *analysis.Config, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{cfg: cfg, refs: make(map[analysis.ModelKey]*Reference), warm: make(map[analysis.ModelKey]*warmup), now: now,
		used: make(map[analysis.ModelKey]uint64)}
}

// Get returns the pinned reference of m, or nil (none, or evicted: see
// Warming).
func (r *Store) Get(m analysis.ModelKey) *Reference {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := r.refs[m]
	if ref != nil {
		r.touch(m)
	}
	return ref
}

// Peek returns m's pinned reference, nil when none, like Get, but without
// counting a use of it: for readers (the feedback's decisions) that must
// not keep a version held that its own windows no longer use.
func (r *Store) Peek(m analysis.ModelKey) *Reference {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refs[m]
}

// Warming reports whether m has a warm-up in progress here.
func (r *Store) Warming(m analysis.ModelKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.warm[m] != nil
}

// Held returns how many model versions have a reference and a warm-up held
// in memory, and how many of each were evicted for MaxVersions.
func (r *Store) Held() (refs, warm int, evictedRefs, evictedWarmup uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.refs), len(r.warm), r.evictedRefs, r.evictedWarmup
}

// touch records a use of m. Called with mu held.
func (r *Store) touch(m analysis.ModelKey) {
	r.clock++
	r.used[m] = r.clock
}

// bound evicts versions other than keep until at most MaxVersions are held:
// the least recently used warm-up first, a reference only when no warm-up
// is left to evict. Called with mu held.
func (r *Store) bound(keep analysis.ModelKey) {
	for len(r.refs)+len(r.warm) > max(r.cfg.MaxVersions, 1) {
		// Warm-ups go first: one starts again cheaply, while a pinned
		// reference is what lets an established version through a flood
		// of made-up ones (window.Windower gives it slots of its own).
		victim, ok := r.leastUsed(keep, true)
		if !ok {
			if victim, ok = r.leastUsed(keep, false); !ok {
				return
			}
		}
		if _, ok := r.refs[victim]; ok {
			r.evictedRefs++
		}
		if _, ok := r.warm[victim]; ok {
			r.evictedWarmup++
		}
		delete(r.refs, victim)
		delete(r.warm, victim)
		delete(r.used, victim)
	}
}

// leastUsed returns the least recently used version other than keep among
// the warm-ups (warmups) or the references. Called with mu held.
func (r *Store) leastUsed(keep analysis.ModelKey, warmups bool) (analysis.ModelKey, bool) {
	var victim analysis.ModelKey
	oldest := uint64(math.MaxUint64)
	for m, t := range r.used {
		_, isWarm := r.warm[m]
		if m == keep || isWarm != warmups || t >= oldest {
			continue
		}
		victim, oldest = m, t
	}
	return victim, oldest != math.MaxUint64
}

// Set pins ref (loaded from storage or imported), replacing any other.
func (r *Store) Set(ref *Reference) {
	ref.Prepare(r.cfg.SampleSize)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs[ref.Model] = ref
	delete(r.warm, ref.Model)
	r.touch(ref.Model)
	r.bound(ref.Model)
}

// Contribute adds s, the state of a closed warm-up window (one opened
// without a reference), to its model's warm-up; when s.Rows is set it
// reads the rows, not the numeric states' samples (Window.RowSketches
// leaves them unfilled). When the model reaches
// WarmupWindows windows it builds, pins and returns the reference;
// otherwise it returns nil. A window contributed again (same start and
// first offset: re-read after a failed write) is not counted twice.
func (r *Store) Contribute(s Sketches) *Reference {
	if s.Events == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refs[s.Model] != nil {
		return nil
	}
	wu := r.warm[s.Model]
	if wu == nil {
		wu = newWarmup(r.cfg, s)
		r.warm[s.Model] = wu
	}
	r.touch(s.Model)
	r.bound(s.Model)
	id := [2]int64{s.Start.UnixMilli(), s.FirstOffset}
	if wu.seen[id] {
		return nil
	}
	wu.seen[id] = true
	wu.add(r.cfg, s)
	wu.windows++
	if wu.windows < r.cfg.WarmupWindows {
		return nil
	}
	// Build reads the merged rows, when the warm-up has them, without
	// filling the states' samples from them first.
	ref := Build(wu.state, r.cfg.Bins, r.cfg.SampleSize, SourceWarmup, wu.windows, r.now())
	r.refs[s.Model] = ref
	delete(r.warm, s.Model)
	r.touch(s.Model)
	return ref
}

// WarmupProgress returns how many warm-up windows model m has contributed.
func (r *Store) WarmupProgress(m analysis.ModelKey) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wu := r.warm[m]; wu != nil {
		return wu.windows
	}
	return 0
}
