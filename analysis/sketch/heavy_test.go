package sketch

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestHeavyHittersExactBelowCapacity: with fewer keys than counters the
// counts are exact, and the merge of any split equals one state of all.
func TestHeavyHittersExactBelowCapacity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprint("caller-", rng.IntN(300))
	}
	all := NewHeavyHitters(500)
	parts := []*HeavyHitters{NewHeavyHitters(500), NewHeavyHitters(500), NewHeavyHitters(500)}
	truth := map[string]uint64{}
	for i, k := range keys {
		all.Add(k, 1)
		parts[i%3].Add(k, 1)
		truth[k]++
	}
	merged := NewHeavyHitters(500)
	for _, p := range parts {
		merged.Merge(p)
	}
	if !reflect.DeepEqual(merged.Top(), all.Top()) || merged.N != all.N {
		t.Fatal("the merge of three splits differs from one state of every event")
	}
	for _, h := range all.Top() {
		if h.Count != truth[h.Key] || h.Err != 0 {
			t.Fatalf("%s: count %d (err %d), true %d", h.Key, h.Count, h.Err, truth[h.Key])
		}
	}
}

// TestHeavyHittersGuarantee streams 20 heavy callers among 100,000 one-off
// ones into 64 counters, split over 4 states and merged: every caller whose
// true count exceeds N/64 is counted, and each count overestimates the true
// one by at most its error.
func TestHeavyHittersGuarantee(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parts := make([]*HeavyHitters, 4)
	for i := range parts {
		parts[i] = NewHeavyHitters(64)
	}
	truth := map[string]uint64{}
	for i := range 200000 {
		k := fmt.Sprint("once-", i)
		if rng.IntN(2) == 0 {
			k = fmt.Sprint("heavy-", rng.IntN(20))
		}
		truth[k]++
		parts[rng.IntN(4)].Add(k, 1)
	}
	m := NewHeavyHitters(64)
	for _, p := range parts {
		m.Merge(p)
	}
	for k, c := range truth {
		got, err := m.Count(k)
		if c > m.N/64 && got == 0 {
			t.Errorf("%s: %d of %d events, not counted", k, c, m.N)
		}
		if got > 0 && (got < c || got-err > c) {
			t.Errorf("%s: count %d, error %d, true %d", k, got, err, c)
		}
	}
	if m.Len() != 64 || m.N != 200000 {
		t.Errorf("%d counters, N %d", m.Len(), m.N)
	}
}

// TestHeavyHittersCodec round-trips a state and refuses hostile encodings.
func TestHeavyHittersCodec(t *testing.T) {
	h := NewHeavyHitters(3)
	for i, k := range []string{"a", "b", "c", "d", "a", "a", "b"} {
		h.Add(k, uint64(i%2+1))
	}
	b := h.AppendBinary(nil)
	back := NewHeavyHitters(3)
	d := NewDecoder(b)
	back.Decode(d)
	if d.Err() != nil || !reflect.DeepEqual(back.Top(), h.Top()) || back.N != h.N {
		t.Fatalf("round trip: %v %v, want %v", back.Top(), d.Err(), h.Top())
	}
	for _, c := range []struct {
		name, err string
		b         []byte
	}{
		{"too many", "at most 3", NewHeavyHitters(5).appendAll("a", "b", "c", "d")},
		{"more than N", "more than the 1 events", []byte{1, 1, 1, 'a', 5, 0, 0}},
		{"error > count", "overcounted", []byte{9, 1, 1, 'a', 1, 2, 0}},
		{"aux > exact", "overcounted", []byte{9, 1, 1, 'a', 3, 1, 3}},
		{"twice", "overcounted", []byte{9, 2, 1, 'a', 1, 0, 0, 1, 'a', 1, 0, 0}},
		// A count of 2⁶⁴ − 1 must not wrap the sum of counts around N.
		{"wraps around", "more than the 10 events", append([]byte{10, 2, 1, 'a', 5, 0, 0, 1, 'b'},
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0)},
	} {
		d := NewDecoder(c.b)
		NewHeavyHitters(3).Decode(d)
		if d.Err() == nil || !strings.Contains(d.Err().Error(), c.err) {
			t.Errorf("%s: %v, want an error about %q", c.name, d.Err(), c.err)
		}
	}
}

func (h *HeavyHitters) appendAll(keys ...string) []byte {
	for _, k := range keys {
		h.Add(k, 1)
	}
	return h.AppendBinary(nil)
}

// BenchmarkHeavyHittersCallers observes events of 10,000 to 1,000,000
// distinct callers (a few heavy ones among them) into 1,000 counters: the
// memory the state holds (retained_bytes) stays flat, and the steady state
// allocates nothing per event.
func BenchmarkHeavyHittersCallers(b *testing.B) {
	for _, distinct := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(distinct), func(b *testing.B) {
			keys := make([]string, distinct)
			for i := range keys {
				keys[i] = fmt.Sprintf("user-%07d", i)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h := NewHeavyHitters(1000)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				k := keys[rng.IntN(distinct)]
				if rng.IntN(4) == 0 {
					k = keys[rng.IntN(10)]
				}
				h.Add(k, 1)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "retained_bytes")
			runtime.KeepAlive(h)
			runtime.KeepAlive(keys)
		})
	}
}

// TestHeavyHittersAux: the counted property adds up exactly below capacity,
// merges by sum, and starts at zero for a key that takes over a counter.
func TestHeavyHittersAux(t *testing.T) {
	a, b := NewHeavyHitters(2), NewHeavyHitters(2)
	a.AddWith("x", 5, 2)
	b.AddWith("x", 3, 3)
	b.AddWith("y", 1, 1)
	a.Merge(b)
	if c, err := a.Count("x"); c != 8 || err != 0 || a.Top()[0].Aux != 5 {
		t.Fatalf("merged x: %+v", a.Top())
	}
	a.AddWith("z", 1, 1) // takes over y's counter (count 1)
	for _, h := range a.Top() {
		if h.Key == "z" && (h.Count != 2 || h.Err != 1 || h.Aux != 1) {
			t.Errorf("z took over y's counter: %+v", h)
		}
	}
}

// FuzzHeavyHittersDecode feeds hostile bytes to the decoder: it never
// panics, and what it accepts keeps its invariants (at most capacity
// counters, errors within counts, exact counts within N) and encodes back to
// a state that decodes to itself.
func FuzzHeavyHittersDecode(f *testing.F) {
	h := NewHeavyHitters(4)
	for i, k := range []string{"a", "b", "c", "d", "e", "a"} {
		h.AddWith(k, uint64(i+1), uint64(i%2))
	}
	f.Add(h.AppendBinary(nil))
	f.Add([]byte{10, 2, 1, 'a', 5, 0, 0, 1, 'b', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		got := NewHeavyHitters(4)
		got.Decode(d)
		if d.Err() != nil {
			return
		}
		var exact uint64
		for _, x := range got.Top() {
			if x.Err > x.Count || x.Aux > x.Count-x.Err {
				t.Fatalf("accepted %+v", x)
			}
			exact += x.Count - x.Err
		}
		if got.Len() > 4 || exact > got.N {
			t.Fatalf("accepted %d counters, %d exact of %d", got.Len(), exact, got.N)
		}
		again := got.AppendBinary(nil)
		back := NewHeavyHitters(4)
		d2 := NewDecoder(again)
		back.Decode(d2)
		if d2.Err() != nil || !reflect.DeepEqual(back.Top(), got.Top()) {
			t.Fatalf("re-encoding does not decode to the same state: %v", d2.Err())
		}
	})
}

// TestHeavyHittersTopSurvivesEvictions checks that the keys Top returns are
// copies: counters changing hands afterwards (their key buffers reused) do
// not change them.
func TestHeavyHittersTopSurvivesEvictions(t *testing.T) {
	h := NewHeavyHitters(4)
	for i := range 4 {
		h.Add(fmt.Sprintf("caller-%d", i), uint64(i+1))
	}
	top := h.Top()
	want := fmt.Sprint(top)
	for i := range 100 {
		h.Add(fmt.Sprintf("other-%03d", i), 1)
	}
	if got := fmt.Sprint(top); got != want {
		t.Fatalf("Top's keys changed with later adds: %s, was %s", got, want)
	}
}

// check verifies the stream summary: buckets in strictly increasing count
// order, each ring holding exactly the counters of its count, every counter
// in one ring and in the index, the free list holding the other buckets.
func (h *HeavyHitters) check(t *testing.T) {
	t.Helper()
	seen := make([]bool, len(h.slots))
	inList := make([]bool, len(h.buckets))
	prev, last := int32(-1), uint64(0)
	for b := h.min; b >= 0; b = h.buckets[b].next {
		bk := h.buckets[b]
		if bk.prev != prev || (prev >= 0 && bk.count <= last) || bk.head < 0 {
			t.Fatalf("bucket %d (count %d) out of order or empty after count %d", b, bk.count, last)
		}
		inList[b] = true
		i := bk.head
		for {
			x := h.slots[i]
			if x.bucket != b || x.count != bk.count || seen[i] || h.slots[x.next].prev != i {
				t.Fatalf("slot %d (count %d) in bucket %d of count %d", i, x.count, b, bk.count)
			}
			seen[i] = true
			if j, ok := h.lookup(x.key); !ok || j != i || x.hash != h.index.hash(x.key) {
				t.Fatalf("slot %d %q indexed at %d", i, x.key, j)
			}
			if i = x.next; i == bk.head {
				break
			}
		}
		prev, last = b, bk.count
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("slot %d in no bucket", i)
		}
	}
	for b := h.free; b >= 0; b = h.buckets[b].next {
		if inList[b] {
			t.Fatalf("bucket %d both free and listed", b)
		}
		inList[b] = true
	}
	for b, ok := range inList {
		if !ok {
			t.Fatalf("bucket %d lost", b)
		}
	}
	cells := 0
	for _, c := range h.index.cells {
		if c != 0 {
			cells++
		}
	}
	if h.index.n != len(h.slots) || cells != len(h.slots) || 2*cells > len(h.index.cells) {
		t.Fatalf("%d keys indexed in %d of %d cells, %d counters", h.index.n, cells, len(h.index.cells), len(h.slots))
	}
}

// TestHeavyHittersStreamSummary drives a small state with unit and weighted
// adds, evictions, merges and decoding, checking the stream summary's
// invariants after each step and the counters against a plain Space-Saving
// on the same stream that takes over the oldest of the smallest counters
// (the least count, then the count held longest; a count unchanged by an
// add of 0 keeps its age): the same keys with the same counts.
func TestHeavyHittersStreamSummary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	h := NewHeavyHitters(16)
	type counter struct{ count, since uint64 }
	plain := map[string]counter{}
	for step := range 20000 {
		k := fmt.Sprint("k", rng.IntN(40))
		n := uint64(1)
		if rng.IntN(10) == 0 {
			n = uint64(rng.IntN(5)) // weighted, and zero
		}
		h.Add(k, n)
		if _, ok := plain[k]; !ok && len(plain) == 16 {
			var mk string
			m := counter{^uint64(0), 0}
			for pk, pc := range plain {
				if pc.count < m.count || pc.count == m.count && pc.since < m.since {
					mk, m = pk, pc
				}
			}
			delete(plain, mk)
			plain[k] = m
		}
		if c, ok := plain[k]; !ok || n != 0 {
			plain[k] = counter{c.count + n, uint64(step) + 1}
		}
		if step%97 == 0 {
			h.check(t)
			got := map[string]uint64{}
			for _, x := range h.Top() {
				got[x.Key] = x.Count
			}
			want := map[string]uint64{}
			for pk, pc := range plain {
				want[pk] = pc.count
			}
			if !maps.Equal(got, want) {
				t.Fatalf("step %d: counters %v, plain Space-Saving %v", step, got, want)
			}
		}
	}
	o := NewHeavyHitters(16)
	for i := range 500 {
		o.Add(fmt.Sprint("k", i%50), uint64(i%3+1))
	}
	h.Merge(o)
	h.check(t)
	for i := range 1000 {
		h.Add(fmt.Sprint("m", i%30), 1)
	}
	h.check(t)
	back := NewHeavyHitters(16)
	back.Decode(NewDecoder(h.AppendBinary(nil)))
	back.check(t)
	if !reflect.DeepEqual(back.Top(), h.Top()) {
		t.Fatal("decoded state differs")
	}
}

// TestHeavyHittersNoAllocationAtTheBound: once every counter is taken, an
// add allocates nothing, whether it counts a kept key or takes a counter
// over (keys no longer than the buffers the counters already hold).
func TestHeavyHittersNoAllocationAtTheBound(t *testing.T) {
	h := NewHeavyHitters(1000)
	keys := make([]string, 100000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%07d", i)
	}
	for i := range 5000 {
		h.Add(keys[i%2000], 1)
	}
	i := 0
	if a := testing.AllocsPerRun(10000, func() { h.Add(keys[i%len(keys)], 1); i += 7 }); a != 0 {
		t.Fatalf("%v allocations per add at the bound", a)
	}
	h.check(t)
}

// TestHeavyHittersSlots: a slot stays with its key until taken over, and
// AddSlot says when it changes hands.
func TestHeavyHittersSlots(t *testing.T) {
	h := NewHeavyHitters(2)
	a, taken := h.AddSlot("a", 3, 0)
	if !taken {
		t.Fatal("a new key's slot not reported taken")
	}
	if s, taken := h.AddSlot("a", 1, 0); s != a || taken {
		t.Fatalf("a kept key: slot %d (was %d), taken %v", s, a, taken)
	}
	h.AddSlot("b", 1, 0)
	c, taken := h.AddSlot("c", 1, 0) // takes b's counter (count 1)
	if s, _ := h.Slot("c"); !taken || s != c || h.SlotKey(c) != "c" {
		t.Fatalf("c: slot %d, taken %v", c, taken)
	}
	if _, ok := h.Slot("b"); ok {
		t.Fatal("b kept its slot")
	}
}

// TestFilteredHeavyHittersBounds drives filtered summaries with unit and
// weighted adds of a heavy-tailed stream, merges, decoding and a reset,
// checking after each step the stream summary's invariants and Filtered
// Space-Saving's bounds against the true counts: a counted key's count
// overestimates it by at most its error, a key without a counter has had
// at most its cell's count, and no cell counts more than the smallest
// counter (so every key above N/Capacity is counted).
func TestFilteredHeavyHittersBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	key := func() string {
		if rng.IntN(3) == 0 {
			return fmt.Sprint("heavy-", rng.IntN(8))
		}
		return fmt.Sprint("k", rng.IntN(400))
	}
	bounds := func(step string, h *HeavyHitters, truth map[string]uint64) {
		t.Helper()
		h.check(t)
		var total uint64
		for k, c := range truth {
			total += c
			if s, ok := h.Slot(k); ok {
				x := h.AtSlot(s)
				if x.Count < c || x.Count-x.Err > c {
					t.Fatalf("%s: %s count %d, error %d, true %d", step, k, x.Count, x.Err, c)
				}
				continue
			}
			if a := max(*h.cell(k), h.filterBase); c > a {
				t.Fatalf("%s: %s without a counter had %d events, its cell counts %d", step, k, c, a)
			}
			if c > h.N/uint64(h.Capacity) {
				t.Fatalf("%s: %s had %d of %d events, not counted", step, k, c, h.N)
			}
		}
		for i, a := range h.filter {
			if a > h.floor() {
				t.Fatalf("%s: cell %d counts %d, the smallest counter %d", step, i, a, h.floor())
			}
		}
		if total != h.N {
			t.Fatalf("%s: N %d, %d events", step, h.N, total)
		}
	}
	stream := func(h *HeavyHitters, truth map[string]uint64, n int) {
		for range n {
			k, w := key(), uint64(1)
			if rng.IntN(10) == 0 {
				w = uint64(rng.IntN(5)) // weighted, and zero
			}
			h.Add(k, w)
			truth[k] += w
		}
	}
	h, truth := NewFilteredHeavyHitters(32), map[string]uint64{}
	for step := range 40 {
		stream(h, truth, 500)
		bounds(fmt.Sprint("step ", step), h, truth)
	}
	o, otruth := NewFilteredHeavyHitters(32), map[string]uint64{}
	stream(o, otruth, 7000)
	h.Merge(o)
	for k, c := range otruth {
		truth[k] += c
	}
	if !h.Filtered() {
		t.Fatal("a merged filtered summary is no longer filtered")
	}
	bounds("merged", h, truth)
	stream(h, truth, 5000)
	bounds("after the merge", h, truth)
	back := NewFilteredHeavyHitters(32)
	back.Decode(NewDecoder(h.AppendBinary(nil)))
	bounds("decoded", back, truth)
	stream(back, truth, 5000)
	bounds("after decoding", back, truth)
	back.Reset()
	clear(truth)
	stream(back, truth, 3000)
	bounds("after a reset", back, truth)
}

// TestFilteredHeavyHittersTakeOverLess streams 3,333 calls of 2,000 uniform
// callers (a model's window on a partition in make bench) into 256
// counters: a filtered summary gives far fewer counters away than a plain
// one, and the calls it keeps in its cells are returned as slot -1 (about 970
// counters given, not 2,921).
func TestFilteredHeavyHittersTakeOverLess(t *testing.T) {
	takes := func(h *HeavyHitters) (taken, filtered int) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 3333 {
			slot, tk := h.AddSlot(fmt.Sprint("user-", rng.IntN(2000)), 1, 0)
			switch {
			case slot < 0:
				filtered++
			case tk:
				taken++
			}
		}
		h.check(t)
		return taken, filtered
	}
	plain, none := takes(NewHeavyHitters(256))
	got, filtered := takes(NewFilteredHeavyHitters(256))
	if none != 0 || plain < 2800 {
		t.Fatalf("plain summary: %d taken, %d filtered", plain, none)
	}
	if got > plain/2 || got+filtered < plain {
		t.Fatalf("filtered summary: %d taken, %d kept in cells; plain %d taken", got, filtered, plain)
	}
	t.Logf("counters taken: plain %d, filtered %d (%d calls in cells)", plain, got, filtered)
}

// TestHeavyHittersMergeSlots: after a merge of two full summaries sharing
// some keys, each slot says where its key was in either before (the slot
// that held it, -1 exactly where it had none), and the merge equals Merge.
func TestHeavyHittersMergeSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	fill := func(prefix string) *HeavyHitters {
		h := NewFilteredHeavyHitters(40)
		for range 3000 {
			k := fmt.Sprint("shared-", rng.IntN(60))
			if rng.IntN(2) == 0 {
				k = fmt.Sprint(prefix, rng.IntN(80))
			}
			h.Add(k, 1)
		}
		return h
	}
	a, b := fill("a-"), fill("b-")
	slotsOf := func(h *HeavyHitters) map[string]int {
		m := map[string]int{}
		for i := range h.Len() {
			m[strings.Clone(h.SlotKey(i))] = i
		}
		return m
	}
	before := [2]map[string]int{slotsOf(a), slotsOf(b)}
	plain := NewFilteredHeavyHitters(40)
	plain.Decode(NewDecoder(a.AppendBinary(nil)))
	plain.Merge(b)
	fromA, fromB := a.MergeSlots(b)
	a.check(t)
	if len(fromA) != a.Len() || len(fromB) != a.Len() || a.Len() != 40 {
		t.Fatalf("%d and %d origins for %d counters", len(fromA), len(fromB), a.Len())
	}
	both := 0
	for i := range a.Len() {
		k := a.SlotKey(i)
		for side, from := range [2][]int{fromA, fromB} {
			j, ok := before[side][k]
			if !ok {
				j = -1
			}
			if from[i] != j {
				t.Fatalf("slot %d (%s): from side %d slot %d, it had %d", i, k, side, from[i], j)
			}
		}
		if fromA[i] >= 0 && fromB[i] >= 0 {
			both++
		}
	}
	if both == 0 {
		t.Fatal("no counter merged from both sides: the test does not test")
	}
	if !reflect.DeepEqual(a.Top(), plain.Top()) || a.N != plain.N {
		t.Fatal("MergeSlots merged differently from Merge")
	}
}
