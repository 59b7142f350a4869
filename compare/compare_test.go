package compare

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/dataset"
)

// numericColumn returns a numeric column of n values a + b·N(0, 1).
func numericColumn(name string, rng *rand.Rand, n int, a, b float64) dataset.Column {
	c := dataset.Column{Name: name, Kind: dataset.Numeric, Numeric: make([]float64, n)}
	for i := range c.Numeric {
		c.Numeric[i] = a + b*rng.NormFloat64()
	}
	return c
}

// categoricalColumn returns n categories drawn with weights over cats.
func categoricalColumn(name string, rng *rand.Rand, n int, cats []string, weights []float64) dataset.Column {
	c := dataset.Column{Name: name, Kind: dataset.Categorical, Categorical: make([]string, n)}
	for i := range c.Categorical {
		u, k := rng.Float64(), 0
		for ; k < len(weights)-1 && u >= weights[k]; k++ {
			u -= weights[k]
		}
		c.Categorical[i] = cats[k]
	}
	return c
}

func table(rows int, cols ...dataset.Column) *dataset.Table {
	return &dataset.Table{Rows: rows, Columns: cols}
}

func TestCompareDecisionRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cats := []string{"a", "b", "c"}
	cases := []struct {
		name     string
		ref, cur dataset.Column
		drift    bool
		severity verdict.Severity
	}{
		{"same distribution", numericColumn("x", rng, 5000, 0, 1), numericColumn("x", rng, 5000, 0, 1), false, verdict.SeverityOK},
		// 0.15 σ: significant, W1/σ ≈ 0.15 (warning), PSI and JS below their levels.
		{"small shift", numericColumn("x", rng, 20000, 0, 1), numericColumn("x", rng, 20000, 0.15, 1), true, verdict.SeverityWarning},
		{"large shift", numericColumn("x", rng, 5000, 0, 1), numericColumn("x", rng, 5000, 1, 1), true, verdict.SeverityCritical},
		// Too few values: a huge shift on 99 current values does not count.
		{"below min count", numericColumn("x", rng, 5000, 0, 1), numericColumn("x", rng, 99, 5, 1), false, verdict.SeverityOK},
		// Significant but tiny: 0.03 σ at n = 10⁶ / 2·10⁵ has p ≪ 0.05 yet no effect size.
		{"significant without effect", numericColumn("x", rng, 1_000_000, 0, 1), numericColumn("x", rng, 200_000, 0.03, 1), false, verdict.SeverityOK},
		{"categorical shift", categoricalColumn("c", rng, 5000, cats, []float64{.5, .3, .2}), categoricalColumn("c", rng, 5000, cats, []float64{.2, .3, .5}), true, verdict.SeverityCritical},
		{"categorical same", categoricalColumn("c", rng, 5000, cats, []float64{.5, .3, .2}), categoricalColumn("c", rng, 5000, cats, []float64{.5, .3, .2}), false, verdict.SeverityOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Compare(table(c.ref.Len(), c.ref), table(c.cur.Len(), c.cur), Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := rep.Features[0]
			if f.Drift != c.drift || f.Severity != c.severity {
				b, _ := json.Marshal(f)
				t.Errorf("drift %v severity %s, want %v %s\n%s", f.Drift, f.Severity, c.drift, c.severity, b)
			}
		})
	}
}

func TestComparePSILevelFollowsNullDistribution(t *testing.T) {
	// At n_ref = 5000, n_cur = 100 PSI's 99th null percentile is
	// (1/5000 + 1/100)·χ²_{9, 0.99} = 0.0102·21.67 ≈ 0.221 > 0.1.
	got := stat.PSINullQuantile(5000, 100, 10, 0.99)
	if want := 0.0102 * 21.665994333461924; math.Abs(got-want) > 1e-9*want {
		t.Errorf("PSINullQuantile = %v, want %v (scipy chi2.ppf(0.99, 9) = 21.665994333461924)", got, want)
	}
	if !math.IsNaN(stat.PSINullQuantile(0, 100, 10, 0.99)) || !math.IsNaN(stat.PSINullQuantile(100, 100, 1, 0.99)) {
		t.Error("PSINullQuantile of an empty sample or one bin is not NaN")
	}
	// No drift, small current sample: PSI alone often exceeds 0.1, but never
	// decides (a JS or Wasserstein effect would have to).
	rng := rand.New(rand.NewPCG(3, 3))
	ref := numericColumn("x", rng, 5000, 0, 1)
	flagged := 0
	for range 50 {
		cur := numericColumn("x", rng, 100, 0, 1)
		rep, err := Compare(table(5000, ref), table(100, cur), Options{})
		if err != nil {
			t.Fatal(err)
		}
		psi := float64(rep.Features[0].Tests.PSI.Statistic)
		if lvl := level(psi, analysis.Threshold{Warning: math.Max(0.1, got), Critical: math.Max(0.25, got)}); lvl != verdict.SeverityOK && psi < got {
			t.Fatalf("PSI %v below the null level %v reached %s", psi, got, lvl)
		}
		if rep.Features[0].Drift {
			flagged++
		}
	}
	if flagged > 2 {
		t.Errorf("%d of 50 no-drift samples of 100 flagged", flagged)
	}
}

func TestCompareBenjaminiHochbergAcrossColumns(t *testing.T) {
	// Three columns with a 0.2 σ shift drift at q = 0.05, and none at a q
	// just below the smallest BH-adjusted p-value.
	rng := rand.New(rand.NewPCG(5, 5))
	var ref, cur []dataset.Column
	for i := range 3 {
		name := string(rune('a' + i))
		ref = append(ref, numericColumn(name, rng, 2000, 0, 1))
		cur = append(cur, numericColumn(name, rng, 2000, 0.2, 1))
	}
	rep, err := Compare(table(2000, ref...), table(2000, cur...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p []float64
	for _, f := range rep.Features {
		if !f.Drift {
			t.Errorf("%s: not drifted at q = 0.05 (p %v)", f.Name, f.Tests.KS.PValue)
		}
		p = append(p, float64(f.Tests.KS.PValue))
	}
	// The same columns at q just below BH's smallest adjusted p-value.
	_, adj := stat.BenjaminiHochberg(p, 1)
	q := math.Inf(1)
	for _, a := range adj {
		q = math.Min(q, a)
	}
	rep, err = Compare(table(2000, ref...), table(2000, cur...), Options{FDR: q * 0.99})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Features {
		if f.Drift {
			t.Errorf("%s drifted at q = %v below its adjusted p-value", f.Name, q*0.99)
		}
	}
}

func TestCompareErrorsAndNotes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	num := numericColumn("x", rng, 10, 0, 1)
	cat := categoricalColumn("x", rng, 10, []string{"a"}, []float64{1})
	if _, err := Compare(table(10, num), table(10, cat), Options{}); err == nil || !strings.Contains(err.Error(), `column "x"`) {
		t.Errorf("kind mismatch: %v", err)
	}
	if _, err := Compare(table(10, num), table(10, num), Options{FDR: 2}); err == nil || !strings.Contains(err.Error(), "fdr 2") {
		t.Errorf("bad FDR: %v", err)
	}
	onlyRef, onlyCur := numericColumn("r", rng, 10, 0, 1), numericColumn("c", rng, 10, 0, 1)
	empty := dataset.Column{Name: "e", Kind: dataset.Numeric, Numeric: []float64{}, Missing: 10}
	rep, err := Compare(table(10, num, onlyRef, empty), table(10, num, onlyCur, empty), Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, s := range []string{`"r" is only in the reference`, `"c" is only in the current`} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes %q lack %q", notes, s)
		}
	}
	if len(rep.Features) != 2 || rep.Features[1].Tests.KS != nil || rep.Features[1].Drift {
		t.Errorf("an all-missing column should have no tests: %+v", rep.Features)
	}
	if !reflect.DeepEqual(rep.Multivariate.Columns, []string{"x"}) || rep.Multivariate.MMD == nil {
		t.Errorf("multivariate = %+v", rep.Multivariate)
	}
}

func TestFloatMarshalsNonFiniteAsNull(t *testing.T) {
	b, err := json.Marshal([]Float{1.5, Float(math.NaN()), Float(math.Inf(-1)), 1e-300})
	if err != nil || string(b) != "[1.5,null,null,1e-300]" {
		t.Errorf("got %s, %v", b, err)
	}
}

func TestSortedBinCountsEqualsBinIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float64, 1000)
	for i := range x {
		x[i] = math.Round(rng.NormFloat64()*4) / 4 // ties on the edges
	}
	sorted := slices.Clone(x)
	slices.Sort(sorted)
	edges := stat.DecileEdges(sorted)
	want := make([]float64, len(edges)+1)
	for _, v := range x {
		want[stat.BinIndex(edges, v)]++
	}
	if got := sortedBinCounts(sorted, edges); !reflect.DeepEqual(got, want) {
		t.Errorf("sortedBinCounts = %v, BinIndex counts %v", got, want)
	}
}

// BenchmarkCompareMillionRows compares a million rows per side of eight
// numeric and two categorical columns.
func BenchmarkCompareMillionRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 11))
	const n = 1_000_000
	var ref, cur []dataset.Column
	for i := range 8 {
		name := "n" + string(rune('0'+i))
		ref = append(ref, numericColumn(name, rng, n, 0, 1))
		cur = append(cur, numericColumn(name, rng, n, 0.01*float64(i), 1))
	}
	cats := []string{"a", "b", "c", "d", "e"}
	for i := range 2 {
		name := "c" + string(rune('0'+i))
		ref = append(ref, categoricalColumn(name, rng, n, cats, []float64{.3, .3, .2, .1, .1}))
		cur = append(cur, categoricalColumn(name, rng, n, cats, []float64{.3, .25, .25, .1, .1}))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compare(table(n, ref...), table(n, cur...), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
