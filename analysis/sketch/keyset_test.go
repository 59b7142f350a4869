package sketch

import (
	"math/rand/v2"
	"testing"
)

// TestKeySetAgreesWithAMap: random adds and removes, with keys that
// collide in the low bits and the key 0, leave the set holding exactly
// what a map holds, without allocating once it has room.
func TestKeySetAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var s KeySet
	s.Reserve(300)
	want := map[uint64]int32{}
	keys := []uint64{0}
	for range 400 {
		keys = append(keys, r.Uint64()&^0xff|uint64(r.IntN(8))) // crowded homes
		keys = append(keys, r.Uint64())
	}
	allocs := testing.AllocsPerRun(1, func() {
		for range 20_000 {
			k := keys[r.IntN(len(keys))]
			if len(want) < 300 && r.IntN(2) == 0 {
				v := r.Int32()
				s.SetValue(k, v)
				want[k] = v
			} else {
				s.Remove(k)
				delete(want, k)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
	if s.Len() != len(want) {
		t.Fatalf("%d keys held, want %d", s.Len(), len(want))
	}
	check := func(when string) {
		for _, k := range keys {
			w, held := want[k]
			if v, ok := s.Value(k); ok != held || v != w || s.Has(k) != held {
				t.Fatalf("%s: Value(%#x) = %v, %v; want %v, %v", when, k, v, ok, w, held)
			}
		}
	}
	check("after the adds and removes")
	s.Reserve(1000) // grows, keeping the keys and their values
	check("after growing")
}
