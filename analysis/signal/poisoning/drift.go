package poisoning

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Drift is poisoning_drift: the training set being built moving away from
// what the model was trained on, the reference period's feedback. Per
// window, each numeric feature keeps its moments and a bottom-k sample of
// DriftSample values (sketch.Numeric, sampled by the example id's hash, so
// merges are exact); the ids and sources of the driftExamples examples of
// the smallest hashes are kept once for all features (a bottom-k sample of
// the same hashes: each joins its values in every feature's sample); and a
// table of MaxLabels counters (Space-Saving) counts the proposed labels,
// keeping a sample of each label's example ids with their sources (the
// evidence of a label shift).
//
// Decisions, against a reference only, each needing MinCount values on
// both sides: per numeric feature, the two-sample Kolmogorov–Smirnov test
// of the samples (stat.KolmogorovSmirnov: exact p-values up to 10000
// values), Benjamini–Hochberg across the features, effect: the KS distance
// D, evidence: the value where the two distributions differ most, the side
// of it where the window has the excess (above it or at most it) with both
// periods' shares there, and the sampled examples on that side, the sources
// that sent most of them counted and ids of theirs named (the sample merges
// exactly for distinct ids; an id sent twice counts once); and, with
// subject "*", the chi-square test
// of homogeneity of the proposed labels' counts (stat.ChiSquare, the labels
// counted on either side plus the rest), effect: the largest change of a
// label's share, whose sampled examples in the window the evidence names
// with their sources.
type Drift struct {
	Config   Config
	Features Features
}

var (
	_ Signal  = Drift{}
	_ Partial = (*drifts)(nil)
)

// Name returns "poisoning_drift".
func (Drift) Name() string { return "poisoning_drift" }

// NewPartial returns an empty partial.
func (s Drift) NewPartial() Partial {
	p := &drifts{
		numeric:  make([]sketch.Numeric, len(s.Features.Numeric)),
		held:     make([]sketch.KeySet, len(s.Features.Numeric)),
		labels:   newSourcedTable(s.Config.MaxLabels, maxKey, idsPerKey),
		examples: newIDSample(min(driftExamples, s.Config.DriftSample), s.Config.SampleKey),
	}
	for j := range p.numeric {
		p.numeric[j] = sketch.NewNumeric(s.Config.DriftSample, 0)
	}
	return p
}

// driftExamples bounds the examples whose ids and sources poisoning_drift
// keeps per window (and DriftSample bounds it): those of the smallest
// sampling keys among the examples its numeric samples take.
const driftExamples = 256

// maxFromDrift bounds the sources a numeric feature's drift names, so that
// its evidence has room for ids.
const maxFromDrift = 3

// newIDSample returns an empty bottom-k sample of examples' ids and
// sources, without labels or values.
func newIDSample(k int, key string) *spectra { return &spectra{k: k, seed: sampleSeed(key)} }

type drifts struct {
	numeric   []sketch.Numeric // per numeric feature; only examples with an id
	held      []sketch.KeySet  // per numeric feature, the keys of its sample
	examples  *spectra         // ids and sources of the examples of the smallest keys the samples take
	labels    *table           // proposed labels
	malformed uint64           // examples whose numeric values have another length
	label     []byte           // scratch
	// noExamplesInput makes the next Decode read the encoding of before
	// the examples' ids and sources were kept: none kept.
	noExamplesInput bool
}

func (p *drifts) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		if e.ProposedLabel != "" {
			p.label = shorten(p.label[:0], e.ProposedLabel, maxKey)
			p.labels.add(p.label, 0, e.ID, e.Source, e.ID != "")
		}
		if len(e.Numeric) != len(p.numeric) {
			p.malformed++
			continue
		}
		if e.ID == "" {
			continue // a sample needs distinct keys
		}
		key := p.examples.add(e)
		for j, x := range e.Numeric {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				// An id sent again (a producer's retry, or an attacker
				// repeating one) is sampled once.
				p.numeric[j].ObserveUnsampled(x, 0)
				p.numeric[j].Sample.AddDistinct(key, x, &p.held[j])
			}
		}
	}
}

func (p *drifts) Merge(o Partial) {
	q := o.(*drifts)
	for j := range p.numeric {
		p.numeric[j].MergeUnsampled(&q.numeric[j])
		p.numeric[j].Sample.MergeDistinct(&q.numeric[j].Sample, &p.held[j])
	}
	p.labels.merge(q.labels)
	p.examples.Merge(q.examples)
	p.malformed += q.malformed
}

func (p *drifts) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.malformed)
	b = p.labels.appendBinary(b)
	var prev []uint64
	for j := range p.numeric {
		b = p.numeric[j].AppendBinary(b, prev)
		prev = p.numeric[j].Sample.Keys()
	}
	return p.examples.AppendBinary(b)
}

// decodeWithoutIDs makes the next Decode read the encoding of before the
// labels kept example ids.
func (p *drifts) decodeWithoutIDs() { p.labels.noIDInput = true }

// decodeWithoutExamples makes the next Decode read the encoding of before
// the examples' ids and sources were kept.
func (p *drifts) decodeWithoutExamples() { p.noExamplesInput = true }

func (p *drifts) Decode(d *sketch.Decoder) {
	withExamples := !p.noExamplesInput
	p.noExamplesInput = false
	for j := range p.held {
		p.held[j].Clear() // built again from the decoded samples when used
	}
	p.malformed = d.Uvarint()
	p.labels.decode(d, "labels")
	var prev []byte
	for j := range p.numeric {
		if d.Err() != nil {
			return
		}
		prev = p.numeric[j].Decode(d, fmt.Sprint("numeric feature ", j), prev)
		if n := &p.numeric[j]; d.Err() == nil && uint64(n.Sample.Len()) > n.Count {
			d.Fail(fmt.Sprintf("numeric feature %d samples %d of %d values", j, n.Sample.Len(), n.Count))
		}
	}
	if withExamples && d.Err() == nil {
		p.examples.Decode(d)
	}
}

// Score returns the window's drift verdicts against the reference; none
// without one.
func (s Drift) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*drifts)
	r, _ := ref.(*drifts)
	if r == nil || len(r.numeric) != len(c.numeric) {
		return nil
	}
	cfg := s.Config
	minCount := uint64(cfg.MinCount)
	var out []signal.Verdict
	if v, ok := labelShift(c.labels, r.labels, minCount, cfg); ok {
		out = append(out, v)
	}
	var ts []test
	for j := range c.numeric {
		cn, rn := &c.numeric[j], &r.numeric[j]
		x, y := finiteSorted(cn.Sample.Values()), finiteSorted(rn.Sample.Values())
		if uint64(len(x)) < minCount || uint64(len(y)) < minCount || j >= len(s.Features.Numeric) {
			continue
		}
		ts = append(ts, c.ksTest(j, s.Features.Numeric[j], x, y, "the reference's", rn.Mean, rn.Count))
	}
	return append(out, decisions(ts, cfg.Drift, cfg.MaxSubjects)...)
}

// ksTest is the two-sample Kolmogorov–Smirnov test of the window's values
// of numeric feature j, named feature, sorted in x, against the sorted
// reference sample y, whose values have the mean refMean over refN; ref
// names the reference in the evidence.
func (c *drifts) ksTest(j int, feature string, x, y []float64, ref string, refMean float64, refN uint64) test {
	cn := &c.numeric[j]
	// Bounded as the inputs' drift is: the window's sample against a
	// reference sample of up to 10,000 values would cost O(n·m) exact.
	ks := stat.KolmogorovSmirnovBounded(x, y)
	at, above, fx, fy := ksLocation(x, y)
	where, wx, wy := "at most", fx, fy
	if above {
		where, wx, wy = "above", 1-fx, 1-fy
	}
	sampled, sources, ids := c.excess(j, at, above)
	text := fmt.Sprintf("KS D %.3f: %.0f%% of values %s %.4g against %s %.0f%%%s (mean %.4g of %d, %s %.4g of %d)",
		ks.Statistic, 100*wx, where, at, ref, 100*wy, sampled, cn.Mean, cn.Count, ref, refMean, refN)
	return test{subject: feature, statistic: ks.Statistic, effect: ks.Statistic, p: ks.PValue, n: cn.Count,
		evidence: sourcedEvidence(text, sources, ids)}
}

// SignalServingDrift is poisoning_serving_drift: the training set being
// built moving away from what the model serves. Per numeric feature of a
// feedback window, the two-sample Kolmogorov–Smirnov test of the feedback
// examples' values (poisoning_drift's sample of the window) against the
// sample of the same feature in the model's serving reference (what its
// inferences looked like when the reference was pinned), Benjamini–Hochberg
// across the features and the levels of Config.Drift, the evidence as
// poisoning_drift's (the value where the two differ most, both shares
// there, and the sources and ids of the window's examples on the side of
// the excess). It needs MinCount values on both sides; a feature the
// serving reference does not have is not tested.
const SignalServingDrift = "poisoning_serving_drift"

// Served is a numeric feature of what a model serves: its reference's
// sample, sorted, and the mean and count of the values it summarises.
type Served struct {
	Sorted []float64
	Mean   float64
	N      uint64
}

// ScoreServing returns the poisoning_serving_drift verdicts of the merged
// window w against what its model serves, served(feature) (nil: a feature
// it does not serve); none when w has no poisoning_drift partial.
func (w *Window) ScoreServing(served func(feature string) *Served) []signal.Verdict {
	for i, sg := range w.signals {
		s, ok := sg.(Drift)
		if !ok {
			continue
		}
		c := w.parts[i].(*drifts)
		var ts []test
		for j := range c.numeric {
			if j >= len(s.Features.Numeric) {
				break
			}
			sv := served(s.Features.Numeric[j])
			if sv == nil {
				continue
			}
			x := finiteSorted(c.numeric[j].Sample.Values())
			if uint64(len(x)) < uint64(s.Config.MinCount) || uint64(len(sv.Sorted)) < uint64(s.Config.MinCount) {
				continue
			}
			ts = append(ts, c.ksTest(j, s.Features.Numeric[j], x, sv.Sorted, "the served inputs'", sv.Mean, sv.N))
		}
		return decisions(ts, s.Config.Drift, s.Config.MaxSubjects)
	}
	return nil
}

// ksLocation returns the value at which the empirical distributions of the
// sorted samples x (the window's) and y (the reference's) differ most, the
// smallest such, whether x has the excess above it (else at or below it),
// and both distribution functions there. Both must be non-empty.
func ksLocation(x, y []float64) (at float64, above bool, fx, fy float64) {
	n, m := len(x), len(y)
	best := -1
	for i, j := 0, 0; i < n || j < m; {
		t := y[min(j, m-1)]
		if j == m || i < n && x[i] <= y[j] {
			t = x[i]
		}
		for i < n && x[i] <= t {
			i++
		}
		for j < m && y[j] <= t {
			j++
		}
		d := i*m - j*n // n·m times the difference of the CDFs at t, exact
		if abs(d) > best {
			best, at, above = abs(d), t, d < 0
			fx, fy = float64(i)/float64(n), float64(j)/float64(m)
		}
	}
	return at, above, fx, fy
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// excess describes, for numeric feature j, the window's sampled examples
// with a value on the side of at where the window has the excess (above
// it, or at most it): "; k of n sampled examples there" (n: those with a
// value), the sources of the maxFromDrift that sent most of them, as often
// as each did, and idsPerKey ids of theirs, the first source's first, each
// source's by ascending sampling key (a uniform pick). An id sent twice
// counts once, with the smallest of its values, so that the evidence does
// not depend on the order of merges. The sample misses examples when the
// window merged partials encoded before it was kept (fewer offered than a
// feature has values): then it names none.
func (p *drifts) excess(j int, at float64, above bool) (text string, sources, ids []string) {
	n := &p.numeric[j]
	if p.examples.offered < n.Count || len(p.examples.keys) == 0 {
		return "", nil, nil
	}
	vals := make(map[uint64]float64, n.Sample.Len())
	for i, k := range n.Sample.Keys() {
		if v, ok := vals[k]; !ok || n.Sample.Values()[i] < v {
			vals[k] = n.Sample.Values()[i]
		}
	}
	var side []int32
	joined := 0
	var last uint64
	for i, r := range p.examples.inKeyOrder() {
		k := p.examples.keys[r]
		if i > 0 && k == last {
			continue // the same id again
		}
		last = k
		v, ok := vals[k]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		joined++
		if above == (v > at) {
			side = append(side, r)
		}
	}
	if joined == 0 {
		return "", nil, nil
	}
	count := map[string]int{}
	for _, r := range side {
		count[string(p.examples.source(r))]++
	}
	delete(count, "")
	top := slices.SortedFunc(maps.Keys(count), func(a, b string) int {
		if c := cmp.Compare(count[b], count[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	top = top[:min(len(top), maxFromDrift)]
	for _, src := range top {
		for range count[src] {
			sources = append(sources, src)
		}
	}
	rank := func(r int32) int {
		if i := slices.Index(top, string(p.examples.source(r))); i >= 0 {
			return i
		}
		return len(top)
	}
	slices.SortStableFunc(side, func(a, b int32) int { return cmp.Compare(rank(a), rank(b)) }) // in key order within a source
	for _, r := range side[:min(len(side), idsPerKey)] {
		ids = append(ids, string(p.examples.id(r)))
	}
	return fmt.Sprintf("; %d of %d sampled examples there", len(side), joined), sources, ids
}

// labelShift tests the proposed labels' counts of the window cur against
// the reference's.
func labelShift(cur, ref *table, minCount uint64, cfg Config) (signal.Verdict, bool) {
	if cur.n < minCount || ref.n < minCount {
		return signal.Verdict{}, false
	}
	var keys []string
	for _, t := range []*table{cur, ref} {
		for s := range int32(t.slots()) {
			keys = append(keys, string(t.key(s)))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	cc, rc := make([]float64, len(keys)+1), make([]float64, len(keys)+1)
	if len(keys) == 0 {
		return signal.Verdict{}, false
	}
	var worst float64
	at := 0
	for i, k := range keys {
		a, _ := countOf(cur, []byte(k))
		b, _ := countOf(ref, []byte(k))
		cc[i], rc[i] = float64(a), float64(b)
	}
	// The rest: what the counters do not hold (0 below capacity).
	cc[len(keys)] = math.Max(0, float64(cur.n)-sum(cc))
	rc[len(keys)] = math.Max(0, float64(ref.n)-sum(rc))
	for i := range keys {
		if d := math.Abs(cc[i]/float64(cur.n) - rc[i]/float64(ref.n)); d > worst {
			worst, at = d, i
		}
	}
	chi := stat.ChiSquare(rc, cc)
	if math.IsNaN(chi.PValue) {
		return signal.Verdict{}, false
	}
	text := fmt.Sprintf("proposed label %q is %.3f of %d examples against %.3f of %d in the reference (chi-square %.1f, %d dof)",
		keys[at], cc[at]/float64(cur.n), cur.n, rc[at]/float64(ref.n), ref.n, chi.Statistic, chi.DoF)
	// Sampled examples of the label whose share rose most (a label a
	// source floods has mostly that source's): with two labels, the one
	// that moved most may be the one that fell, whose examples are the
	// honest ones.
	up, rise := -1, 0.0
	for i := range keys {
		if d := cc[i]/float64(cur.n) - rc[i]/float64(ref.n); d > rise {
			up, rise = i, d
		}
	}
	var sources, ids []string
	if up >= 0 {
		if up != at {
			text += fmt.Sprintf("; examples of %q, which rose most", keys[up])
		}
		if s := cur.find([]byte(keys[up]), xxhash.Sum64String(keys[up])); s >= 0 {
			sources, ids = cur.sources(s), cur.ids(s)
		}
	}
	return signal.Decision("*", chi.Statistic, chi.PValue, worst, cfg.LabelShift.Warning, cfg.LabelShift.Critical, cur.n,
		sourcedEvidence(text, sources, ids)), true
}

// finiteSorted returns the finite values of xs, sorted (a decoded sample may
// hold anything).
func finiteSorted(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
