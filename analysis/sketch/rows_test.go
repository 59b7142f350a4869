package sketch

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// rowEvent is an event offered to a Rows sample in the tests: its key and
// its values, NaN where absent.
type rowEvent struct {
	key  uint64
	vals []float64
}

// rowEvents returns n events of cols columns, each value present with
// probability present, keys drawn from [0, keySpace) (a small key space
// makes ties).
func rowEvents(r *rand.Rand, n, cols int, present float64, keySpace uint64) []rowEvent {
	out := make([]rowEvent, n)
	for i := range out {
		e := rowEvent{key: r.Uint64N(keySpace), vals: make([]float64, cols)}
		for j := range e.vals {
			e.vals[j] = math.NaN()
			if r.Float64() < present {
				e.vals[j] = r.NormFloat64()
			}
		}
		out[i] = e
	}
	return out
}

// offer offers every event to rows, writing the present values.
func offer(rows *Rows, events []rowEvent) {
	for _, e := range events {
		slot := rows.Offer(e.key)
		if slot < 0 {
			continue
		}
		for j, v := range e.vals {
			if !math.IsNaN(v) {
				rows.Set(slot, j, v)
			}
		}
	}
}

// keyValues returns the (key, value) pairs of s sorted by key, then value.
func keyValues(s *Sample) [][2]float64 {
	out := make([][2]float64, s.Len())
	for i := range out {
		out[i] = [2]float64{float64(s.Keys()[i]), s.Values()[i]}
	}
	slices.SortFunc(out, func(a, b [2]float64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	return out
}

// TestRowsColumnsAreThePerColumnSamples: when every event carries every
// column, each column of the rows is exactly the Sample that adding that
// column's values under the event keys gives: the same keys and values in
// the same heap order, ties and all.
func TestRowsColumnsAreThePerColumnSamples(t *testing.T) {
	for _, tc := range []struct {
		k, n     int
		keySpace uint64
	}{
		{0, 10, math.MaxUint64}, {1, 50, math.MaxUint64}, {4, 3, math.MaxUint64}, {100, 99, math.MaxUint64},
		{100, 5000, math.MaxUint64}, {1000, 20000, math.MaxUint64}, {50, 2000, 64}, // ties
	} {
		t.Run(fmt.Sprintf("k=%d/n=%d/keys=%d", tc.k, tc.n, tc.keySpace), func(t *testing.T) {
			const cols = 3
			events := rowEvents(rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.n))), tc.n, cols, 1, tc.keySpace)
			rows := NewRows(tc.k, cols)
			offer(&rows, events)
			if rows.Len() != min(tc.k, tc.n) || rows.Cap() != tc.k || rows.Columns() != cols {
				t.Fatalf("len %d cap %d columns %d", rows.Len(), rows.Cap(), rows.Columns())
			}
			for j := range cols {
				want := NewSample(tc.k)
				for _, e := range events {
					want.Add(e.key, e.vals[j])
				}
				var got Sample
				rows.Column(j, &got)
				if got.Cap() != want.Cap() || !slices.Equal(got.Keys(), want.Keys()) || !slices.Equal(got.Values(), want.Values()) {
					t.Fatalf("column %d: keys %v values %v, want %v %v", j, got.Keys(), got.Values(), want.Keys(), want.Values())
				}
			}
		})
	}
}

// TestRowsColumnsWithAbsentValues: with values missing, column j's sample
// holds the rows of the bottom-k events that carry j (not the bottom k
// among the events that carry it), and is a heap that keeps sampling
// correctly afterwards.
func TestRowsColumnsWithAbsentValues(t *testing.T) {
	const k, n, cols = 200, 3000, 4
	r := rand.New(rand.NewPCG(1, 2))
	events := rowEvents(r, n, cols, 0.7, math.MaxUint64)
	rows := NewRows(k, cols)
	offer(&rows, events)
	byKey := slices.Clone(events)
	slices.SortFunc(byKey, func(a, b rowEvent) int { return cmp.Compare(a.key, b.key) })
	kept := byKey[:k]
	for j := range cols {
		want := NewSample(k)
		for _, e := range kept {
			if !math.IsNaN(e.vals[j]) {
				want.Add(e.key, e.vals[j])
			}
		}
		var got Sample
		rows.Column(j, &got)
		if !slices.Equal(keyValues(&got), keyValues(&want)) {
			t.Fatalf("column %d: %d values, want the %d of the kept rows", j, got.Len(), want.Len())
		}
		if !slices.Equal(got.InKeyOrder(), want.InKeyOrder()) {
			t.Fatalf("column %d: not in key order", j)
		}
		// A max-heap on keys, for the Sample to go on sampling.
		keys := got.Keys()
		for i := 1; i < len(keys); i++ {
			if keys[(i-1)/2] < keys[i] {
				t.Fatalf("column %d: key %d above its parent", j, i)
			}
		}
	}
}

// TestRowsSetColumns: columns added while rows are kept are absent in them;
// the values already kept stay in place.
func TestRowsSetColumns(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows := NewRows(50, 2)
	first := rowEvents(r, 30, 2, 1, math.MaxUint64)
	offer(&rows, first)
	rows.SetColumns(4)
	rows.SetColumns(3) // narrower: nothing
	if rows.Columns() != 4 {
		t.Fatalf("%d columns, want 4", rows.Columns())
	}
	later := rowEvents(r, 100, 4, 1, math.MaxUint64)
	offer(&rows, later)
	all := append(slices.Clone(first), later...)
	for j := range 4 {
		want := NewSample(50)
		for _, e := range all {
			if j < len(e.vals) {
				want.Add(e.key, e.vals[j])
			}
		}
		// The bottom 50 of all events, restricted to those with column j.
		byKey := slices.Clone(all)
		slices.SortFunc(byKey, func(a, b rowEvent) int { return cmp.Compare(a.key, b.key) })
		exp := NewSample(50)
		for _, e := range byKey[:50] {
			if j < len(e.vals) {
				exp.Add(e.key, e.vals[j])
			}
		}
		var got Sample
		rows.Column(j, &got)
		if !slices.Equal(keyValues(&got), keyValues(&exp)) {
			t.Fatalf("column %d after widening: %v, want %v", j, keyValues(&got), keyValues(&exp))
		}
	}
}

// TestRowsMergeEqualsUnion: merging the rows of two disjoint event sets,
// columns mapped by a permutation, gives the rows of the union; Cut gives
// the rows a smaller capacity would have kept.
func TestRowsMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 20 {
		k := 1 + r.IntN(300)
		events := rowEvents(r, r.IntN(2000), 3, 0.8, math.MaxUint64)
		union, a, b := NewRows(k, 3), NewRows(k, 3), NewRows(k, 3)
		perm := []int{2, 0, 1} // b's column j is the union's perm[j]
		for _, e := range events {
			offer(&union, []rowEvent{e})
			if r.IntN(2) == 0 {
				offer(&a, []rowEvent{e})
				continue
			}
			p := rowEvent{key: e.key, vals: make([]float64, 3)}
			for j := range 3 {
				p.vals[j] = e.vals[perm[j]]
			}
			offer(&b, []rowEvent{p})
		}
		a.Merge(&b, perm)
		small := union.Cut(k / 2)
		direct := NewRows(k/2, 3)
		offer(&direct, events)
		for j := range 3 {
			var got, want, cut, exp Sample
			a.Column(j, &got)
			union.Column(j, &want)
			small.Column(j, &cut)
			direct.Column(j, &exp)
			if !slices.Equal(keyValues(&got), keyValues(&want)) {
				t.Fatalf("trial %d column %d: merged rows differ from the rows of the union", trial, j)
			}
			if !slices.Equal(keyValues(&cut), keyValues(&exp)) || cut.Cap() != k/2 {
				t.Fatalf("trial %d column %d: cut rows differ from rows of capacity %d", trial, j, k/2)
			}
		}
	}
}

// TestRowsCodec: rows round-trip exactly; corrupt encodings are errors
// (never a panic), and leave the rows empty.
func TestRowsCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rows := NewRows(100, 10)
	offer(&rows, rowEvents(r, 500, 10, 0.6, math.MaxUint64))
	enc := rows.AppendBinary(nil)
	if len(enc) > rows.EncodedSize() {
		t.Fatalf("%d bytes, EncodedSize says at most %d", len(enc), rows.EncodedSize())
	}
	got := NewRows(100, 10)
	d := NewDecoder(enc)
	got.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("decoding: %v, %d bytes left", d.Err(), d.Remaining())
	}
	if !slices.Equal(got.AppendBinary(nil), enc) {
		t.Fatal("decoded rows encode differently")
	}
	for j := range 10 {
		var a, b Sample
		rows.Column(j, &a)
		got.Column(j, &b)
		if !slices.Equal(a.Keys(), b.Keys()) || !slices.Equal(a.Values(), b.Values()) {
			t.Fatalf("column %d differs after a round trip", j)
		}
	}
	nanRow := NewRows(4, 9)
	nanRow.Set(nanRow.Offer(1), 0, 1)
	nanEnc := nanRow.AppendBinary(nil)
	bad := map[string]func() (Rows, []byte){
		"other capacity": func() (Rows, []byte) { return NewRows(99, 10), enc },
		"other columns":  func() (Rows, []byte) { return NewRows(100, 9), enc },
		"present NaN": func() (Rows, []byte) {
			b := slices.Clone(nanEnc)
			copy(b[len(b)-8:], AppendFloat(nil, math.NaN()))
			return NewRows(4, 9), b
		},
		"presence beyond the columns": func() (Rows, []byte) {
			b := slices.Clone(nanEnc)
			b[len(b)-8-1] |= 0x80 // second bitmap byte: column 15 of 9
			return NewRows(4, 9), b
		},
	}
	for n := range len(enc) {
		bad[fmt.Sprintf("cut at %d", n)] = func() (Rows, []byte) { return NewRows(100, 10), enc[:n] }
	}
	for name, f := range bad {
		rs, b := f()
		d := NewDecoder(b)
		rs.Decode(d)
		if d.Err() == nil && d.Remaining() == 0 {
			t.Fatalf("%s: decoded", name)
		}
		if d.Err() != nil && (!errors.Is(d.Err(), ErrCorrupt) || rs.Len() != 0) {
			t.Fatalf("%s: error %v, %d rows left", name, d.Err(), rs.Len())
		}
	}
}

// TestFullRowsDoNotAllocate: once a Rows sample holds k rows, offering and
// writing an event does not allocate.
func TestFullRowsDoNotAllocate(t *testing.T) {
	rows := NewRows(1000, 16)
	for i := range 1000 {
		rows.Offer(uint64(1_000_000 + i))
	}
	key := uint64(0)
	if a := testing.AllocsPerRun(1000, func() {
		key++
		if slot := rows.Offer(key); slot >= 0 {
			for j := range 16 {
				rows.Set(slot, j, 1)
			}
		}
	}); a != 0 {
		t.Fatalf("a full Rows sample allocates %v times per event", a)
	}
}

// TestRowsReuse: a sample emptied with Reuse (for another capacity and
// other columns, set at once or after by SetColumns) and offered events
// holds exactly what a new sample offered the same events does. It keeps
// its keys' room and fills it without allocating; values' memory too small
// for the new columns is allocated once, anew.
func TestRowsReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name          string
		k, cols       int // the sample reused
		newK, newCols int // Reuse's arguments; 0 columns: SetColumns(16) after
		wantAllocs    float64
	}{
		{"same shape", 500, 16, 500, 16, 0},
		{"smaller capacity", 500, 16, 200, 16, 0},
		{"fewer columns", 500, 16, 500, 4, 0},
		{"more columns: values anew", 500, 4, 500, 16, 1},
		{"columns set after", 500, 16, 500, 0, 0},
		{"more columns set after: values anew", 500, 4, 500, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := NewRows(tc.k, tc.cols)
			old.Reserve(tc.k)
			offer(&old, rowEvents(r, 3*tc.k, tc.cols, 0.9, 1<<62))
			cols := tc.newCols
			if cols == 0 {
				cols = 16
			}
			events := rowEvents(r, 4*tc.newK, cols, 0.8, 1<<62)

			var reused Rows
			allocs := testing.AllocsPerRun(5, func() {
				reused = old // each run from the old sample's memory
				reused.Reuse(tc.newK, tc.newCols)
				reused.SetColumns(cols)
				offer(&reused, events[:tc.newK])
			})
			if allocs != tc.wantAllocs || reused.Room() != tc.k {
				t.Errorf("reusing the sample and filling %d rows: %v allocations, room for %d rows; want %v, %d",
					tc.newK, allocs, reused.Room(), tc.wantAllocs, tc.k)
			}
			reused.Reuse(tc.newK, tc.newCols)
			reused.SetColumns(cols)
			offer(&reused, events)
			fresh := NewRows(tc.newK, cols)
			offer(&fresh, events)
			if !slices.Equal(reused.Keys(), fresh.Keys()) {
				t.Fatal("the reused sample keeps other events than a new one")
			}
			for i := range fresh.Keys() {
				for j := range cols {
					a, b := reused.Value(reused.Slot(i), j), fresh.Value(fresh.Slot(i), j)
					if a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
						t.Fatalf("row of key %d, column %d: %v reused, %v new", fresh.Keys()[i], j, a, b)
					}
				}
			}
		})
	}
}

// BenchmarkRowsOffer measures sampling the 10,000 events of a window as
// rows of 16 numeric columns (15 features and the score), one decision per
// event: compare with 16 times BenchmarkSampleAdd, what sampling each
// feature on its own costs.
func BenchmarkRowsOffer(b *testing.B) {
	for _, k := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			b.ReportAllocs()
			key := uint64(1)
			for b.Loop() {
				rows := NewRows(k, 16)
				for range 10000 {
					key = key*6364136223846793005 + 1442695040888963407
					if slot := rows.Offer(key); slot >= 0 {
						for j := range 16 {
							rows.Set(slot, j, float64(key>>40))
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/event")
		})
	}
}

// TestRowsDecodeChecksBeforeAllocating: an encoding that claims many rows
// of many columns but lacks their presence bitmaps fails before the slab
// of values (here 8000 rows × 256 columns, 16 MiB) is allocated.
func TestRowsDecodeChecksBeforeAllocating(t *testing.T) {
	const rows, cols = 8000, 256
	b := binary.AppendUvarint(nil, 1_000_000)
	b = binary.AppendUvarint(b, cols)
	b = binary.AppendUvarint(b, rows)
	b = append(b, make([]byte, 8*rows)...) // keys, then nothing
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewRows(1_000_000, cols)
	d := NewDecoder(b)
	r.Decode(d)
	runtime.ReadMemStats(&after)
	if d.Err() == nil {
		t.Fatal("rows without their bitmaps decoded")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("%d bytes allocated before failing", got)
	}
}
