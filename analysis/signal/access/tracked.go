package access

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// grown returns s with n zero elements more, within its capacity when it
// has room (a reset partial's memory; append(s, make(...)...) allocates the
// zeros under the race detector).
func grown[T any](s []T, n int) []T {
	l := len(s)
	s = slices.Grow(s, n)[:l+n]
	clear(s[l:])
	return s
}

// appendName appends a copy of name to names (it may share a message's
// bytes), or the copy a reset left beyond its length when it is the same
// name, as in the window before: a partial reused from window to window
// copies its feature and class names once.
func appendName(names []string, name string) []string {
	if n := len(names); n < cap(names) && names[:n+1][n] == name {
		return names[:n+1]
	}
	return append(names, strings.Clone(name))
}

// exactCalls is the calls counted under a caller's own counter (Count −
// Err): those its per-slot state has seen.
func exactCalls(h sketch.Hitter) uint64 { return h.Count - h.Err }

// mix64 is SplitMix64's finaliser: a bijection of 64-bit words whose
// output bits each depend on every input bit.
func mix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// inputHasher hashes the quantized input vectors of a model's calls:
// each numeric feature's name and its value on a fixed grid, each
// categorical feature's name and value, combined so that the order of the
// features does not matter. The grid is code's: the sign, the binary
// exponent and 7 bits of mantissa of the value as a float32, cells of a
// relative width of 2⁻⁷ (0.8 %), so that an input sent again, or again
// with a rounding difference, is the same input. It does not depend on the
// reference, so partials merge whether or not one is pinned. It keeps the
// hashes of the first maxCachedNames feature names of each kind by their
// position in the event (a producer sends them in the same order), so
// that a call hashes only its values.
type inputHasher struct {
	num, cat nameCache
	// id is the telemetry.Features.NamesID whose names' hashes idNum and
	// idCat hold, at their places: its events hash their values only,
	// without comparing names (0: none).
	id           uint64
	idNum, idCat []uint64
}

// maxCachedNames bounds the feature names an inputHasher keeps per kind.
const maxCachedNames = 64

// nameCache holds feature names and their hashes by position.
type nameCache struct {
	names  []string
	hashes []uint64
}

// hash returns the hash of name, the j-th feature of its kind in its event.
func (c *nameCache) hash(j int, name string) uint64 {
	if j < len(c.names) && c.names[j] == name {
		return c.hashes[j]
	}
	return c.miss(j, name)
}

// miss is hash when name is not cached at j.
func (c *nameCache) miss(j int, name string) uint64 {
	h := xxhash.Sum64String(name)
	if j == len(c.names) && j < maxCachedNames {
		c.names = append(c.names, strings.Clone(name))
		c.hashes = append(c.hashes, h)
	}
	return h
}

// hash returns the hash of e's quantized input vector; false when e has no
// inputs.
func (x *inputHasher) hash(e *telemetry.Event) (uint64, bool) {
	f := &e.Features
	if len(f.Numeric)+len(f.Categorical) == 0 {
		return 0, false
	}
	if f.NamesID != 0 && (f.NamesID != x.id || len(f.Numeric) != len(x.idNum) || len(f.Categorical) != len(x.idCat)) {
		x.id = f.NamesID
		x.idNum, x.idCat = x.idNum[:0], x.idCat[:0]
		for _, n := range f.Numeric {
			x.idNum = append(x.idNum, xxhash.Sum64String(n.Name))
		}
		for _, c := range f.Categorical {
			x.idCat = append(x.idCat, xxhash.Sum64String(c.Name))
		}
	}
	var sum uint64
	if f.NamesID != 0 {
		for j, n := range f.Numeric {
			sum += mix64(x.idNum[j] ^ uint64(code(n.Value))*0x9e3779b97f4a7c15)
		}
		for j, c := range f.Categorical {
			sum += mix64(x.idCat[j] + 0x632be59bd9b4e019 ^ xxhash.Sum64String(c.Value))
		}
		return mix64(sum), true
	}
	for j, n := range f.Numeric {
		sum += mix64(x.num.hash(j, n.Name) ^ uint64(code(n.Value))*0x9e3779b97f4a7c15)
	}
	for j, c := range f.Categorical {
		sum += mix64(x.cat.hash(j, c.Name) + 0x632be59bd9b4e019 ^ xxhash.Sum64String(c.Value))
	}
	return mix64(sum), true
}

// inputHashes is the column of the hashes of the calls' quantized inputs
// (inputHasher.hash, 0 for a call without inputs) that caller_diversity,
// caller_ood and caller_harvest share.
var inputHashes = signal.Column{Name: "access.input_hash", New: func() signal.Filler { return new(inputHasher) }}

// Fill sets vals[i] to the hash of events[i]'s inputs.
func (x *inputHasher) Fill(events []*telemetry.Event, vals []uint64) {
	for i, e := range events {
		vals[i], _ = x.hash(e)
	}
}

// hasInputs reports whether e has inputs to hash.
func hasInputs(e *telemetry.Event) bool {
	return len(e.Features.Numeric)+len(e.Features.Categorical) > 0
}

// observeOwn hands events to p through own, p's batch for calls outside a
// window's (tests, benchmarks): p computes the columns alone.
func observeOwn(p signal.BatchObserver, own *signal.Batch, events []*telemetry.Event) {
	own.Reset(events)
	p.ObserveBatch(own)
	own.Reset(nil)
}

// inputHash is inputHasher's hash without its cache of names.
func inputHash(e *telemetry.Event) (uint64, bool) {
	f := &e.Features
	if len(f.Numeric)+len(f.Categorical) == 0 {
		return 0, false
	}
	var sum uint64
	for _, n := range f.Numeric {
		sum += mix64(xxhash.Sum64String(n.Name) ^ uint64(code(n.Value))*0x9e3779b97f4a7c15)
	}
	for _, c := range f.Categorical {
		sum += mix64(xxhash.Sum64String(c.Name) + 0x632be59bd9b4e019 ^ xxhash.Sum64String(c.Value))
	}
	return mix64(sum), true
}

// adjustTop adjusts the p-values of vs (decisions about callers, one per
// caller tested) by Benjamini–Hochberg across them and returns the max with
// the smallest adjusted p-values, each evidence ending with its p-value
// before adjustment.
func adjustTop(vs []signal.Verdict, max int) []signal.Verdict {
	if len(vs) == 0 {
		return nil
	}
	ps := make([]float64, len(vs))
	for i := range vs {
		ps[i] = vs[i].PValue
	}
	_, adj := stat.BenjaminiHochberg(ps, 1)
	for i := range vs {
		vs[i].Evidence += fmt.Sprintf(" (p %.3g before adjustment across %d callers)", vs[i].PValue, len(vs))
		vs[i].PValue = adj[i]
	}
	sort.SliceStable(vs, func(a, b int) bool { return vs[a].PValue < vs[b].PValue })
	return vs[:min(len(vs), max)]
}

// binomialP is the one-sided exact binomial test of k successes in n
// trials against the share p0: P(X ≥ k), X ~ Binomial(n, p0), with the
// degenerate shares decided directly.
func binomialP(k, n uint64, p0 float64) float64 {
	switch {
	case p0 <= 0 && k > 0:
		return 0
	case p0 <= 0, p0 >= 1:
		return 1
	}
	return stat.BinomialSurvival(k, n, p0)
}
