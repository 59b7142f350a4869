package sketch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// HLL sizes: HLLPrecision index bits, so HLLRegisters registers of one
// byte each (1 KiB), and a relative standard error of 1.04/√HLLRegisters
// (3.25 %).
const (
	HLLPrecision = 10
	HLLRegisters = 1 << HLLPrecision
	// hllMax is the largest register value: the 64 − HLLPrecision hash
	// bits left after the index, all zero, plus one.
	hllMax = 64 - HLLPrecision + 1
)

// HLL counts distinct 64-bit hashes with a HyperLogLog sketch (Flajolet,
// Fusy, Gandouet and Meunier, 2007) of fixed precision HLLPrecision: each
// hash raises the register its top bits index to the position of the first
// one bit in the rest. Merging takes register-wise maxima, so the merge of
// the sketches of any split of the hashes is the sketch of their union.
// Estimate uses Ertl's improved estimator ("New cardinality estimation
// algorithms for HyperLogLog sketches", 2017), which needs neither the
// small- and large-range corrections nor HLL++'s bias tables. The zero
// value is an empty sketch. The caller hashes: the hashes must be uniform
// (xxHash64 of a value, not the value).
type HLL struct {
	reg [HLLRegisters]uint8
}

// Add counts hash.
func (s *HLL) Add(hash uint64) {
	i := hash >> (64 - HLLPrecision)
	r := uint8(min(bits.LeadingZeros64(hash<<HLLPrecision), hllMax-1) + 1)
	if r > s.reg[i] {
		s.reg[i] = r
	}
}

// Merge adds o's hashes to s.
func (s *HLL) Merge(o *HLL) {
	for i, r := range o.reg {
		if r > s.reg[i] {
			s.reg[i] = r
		}
	}
}

// Reset empties s.
func (s *HLL) Reset() { s.reg = [HLLRegisters]uint8{} }

// ResetAdded empties s, which has counted only hashes: it clears just
// their registers, which is much cheaper than Reset for a few.
func (s *HLL) ResetAdded(hashes []uint64) {
	for _, h := range hashes {
		s.reg[h>>(64-HLLPrecision)] = 0
	}
}

// Empty reports whether s has counted nothing.
func (s *HLL) Empty() bool { return s.reg == [HLLRegisters]uint8{} }

// Estimate returns the estimated number of distinct hashes counted.
func (s *HLL) Estimate() float64 {
	var c [hllMax + 1]int
	for _, r := range s.reg {
		c[r]++
	}
	const m = float64(HLLRegisters)
	if c[0] == HLLRegisters {
		return 0
	}
	z := m * hllTau(1-float64(c[hllMax])/m)
	for k := hllMax - 1; k >= 1; k-- {
		z = 0.5 * (z + float64(c[k]))
	}
	z += m * hllSigma(float64(c[0])/m)
	return m * m / (2 * math.Ln2 * z)
}

// hllSigma is σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k−1) of Ertl's estimator.
func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

// hllTau is τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k)/3 of Ertl's
// estimator.
func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// HLL encodings: empty, sparse (the non-zero registers as index deltas and
// values) or dense (every register).
const (
	hllEmpty  = 0
	hllSparse = 1
	hllDense  = 2
)

// AppendBinary appends s: one byte of layout, then for a sparse sketch (a
// third of its registers or fewer set) their count and each one's index
// delta and value, for a dense one every register.
func (s *HLL) AppendBinary(b []byte) []byte {
	set := 0
	for _, r := range s.reg {
		if r != 0 {
			set++
		}
	}
	switch {
	case set == 0:
		return append(b, hllEmpty)
	case set <= HLLRegisters/3:
		b = append(b, hllSparse)
		b = binary.AppendUvarint(b, uint64(set))
		last := 0
		for i, r := range s.reg {
			if r != 0 {
				b = binary.AppendUvarint(b, uint64(i-last))
				b = append(b, r)
				last = i
			}
		}
		return b
	default:
		b = append(b, hllDense)
		return append(b, s.reg[:]...)
	}
}

// Decode reads what AppendBinary wrote into s, an empty sketch, refusing
// registers beyond the largest value, indexes beyond the registers and
// unknown layouts. It does not allocate.
func (s *HLL) Decode(d *Decoder) {
	switch layout := d.Byte(); {
	case d.err != nil:
	case layout == hllEmpty:
	case layout == hllSparse:
		n := d.Count(HLLRegisters, "sketch registers")
		i := -1
		for range n {
			delta, r := d.Uvarint(), d.Byte()
			if d.err != nil {
				return
			}
			if (i >= 0 && delta == 0) || delta >= uint64(HLLRegisters-max(i, 0)) || r == 0 || r > hllMax {
				d.Fail(fmt.Sprintf("sketch register at %d+%d of value %d", max(i, 0), delta, r))
				return
			}
			i = max(i, 0) + int(delta)
			s.reg[i] = r
		}
	case layout == hllDense:
		regs := d.Bytes(HLLRegisters, "sketch registers")
		if d.err != nil {
			return
		}
		for i, r := range regs {
			if r > hllMax {
				d.Fail(fmt.Sprintf("sketch register %d of value %d", i, r))
				return
			}
			s.reg[i] = r
		}
	default:
		d.Fail(fmt.Sprintf("sketch layout %d", layout))
	}
}
