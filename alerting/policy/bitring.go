package policy

import "math/bits"

// bitRing is a ring of bits indexed by absolute window index modulo its length.
type bitRing struct {
	words []uint64
	n     int64
}

func newBitRing(n int) bitRing {
	return bitRing{words: make([]uint64, (n+63)/64), n: int64(n)}
}

func (r *bitRing) pos(idx int64) int64 {
	p := idx % r.n
	if p < 0 {
		p += r.n
	}
	return p
}

func (r *bitRing) set(idx int64)   { p := r.pos(idx); r.words[p/64] |= 1 << (p % 64) }
func (r *bitRing) clear(idx int64) { p := r.pos(idx); r.words[p/64] &^= 1 << (p % 64) }
func (r *bitRing) get(idx int64) bool {
	p := r.pos(idx)
	return r.words[p/64]&(1<<(p%64)) != 0
}
func (r *bitRing) reset() { clear(r.words) }

// count returns the set bits of windows (from, to], at most n windows.
func (r *bitRing) count(from, to int64) int {
	if to-from > r.n {
		from = to - r.n
	}
	if to <= from {
		return 0
	}
	lo, hi := r.pos(from+1), r.pos(to)
	if lo <= hi {
		return r.countLinear(lo, hi+1)
	}
	return r.countLinear(lo, r.n) + r.countLinear(0, hi+1)
}

// countLinear returns the set bits of positions [lo, hi).
func (r *bitRing) countLinear(lo, hi int64) int {
	c := 0
	for lo < hi {
		w := lo / 64
		off := lo % 64
		end := min(hi, (w+1)*64)
		mask := ^uint64(0) << off
		if end-w*64 < 64 {
			mask &= (1 << (end - w*64)) - 1
		}
		c += bits.OnesCount64(r.words[w] & mask)
		lo = end
	}
	return c
}

// runs returns the set windows of (from, to] as inclusive runs.
func (r *bitRing) runs(from, to int64) [][2]int64 {
	out := [][2]int64{}
	for j := max(from+1, to-r.n+1); j <= to; j++ {
		if !r.get(j) {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k][1] == j-1 {
			out[k][1] = j
			continue
		}
		out = append(out, [2]int64{j, j})
	}
	return out
}
