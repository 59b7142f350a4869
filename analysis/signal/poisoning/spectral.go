package poisoning

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
	"gonum.org/v1/gonum/mat"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// chi2Median1 is the median of χ² with one degree of freedom
// (scipy.stats.chi2.median(1)).
const chi2Median1 = 0.454936423119572

// Spectral is poisoning_spectral: spectral signatures (Tran, Li and Mądry,
// NeurIPS 2018). A poisoned sub-population of a label whose mean is far
// from the label's other examples, relative to their spread, dominates the
// top singular direction of the label's centred data, and its examples
// project far along it.
//
// Per window, a bottom-k sample of the labelled examples (the SpectralSample
// examples with the smallest exampleKey of their id and source, each kept
// once; merges are exact) keeps their numeric values, label and id. Scoring, per label with
// at least MinCount sampled examples: each numeric feature is divided by
// its standard deviation over the whole sample (so that units do not choose
// the direction; features without spread are dropped), the label's examples
// are centred on the label's means (an absent value counts as the mean),
// v is the top right singular vector of that matrix M (gonum mat.SVD), and
// an example's score is τᵢ = (Mᵢ·v)², as in the paper (not the uncentred
// |rᵢ·v| of MadryLab's code). The paper removes the 1.5·ε·n highest scores;
// a monitor needs a rate that compares across windows instead: an example is
// an outlier when its score standardised on a χ²₁ scale,
// τᵢ·χ²₁median/median(τ), exceeds OutlierScore (9: three standard
// deviations for Gaussian data, 0.27% of clean examples), and the
// statistic is the label's share of outliers. The evidence lists the
// examples among the ⌈1.5·ε·n⌉ highest scores.
//
// Decision, against a reference with MinCount sampled examples of the
// label: one-sided Fisher exact test of the window's outlier share against
// the reference's (computed on the reference's own sample), Benjamini–
// Hochberg across labels; effect: the difference of the shares. Without a
// reference (or for a label the reference lacks) the shares inform: a
// feature with heavy tails has outliers without poison.
type Spectral struct {
	Config   Config
	Features Features
}

var (
	_ Signal  = Spectral{}
	_ Partial = (*spectra)(nil)
)

// Name returns "poisoning_spectral".
func (Spectral) Name() string { return "poisoning_spectral" }

// NewPartial returns an empty partial.
func (s Spectral) NewPartial() Partial {
	return &spectra{k: s.Config.SpectralSample, d: len(s.Features.Numeric), lw: maxKey, seed: sampleSeed(s.Config.SampleKey)}
}

// spectra is a bottom-k sample of examples: rows of d values, a label of at
// most lw bytes, an id and a source, in arrays that grow to k rows.
// poisoning_drift keeps one of unlabelled rows without values (newIDSample).
type spectra struct {
	k, d, lw  int
	room      int    // rows the arrays have room for
	offered   uint64 // examples offered: labelled, with an id and d numeric values (for drift's id sample: with an id and the features' number of values)
	malformed uint64 // labelled examples whose numeric values have another length
	keys      []uint64
	vals      []float64 // d per row
	labelLen  []uint8
	labels    []byte // lw per row
	idLen     []uint8
	ids       []byte // maxID per row
	srcLen    []uint8
	srcs      []byte // maxKey per row
	// noSrcInput makes Decode read an encoding without sources (of before
	// they were kept), the rows' sources left empty.
	noSrcInput bool
	heap       []int32 // max-heap of rows on key
	// scratch of add: an example's id, label and source as a row keeps them
	scratch [3][]byte
	seed    uint64        // sampleSeed(Config.SampleKey)
	held    sketch.KeySet // the rows by key, so that kept needs no scan
}

func (p *spectra) Observe(es []Example) {
	for i := range es {
		e := &es[i]
		if e.ProposedLabel == "" || e.ID == "" {
			continue
		}
		if len(e.Numeric) != p.d {
			p.malformed++
			continue
		}
		p.add(e)
	}
}

// add offers e to the sample, counting it; its label and values are kept
// only as wide as the sample keeps them (none for an id sample). It returns
// the example's sampling key. Only an example the sample takes (or a
// repeat of one it holds) is shortened into the scratch and copied.
func (p *spectra) add(e *Example) uint64 {
	p.offered++
	key := exampleKey(p.seed, hashKept(e.ID, maxID, &p.scratch[0]), hashKept(e.Source, maxKey, &p.scratch[2]))
	r := p.kept(key)
	if r < 0 && !p.takes(key) {
		return key // not sampled: the common case once the sample is full
	}
	id := shorten(p.scratch[0][:0], e.ID, maxID)
	var label []byte
	if p.lw > 0 {
		label = shorten(p.scratch[1][:0], e.ProposedLabel, p.lw)
	}
	src := shorten(p.scratch[2][:0], e.Source, maxKey)
	p.scratch = [3][]byte{id, label, src}
	p.offerAt(key, r, id, label, src, e.Numeric)
	return key
}

// hashKept is the xxHash of s as a sample keeps it, shortened to limit
// (in scratch, only when it is longer).
func hashKept(s string, limit int, scratch *[]byte) uint64 {
	if len(s) <= limit {
		return xxhash.Sum64String(s)
	}
	*scratch = shorten((*scratch)[:0], s, limit)
	return xxhash.Sum64(*scratch)
}

// exampleKey is the sampling key of a feedback example, from the hashes of
// its id and its source as a sample keeps them (hashKept): an id sent again
// by its source (a retry, or an attacker repeating one) is one example, and
// the same id from another source another one, drawn as independently as a
// new id (a source cannot take more of a sample than its share of the
// examples by repeating ids). seed (sampleSeed of Config.SampleKey) keys
// it, so that a producer who does not know it cannot choose which ids are
// sampled: the hashes it can compute go through a mix with a value it
// does not know.
func exampleKey(seed, id, src uint64) uint64 { return fmix64(id ^ fmix64(src^seed)) }

// sampleSeed is the seed of exampleKey for Config.SampleKey (0: unkeyed).
func sampleSeed(key string) uint64 {
	if key == "" {
		return 0
	}
	return xxhash.Sum64String(key)
}

// fmix64 is MurmurHash3's 64-bit finalizer: a bijection whose every output
// bit depends on every input bit.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// offer adds the row of an example of sampling key to the sample when it
// takes a place there. The sample keeps a key once (an id sent again, by a
// producer's retry or an attacker, is one example): of the rows offered
// with one key it keeps the least (by source, label, then values), so that
// what it keeps does not depend on the order of the offers (of merges).
func (p *spectra) offer(key uint64, id, label, src []byte, vals []float64) {
	p.offerAt(key, p.kept(key), id, label, src, vals)
}

// offerAt is offer for a key whose row r (kept) is known.
func (p *spectra) offerAt(key uint64, r int32, id, label, src []byte, vals []float64) {
	if r >= 0 && !p.precedes(label, src, vals, r) {
		return
	}
	if r < 0 {
		if r = p.slot(key); r < 0 {
			return
		}
	}
	copy(p.vals[int(r)*p.d:int(r+1)*p.d], vals)
	p.labelLen[r] = uint8(copy(p.labels[int(r)*p.lw:int(r+1)*p.lw], label))
	p.idLen[r] = uint8(copy(p.ids[int(r)*maxID:int(r+1)*maxID], id))
	p.srcLen[r] = uint8(copy(p.srcs[int(r)*maxKey:int(r+1)*maxKey], src))
}

// takes reports whether the sample takes a new example of key: it has
// room, or key is below its largest.
func (p *spectra) takes(key uint64) bool {
	return len(p.keys) < p.k || p.k > 0 && key < p.keys[p.heap[0]]
}

// kept returns the row of key in the sample, -1 when it holds none; it
// looks only when key is small enough to be there.
func (p *spectra) kept(key uint64) int32 {
	if n := len(p.keys); n == 0 || n == p.k && key > p.keys[p.heap[0]] {
		return -1
	}
	if r, ok := p.held.Value(key); ok {
		return r
	}
	return -1
}

// precedes reports whether a row of label, src and vals sorts before row r.
func (p *spectra) precedes(label, src []byte, vals []float64, r int32) bool {
	if c := bytes.Compare(src, p.source(r)); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(label, p.label(r)); c != 0 {
		return c < 0
	}
	for j, x := range p.row(r) {
		if c := cmp.Compare(vals[j], x); c != 0 {
			return c < 0
		}
	}
	return false
}

// slot returns the row to write an example of sampling key into, the
// example taking its place in the sample; -1 when it is not sampled.
func (p *spectra) slot(key uint64) int32 {
	if n := len(p.keys); n < p.k {
		if n == p.room {
			p.grow()
		}
		r := int32(n)
		p.keys = append(p.keys, key)
		p.vals = p.vals[:len(p.vals)+p.d]
		p.labelLen = append(p.labelLen, 0)
		p.labels = p.labels[:len(p.labels)+p.lw]
		p.idLen = append(p.idLen, 0)
		p.ids = p.ids[:len(p.ids)+maxID]
		p.srcLen = append(p.srcLen, 0)
		p.srcs = p.srcs[:len(p.srcs)+maxKey]
		p.heap = append(p.heap, r)
		p.up(n)
		p.held.SetValue(key, r)
		return r
	}
	if !p.takes(key) {
		return -1
	}
	r := p.heap[0]
	p.held.Remove(p.keys[r])
	p.keys[r] = key
	p.held.SetValue(key, r)
	p.down(0)
	return r
}

// grow doubles the room for rows (at least 8, at most k).
func (p *spectra) grow() {
	c := min(max(2*p.room, 8), p.k)
	p.room = c
	p.held.Reserve(c)
	p.keys = resize(p.keys, c)
	p.vals = resize(p.vals, c*p.d)
	p.labelLen = resize(p.labelLen, c)
	p.labels = resize(p.labels, c*p.lw)
	p.idLen = resize(p.idLen, c)
	p.ids = resize(p.ids, c*maxID)
	p.srcLen = resize(p.srcLen, c)
	p.srcs = resize(p.srcs, c*maxKey)
	p.heap = resize(p.heap, c)
}

func (p *spectra) up(i int) {
	for i > 0 {
		q := (i - 1) / 2
		if p.keys[p.heap[q]] >= p.keys[p.heap[i]] {
			return
		}
		p.heap[i], p.heap[q] = p.heap[q], p.heap[i]
		i = q
	}
}

func (p *spectra) down(i int) {
	n := len(p.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && p.keys[p.heap[r]] > p.keys[p.heap[l]] {
			m = r
		}
		if p.keys[p.heap[m]] <= p.keys[p.heap[i]] {
			return
		}
		p.heap[i], p.heap[m] = p.heap[m], p.heap[i]
		i = m
	}
}

// row, label and id return row r's values, label and id.
func (p *spectra) row(r int32) []float64 { return p.vals[int(r)*p.d : int(r+1)*p.d] }

func (p *spectra) label(r int32) []byte {
	return p.labels[int(r)*p.lw : int(r)*p.lw+int(p.labelLen[r])]
}

func (p *spectra) id(r int32) []byte { return p.ids[int(r)*maxID : int(r)*maxID+int(p.idLen[r])] }

// source returns row r's source ("" when unknown).
func (p *spectra) source(r int32) []byte {
	return p.srcs[int(r)*maxKey : int(r)*maxKey+int(p.srcLen[r])]
}

// inKeyOrder returns the rows by ascending sampling key; rows of one key
// (an example observed twice) by id, label and values, so that the order
// is a function of the sample's content.
func (p *spectra) inKeyOrder() []int32 {
	rows := slices.Clone(p.heap)
	slices.SortFunc(rows, func(a, b int32) int {
		if c := cmp.Compare(p.keys[a], p.keys[b]); c != 0 {
			return c
		}
		if c := bytes.Compare(p.id(a), p.id(b)); c != 0 {
			return c
		}
		if c := bytes.Compare(p.label(a), p.label(b)); c != 0 {
			return c
		}
		if c := bytes.Compare(p.source(a), p.source(b)); c != 0 {
			return c
		}
		return slices.CompareFunc(p.row(a), p.row(b), func(x, y float64) int {
			return cmp.Compare(math.Float64bits(x), math.Float64bits(y))
		})
	})
	return rows
}

func (p *spectra) Merge(o Partial) {
	q := o.(*spectra)
	p.offered += q.offered
	p.malformed += q.malformed
	for r := range int32(len(q.keys)) {
		p.offer(q.keys[r], q.id(r), q.label(r), q.source(r), q.row(r))
	}
}

// AppendBinary writes the counts, k and d, then the rows in key order, each
// its id (its key is the id's hash), label, source and values.
func (p *spectra) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.offered)
	b = binary.AppendUvarint(b, p.malformed)
	b = binary.AppendUvarint(b, uint64(p.k))
	b = binary.AppendUvarint(b, uint64(p.d))
	b = binary.AppendUvarint(b, uint64(len(p.keys)))
	for _, r := range p.inKeyOrder() {
		b = sketch.AppendString(b, string(p.id(r)))
		b = sketch.AppendString(b, string(p.label(r)))
		b = sketch.AppendString(b, string(p.source(r)))
		for _, v := range p.row(r) {
			b = sketch.AppendFloat(b, v)
		}
	}
	return b
}

func (p *spectra) decodeWithoutSources() { p.noSrcInput = true }

func (p *spectra) Decode(d *sketch.Decoder) {
	defer func() { p.noSrcInput = false }()
	p.offered, p.malformed = d.Uvarint(), d.Uvarint()
	k, dim := d.Uvarint(), d.Uvarint()
	if d.Err() == nil && (k != uint64(p.k) || dim != uint64(p.d)) {
		d.Fail(fmt.Sprintf("a spectral sample of %d rows of %d values where this monitor keeps %d of %d", k, dim, p.k, p.d))
		return
	}
	rows := d.Count(p.k, "spectral sample rows")
	if d.Err() == nil && uint64(rows) > p.offered {
		d.Fail(fmt.Sprintf("%d spectral sample rows of %d examples", rows, p.offered))
	}
	for range rows {
		id, label, src := d.String(), d.String(), ""
		if !p.noSrcInput {
			src = d.String()
		}
		vals := d.Bytes(8*p.d, "spectral sample values")
		if d.Err() != nil {
			return
		}
		if len(id) == 0 || len(id) > maxID || (len(label) == 0) != (p.lw == 0) || len(label) > p.lw || len(src) > maxKey {
			d.Fail("a spectral sample row with a bad id, label or source")
			return
		}
		// Rows are offered again, as Merge offers them: an encoding of
		// before the key took the source in (rows in the order of their
		// id's hash, a key repeated) is read as a sample of its examples.
		key := exampleKey(p.seed, xxhash.Sum64String(id), xxhash.Sum64String(src))
		row := make([]float64, p.d)
		for j := range row {
			row[j] = math.Float64frombits(binary.LittleEndian.Uint64(vals[8*j:]))
		}
		p.offer(key, []byte(id), []byte(label), []byte(src), row)
	}
}

// signature is the spectral signature of one label's sampled examples.
type signature struct {
	n, outliers int
	ratio       float64  // σ₁²/σ₂², the top singular value's dominance (NaN with one feature)
	top         []string // ids of the highest scores, at most ⌈1.5·ε·n⌉ and idsPerKey
	topSources  []string // their sources
}

// spread returns the features with spread over rows and their standard
// deviations (ddof 0).
func (p *spectra) spread(rows []int32) (feats []int, sd []float64) {
	for j := range p.d {
		var n, mean, m2 float64
		for _, r := range rows {
			if x := p.row(r)[j]; !math.IsNaN(x) && !math.IsInf(x, 0) {
				n++
				dx := x - mean
				mean += dx / n
				m2 += dx * (x - mean)
			}
		}
		if s := math.Sqrt(m2 / n); n >= 2 && s > 0 && !math.IsInf(s, 0) {
			feats = append(feats, j)
			sd = append(sd, s)
		}
	}
	return feats, sd
}

// signatures returns the spectral signature of every label with at least
// minCount sampled examples.
func (p *spectra) signatures(minCount int, level, eps float64) map[string]signature {
	rows := p.inKeyOrder() // the same order, whatever the rows' layout
	byLabel := map[string][]int32{}
	for _, r := range rows {
		byLabel[string(p.label(r))] = append(byLabel[string(p.label(r))], r)
	}
	feats, sd := p.spread(rows)
	out := map[string]signature{}
	if len(feats) == 0 {
		return out
	}
	for label, rows := range byLabel {
		if len(rows) < minCount {
			continue
		}
		if sig, ok := p.signature(rows, feats, sd, level, eps); ok {
			out[label] = sig
		}
	}
	return out
}

func (p *spectra) signature(rows []int32, feats []int, sd []float64, level, eps float64) (signature, bool) {
	n := len(rows)
	scores, sv, ok := spectralScores(p.centred(rows, feats, sd))
	if !ok {
		return signature{}, false
	}
	scale := outlierScale(scores)
	sig := signature{n: n, ratio: math.NaN()}
	if len(sv) > 1 && sv[1] > 0 {
		sig.ratio = sv[0] * sv[0] / (sv[1] * sv[1])
	}
	if scale > 0 {
		for _, s := range scores {
			if s/scale > level {
				sig.outliers++
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	for _, i := range order[:min(int(math.Ceil(1.5*eps*float64(n))), idsPerKey, n)] {
		sig.top = append(sig.top, string(p.id(rows[i])))
		sig.topSources = append(sig.topSources, string(p.source(rows[i])))
	}
	return sig, true
}

// centred returns the matrix of rows' values of feats, each centred on its
// mean over rows and divided by its sd; an absent value is 0 (the mean), as
// is one too large to centre.
func (p *spectra) centred(rows []int32, feats []int, sd []float64) *mat.Dense {
	m := mat.NewDense(len(rows), len(feats), nil)
	for c, j := range feats {
		var k, mean float64
		for _, r := range rows {
			if x := p.row(r)[j]; !math.IsNaN(x) && !math.IsInf(x, 0) {
				k++
				mean += (x - mean) / k
			}
		}
		for i, r := range rows {
			if x := (p.row(r)[j] - mean) / sd[c]; !math.IsNaN(x) && !math.IsInf(x, 0) {
				m.Set(i, c, x)
			}
		}
	}
	return m
}

// spectralScores returns the scores τᵢ = (Mᵢ·v)² of the rows of the
// centred matrix m, v its top right singular vector, and m's singular
// values, largest first.
func spectralScores(m *mat.Dense) (scores, singular []float64, ok bool) {
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThinV) {
		return nil, nil, false
	}
	var v mat.Dense
	svd.VTo(&v)
	top := v.ColView(0)
	n, _ := m.Dims()
	scores = make([]float64, n)
	for i := range n {
		x := mat.Dot(m.RowView(i), top)
		scores[i] = x * x
	}
	return scores, svd.Values(nil), true
}

// outlierScale returns what puts scores on a χ²₁ scale: their median over
// χ²₁'s, or their mean when more than half of them are 0 (χ²₁'s mean is 1).
func outlierScale(scores []float64) float64 {
	med, _ := stat.MedianMAD(scores)
	if scale := med / chi2Median1; scale > 0 {
		return scale
	}
	var mean float64
	for _, x := range scores {
		mean += x / float64(len(scores))
	}
	return mean
}

// Score returns the window's spectral-signature verdicts, one per label.
func (s Spectral) Score(cur, ref Partial) []signal.Verdict {
	c := cur.(*spectra)
	cfg := s.Config
	sigs := c.signatures(cfg.MinCount, cfg.OutlierScore, cfg.Epsilon)
	var refSigs map[string]signature
	if r, _ := ref.(*spectra); r != nil {
		refSigs = r.signatures(cfg.MinCount, cfg.OutlierScore, cfg.Epsilon)
	}
	labels := make([]string, 0, len(sigs))
	for l := range sigs {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	var tested, informing []test
	for _, l := range labels {
		sg := sigs[l]
		share := float64(sg.outliers) / float64(sg.n)
		t := test{subject: l, statistic: share, effect: share, n: uint64(sg.n), p: math.NaN()}
		what := fmt.Sprintf("%d of %d sampled examples score beyond %g (%.1f%%); σ₁²/σ₂² %.1f", sg.outliers, sg.n, cfg.OutlierScore, 100*share, sg.ratio)
		if rs, ok := refSigs[l]; ok {
			refShare := float64(rs.outliers) / float64(rs.n)
			t.effect = share - refShare
			t.p = fisherGreater(uint64(sg.outliers), uint64(sg.n-sg.outliers), uint64(rs.outliers), uint64(rs.n-rs.outliers))
			what += fmt.Sprintf(", against %.1f%% of %d and %.1f in the reference", 100*refShare, rs.n, rs.ratio)
		}
		what += fmt.Sprintf("; top %d", int(math.Ceil(1.5*cfg.Epsilon*float64(sg.n))))
		t.evidence = sourcedEvidence(what, sg.topSources, sg.top)
		if math.IsNaN(t.p) {
			informing = append(informing, t)
		} else {
			tested = append(tested, t)
		}
	}
	return append(decisions(tested, cfg.Spectral, cfg.MaxSubjects), informs(informing, cfg.MaxSubjects)...)
}
