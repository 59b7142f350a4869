package stat

import "math"

// QuantileSorted returns the p-quantile of sorted x with numpy's default rule
// (Hyndman–Fan type 7, h=(n-1)p, linear).
//
// It matches numpy.quantile(x, p) bit for bit, including numpy's two-sided
// interpolation (a+(b−a)t when t < 0.5, b−(b−a)(1−t) otherwise). sorted must be
// in ascending order and free of NaN; that is not checked. p outside [0, 1] is
// clamped to the minimum or maximum. An empty slice or a NaN p gives NaN.
//
// gonum's stat.Quantile(p, stat.LinInterp, …) is type 4 (h = n·p) and gives
// different deciles; do not substitute it.
func QuantileSorted(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 || math.IsNaN(p) {
		return math.NaN()
	}
	h := float64(n-1) * p
	if h >= float64(n-1) {
		return sorted[n-1]
	}
	if h <= 0 {
		return sorted[0]
	}
	lo := math.Floor(h)
	i := int(lo)
	a, b := sorted[i], sorted[i+1]
	t := h - lo
	d := b - a
	// The explicit float64 conversions forbid fused multiply-add, which
	// numpy does not use either.
	if t >= 0.5 {
		return b - float64(d*(1-t))
	}
	return a + float64(d*t)
}

// DecileEdges returns the inner bin edges at p=0.1..0.9 (type 7) of sorted x,
// with duplicate edges removed (so discrete data yields fewer bins).
// len(result)+1 bins; bins are right-closed: bin j = (e[j-1], e[j]], outer bins
// open.
//
// It equals numpy.unique(numpy.quantile(x, [0.1, …, 0.9])). An empty sample
// gives nil.
func DecileEdges(sorted []float64) []float64 {
	return QuantileEdges(sorted, 10)
}

// QuantileEdges is DecileEdges for any number of bins (>=2): the inner edges at
// p = j/bins for j = 1..bins-1, type 7, duplicates removed. bins < 2 or an
// empty sample gives nil.
func QuantileEdges(sorted []float64, bins int) []float64 {
	if bins < 2 || len(sorted) == 0 {
		return nil
	}
	edges := make([]float64, 0, bins-1)
	for j := 1; j < bins; j++ {
		e := QuantileSorted(sorted, float64(j)/float64(bins))
		if len(edges) > 0 && !(e > edges[len(edges)-1]) {
			continue
		}
		edges = append(edges, e)
	}
	return edges
}

// BinIndex returns the bin of v for right-closed bins over inner edges e
// (0..len(e)). Zero allocations.
//
// Bin j holds (e[j-1], e[j]]: v ≤ e[0] is bin 0 and v > e[len(e)-1] is bin
// len(e). This is numpy.searchsorted(e, v, side="left"), the number of edges
// strictly below v, found by binary search. A NaN v is put in bin 0; callers
// that must not count NaN should reject it first.
func BinIndex(edges []float64, v float64) int {
	lo, hi := 0, len(edges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if edges[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
