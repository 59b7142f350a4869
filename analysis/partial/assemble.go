package partial

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Assembler joins the chunks of partials as they are read from one
// partition of the partials topic. Chunks of one publication may come in any
// order (a publisher retries the ones that failed) and interleaved with
// other records; a chunk seen twice counts once. A new publication of the
// same partial (a replay) supersedes an incomplete older one. It keeps at
// most a bounded number of bytes of incomplete partials (their chunks, chunk
// tables and identities).
type Assembler struct {
	maxBytes int
	bytes    int
	pending  map[string]*assembly // by identity
	order    []string             // identities by first offset
	evicted  uint64
	lost     []string
	done     map[uint64]struct{} // publications assembled lately (doneKey): their late duplicate chunks are ignored
	doneRing []uint64
	doneNext int
}

// doneKey names one publication of one partial by a 64-bit hash, so that
// what is remembered stays small whatever the identities' length.
func doneKey(identity string, nonce uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], nonce)
	h := xxhash.New()
	_, _ = h.WriteString(identity)
	_, _ = h.Write(b[:])
	return h.Sum64()
}

// maxDone is how many assembled publications an Assembler remembers, so
// that a chunk written again by a retry after its publication completed
// does not start an assembly that never completes (and holds commits back).
const maxDone = 4096

type assembly struct {
	nonce  uint64
	cost   int   // what the assembly holds besides its chunks: its chunk table and identity
	held   int   // what its chunks hold (chunkCost)
	first  int64 // smallest offset of a chunk
	chunks [][]byte
	got    int
}

// chunkHeader bounds a chunk record's bytes before its identity: kind and
// version, the nonce, and three varints (index, count, identity length) of
// at most 10 bytes each, however a producer encodes them.
const chunkHeader = 2 + 8 + 3*binary.MaxVarintLen64

// chunkCost is what an assembly holds for chunk r: its data, and the rest
// of the record's bytes, which r.Data keeps in memory with it (a chunk is
// kept, not copied).
func chunkCost(r Record) int { return chunkHeader + len(r.Identity) + len(r.Data) }

// NewAssembler returns an assembler that holds at most maxBytes of
// incomplete partials; the oldest are evicted (and counted) beyond it.
func NewAssembler(maxBytes int) *Assembler {
	return &Assembler{maxBytes: maxBytes, pending: make(map[string]*assembly), done: make(map[uint64]struct{}),
		doneRing: make([]uint64, 0, maxDone)}
}

// Add takes chunk r, read at offset off. When r completes a partial it
// returns the payload and the smallest offset of its chunks. A chunk that
// contradicts its publication (another chunk count) is an error and drops
// the publication. Add keeps r.Data, not a copy, until its publication is
// assembled or dropped: the bytes r was parsed from must not change (a
// message's value is its own).
func (a *Assembler) Add(r Record, off int64) (payload []byte, first int64, err error) {
	if r.Count == 1 {
		a.drop(r.Identity) // a complete newer publication supersedes an incomplete one
		return r.Data, off, nil
	}
	if _, dup := a.done[doneKey(r.Identity, r.Nonce)]; dup {
		return nil, 0, nil
	}
	as := a.pending[r.Identity]
	if as != nil && as.nonce != r.Nonce {
		a.drop(r.Identity)
		a.evicted++
		as = nil
	}
	if as == nil {
		as = &assembly{nonce: r.Nonce, first: off, chunks: make([][]byte, r.Count), cost: 24*r.Count + 2*len(r.Identity) + 64}
		a.bytes += as.cost
		a.pending[r.Identity] = as
		a.order = append(a.order, r.Identity)
	}
	if len(as.chunks) != r.Count {
		a.drop(r.Identity)
		return nil, 0, fmt.Errorf("%w: chunk %d of %d in a publication of %d chunks", ErrCorrupt, r.Index, r.Count, len(as.chunks))
	}
	as.first = min(as.first, off)
	if as.chunks[r.Index] == nil {
		// An empty chunk is kept as an empty slice: nil means missing.
		as.chunks[r.Index] = r.Data[:len(r.Data):len(r.Data)]
		if r.Data == nil {
			as.chunks[r.Index] = []byte{}
		}
		as.got++
		c := chunkCost(r)
		as.held += c
		a.bytes += c
	}
	if as.got == len(as.chunks) {
		a.drop(r.Identity)
		a.remember(doneKey(r.Identity, r.Nonce))
		size := 0
		for _, c := range as.chunks {
			size += len(c)
		}
		out := make([]byte, 0, size)
		for _, c := range as.chunks {
			out = append(out, c...)
		}
		return out, as.first, nil
	}
	for a.bytes > a.maxBytes && len(a.order) > 0 {
		if len(a.lost) < maxLost {
			a.lost = append(a.lost, a.order[0])
		}
		a.drop(a.order[0])
		a.evicted++
	}
	return nil, 0, nil
}

// maxLost bounds the identities TakeLost keeps between two calls.
const maxLost = 1024

// TakeLost returns the identities of the publications evicted at the byte
// bound since the last call (a merger then knows their windows lack a
// partition's share: Merger.Lost), and forgets them.
func (a *Assembler) TakeLost() []string {
	l := a.lost
	a.lost = nil
	return l
}

// remember records an assembled publication, forgetting the oldest beyond maxDone.
func (a *Assembler) remember(k uint64) {
	if len(a.doneRing) < maxDone {
		a.doneRing = append(a.doneRing, k)
	} else {
		delete(a.done, a.doneRing[a.doneNext])
		a.doneRing[a.doneNext] = k
		a.doneNext = (a.doneNext + 1) % maxDone
	}
	a.done[k] = struct{}{}
}

func (a *Assembler) drop(id string) {
	as := a.pending[id]
	if as == nil {
		return
	}
	a.bytes -= as.cost + as.held
	delete(a.pending, id)
	for i, n := range a.order {
		if n == id {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
}

// First returns the smallest offset of a chunk of an incomplete partial, or
// -1 when none is incomplete.
func (a *Assembler) First() int64 {
	first := int64(-1)
	for _, as := range a.pending {
		if first < 0 || as.first < first {
			first = as.first
		}
	}
	return first
}

// Evicted returns how many incomplete partials were dropped: superseded by a
// newer publication, or beyond the byte bound.
func (a *Assembler) Evicted() uint64 { return a.evicted }
