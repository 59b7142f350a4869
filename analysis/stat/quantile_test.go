package stat

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// statsReference is testdata/stats/reference.json, written by
// testdata/stats/make_reference.py from numpy and scipy.
type statsReference struct {
	Scipy      string               `json:"scipy"`
	PSIEpsilon float64              `json:"psi_epsilon"`
	Samples    map[string][]float64 `json:"samples"`
	Quantile   []struct {
		Sample string    `json:"sample"`
		P      []float64 `json:"p"`
		Want   []float64 `json:"want"`
	} `json:"quantile"`
	Edges []struct {
		Sample string    `json:"sample"`
		Bins   int       `json:"bins"`
		Edges  []float64 `json:"edges"`
		Probe  []float64 `json:"probe"`
		Bin    []int     `json:"bin"`
	} `json:"edges"`
	Histograms []struct {
		Name      string    `json:"name"`
		Reference []float64 `json:"reference"`
		Current   []float64 `json:"current"`
		PSI       float64   `json:"psi"`
		JS        float64   `json:"js"`
	} `json:"histograms"`
	ChiSquare []struct {
		Name      string    `json:"name"`
		Reference []float64 `json:"reference"`
		Current   []float64 `json:"current"`
		Statistic float64   `json:"statistic"`
		PValue    float64   `json:"pvalue"`
		DoF       int       `json:"dof"`
	} `json:"chisquare"`
	KS []struct {
		X         string  `json:"x"`
		Y         string  `json:"y"`
		Statistic float64 `json:"statistic"`
		PValue    float64 `json:"pvalue"`
		Method    string  `json:"method"`
	} `json:"ks"`
	Wasserstein []struct {
		X    string  `json:"x"`
		Y    string  `json:"y"`
		Want float64 `json:"want"`
	} `json:"wasserstein"`
	KStwoSF []struct {
		N  int     `json:"n"`
		X  float64 `json:"x"`
		SF float64 `json:"sf"`
	} `json:"kstwo_sf"`
	SmirnovSF []struct {
		N  int     `json:"n"`
		X  float64 `json:"x"`
		SF float64 `json:"sf"`
	} `json:"smirnov_sf"`
}

// referenceFile decodes a committed file of reference values once per test binary.
type referenceFile[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (f *referenceFile[T]) load(t testing.TB, path ...string) *T {
	t.Helper()
	f.once.Do(func() {
		b, err := os.ReadFile(filepath.Join(path...))
		if err != nil {
			f.err = fmt.Errorf("reading reference values: %w", err)
			return
		}
		if err := json.Unmarshal(b, &f.v); err != nil {
			f.err = fmt.Errorf("decoding reference values: %w", err)
		}
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return &f.v
}

var statsRef referenceFile[statsReference]

func loadStatsReference(t testing.TB) *statsReference {
	t.Helper()
	r := statsRef.load(t, "testdata", "stats", "reference.json")
	if len(r.Samples) == 0 || len(r.Quantile) == 0 || len(r.Edges) == 0 || len(r.Histograms) == 0 ||
		len(r.ChiSquare) == 0 || len(r.KS) == 0 || len(r.Wasserstein) == 0 || len(r.KStwoSF) == 0 {
		t.Fatal("reference.json lacks a section; regenerate it with make_reference.py")
	}
	return r
}

func (r *statsReference) sample(t testing.TB, name string) []float64 {
	t.Helper()
	s, ok := r.Samples[name]
	if !ok {
		t.Fatalf("sample %q missing from reference.json", name)
	}
	return s
}

// near reports whether got is within rel·|want| or abs of want; NaN matches
// only NaN.
func near(got, want, rel, abs float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	diff := math.Abs(got - want)
	return diff <= rel*math.Abs(want) || diff <= abs
}

func TestQuantileSortedMatchesNumpy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Quantile {
		x := ref.sample(t, c.Sample)
		for i, p := range c.P {
			got := QuantileSorted(x, p)
			if !near(got, c.Want[i], 1e-12, 0) {
				t.Errorf("QuantileSorted(%s, %v) = %.17g, numpy %.17g", c.Sample, p, got, c.Want[i])
			}
		}
	}
}

func TestQuantileSortedEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		p    float64
		want float64
	}{
		{"empty", nil, 0.5, math.NaN()},
		{"nan p", []float64{1, 2}, math.NaN(), math.NaN()},
		{"single", []float64{7}, 0.3, 7},
		{"below 0 clamps", []float64{1, 2, 3}, -0.5, 1},
		{"above 1 clamps", []float64{1, 2, 3}, 1.5, 3},
		{"midpoint", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"h=(n-1)p", []float64{0, 10, 20, 30, 40}, 0.1, 4}, // type 4 would give 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QuantileSorted(tt.x, tt.p); !near(got, tt.want, 1e-15, 0) {
				t.Errorf("QuantileSorted(%v, %v) = %v, want %v", tt.x, tt.p, got, tt.want)
			}
		})
	}
}

func TestQuantileEdgesMatchNumpy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Edges {
		x := ref.sample(t, c.Sample)
		got := QuantileEdges(x, c.Bins)
		if c.Bins == 10 {
			d := DecileEdges(x)
			if fmt.Sprint(d) != fmt.Sprint(got) {
				t.Errorf("DecileEdges(%s) = %v, QuantileEdges(.., 10) = %v", c.Sample, d, got)
			}
		}
		if len(got) != len(c.Edges) {
			t.Errorf("QuantileEdges(%s, %d) has %d edges %v, numpy.unique gives %d %v",
				c.Sample, c.Bins, len(got), got, len(c.Edges), c.Edges)
			continue
		}
		for i := range got {
			if got[i] != c.Edges[i] {
				t.Errorf("QuantileEdges(%s, %d)[%d] = %.17g, numpy %.17g", c.Sample, c.Bins, i, got[i], c.Edges[i])
			}
		}
	}
}

func TestQuantileEdgesDegenerate(t *testing.T) {
	if got := QuantileEdges(nil, 10); got != nil {
		t.Errorf("QuantileEdges(nil) = %v, want nil", got)
	}
	if got := QuantileEdges([]float64{1, 2, 3}, 1); got != nil {
		t.Errorf("QuantileEdges(x, 1) = %v, want nil", got)
	}
	// A constant sample has a single edge: two bins, everything in bin 0.
	got := DecileEdges([]float64{4, 4, 4, 4})
	if len(got) != 1 || got[0] != 4 {
		t.Errorf("DecileEdges(constant) = %v, want [4]", got)
	}
}

func TestBinIndexMatchesSearchsorted(t *testing.T) {
	ref := loadStatsReference(t)
	for _, c := range ref.Edges {
		for i, v := range c.Probe {
			if got := BinIndex(c.Edges, v); got != c.Bin[i] {
				t.Errorf("BinIndex(%v, %v) = %d, numpy.searchsorted(side='left') %d", c.Edges, v, got, c.Bin[i])
			}
		}
	}
}

func TestBinIndexRightClosed(t *testing.T) {
	edges := []float64{1, 2, 3}
	tests := []struct {
		v    float64
		want int
	}{
		{math.Inf(-1), 0}, {0.5, 0}, {1, 0}, {1.0000001, 1}, {2, 1}, {2.5, 2}, {3, 2},
		{3.5, 3}, {math.Inf(1), 3}, {math.NaN(), 0},
	}
	for _, tt := range tests {
		if got := BinIndex(edges, tt.v); got != tt.want {
			t.Errorf("BinIndex(%v, %v) = %d, want %d", edges, tt.v, got, tt.want)
		}
	}
	if got := BinIndex(nil, 5); got != 0 {
		t.Errorf("BinIndex(nil, 5) = %d, want 0", got)
	}
}

func TestBinIndexDoesNotAllocate(t *testing.T) {
	edges := []float64{-1.28, -0.84, -0.52, -0.25, 0, 0.25, 0.52, 0.84, 1.28}
	var sink int
	allocs := testing.AllocsPerRun(1000, func() { sink += BinIndex(edges, 0.3) })
	if allocs != 0 {
		t.Errorf("BinIndex allocates %v times per call, want 0", allocs)
	}
	_ = sink
}

func BenchmarkBinIndex(b *testing.B) {
	for _, bins := range []int{10, 20} {
		b.Run(fmt.Sprintf("bins=%d", bins), func(b *testing.B) {
			x := benchSample(10000, 0, 1, 1)
			edges := QuantileEdges(x, bins)
			b.ReportAllocs()
			b.ResetTimer()
			s := 0
			for i := 0; b.Loop(); i++ {
				s += BinIndex(edges, x[i%len(x)])
			}
			_ = s
		})
	}
}

func BenchmarkDecileEdges(b *testing.B) {
	x := benchSample(10000, 0, 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		DecileEdges(x)
	}
}

// benchSample returns n sorted draws of N(shift, scale²) from a fixed seed.
func benchSample(n int, shift, scale float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	x := make([]float64, n)
	for i := range x {
		x[i] = shift + scale*r.NormFloat64()
	}
	slices.Sort(x)
	return x
}

// benchCounts returns reference and current bin counts of 10 000 draws each
// over the reference's quantile bins, the second sample shifted by 0.1.
func benchCounts(bins int) (reference, current []float64) {
	x := benchSample(10000, 0, 1, 1)
	y := benchSample(10000, 0.1, 1, 2)
	edges := QuantileEdges(x, bins)
	reference = make([]float64, len(edges)+1)
	current = make([]float64, len(edges)+1)
	for i := range x {
		reference[BinIndex(edges, x[i])]++
		current[BinIndex(edges, y[i])]++
	}
	return reference, current
}
