package reference

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/stat"
)

// TestCountSortedIsBinIndex: counting a sorted sample in one pass gives
// the counts of stat.BinIndex value by value, for quantile edges and for
// edges it cannot walk (out of order, repeated, NaN), with repeated values,
// values on the edges and NaN values.
func TestCountSortedIsBinIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for trial := range 200 {
		sorted := make([]float64, r.IntN(300))
		for i := range sorted {
			sorted[i] = math.Round(r.NormFloat64() * 4) // repeated values
			if r.IntN(50) == 0 {
				sorted[i] = math.NaN()
			}
		}
		slices.Sort(sorted)
		edges := stat.QuantileEdges(sorted, 1+r.IntN(12))
		switch trial % 4 {
		case 1:
			edges = append(edges, math.Round(r.NormFloat64()*4)) // maybe out of order
		case 2:
			if len(edges) > 0 {
				edges = append(edges, edges[len(edges)-1]) // repeated
			}
		case 3:
			edges = append([]float64{math.NaN()}, edges...)
		}
		want := make([]uint64, len(edges)+1)
		for _, v := range sorted {
			want[stat.BinIndex(edges, v)]++
		}
		if got := countSorted(edges, sorted); !slices.Equal(got, want) {
			t.Fatalf("trial %d: edges %v: counts %v, want %v", trial, edges, got, want)
		}
	}
}
