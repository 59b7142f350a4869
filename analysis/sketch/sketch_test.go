package sketch

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSampleKeepsSmallestKeys(t *testing.T) {
	s := NewSample(5)
	for k := uint64(100); k > 0; k-- {
		s.Add(k*7919%1000, float64(k))
	}
	keys := slices.Clone(s.Keys())
	slices.Sort(keys)
	var all []uint64
	for k := uint64(100); k > 0; k-- {
		all = append(all, k*7919%1000)
	}
	slices.Sort(all)
	if !slices.Equal(keys, all[:5]) {
		t.Fatalf("kept keys %v, want the 5 smallest %v", keys, all[:5])
	}
}

// TestSampleAddDistinct: offers with repeated keys keep each key once,
// with its least value, the k smallest distinct keys, whatever the order of
// the offers and of the merges.
func TestSampleAddDistinct(t *testing.T) {
	type offer struct {
		key uint64
		v   float64
	}
	var offers []offer
	for i := range 400 {
		offers = append(offers, offer{uint64(i % 40), float64(i)}) // keys 0..39, ten values each
	}
	want := func() [][2]float64 {
		var out [][2]float64
		for k := range 10 { // the 10 smallest keys, each with its least value
			out = append(out, [2]float64{float64(k), float64(k)})
		}
		return out
	}()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		r.Shuffle(len(offers), func(i, j int) { offers[i], offers[j] = offers[j], offers[i] })
		a, b := NewSample(10), NewSample(10)
		var aHeld, bHeld, oneHeld, abHeld, baHeld KeySet
		for i, o := range offers {
			if i%3 == 0 {
				a.AddDistinct(o.key, o.v, &aHeld)
			} else {
				b.AddDistinct(o.key, o.v, &bHeld)
			}
		}
		one := NewSample(10)
		for _, o := range offers {
			one.AddDistinct(o.key, o.v, &oneHeld)
		}
		if got := pairs(&one); !slices.Equal(got, want) {
			t.Fatalf("round %d: %v, want %v", round, got, want)
		}
		ab, ba := NewSample(10), NewSample(10)
		ab.MergeDistinct(&a, &abHeld)
		ab.MergeDistinct(&b, &abHeld)
		ba.MergeDistinct(&b, &baHeld)
		ba.MergeDistinct(&a, &baHeld)
		if got, got2 := pairs(&ab), pairs(&ba); !slices.Equal(got, want) || !slices.Equal(got2, want) {
			t.Fatalf("round %d: merged %v and %v, want %v", round, got, got2, want)
		}
	}
}

// pairs returns a sample's (key, value) pairs ordered by key.
func pairs(s *Sample) [][2]float64 {
	out := make([][2]float64, s.Len())
	for i, k := range s.Keys() {
		out[i] = [2]float64{float64(k), s.Values()[i]}
	}
	slices.SortFunc(out, func(a, b [2]float64) int { return int(math.Copysign(1, a[0]-b[0])) })
	return out
}

func closeRel(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// bin is the caller's binning the tests use: deciles of [0, 1).
func bin(v float64) int { return min(9, max(0, int(v*10))) }

// TestMergeEqualsUnion is the mergeability property of every state: for
// random splits of random values, merging the states of the parts gives the
// state of the whole (exact counts, bins, extremes, samples, categories;
// moments to rounding).
func TestMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cats := []string{"a", "b", "c", "d", "e", "f"}
	idx := NewCategoryIndex(cats[:4], true)
	for trial := range 50 {
		n := 1 + r.IntN(3000)
		k := 1 + r.IntN(500)
		a, b, u := NewNumeric(k, 10), NewNumeric(k, 10), NewNumeric(k, 10)
		ca, cb, cu := NewCategorical(idx), NewCategorical(idx), NewCategorical(idx)
		wa, wb, wu := NewCategorical(nil), NewCategorical(nil), NewCategorical(nil)
		for i := range n {
			v, key := r.Float64(), r.Uint64()
			c := cats[r.IntN(len(cats))]
			u.Observe(v, key, bin(v))
			cu.Observe(c, idx, 5)
			wu.Observe(c, nil, 8)
			if i%3 == trial%3 {
				a.Observe(v, key, bin(v))
				ca.Observe(c, idx, 5)
				wa.Observe(c, nil, 8)
			} else {
				b.Observe(v, key, bin(v))
				cb.Observe(c, idx, 5)
				wb.Observe(c, nil, 8)
			}
		}
		a.Merge(&b)
		label := fmt.Sprintf("trial %d", trial)
		if a.Count != u.Count || !slices.Equal(a.Bins, u.Bins) || a.Min != u.Min || a.Max != u.Max ||
			!closeRel(a.Mean, u.Mean) || !closeRel(a.M2, u.M2) {
			t.Fatalf("%s: merged numeric %+v, union %+v", label, a, u)
		}
		if !slices.Equal(pairs(&a.Sample), pairs(&u.Sample)) {
			t.Fatalf("%s: merged sample differs from the sample of the union", label)
		}
		ca.Merge(&cb, 5)
		if ca.Count != cu.Count || ca.Other != cu.Other || ca.Unseen != cu.Unseen || !slices.Equal(ca.Counts, cu.Counts) {
			t.Fatalf("%s: merged categories %+v, union %+v", label, ca, cu)
		}
		// Warm-up values merge exactly while they fit the tracked bound
		// (8 here); beyond it, which values are tracked depends on the
		// order, which is why an overflowed warm-up window is never rebound.
		wa.Merge(&wb, 8)
		if wa.Count != wu.Count || wa.Other != wu.Other || fmt.Sprint(wa.Tracked) != fmt.Sprint(wu.Tracked) {
			t.Fatalf("%s: merged warm-up categories %+v, union %+v", label, wa, wu)
		}
	}
}

// TestCategoricalAgainstAnIndex: values of the index are counted in its
// order; others in Other, and in Unseen with their names when the index is
// complete.
func TestCategoricalAgainstAnIndex(t *testing.T) {
	for _, complete := range []bool{false, true} {
		idx := NewCategoryIndex([]string{"DE", "FR"}, complete)
		s := NewCategorical(idx)
		for _, v := range []string{"FR", "DE", "FR", "US", "US", "IT"} {
			s.Observe(v, idx, 64)
		}
		if !slices.Equal(s.Counts, []uint64{1, 2}) || s.Other != 3 || s.Count != 6 {
			t.Fatalf("complete=%v: %+v", complete, s)
		}
		if complete && (s.Unseen != 3 || s.NewValues["US"] != 2 || s.NewValues["IT"] != 1) {
			t.Fatalf("complete index: unseen %d, new values %v", s.Unseen, s.NewValues)
		}
		if !complete && (s.Unseen != 0 || len(s.NewValues) != 0) {
			t.Fatalf("incomplete index names values as new: %+v", s)
		}
	}
}

// TestCodecRoundTrip: every state decodes to itself, equal samples of keys
// are written once, and a key layout that refers to nothing is refused.
func TestCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b, c := NewNumeric(100, 10), NewNumeric(100, 10), NewNumeric(100, 0)
	for range 300 {
		key := r.Uint64()
		for _, s := range []*Numeric{&a, &b} {
			v := r.NormFloat64()
			s.Observe(v, key, bin(v))
		}
		c.Observe(r.Float64(), r.Uint64(), 0)
	}
	idx := NewCategoryIndex([]string{"x", "y"}, true)
	cat, warm := NewCategorical(idx), NewCategorical(nil)
	for _, v := range []string{"x", "z", "y", "x", "w"} {
		cat.Observe(v, idx, 8)
		warm.Observe(v, nil, 8)
	}
	var buf []byte
	buf = a.AppendBinary(buf, nil)
	one := len(buf)
	buf = b.AppendBinary(buf, a.Sample.Keys())
	if shared := len(buf) - one; shared > one-100*8+1 {
		t.Fatalf("a second numeric with the same keys took %d bytes, the first %d: keys written twice", shared, one)
	}
	buf = c.AppendBinary(buf, b.Sample.Keys())
	buf = cat.AppendBinary(buf)
	buf = warm.AppendBinary(buf)

	d := NewDecoder(buf)
	ga, gb, gc := NewNumeric(100, 10), NewNumeric(100, 10), NewNumeric(100, 0)
	prev := ga.Decode(d, "a", nil)
	prev = gb.Decode(d, "b", prev)
	gc.Decode(d, "c", prev)
	gcat, gwarm := NewCategorical(idx), NewCategorical(nil)
	gcat.Decode(d, "cat", 8)
	gwarm.Decode(d, "warm", 8)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("decoding: %v, %d bytes left", d.Err(), d.Remaining())
	}
	for i, pair := range [][2]*Numeric{{&ga, &a}, {&gb, &b}, {&gc, &c}} {
		g, w := pair[0], pair[1]
		if g.Count != w.Count || g.Mean != w.Mean || g.M2 != w.M2 || g.Min != w.Min || g.Max != w.Max ||
			!slices.Equal(g.Bins, w.Bins) || !slices.Equal(pairs(&g.Sample), pairs(&w.Sample)) {
			t.Fatalf("numeric %d decoded as %+v, want %+v", i, g, w)
		}
	}
	// own is bookkeeping of Observe, not state: decoding does not restore it.
	cat.ownTracked, cat.ownNew, warm.ownTracked, warm.ownNew = nil, nil, nil, nil
	if fmt.Sprint(gcat) != fmt.Sprint(cat) || fmt.Sprint(gwarm) != fmt.Sprint(warm) {
		t.Fatalf("categorical decoded as %+v / %+v, want %+v / %+v", gcat, gwarm, cat, warm)
	}

	// The first numeric cannot refer to previous keys; other states refuse
	// what does not fit them.
	first := a.AppendBinary(nil, nil)
	layout := len(first) - 100*16 - 1 // then 100 keys and 100 values
	if first[layout] != keysInline {
		t.Fatalf("layout byte not found")
	}
	first[layout] = keysAsPrevious
	for _, tc := range []struct {
		name string
		fn   func(d *Decoder)
		data []byte
	}{
		{"keys of nothing", func(d *Decoder) { s := NewNumeric(100, 10); s.Decode(d, "a", nil) }, first},
		{"other bin count", func(d *Decoder) { s := NewNumeric(100, 5); s.Decode(d, "a", nil) }, a.AppendBinary(nil, nil)},
		{"other sample capacity", func(d *Decoder) { s := NewNumeric(50, 10); s.Decode(d, "a", nil) }, a.AppendBinary(nil, nil)},
		{"warm-up values against an index", func(d *Decoder) { s := NewCategorical(idx); s.Decode(d, "c", 8) }, warm.AppendBinary(nil)},
		{"more tracked values than allowed", func(d *Decoder) { s := NewCategorical(nil); s.Decode(d, "c", 2) }, warm.AppendBinary(nil)},
		{"truncated", func(d *Decoder) { s := NewNumeric(100, 10); s.Decode(d, "a", nil) }, a.AppendBinary(nil, nil)[:500]},
	} {
		d := NewDecoder(tc.data)
		tc.fn(d)
		if !errors.Is(d.Err(), ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, d.Err())
		}
	}
}

// TestSampleGrowsWithTheData: a sample reserves nothing up front (a hostile
// producer's one-event model versions used to cost 16 bytes × capacity per
// numeric feature each), and stops allocating once full.
func TestSampleGrowsWithTheData(t *testing.T) {
	s := NewSample(10000)
	for i := range 3 {
		s.Add(uint64(i), float64(i))
	}
	if c := cap(s.Keys()) + cap(s.Values()); c > 16 {
		t.Fatalf("a sample of 3 values of capacity 10000 holds room for %d", c)
	}
	for i := range 10000 {
		s.Add(uint64(1000+i), 0)
	}
	key := uint64(0)
	if a := testing.AllocsPerRun(1000, func() { key++; s.Add(key, 1) }); a != 0 {
		t.Fatalf("a full sample allocates %v times per Add", a)
	}
}

// BenchmarkSampleAdd measures the bottom-k sample over the 10,000 events of
// a window: with a capacity of 1,000 (a window against a reference: full
// after a tenth, then replacing) and of 10,000 (a warm-up window: growing).
func BenchmarkSampleAdd(b *testing.B) {
	for _, k := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			b.ReportAllocs()
			key := uint64(1)
			for b.Loop() {
				s := NewSample(k)
				for range 10000 {
					key = key*6364136223846793005 + 1442695040888963407
					s.Add(key, float64(key>>40))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/add")
		})
	}
}

// TestCategoryIndexFindsByScanAndByMap: an index of a few categories (found
// by a scan) and one of many (found in its map) give every category its
// position and no other value one, prefixes, the empty string and
// duplicated categories included.
func TestCategoryIndexFindsByScanAndByMap(t *testing.T) {
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprint("v", i)
	}
	for _, cats := range [][]string{{"ios", "android", "web"}, {"", "a", "ab", "abc"}, many, {"x", "y", "x"}} {
		idx := NewCategoryIndex(cats, true)
		for i, c := range cats {
			if j, ok := idx.find(c); !ok || cats[j] != c || (j != i && cats[i] != c) {
				t.Errorf("%v: %q at %d, %v", cats, c, j, ok)
			}
		}
		for _, v := range []string{"io", "iosx", "b", "abcd", "v20", "z", "ANDROID"} {
			if _, ok := idx.find(v); ok && !slices.Contains(cats, v) {
				t.Errorf("%v: %q found", cats, v)
			}
		}
		s := NewCategorical(idx)
		s.Observe(cats[len(cats)-1], idx, 0)
		s.Observe("not-a-category", idx, 0)
		if s.Other != 1 || s.Unseen != 1 || s.Counts[idx.pos[cats[len(cats)-1]]] != 1 {
			t.Errorf("%v: counts %v other %d unseen %d", cats, s.Counts, s.Other, s.Unseen)
		}
	}
}
