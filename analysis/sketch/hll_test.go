package sketch

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// splitmix64 is a uniform 64-bit hash of x (Steele, Lea and Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// TestHLLStandardError checks the estimate against the published relative
// standard error of HyperLogLog, 1.04/√m (Flajolet et al. 2007; 3.25 % at
// m = 1024): over 300 independent streams of each cardinality, from the
// linear-counting range through the transition (about 2.5·m) to far beyond,
// the root-mean-square relative error stays within 1.15 times it and the
// mean relative error (bias) within 0.6 %.
func TestHLLStandardError(t *testing.T) {
	se := 1.04 / math.Sqrt(HLLRegisters)
	for _, n := range []int{100, 1000, 2500, 5000, 20000, 100000} {
		var sum, sq float64
		const trials = 300
		for trial := range trials {
			var s HLL
			base := uint64(trial) << 40
			for i := range n {
				s.Add(splitmix64(base + uint64(i)))
			}
			e := s.Estimate()/float64(n) - 1
			sum += e
			sq += e * e
		}
		rmse, bias := math.Sqrt(sq/trials), sum/trials
		t.Logf("n %6d: relative RMSE %.4f (1.04/√m = %.4f), bias %+.4f", n, rmse, se, bias)
		if rmse > 1.15*se || math.Abs(bias) > 0.006 {
			t.Errorf("n %d: relative RMSE %.4f, bias %+.4f; want ≤ %.4f and |bias| ≤ 0.006", n, rmse, bias, 1.15*se)
		}
	}
	var empty HLL
	if empty.Estimate() != 0 || !empty.Empty() {
		t.Error("an empty sketch estimates more than 0")
	}
	var one HLL
	one.Add(splitmix64(1))
	one.Add(splitmix64(1))
	if e := one.Estimate(); math.Abs(e-1) > 0.01 {
		t.Errorf("one hash twice: %g", e)
	}
}

// TestHLLMergeIsUnion: the merge of the sketches of any split is the
// sketch of every hash, whatever the order of the merges.
func TestHLLMergeIsUnion(t *testing.T) {
	var all HLL
	parts := make([]HLL, 3)
	for i := range 30000 {
		h := splitmix64(uint64(i % 12000))
		all.Add(h)
		parts[(i*7)%3].Add(h)
	}
	var a, b HLL
	a.Merge(&parts[0])
	a.Merge(&parts[1])
	a.Merge(&parts[2])
	b.Merge(&parts[2])
	b.Merge(&parts[0])
	b.Merge(&parts[1])
	if a != all || b != all {
		t.Fatal("merged sketches differ from the sketch of every hash")
	}
}

// TestHLLCodec round-trips empty, sparse and dense sketches and refuses
// hostile encodings.
func TestHLLCodec(t *testing.T) {
	for _, n := range []int{0, 1, 50, 340, 5000} {
		var s HLL
		for i := range n {
			s.Add(splitmix64(uint64(i)))
		}
		b := s.AppendBinary(nil)
		var back HLL
		d := NewDecoder(b)
		back.Decode(d)
		if d.Err() != nil || back != s || d.Remaining() != 0 {
			t.Errorf("%d hashes (%d bytes): %v", n, len(b), d.Err())
		}
		if n <= 50 && len(b) > 1+2+3*n {
			t.Errorf("%d hashes take %d bytes", n, len(b))
		}
	}
	dense := append([]byte{hllDense}, make([]byte, HLLRegisters)...)
	dense[1+100] = hllMax + 1
	for _, c := range []struct {
		name, err string
		b         []byte
	}{
		{"layout", "layout 7", []byte{7}},
		{"register too large", "value 56", []byte{hllSparse, 1, 3, hllMax + 1}},
		{"register zero", "value 0", []byte{hllSparse, 1, 3, 0}},
		{"index beyond", "1+1023", []byte{hllSparse, 2, 1, 1, 0xff, 0x07, 1}},
		{"index repeated", "3+0", []byte{hllSparse, 2, 3, 1, 0, 1}},
		{"too many", "at most 1024", append([]byte{hllSparse, 0x81, 0x08}, make([]byte, 3000)...)},
		{"dense register", "register 100 of value 56", dense},
		{"short", "", []byte{hllDense, 1, 2}},
	} {
		var s HLL
		d := NewDecoder(c.b)
		s.Decode(d)
		if d.Err() == nil || !strings.Contains(d.Err().Error(), c.err) {
			t.Errorf("%s: %v, want an error about %q", c.name, d.Err(), c.err)
		}
	}
}

// TestHLLAddDoesNotAllocate pins the per-event rule.
func TestHLLAddDoesNotAllocate(t *testing.T) {
	var s HLL
	i := uint64(0)
	if a := testing.AllocsPerRun(1000, func() { i++; s.Add(splitmix64(i)) }); a != 0 {
		t.Fatalf("%v allocations per Add", a)
	}
}

// FuzzHLLDecode feeds hostile bytes to the decoder: it never panics, and
// what it accepts keeps every register within its bound and encodes back to
// itself.
func FuzzHLLDecode(f *testing.F) {
	var s HLL
	for i := range 100 {
		s.Add(splitmix64(uint64(i)))
	}
	f.Add(s.AppendBinary(nil))
	f.Add([]byte{hllSparse, 2, 3, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got HLL
		d := NewDecoder(b)
		got.Decode(d)
		if d.Err() != nil {
			return
		}
		for i, r := range got.reg {
			if r > hllMax {
				t.Fatalf("accepted register %d of value %d", i, r)
			}
		}
		var back HLL
		d2 := NewDecoder(got.AppendBinary(nil))
		back.Decode(d2)
		if d2.Err() != nil || back != got {
			t.Fatalf("re-encoding does not decode to the same sketch: %v", d2.Err())
		}
	})
}

func BenchmarkHLLAdd(b *testing.B) {
	var s HLL
	i := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		s.Add(splitmix64(i))
	}
	_ = fmt.Sprint(s.Estimate())
}

// TestHLLResetAdded: clearing the registers of the hashes a sketch counted
// empties it, as Reset does.
func TestHLLResetAdded(t *testing.T) {
	var s HLL
	hashes := []uint64{0x0123456789abcdef, 0xfedcba9876543210, 0x8000000000000001, 0x0123456789abcdee}
	for _, h := range hashes {
		s.Add(h)
	}
	if s.Empty() {
		t.Fatal("nothing counted")
	}
	s.ResetAdded(hashes)
	if !s.Empty() {
		t.Error("registers left after clearing those of the hashes counted")
	}
}
