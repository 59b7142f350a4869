package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sameRows fails unless a and b hold the same rows in the same heap order,
// row for row (their slots may differ).
func sameRows(t *testing.T, what string, a, b *Rows) {
	t.Helper()
	if !slices.Equal(a.Keys(), b.Keys()) || a.Columns() != b.Columns() || a.Cap() != b.Cap() {
		t.Fatalf("%s: keys %d of capacity %d, want %d of capacity %d", what, a.Len(), a.Cap(), b.Len(), b.Cap())
	}
	for i := range a.Keys() {
		for j := range a.Columns() {
			x, y := a.Value(a.Slot(i), j), b.Value(b.Slot(i), j)
			if math.Float64bits(x) != math.Float64bits(y) && !(math.IsNaN(x) && math.IsNaN(y)) {
				t.Fatalf("%s: row %d column %d is %v, want %v", what, i, j, x, y)
			}
		}
	}
}

// TestRowsReserve: reserved room changes nothing of what the rows hold nor
// of their order, whether the rows reserved fill it, fall short of it or
// outgrow it; the room never exceeds the capacity; merging into empty rows
// (which reserves for every row of the other) keeps the rows and order that
// offering them one by one gives.
func TestRowsReserve(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for trial := range 30 {
		k := 1 + r.IntN(500)
		events := rowEvents(r, r.IntN(1200), 4, 0.9, uint64(1+r.IntN(3))*math.MaxUint32)
		plain, reserved := NewRows(k, 4), NewRows(k, 4)
		reserved.Reserve(r.IntN(2 * k))
		if cap(reserved.Keys()) > k {
			t.Fatalf("trial %d: room for %d rows, capacity %d", trial, cap(reserved.Keys()), k)
		}
		offer(&plain, events)
		offer(&reserved, events)
		sameRows(t, "reserved", &reserved, &plain)
		reserved.Reserve(2 * k) // nothing to do: full, or room enough
		sameRows(t, "reserved again", &reserved, &plain)

		merged, one := NewRows(k, 4), NewRows(k, 4)
		merged.Merge(&plain, []int{0, 1, 2, 3})
		for i, key := range plain.Keys() {
			slot := one.Offer(key)
			for j := range 4 {
				if v := plain.Value(plain.Slot(i), j); !math.IsNaN(v) {
					one.Set(slot, j, v)
				}
			}
		}
		sameRows(t, "merged into empty rows", &merged, &one)
	}
}

// TestRowsColumnReaders: Present, EachValue and AppendColumn read the
// column Column samples: its size, its values in its order (when every row
// carries the column), and AppendColumn declines when some row lacks it.
func TestRowsColumnReaders(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	rows := NewRows(300, 3)
	events := rowEvents(r, 1000, 3, 1, math.MaxUint64)
	for i := range events {
		if i%7 == 0 {
			events[i].vals[2] = math.NaN() // column 2 absent from some events
		}
	}
	offer(&rows, events)
	for j := range 3 {
		var col Sample
		rows.Column(j, &col)
		var each []float64
		rows.EachValue(j, func(v float64) { each = append(each, v) })
		if rows.Present(j) != col.Len() || len(each) != col.Len() {
			t.Fatalf("column %d: %d present, %d visited, sample of %d", j, rows.Present(j), len(each), col.Len())
		}
		got, ok := rows.AppendColumn([]float64{-1}, j)
		if complete := col.Len() == rows.Len(); ok != complete {
			t.Fatalf("column %d: AppendColumn complete %v, want %v", j, ok, complete)
		}
		if !ok {
			if len(got) != 1 {
				t.Fatalf("column %d: AppendColumn declined but appended %d values", j, len(got)-1)
			}
			continue
		}
		if !slices.Equal(got[1:], col.Values()) || !slices.Equal(each, col.Values()) {
			t.Fatalf("column %d: values differ from its sample's", j)
		}
	}
}
