package reference

import (
	"cmp"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/dataset"
)

// The baseline test data live with the command that imports them; they are
// written, with their numpy values, by make_expected.py there.
const baselineData = "../../cmd/driftwatch/testdata/baseline/"

type baselineExpected struct {
	Rows    int `json:"rows"`
	Numeric map[string]struct {
		N        uint64  `json:"n"`
		Mean     float64 `json:"mean"`
		Variance float64 `json:"variance"`
		Min      float64 `json:"min"`
		Max      float64 `json:"max"`
		Bins     map[string]struct {
			Edges  []float64 `json:"edges"`
			Counts []uint64  `json:"counts"`
		} `json:"bins"`
	} `json:"numeric"`
	Categorical map[string]struct {
		Categories []string `json:"categories"`
		Counts     []uint64 `json:"counts"`
		N          uint64   `json:"n"`
	} `json:"categorical"`
}

func readBaselineExpected(t *testing.T) baselineExpected {
	t.Helper()
	b, err := os.ReadFile(baselineData + "expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp baselineExpected
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Numeric) == 0 || len(exp.Categorical) == 0 {
		t.Fatal("expected.json lists no features")
	}
	return exp
}

// readBaselineTable reads a test data set without its identifier column
// row_id (what an import leaves out with --exclude row_id).
// referenceFromTable is FromColumns over a table read by dataset,
// as driftwatch baseline import calls it.
func referenceFromTable(t *dataset.Table, m analysis.ModelKey, cfg analysis.Config, now time.Time) (*Reference, error) {
	cols := make([]Column, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = Column{Name: c.Name, Kind: c.Kind, Numeric: c.Numeric, Categorical: c.Categorical, Missing: c.Missing}
	}
	return FromColumns(cols, m, cfg, now)
}

func readBaselineTable(t *testing.T, file string) *dataset.Table {
	t.Helper()
	tab, err := dataset.Read(baselineData+file, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tab.Columns = slices.DeleteFunc(tab.Columns, func(c dataset.Column) bool { return c.Name == "row_id" })
	return tab
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestFromColumnsMatchesNumpy(t *testing.T) {
	exp := readBaselineExpected(t)
	tab := readBaselineTable(t, "ref.csv")
	if tab.Rows != exp.Rows {
		t.Fatalf("rows %d, numpy read %d", tab.Rows, exp.Rows)
	}
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	for _, bins := range []int{10, 7, 4} {
		cfg := analysis.DefaultConfig()
		cfg.Bins = bins
		ref, err := referenceFromTable(tab, m, cfg, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(ref.Numeric) != len(exp.Numeric) || len(ref.Categorical) != len(exp.Categorical) {
			t.Fatalf("bins %d: %d numeric and %d categorical features, numpy has %d and %d",
				bins, len(ref.Numeric), len(ref.Categorical), len(exp.Numeric), len(exp.Categorical))
		}
		for name, e := range exp.Numeric {
			nr := ref.Numeric[name]
			if nr == nil {
				t.Fatalf("numeric feature %q missing", name)
			}
			eb := e.Bins[strconv.Itoa(bins)]
			// Edges bit for bit: QuantileEdges follows numpy's arithmetic.
			if !slices.Equal(nr.Edges, eb.Edges) {
				t.Errorf("%s bins %d: edges %v, numpy %v", name, bins, nr.Edges, eb.Edges)
			}
			if !slices.Equal(nr.Counts, eb.Counts) {
				t.Errorf("%s bins %d: counts %v, numpy %v", name, bins, nr.Counts, eb.Counts)
			}
			if nr.N != e.N || nr.Min != e.Min || nr.Max != e.Max {
				t.Errorf("%s: n/min/max %d/%g/%g, numpy %d/%g/%g", name, nr.N, nr.Min, nr.Max, e.N, e.Min, e.Max)
			}
			if !relClose(nr.Mean, e.Mean, 1e-12) || !relClose(nr.Variance, e.Variance, 1e-12) {
				t.Errorf("%s: mean/variance %.17g/%.17g, numpy %.17g/%.17g", name, nr.Mean, nr.Variance, e.Mean, e.Variance)
			}
		}
		for name, e := range exp.Categorical {
			cr := ref.Categorical[name]
			if cr == nil {
				t.Fatalf("categorical feature %q missing", name)
			}
			if !slices.Equal(cr.Categories, e.Categories) || !slices.Equal(cr.Counts, e.Counts) || cr.N != e.N ||
				cr.Other != 0 || !cr.Complete {
				t.Errorf("%s: %v %v n=%d other=%d complete=%v, numpy %v %v n=%d", name, cr.Categories, cr.Counts,
					cr.N, cr.Other, cr.Complete, e.Categories, e.Counts, e.N)
			}
		}
		if ref.Source != SourceImport || ref.Windows != 0 || ref.ID != ref.Hash() || len(ref.ID) != 16 {
			t.Errorf("source %q windows %d id %q hash %q", ref.Source, ref.Windows, ref.ID, ref.Hash())
		}
	}
}

func TestFromColumnsSample(t *testing.T) {
	tab := readBaselineTable(t, "ref.csv")
	col := tab.Column("score") // has missing values
	for _, k := range []int{50, 10000} {
		cfg := analysis.DefaultConfig()
		cfg.SampleSize = min(k, 1000)
		cfg.ReferenceSampleSize = k
		ref, err := referenceFromTable(tab, analysis.ModelKey{ID: "m", Version: "1"}, cfg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := ref.Numeric["score"].Sample
		// Independently: the positions with the k smallest keys, by key.
		idx := make([]int, len(col.Numeric))
		for i := range idx {
			idx[i] = i
		}
		key := func(i int) uint64 { return sketch.SampleKey(strconv.Itoa(i)) }
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(key(a), key(b)) })
		idx = idx[:min(k, len(idx))]
		want := make([]float64, len(idx))
		for j, i := range idx {
			want[j] = col.Numeric[i]
		}
		if !slices.Equal(got, want) {
			t.Errorf("k=%d: sample of %d values differs from the bottom-%d positions in key order", k, len(got), k)
		}
	}
}

func TestFromColumnsSameDataSameID(t *testing.T) {
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	cfg := analysis.DefaultConfig()
	a, err := referenceFromTable(readBaselineTable(t, "ref.csv"), m, cfg, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	b, err := referenceFromTable(readBaselineTable(t, "ref.jsonl"), m, cfg, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("CSV id %s at %s, JSONL id %s at %s: want one id, two times", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
	}
	c, err := referenceFromTable(readBaselineTable(t, "other.csv"), m, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := referenceFromTable(readBaselineTable(t, "ref.csv"), analysis.ModelKey{ID: "fraud", Version: "v2"}, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID || d.ID == a.ID {
		t.Errorf("other data %s, other version %s: both must differ from %s", c.ID, d.ID, a.ID)
	}
}

func TestFromColumnsMaxCategories(t *testing.T) {
	exp := readBaselineExpected(t)
	cfg := analysis.DefaultConfig()
	cfg.MaxCategories = 3
	ref, err := referenceFromTable(readBaselineTable(t, "ref.csv"), analysis.ModelKey{ID: "m", Version: "1"}, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	country, e := ref.Categorical["country"], exp.Categorical["country"]
	var rest uint64
	for _, c := range e.Counts[3:] {
		rest += c
	}
	if !slices.Equal(country.Categories, e.Categories[:3]) || !slices.Equal(country.Counts, e.Counts[:3]) ||
		country.Other != rest || country.N != e.N || country.Complete {
		t.Errorf("country cut to 3: %v %v other %d n %d complete %v; want %v %v other %d n %d incomplete",
			country.Categories, country.Counts, country.Other, country.N, country.Complete, e.Categories[:3], e.Counts[:3], rest, e.N)
	}
	if ch := ref.Categorical["channel"]; len(ch.Categories) != 3 || ch.Other != 0 || !ch.Complete {
		t.Errorf("channel (3 values) must be complete: %+v", ch)
	}
}

func TestFromColumnsErrors(t *testing.T) {
	tab := &dataset.Table{Rows: 3, Columns: []dataset.Column{
		{Name: "x", Kind: dataset.Numeric, Numeric: []float64{1, 2, 3}},
		{Name: "empty_col", Kind: dataset.Numeric, Numeric: []float64{}, Missing: 3},
	}}
	_, err := referenceFromTable(tab, analysis.ModelKey{ID: "m"}, analysis.DefaultConfig(), time.Now())
	if err == nil || !strings.Contains(err.Error(), `"empty_col"`) {
		t.Errorf("empty column: error %v, want one naming empty_col", err)
	}
	if _, err := referenceFromTable(&dataset.Table{}, analysis.ModelKey{ID: "m"}, analysis.DefaultConfig(), time.Now()); err == nil {
		t.Error("a table without columns gave no error")
	}
	cfg := analysis.DefaultConfig()
	cfg.Bins = 1
	if _, err := referenceFromTable(tab, analysis.ModelKey{ID: "m"}, cfg, time.Now()); err == nil || !strings.Contains(err.Error(), "bins") {
		t.Errorf("bins 1: error %v, want one naming bins", err)
	}
}

// windowSummaries splits every column of tab into consecutive chunks of the
// given sizes (one window per chunk, chunk j starting at base+j minutes; odd
// chunks split again over two partitions) and summarises each chunk directly,
// counting numeric values against the edges of union.
func windowSummaries(tab *dataset.Table, union *Reference, sizes []int, base time.Time) []FeatureWindow {
	var out []FeatureWindow
	for ci := range tab.Columns {
		c := &tab.Columns[ci]
		pos := 0
		for j, size := range sizes {
			start := base.Add(time.Duration(j) * time.Minute)
			parts := [][2]int{{pos, min(pos+size, c.Len())}}
			if j%2 == 1 {
				mid := pos + size/3
				parts = [][2]int{{pos, min(mid, c.Len())}, {min(mid, c.Len()), min(pos+size, c.Len())}}
			}
			pos += size
			for _, p := range parts {
				fw := FeatureWindow{Start: start, Feature: c.Name, Kind: c.Kind, Count: uint64(p[1] - p[0])}
				if c.Kind == dataset.Numeric {
					x := c.Numeric[p[0]:p[1]]
					edges := union.Numeric[c.Name].Edges
					fw.Edges, fw.BinCounts = edges, make([]uint64, len(edges)+1)
					fw.Min, fw.Max = math.Inf(1), math.Inf(-1)
					var sum float64
					for _, v := range x {
						sum += v
						fw.BinCounts[stat.BinIndex(edges, v)]++
						fw.Min, fw.Max = math.Min(fw.Min, v), math.Max(fw.Max, v)
					}
					if len(x) > 0 {
						fw.Mean = sum / float64(len(x))
						for _, v := range x {
							fw.Variance += (v - fw.Mean) * (v - fw.Mean)
						}
						fw.Variance /= float64(len(x))
					}
				} else {
					counts := map[string]uint64{}
					for _, v := range c.Categorical[p[0]:p[1]] {
						counts[v]++
					}
					for v, n := range counts { // map order: any order must do
						fw.Categories = append(fw.Categories, v)
						fw.CategoryCounts = append(fw.CategoryCounts, n)
					}
				}
				out = append(out, fw)
			}
		}
	}
	return out
}

func TestFromWindowsEqualsUnion(t *testing.T) {
	tab := readBaselineTable(t, "ref.csv")
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	cfg := analysis.DefaultConfig()
	union, err := referenceFromTable(tab, m, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sizes := []int{97, 150, 1, 200, 152} // 600 rows; columns with missing values end early
	rows := windowSummaries(tab, union, sizes, base)
	from, to := base, base.Add(time.Duration(len(sizes))*time.Minute)
	pin, err := FromWindows(rows, m, from, to, cfg, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pin:2026-12-01T12:00:00Z..2026-12-01T12:05:00Z"; pin.Source != want || pin.Windows != len(sizes) {
		t.Errorf("source %q windows %d, want %q and %d", pin.Source, pin.Windows, want, len(sizes))
	}
	if pin.ID != pin.Hash() || pin.ID == union.ID {
		t.Errorf("id %s: want its own content hash, not the union's %s (no sample)", pin.ID, union.ID)
	}
	if len(pin.Numeric) != len(union.Numeric) || len(pin.Categorical) != len(union.Categorical) {
		t.Fatalf("features %d+%d, union %d+%d", len(pin.Numeric), len(pin.Categorical), len(union.Numeric), len(union.Categorical))
	}
	for name, u := range union.Numeric {
		p := pin.Numeric[name]
		if !slices.Equal(p.Edges, u.Edges) || !slices.Equal(p.Counts, u.Counts) || p.N != u.N || p.Min != u.Min || p.Max != u.Max {
			t.Errorf("%s: merged edges/counts/n/min/max %v %v %d %g %g, union %v %v %d %g %g",
				name, p.Edges, p.Counts, p.N, p.Min, p.Max, u.Edges, u.Counts, u.N, u.Min, u.Max)
		}
		if !relClose(p.Mean, u.Mean, 1e-12) || !relClose(p.Variance, u.Variance, 1e-12) {
			t.Errorf("%s: merged mean/variance %.17g/%.17g, union %.17g/%.17g", name, p.Mean, p.Variance, u.Mean, u.Variance)
		}
		if len(p.Sample) != 0 {
			t.Errorf("%s: a pinned reference has no sample, got %d values", name, len(p.Sample))
		}
	}
	for name, u := range union.Categorical {
		p := pin.Categorical[name]
		if !slices.Equal(p.Categories, u.Categories) || !slices.Equal(p.Counts, u.Counts) || p.Other != u.Other ||
			p.N != u.N || p.Complete != u.Complete {
			t.Errorf("%s: merged %+v, union %+v", name, *p, *u)
		}
	}
}

func TestFromWindowsOtherAndCut(t *testing.T) {
	cfg := analysis.DefaultConfig()
	cfg.MaxCategories = 2
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rows := []FeatureWindow{
		{Start: start, Feature: "c", Kind: analysis.KindCategorical, Count: 10, Categories: []string{"a", "b"}, CategoryCounts: []uint64{6, 4}},
		{Start: start.Add(time.Minute), Feature: "c", Kind: analysis.KindCategorical, Count: 12, Categories: []string{"b", "z", "a"},
			CategoryCounts: []uint64{5, 3, 1}, Other: 3},
		{Start: start.Add(time.Minute), Feature: "unused", Kind: analysis.KindNumeric, Count: 0},
	}
	ref, err := FromWindows(rows, analysis.ModelKey{ID: "m"}, start, start.Add(2*time.Minute), cfg, start)
	if err != nil {
		t.Fatal(err)
	}
	c := ref.Categorical["c"]
	// a=7, b=9, z=3, other 3: the top two are b, a; z and the stored other make Other.
	if !slices.Equal(c.Categories, []string{"b", "a"}) || !slices.Equal(c.Counts, []uint64{9, 7}) || c.Other != 6 || c.N != 22 || c.Complete {
		t.Errorf("got %+v", *c)
	}
	if len(ref.Numeric) != 0 || ref.Windows != 2 {
		t.Errorf("a feature without values must be left out: %d numeric, %d windows", len(ref.Numeric), ref.Windows)
	}
}

func TestFromWindowsErrors(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	num := func(min int, edges []float64, counts []uint64) FeatureWindow {
		return FeatureWindow{Start: start.Add(time.Duration(min) * time.Minute), Feature: "amount", Kind: analysis.KindNumeric,
			Count: 3, Mean: 1, Edges: edges, BinCounts: counts}
	}
	cases := []struct {
		name string
		rows []FeatureWindow
		says string
	}{
		{"different edges", []FeatureWindow{num(0, []float64{1, 2}, []uint64{1, 1, 1}), num(1, []float64{1, 3}, []uint64{1, 1, 1})},
			`feature "amount": windows have different bin edges`},
		{"warm-up window", []FeatureWindow{num(0, nil, nil)}, `feature "amount": the window at 2026-12-01T12:00:00Z has no bin edges`},
		{"counts length", []FeatureWindow{num(0, []float64{1}, []uint64{3})}, `feature "amount"`},
		{"kind", []FeatureWindow{num(0, []float64{1}, []uint64{1, 2}), {Start: start, Feature: "amount", Kind: analysis.KindCategorical}},
			`feature "amount" is numeric in some windows and categorical`},
		{"no values", nil, "no values"},
	}
	for _, c := range cases {
		_, err := FromWindows(c.rows, analysis.ModelKey{ID: "m"}, start, start.Add(time.Hour), analysis.DefaultConfig(), start)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.says)
		}
	}
}

// t0 is the creation time of the references of these tests.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// TestFromColumnsJoint: with every row sampled, the joint reference is
// the mean and covariance of the table's numeric rows; a missing value anywhere
// means no joint reference.
func TestFromColumnsJoint(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	const n = 500
	a, b := make([]float64, n), make([]float64, n)
	rows := make([][]float64, n)
	for i := range n {
		a[i] = r.NormFloat64()
		b[i] = 0.5*a[i] + r.NormFloat64()
		rows[i] = []float64{a[i], b[i]}
	}
	tab := &dataset.Table{Rows: n, Columns: []dataset.Column{
		{Name: "a", Kind: dataset.Numeric, Numeric: a},
		{Name: "b", Kind: dataset.Numeric, Numeric: b},
		{Name: "c", Kind: dataset.Categorical, Categorical: make([]string, n)},
	}}
	ref, err := referenceFromTable(tab, analysis.ModelKey{ID: "m", Version: "1"}, analysis.DefaultConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := stat.NewJoint([]string{"a", "b"}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Joint == nil || !slices.Equal(ref.Joint.Features, want.Features) || ref.Joint.N != n {
		t.Fatalf("joint %+v", ref.Joint)
	}
	for i := range want.Covariance {
		if math.Abs(ref.Joint.Covariance[i]-want.Covariance[i]) > 1e-12 {
			t.Fatalf("covariance %v, want %v", ref.Joint.Covariance, want.Covariance)
		}
	}
	tab.Columns[1].Missing = 1
	tab.Columns[1].Numeric = b[1:]
	if ref, err := referenceFromTable(tab, analysis.ModelKey{ID: "m", Version: "1"}, analysis.DefaultConfig(), t0); err != nil || ref.Joint != nil {
		t.Fatalf("joint with a missing value: %+v, %v", ref.Joint, err)
	}
}
