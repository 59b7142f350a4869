package sketch

import (
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// SampleKey returns the sampling key of an event: a hash of its prediction
// id (xxHash64), so that every partition and instance samples the same
// events.
func SampleKey(predictionID string) uint64 { return xxhash.Sum64String(predictionID) }

// Sample is a bounded uniform sample without replacement, kept as the k
// observations with the smallest keys (bottom-k sampling). Keys are hashes of
// the prediction id, so the sample is deterministic, the same events are
// sampled for every feature of a model, and two samples merge exactly: the
// bottom k of the union of two bottom-k samples is the bottom-k sample of the
// union of their event sets.
type Sample struct {
	k    int
	keys []uint64 // max-heap on keys
	vals []float64
}

// NewSample returns an empty sample of capacity k. It reserves nothing: its
// memory grows with the observations it keeps (16 bytes each, room for at
// most twice as many and never for more than k), so that a window of a few
// events costs a few bytes whatever k is, and stops allocating once it holds
// k.
func NewSample(k int) Sample {
	return Sample{k: k}
}

// Len returns the number of observations kept.
func (s *Sample) Len() int { return len(s.keys) }

// Cap returns the sample's capacity k.
func (s *Sample) Cap() int { return s.k }

// Values returns the kept values in heap order; the slice is owned by s.
func (s *Sample) Values() []float64 { return s.vals }

// Keys returns the kept keys, index for index with Values; the slice is
// owned by s.
func (s *Sample) Keys() []uint64 { return s.keys }

// InKeyOrder returns the kept values ordered by ascending key: any prefix of
// the result is a uniform sample of the sampled events.
func (s *Sample) InKeyOrder() []float64 {
	idx := make([]int, len(s.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s.keys[a], s.keys[b]) })
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = s.vals[j]
	}
	return out
}

// Add offers value v with key. It does not allocate once the sample has
// reached its capacity.
func (s *Sample) Add(key uint64, v float64) {
	if n := len(s.keys); n < s.k {
		if n == cap(s.keys) {
			s.grow()
		}
		s.keys = append(s.keys, key)
		s.vals = append(s.vals, v)
		s.up(n)
		return
	}
	if s.k == 0 || key >= s.keys[0] {
		return
	}
	s.down(0, key, v)
}

// AddDistinct is Add for keys that may repeat (ids a producer sends more
// than once): a key already kept is not kept again, and of its values the
// smallest is kept, so that the sample holds each key once whatever the
// order of the offers. held, the caller's set of the kept keys (a sample
// of its own keeps none, so that samples that never repeat keys cost
// nothing more), tells a repeat without a scan (only a repeat's value is
// looked for). A sample given AddDistinct must not be given Add, which
// does not keep held; one decoded, or filled by Add before, has its set
// built at its first AddDistinct.
func (s *Sample) AddDistinct(key uint64, v float64, held *KeySet) {
	n := len(s.keys)
	if n == s.k && (s.k == 0 || key > s.keys[0]) {
		return
	}
	if held.Len() != n {
		held.Reserve(n)
		held.Clear()
		for _, k := range s.keys {
			held.Add(k)
		}
	}
	if held.Has(key) {
		i := slices.Index(s.keys, key)
		s.vals[i] = min(s.vals[i], v)
		return
	}
	if n == s.k {
		held.Remove(s.keys[0]) // the largest key, which key displaces
	} else {
		held.Reserve(n + 1)
	}
	s.Add(key, v)
	held.Add(key)
}

// MergeDistinct adds every observation of o to s as AddDistinct does.
func (s *Sample) MergeDistinct(o *Sample, held *KeySet) {
	for i, k := range o.keys {
		s.AddDistinct(k, o.vals[i], held)
	}
}

// grow doubles the room of s (at least 4 observations, at most k), so that
// filling a sample of capacity k copies fewer than k observations in all:
// append alone grows large slices by a quarter at a time.
func (s *Sample) grow() {
	c := min(max(2*cap(s.keys), 4), s.k)
	keys, vals := make([]uint64, len(s.keys), c), make([]float64, len(s.vals), c)
	copy(keys, s.keys)
	copy(vals, s.vals)
	s.keys, s.vals = keys, vals
}

// Merge adds every observation of o to s.
func (s *Sample) Merge(o *Sample) {
	for i, k := range o.keys {
		s.Add(k, o.vals[i])
	}
}

// heapify restores the heap order after keys and values were set directly,
// in linear time.
func (s *Sample) heapify() {
	for i := len(s.keys)/2 - 1; i >= 0; i-- {
		s.down(i, s.keys[i], s.vals[i])
	}
}

// up moves the observation at i up to its place in the heap.
func (s *Sample) up(i int) { siftUp(s.keys, s.vals, i) }

// down puts key and v, which replace the observation at i, in their place
// below i.
func (s *Sample) down(i int, key uint64, v float64) { siftDown(s.keys, s.vals, i, key, v) }

// siftUp moves the entry at i of a max-heap on keys, whose payloads are
// vals (index for index), up to its place. It moves the parents down into
// the hole instead of swapping at each level: the heap ends as swapping
// would leave it, with half the writes.
func siftUp[T any](keys []uint64, vals []T, i int) {
	key, v := keys[i], vals[i]
	for i > 0 {
		p := (i - 1) / 2
		if keys[p] >= key {
			break
		}
		keys[i], vals[i] = keys[p], vals[p]
		i = p
	}
	keys[i], vals[i] = key, v
}

// siftDown puts key and v, which replace the entry at i of a max-heap on
// keys with payloads vals, in their place below i, moving the larger
// children up into the hole (as siftUp does).
func siftDown[T any](keys []uint64, vals []T, i int, key uint64, v T) {
	n := len(keys)
	vals = vals[:n]
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		c := l
		if r := l + 1; r < n && keys[r] > keys[l] {
			c = r
		}
		if key >= keys[c] {
			break
		}
		keys[i], vals[i] = keys[c], vals[c]
		i = c
	}
	keys[i], vals[i] = key, v
}
