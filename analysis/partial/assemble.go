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
// tables and identities), and the memory of the last payload it assembled,
// which the next publication reuses.
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
	// spare is the payload Add returned last, whose memory a later
	// publication reuses.
	spare []byte
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
	nonce uint64
	cost  int   // what the assembly holds besides its chunks: its chunk table and identity
	held  int   // what its chunks hold: data's capacity and the chunks in later
	first int64 // smallest offset of a chunk
	data  []byte
	next  int // chunks 0 to next-1 are data, joined
	// later holds copies of the chunks beyond next that came before their
	// turn (nil: not come); its length is the publication's chunk count.
	later [][]byte
}

// NewAssembler returns an assembler that holds at most maxBytes of
// incomplete partials; the oldest are evicted (and counted) beyond it.
func NewAssembler(maxBytes int) *Assembler {
	return &Assembler{maxBytes: maxBytes, pending: make(map[string]*assembly), done: make(map[uint64]struct{}),
		doneRing: make([]uint64, 0, maxDone)}
}

// Add takes chunk r, read at offset off. When r completes a partial it
// returns the payload and the smallest offset of its chunks. A chunk that
// contradicts its publication (another chunk count) is an error and drops
// the publication. Add copies what it keeps of r.Data, so the bytes r was
// parsed from may be reused once it returns; the payload of a publication
// of one chunk is r.Data itself, that of several is the Assembler's, valid
// until the next Add (a later publication reuses its memory).
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
		as = &assembly{nonce: r.Nonce, first: off, later: make([][]byte, r.Count), cost: 24*r.Count + 2*len(r.Identity) + 64}
		a.bytes += as.cost
		a.pending[r.Identity] = as
		a.order = append(a.order, r.Identity)
	}
	if len(as.later) != r.Count {
		a.drop(r.Identity)
		return nil, 0, fmt.Errorf("%w: chunk %d of %d in a publication of %d chunks", ErrCorrupt, r.Index, r.Count, len(as.later))
	}
	as.first = min(as.first, off)
	if r.Index >= as.next && as.later[r.Index] == nil { // else seen before
		held := as.held
		if r.Index == as.next {
			before := cap(as.data)
			if as.data == nil {
				as.data = a.room(len(r.Data) * min(r.Count, maxRoomChunks))
			}
			as.data = append(as.data, r.Data...)
			for as.next++; as.next < len(as.later) && as.later[as.next] != nil; as.next++ {
				as.data = append(as.data, as.later[as.next]...)
				as.held -= len(as.later[as.next])
				as.later[as.next] = nil
			}
			as.held += cap(as.data) - before
		} else {
			// A copy (an empty chunk is an empty slice: nil means not come).
			as.later[r.Index] = append([]byte{}, r.Data...)
			as.held += len(r.Data)
		}
		a.bytes += as.held - held
	}
	if as.next == len(as.later) {
		a.drop(r.Identity)
		a.remember(doneKey(r.Identity, r.Nonce))
		a.spare = as.data
		return as.data, as.first, nil
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

// maxRoomChunks bounds the chunks a publication's payload is given room
// for before they come: a chunk that claims many more does not reserve
// (and count against the bound) more than this many times its own size.
const maxRoomChunks = 8

// room returns an empty buffer for a payload of about n bytes (its chunks,
// were they all the first one's size, up to maxRoomChunks of them): the
// spare one when it is large enough, else a new one when n is within the
// bound (its capacity counts against the bound, older publications are
// evicted for it), else none (appending grows it).
func (a *Assembler) room(n int) []byte {
	switch {
	case n <= cap(a.spare):
		b := a.spare[:0]
		a.spare = nil
		return b
	case n <= a.maxBytes:
		return make([]byte, 0, n)
	}
	return nil
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
