package poisoning

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/driftwatch/driftwatch/analysis/sketch"
)

func addAll(t *table, keys []string) {
	for i, k := range keys {
		t.add([]byte(k), uint64(i%2), fmt.Sprint("id-", i), "", true)
	}
}

// TestTableExactBelowCapacity: with fewer keys than counters, counts and
// aux are exact, ids are the bottom 3 by sampling key, and the encoding
// does not depend on the order of the events.
func TestTableExactBelowCapacity(t *testing.T) {
	var keys []string
	for i := range 500 {
		keys = append(keys, fmt.Sprint("k", i%37))
	}
	a := newTable(64, maxKey, idsPerKey)
	addAll(a, keys)
	for i := range 37 {
		c, e, aux, ok := a.lookup([]byte(fmt.Sprint("k", i)))
		var want, wantAux uint64
		var ids []string
		for j, k := range keys {
			if k == fmt.Sprint("k", i) {
				want++
				wantAux += uint64(j % 2)
				ids = append(ids, fmt.Sprint("id-", j))
			}
		}
		if !ok || c != want || e != 0 || aux != wantAux {
			t.Fatalf("k%d: %d (err %d, aux %d), want %d (aux %d)", i, c, e, aux, want, wantAux)
		}
		slices.SortFunc(ids, func(x, y string) int { return cmpKey(sketch.SampleKey(x), sketch.SampleKey(y)) })
		if got := a.ids(a.find([]byte(fmt.Sprint("k", i)), xxhash.Sum64String(fmt.Sprint("k", i)))); !slices.Equal(got, ids[:3]) {
			t.Fatalf("k%d ids %v, want %v", i, got, ids[:3])
		}
	}
	b := newTable(64, maxKey, idsPerKey)
	perm := rand.New(rand.NewPCG(1, 2)).Perm(len(keys))
	for _, i := range perm {
		b.add([]byte(keys[i]), uint64(i%2), fmt.Sprint("id-", i), "", true)
	}
	if !bytes.Equal(a.appendBinary(nil), b.appendBinary(nil)) {
		t.Fatal("the encoding depends on the order of the events")
	}
}

func cmpKey(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestTableSpaceSavingGuarantee: with more keys than counters, after
// observing and after merging partitions, every key whose count exceeds
// n/capacity has a counter, and each counter's count overestimates its
// key's by at most its err (Metwally et al.; Agarwal et al. for merges).
func TestTableSpaceSavingGuarantee(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const capacity = 20
	truth := map[string]uint64{}
	parts := []*table{newTable(capacity, maxKey, idsPerKey), newTable(capacity, maxKey, idsPerKey), newTable(capacity, maxKey, idsPerKey)}
	for i := range 30000 {
		// Zipf-like: a few heavy keys and a long tail.
		k := fmt.Sprint("key-", int(1/(rng.Float64()+0.002)))
		truth[k]++
		parts[i%3].add([]byte(k), 0, "", "", false)
	}
	check := func(name string, tb *table) {
		t.Helper()
		n := uint64(0)
		for _, c := range truth {
			n += c
		}
		for k, c := range truth {
			got, e, _, ok := tb.lookup([]byte(k))
			if c > n/capacity && !ok {
				t.Errorf("%s: %s with %d of %d has no counter", name, k, c, n)
			}
			if ok && (got < c || got-e > c) {
				t.Errorf("%s: %s counted %d (err %d), true %d", name, k, got, e, c)
			}
		}
	}
	all := newTable(capacity, maxKey, idsPerKey)
	for k, c := range truth {
		for range c {
			all.add([]byte(k), 0, "", "", false)
		}
	}
	check("observed", all)
	parts[0].merge(parts[1])
	parts[0].merge(parts[2])
	if parts[0].n != 30000 || parts[0].slots() != capacity {
		t.Fatalf("merged n %d, %d slots", parts[0].n, parts[0].slots())
	}
	check("merged", parts[0])
}

// TestTableIndexSurvivesEvictions: a full table taking over counters
// thousands of times keeps its index consistent: every key it counts is
// found, and no key it dropped is.
func TestTableIndexSurvivesEvictions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tb := newTable(13, maxKey, 0)
	for range 20000 {
		tb.add([]byte(fmt.Sprint(rng.IntN(40))), 0, "", "", false)
	}
	live := map[string]bool{}
	for s := range int32(tb.slots()) {
		k := string(tb.key(s))
		live[k] = true
		if tb.find(tb.key(s), tb.hash[s]) != s || tb.heap[tb.pos[s]] != s {
			t.Fatalf("slot %d (%s) is not where the index and heap say", s, k)
		}
	}
	for i := range 40 {
		k := fmt.Sprint(i)
		if _, _, _, ok := tb.lookup([]byte(k)); ok != live[k] {
			t.Fatalf("%s found %v, counted %v", k, ok, live[k])
		}
	}
	for i := 1; i < len(tb.heap); i++ {
		if tb.less(tb.heap[i], tb.heap[(i-1)/2]) {
			t.Fatal("heap order broken")
		}
	}
}

// TestShorten: a string over the limit keeps a prefix cut at a character
// boundary and a hash that tells it from another with the same prefix.
func TestShorten(t *testing.T) {
	a, b := strings.Repeat("é", 40)+"a", strings.Repeat("é", 40)+"b"
	sa, sb := string(shorten(nil, a, maxKey)), string(shorten(nil, b, maxKey))
	if len(sa) > maxKey || sa == sb || !validUTF8(sa) || !strings.HasPrefix(a, strings.Split(sa, "#")[0]) {
		t.Fatalf("shortened to %q and %q", sa, sb)
	}
	if s := string(shorten(nil, "short", maxKey)); s != "short" {
		t.Fatalf("short string changed to %q", s)
	}
}

// TestTableDecodeRefusesWhatDoesNotFit: more keys than counters, a key
// too long, a key twice, an overcount above the count, counts above n, ids
// out of order or beyond a key's events all fail with sketch.ErrCorrupt.
func TestTableDecodeRefusesWhatDoesNotFit(t *testing.T) {
	good := newTable(4, 8, idsPerKey)
	addAll(good, []string{"a", "b", "a", "c"})
	enc := good.appendBinary(nil)
	if d := sketch.NewDecoder(enc); func() error { newTable(4, 8, idsPerKey).decode(d, "t"); return d.Err() }() != nil {
		t.Fatalf("good table refused: %v", d.Err())
	}
	str := func(s string) []byte { return sketch.AppendString(nil, s) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"too many keys":   {10, 5},
		"key too long":    cat([]byte{5, 1}, str("123456789"), []byte{1, 0, 0, 0}),
		"key twice":       cat([]byte{5, 2}, str("a"), []byte{1, 0, 0, 0}, str("a"), []byte{1, 0, 0, 0}),
		"err above count": cat([]byte{5, 1}, str("a"), []byte{1, 2, 0, 0}),
		"aux above exact": cat([]byte{5, 1}, str("a"), []byte{2, 1, 2, 0}),
		"counts above n":  cat([]byte{5, 2}, str("a"), []byte{4, 0, 0, 0}, str("b"), []byte{4, 0, 0, 0}),
		"ids beyond":      cat([]byte{5, 1}, str("a"), []byte{1, 0, 0, 2}, str("x"), str("y")),
		"ids out of order": func() []byte {
			x, y := "id-1", "id-2"
			if sketch.SampleKey(x) < sketch.SampleKey(y) {
				x, y = y, x
			}
			return cat([]byte{5, 1}, str("a"), []byte{3, 0, 0, 2}, str(x), str(y))
		}(),
		"truncated": enc[:len(enc)-1],
	} {
		d := sketch.NewDecoder(b)
		newTable(4, 8, idsPerKey).decode(d, "t")
		if d.Err() == nil && d.Remaining() == 0 {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestSourcedTableKeepsEachIDsSource: a table made by newSourcedTable keeps
// with each sampled id the source of its example, through evictions,
// merges (the merge of three partitions encodes as the table of them all,
// below capacity) and its encoding; a plain table encodes no sources; the
// decoder refuses a source longer than a key.
func TestSourcedTableKeepsEachIDsSource(t *testing.T) {
	sourceOf := func(i int) string { return fmt.Sprint("annotator-", i%7) }
	rng := rand.New(rand.NewPCG(7, 8))
	keys := make([]string, 3000)
	for i := range keys {
		keys[i] = fmt.Sprint("k", int(1/(rng.Float64()+0.01)))
	}
	check := func(name string, tb *table) {
		t.Helper()
		kept := 0
		for s := range int32(tb.slots()) {
			ids, srcs := tb.ids(s), tb.sources(s)
			if len(srcs) != len(ids) {
				t.Fatalf("%s: %d ids, %d sources", name, len(ids), len(srcs))
			}
			for j, id := range ids {
				var i int
				if _, err := fmt.Sscanf(id, "id-%d", &i); err != nil {
					t.Fatal(err)
				}
				if srcs[j] != sourceOf(i) {
					t.Fatalf("%s: id %s kept with source %q, sent by %q", name, id, srcs[j], sourceOf(i))
				}
				kept++
			}
		}
		if kept == 0 {
			t.Fatalf("%s: no id kept", name)
		}
	}
	for _, capacity := range []int{10, 200} { // with evictions; below capacity
		all := newSourcedTable(capacity, maxKey, idsPerKey)
		parts := []*table{newSourcedTable(capacity, maxKey, idsPerKey), newSourcedTable(capacity, maxKey, idsPerKey), newSourcedTable(capacity, maxKey, idsPerKey)}
		for i, k := range keys {
			all.add([]byte(k), 0, fmt.Sprint("id-", i), sourceOf(i), true)
			parts[i%3].add([]byte(k), 0, fmt.Sprint("id-", i), sourceOf(i), true)
		}
		check(fmt.Sprint("observed, capacity ", capacity), all)
		parts[0].merge(parts[1])
		parts[0].merge(parts[2])
		check(fmt.Sprint("merged, capacity ", capacity), parts[0])
		enc := parts[0].appendBinary(nil)
		if capacity == 200 && !bytes.Equal(enc, all.appendBinary(nil)) {
			t.Fatal("below capacity, the merged table encodes unlike the table of all the examples")
		}
		got := newSourcedTable(capacity, maxKey, idsPerKey)
		d := sketch.NewDecoder(enc)
		if got.decode(d, "t"); d.Err() != nil || d.Remaining() != 0 || !bytes.Equal(got.appendBinary(nil), enc) {
			t.Fatalf("capacity %d: decoded %v, %d bytes left, or re-encoded unlike", capacity, d.Err(), d.Remaining())
		}
		check(fmt.Sprint("decoded, capacity ", capacity), got)
	}

	plain := newTable(4, 8, idsPerKey)
	plain.add([]byte("a"), 0, "id-1", "annotator-1", true)
	if srcs := plain.sources(0); srcs != nil || bytes.Contains(plain.appendBinary(nil), []byte("annotator")) {
		t.Fatalf("a plain table kept the source: %v", srcs)
	}
	str := func(s string) []byte { return sketch.AppendString(nil, s) }
	long := bytes.Join([][]byte{{1, 1}, str("a"), {1, 0, 0, 1}, str("id-1"), str(strings.Repeat("s", maxKey+1))}, nil)
	d := sketch.NewDecoder(long)
	if newSourcedTable(4, 8, idsPerKey).decode(d, "t"); d.Err() == nil {
		t.Fatal("a source longer than a key decoded")
	}
}
