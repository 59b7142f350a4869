package poisoning

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// quantize returns x rounded to digits significant decimal digits, as
// m·10^e with 10^(digits−1) ≤ |m| < 10^digits: 129.93 and 130.4 are both
// (13, 1) with 2 digits, 0.0123 is (12, −3). 0 and values below 1e−300 in
// magnitude are (0, 0); ±Inf are (±1, MaxInt16).
func quantize(x float64, digits int) (m int64, e int) {
	switch a := math.Abs(x); {
	case a < 1e-300:
		return 0, 0
	case math.IsInf(x, 0):
		return int64(math.Copysign(1, x)), math.MaxInt16
	default:
		e = int(math.Floor(math.Log10(a))) - digits + 1
	}
	top := math.Pow10(digits)
	q := math.Round(x / math.Pow10(e))
	// Log10 can be off by one at powers of ten: renormalise.
	for math.Abs(q) >= top {
		e++
		q = math.Round(x / math.Pow10(e))
	}
	for q != 0 && math.Abs(q) < top/10 {
		e--
		q = math.Round(x / math.Pow10(e))
	}
	return int64(q), e
}

// simHash returns the 64-bit SimHash (Charikar 2002) of an example's
// features and the number of tokens it was made of. Each present value is a
// token: a numeric value j is (j, quantize(x)), a categorical value j is
// (j, value); each token is hashed to 64 bits (xxHash64), and bit b of the
// fingerprint is set when more tokens have bit b set than not. Examples
// whose values fall in the same quantization cells have the same
// fingerprint; the share of bits two fingerprints differ in estimates the
// share of tokens they do not share, roughly.
func simHash(num []float64, cat []string, digits int) (fp uint64, tokens int) {
	var votes [64]int32
	var buf [18]byte
	vote := func(h uint64) {
		tokens++
		for b := range votes {
			votes[b] += int32(h>>uint(b)&1)*2 - 1
		}
	}
	for j, x := range num {
		if math.IsNaN(x) {
			continue
		}
		m, e := quantize(x, digits)
		binary.LittleEndian.PutUint16(buf[0:], uint16(j))
		binary.LittleEndian.PutUint64(buf[2:], uint64(m))
		binary.LittleEndian.PutUint64(buf[10:], uint64(int64(e)))
		vote(xxhash.Sum64(buf[:]))
	}
	for j, v := range cat {
		if v == "" {
			continue
		}
		// Distinct from every numeric token: a different mix of the index.
		vote(mix64(xxhash.Sum64String(v) ^ (uint64(j)+1)*0x9e3779b97f4a7c15))
	}
	for b, v := range votes {
		if v > 0 {
			fp |= 1 << uint(b)
		}
	}
	return fp, tokens
}

// mix64 is splitmix64's finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hamming returns the number of bits a and b differ in.
func hamming(a, b uint64) int { return bits.OnesCount64(a ^ b) }
