package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

func sameSample(t *testing.T, name string, a, b *sketch.Sample) {
	t.Helper()
	type kv struct {
		k uint64
		v float64
	}
	get := func(s *sketch.Sample) []kv {
		out := make([]kv, s.Len())
		for i := range out {
			out[i] = kv{s.Keys()[i], s.Values()[i]}
		}
		slices.SortFunc(out, func(x, y kv) int {
			if x.k < y.k {
				return -1
			}
			if x.k > y.k {
				return 1
			}
			return 0
		})
		return out
	}
	if !slices.Equal(get(a), get(b)) {
		t.Errorf("%s: merged sample differs from the sample of the union", name)
	}
}

func closeRel(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestMergeEqualsUnion is the mergeability property: for random splits of a
// random event set, merging the window states of the two parts gives the
// state of the whole (exact counts, bins, extremes and sample; moments to
// rounding).
func TestMergeEqualsUnion(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(1, 2))
	// A reference so that windows have bins and category counts.
	warm := NewWindow(cfg, m, windowtest.T0, nil)
	for i := range 500 {
		warm.Observe(windowtest.RandomEvent(r, -i-1, m, windowtest.T0), int64(i))
	}
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, windowtest.T0)
	for _, withRef := range []*reference.Reference{nil, ref} {
		for trial := range 20 {
			n := 1 + r.IntN(1500)
			events := make([]*telemetry.Event, n)
			for i := range events {
				events[i] = windowtest.RandomEvent(r, trial*100000+i, m, windowtest.T0)
			}
			a, b, u := NewWindow(cfg, m, windowtest.T0, withRef), NewWindow(cfg, m, windowtest.T0, withRef), NewWindow(cfg, m, windowtest.T0, withRef)
			for i, e := range events {
				u.Observe(e, int64(i))
				if r.IntN(3) == 0 {
					a.Observe(e, int64(i))
				} else {
					b.Observe(e, int64(i))
				}
			}
			a.Merge(b)
			sameWindowState(t, fmt.Sprintf("trial %d", trial), a, u)
		}
	}
}

func TestReferenceDecilesAndCategories(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	w := NewWindow(cfg, m, windowtest.T0, nil)
	// Values 1..100 → numpy.quantile(range(1,101), [.1,...,.9]) = 10.9, 20.8, ..., 90.1
	for i := 1; i <= 100; i++ {
		v := float64(i)
		e := &telemetry.Event{PredictionID: fmt.Sprint(i), EventTime: windowtest.T0,
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": v}), Categorical: telemetry.CategoriesOf(map[string]string{"c": []string{"a", "a", "b"}[i%3]})}}
		w.Observe(e, int64(i))
	}
	cfg.SampleSize = 200
	ref := reference.Build(w.Sketches(), 10, cfg.SampleSize, "warmup", 1, windowtest.T0)
	want := []float64{10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1}
	got := ref.Numeric["x"].Edges
	for i := range want {
		if !closeRel(got[i], want[i]) {
			t.Fatalf("edges %v, want %v", got, want)
		}
	}
	if c := ref.Numeric["x"].Counts; !slices.Equal(c, []uint64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10}) {
		t.Fatalf("reference bin counts %v", c)
	}
	cr := ref.Categorical["c"]
	if !slices.Equal(cr.Categories, []string{"a", "b"}) || !slices.Equal(cr.Counts, []uint64{67, 33}) || !cr.Complete {
		t.Fatalf("categorical reference %+v", cr)
	}
	if ref.ID == "" || ref.ID != ref.Hash() {
		t.Fatalf("reference id %q", ref.ID)
	}
}

// TestBinIndexAgreesWithTheBinarySearch: the window's scan over a few
// sorted edges bins every value as stat.BinIndex does, ties, infinities and
// NaN included; unsorted edges are searched.
func TestBinIndexAgreesWithTheBinarySearch(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	many := make([]float64, maxScanEdges+1)
	for i := range many {
		many[i] = float64(i)
	}
	cases := []struct {
		edges []float64
		scan  bool
	}{
		{nil, true}, {[]float64{0}, true}, {[]float64{-1, 1}, true}, {[]float64{1, 1, 2}, true},
		{[]float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}, true}, {[]float64{-inf, 0, inf}, true},
		{[]float64{3, 1, 2}, false}, {[]float64{1, nan, 2}, false}, {many[:maxScanEdges], true}, {many, false},
	}
	values := []float64{-inf, -2, -1, -0.5, 0, 0.05, 0.1, 0.15, 0.5, 0.9, 0.95, 1, 1.5, 2, 3, 31, 32, 33, inf, nan, math.Copysign(0, -1)}
	for _, c := range cases {
		edges, scan := c.edges, scannable(c.edges)
		if scan != c.scan {
			t.Errorf("scannable(%v) = %v, want %v", edges, scan, c.scan)
		}
		for _, v := range values {
			if got, want := binIndex(edges, v, scan), stat.BinIndex(edges, v); got != want {
				t.Errorf("binIndex(%v, %v) = %d, want %d", edges, v, got, want)
			}
		}
	}
}

// TestObserveFeaturesInAnyOrder checks the schema's memory of positions:
// events that list their features in other orders, with some missing or
// new, still count each value under its own name.
func TestObserveFeaturesInAnyOrder(t *testing.T) {
	cfg := windowtest.Config(t)
	w := NewWindow(cfg, analysis.ModelKey{ID: "m", Version: "1"}, windowtest.T0, nil)
	orders := [][]string{{"a", "b", "c"}, {"c", "b", "a"}, {"a", "x", "b"}, {"b"}, {"x", "c", "a", "b"}, {"a", "b", "c"}}
	want := map[string][]float64{}
	for i, names := range orders {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("p%d", i), EventTime: windowtest.T0}
		for j, n := range names {
			v := float64(10*i + j)
			e.Features.Numeric = append(e.Features.Numeric, telemetry.Number{Name: n, Value: v})
			e.Features.Categorical = append(e.Features.Categorical, telemetry.Category{Name: "c_" + n, Value: fmt.Sprint(v)})
			want[n] = append(want[n], v)
		}
		w.Observe(e, int64(i))
	}
	for i, name := range w.NumericNames() {
		vals := want[name]
		s := &w.Numeric[i]
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		if s.Count != uint64(len(vals)) || math.Abs(s.Mean-sum/float64(len(vals))) > 1e-12 {
			t.Errorf("%s: count %d mean %v, want %d and %v", name, s.Count, s.Mean, len(vals), sum/float64(len(vals)))
		}
	}
	for i, name := range w.CategoricalNames() {
		vals := want[name[2:]]
		c := &w.Categorical[i]
		if c.Count != uint64(len(vals)) {
			t.Errorf("%s: count %d, want %d", name, c.Count, len(vals))
		}
		for _, v := range vals {
			if c.Tracked[fmt.Sprint(v)] != 1 {
				t.Errorf("%s: value %v counted %d times", name, v, c.Tracked[fmt.Sprint(v)])
			}
		}
	}
	if len(w.NumericNames()) != 4 || len(w.CategoricalNames()) != 4 {
		t.Errorf("names %v %v", w.NumericNames(), w.CategoricalNames())
	}
}
