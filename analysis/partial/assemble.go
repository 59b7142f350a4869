package partial

import (
	"fmt"
)

// Assembler joins the chunks of partials as they are read from one
// partition of the partials topic. A publication's chunks arrive in order
// and together (one write to one partition); another publisher's records may
// come between them. It keeps at most a bounded number of bytes of
// incomplete partials.
type Assembler struct {
	maxBytes int
	bytes    int
	pending  map[uint64]*assembly
	order    []uint64 // nonces by first offset
	evicted  uint64
}

type assembly struct {
	first int64 // offset of chunk 0
	count int
	data  []byte
	next  int // index of the next chunk expected
}

// NewAssembler returns an assembler that holds at most maxBytes of
// incomplete partials; older ones are evicted (and counted) beyond it.
func NewAssembler(maxBytes int) *Assembler {
	return &Assembler{maxBytes: maxBytes, pending: make(map[uint64]*assembly)}
}

// Add takes chunk r, read at offset off. When r completes a partial it
// returns the payload and the offset of its first chunk. A chunk out of
// order (its publication's earlier chunks were not seen, as when reading
// starts in the middle of one) is an error; so is a chunk that does not fit
// its publication.
func (a *Assembler) Add(r Record, off int64) (payload []byte, first int64, err error) {
	as := a.pending[r.Nonce]
	if as == nil {
		if r.Index != 0 {
			return nil, 0, fmt.Errorf("%w: chunk %d of %d without its first chunk", ErrCorrupt, r.Index, r.Count)
		}
		if r.Count == 1 {
			return r.Data, off, nil
		}
		as = &assembly{first: off, count: r.Count}
		a.pending[r.Nonce] = as
		a.order = append(a.order, r.Nonce)
	} else if r.Index != as.next || r.Count != as.count {
		a.drop(r.Nonce)
		return nil, 0, fmt.Errorf("%w: chunk %d of %d where chunk %d of %d was expected", ErrCorrupt, r.Index, r.Count, as.next, as.count)
	}
	as.data = append(as.data, r.Data...)
	a.bytes += len(r.Data)
	as.next++
	if as.next == as.count {
		a.drop(r.Nonce)
		return as.data, as.first, nil
	}
	for a.bytes > a.maxBytes && len(a.order) > 0 {
		a.drop(a.order[0])
		a.evicted++
	}
	return nil, 0, nil
}

func (a *Assembler) drop(nonce uint64) {
	as := a.pending[nonce]
	if as == nil {
		return
	}
	a.bytes -= len(as.data)
	delete(a.pending, nonce)
	for i, n := range a.order {
		if n == nonce {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
}

// First returns the offset of the first chunk of the oldest incomplete
// partial, or -1 when none is incomplete.
func (a *Assembler) First() int64 {
	if len(a.order) == 0 {
		return -1
	}
	return a.pending[a.order[0]].first
}

// Evicted returns how many incomplete partials were dropped to stay within
// the byte bound.
func (a *Assembler) Evicted() uint64 { return a.evicted }
