package poisoning

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// reference is testdata/reference.json, written by make_reference.py with
// scipy 1.10 and numpy.
type reference struct {
	Fisher []struct {
		Table [4]uint64
		P     float64
	} `json:"fisher_greater"`
	Binomial []struct {
		K, N uint64
		P    float64
		SF   float64
	} `json:"binomial_sf"`
	Normal []struct{ Z, SF float64 } `json:"normal_sf"`
	Chi2   struct {
		Reference, Current []float64
		Statistic, P       float64
	} `json:"chi2_labels"`
	Chi2Median1 float64 `json:"chi2_median_1"`
	Spectral    struct {
		Rows     [][]float64
		Poisoned []int
		Singular []float64
		Scores   []float64
		Top15    []int
	}
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// close reports whether got is within rel of want (or both within 1e-300).
func close(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want) || math.Abs(got-want) < 1e-300
}

// TestFisherGreaterAgainstScipy: scipy.stats.fisher_exact(alternative=
// "greater") on small tables (e.g. [[3, 1], [1, 3]]: 17/70 = 0.242857), a
// flipping source against a large population, and tails on both sides of
// the mode, including 5.6e-42 and 9.9e-11 from populations of 100,000.
func TestFisherGreaterAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	if len(ref.Fisher) == 0 {
		t.Fatal("no Fisher cases")
	}
	for _, c := range ref.Fisher {
		x := c.Table
		if got := fisherGreater(x[0], x[1], x[2], x[3]); !close(got, c.P, 1e-9) {
			t.Errorf("fisher_exact(%v, greater) = %.15g, want %.15g", x, got, c.P)
		}
	}
	if got := fisherGreater(3, 1, 1, 3); !close(got, 17.0/70, 1e-12) {
		t.Errorf("[[3, 1], [1, 3]]: %v, want 17/70 by hand", got)
	}
}

// TestBinomialSurvivalAgainstScipy: scipy.stats.binom.sf(k − 1, n, p),
// down to 8.3e-189.
func TestBinomialSurvivalAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	for _, c := range ref.Binomial {
		if got := stat.BinomialSurvival(c.K, c.N, c.P); !close(got, c.SF, 1e-9) {
			t.Errorf("P(X >= %d | %d, %g) = %.15g, want %.15g", c.K, c.N, c.P, got, c.SF)
		}
	}
	for _, c := range ref.Normal {
		if got := normalSurvival(c.Z); !close(got, c.SF, 1e-12) {
			t.Errorf("norm.sf(%g) = %.15g, want %.15g", c.Z, got, c.SF)
		}
	}
	if ref.Chi2Median1 != chi2Median1 {
		t.Errorf("chi2.median(1) = %v, the package has %v", ref.Chi2Median1, chi2Median1)
	}
}

// TestDecisionsAdjustByBenjaminiHochberg: p-values (0.01, 0.04, 0.03,
// 0.005) adjust, by hand, to (0.02, 0.04, 0.04, 0.02) (p̃_(i) =
// min_{j≥i} m·p_(j)/j), reported smallest first, ties by the smaller
// p-value, at most max of them.
func TestDecisionsAdjustByBenjaminiHochberg(t *testing.T) {
	ts := []test{{subject: "w", p: 0.01, effect: 0.1}, {subject: "x", p: 0.04}, {subject: "y", p: 0.03}, {subject: "z", p: 0.005, effect: 0.2}}
	vs := decisions(ts, outputs.Levels{Warning: 0.1, Critical: 0.3}, 3)
	want := []struct {
		s string
		p float64
	}{{"z", 0.02}, {"w", 0.02}, {"y", 0.04}}
	if len(vs) != 3 {
		t.Fatalf("%d verdicts", len(vs))
	}
	for i, w := range want {
		if vs[i].Subject != w.s || !close(vs[i].PValue, w.p, 1e-12) || !vs[i].Decides() {
			t.Errorf("verdict %d: %s p %v, want %s p %v", i, vs[i].Subject, vs[i].PValue, w.s, w.p)
		}
	}
}

// TestEvidenceIsBounded: text and ids are cut to MaxEvidence bytes at
// character boundaries, an id whole or not at all.
func TestEvidenceIsBounded(t *testing.T) {
	long := ""
	for range 100 {
		long += "é"
	}
	for _, tc := range []struct {
		text string
		ids  []string
	}{
		{long + long, nil},
		{long + long, []string{"fb-1", "fb-2"}},
		{"short", []string{"fb-0000000000000000000000000000000001", "fb-0000000000000000000000000000000002", "fb-0000000000000000000000000000000003"}},
	} {
		e := evidence(tc.text, tc.ids)
		if len(e) > MaxEvidence || !validUTF8(e) {
			t.Errorf("evidence of %d bytes: %q", len(e), e)
		}
		if len(tc.ids) > 0 && !contains(e, tc.ids[0]) {
			t.Errorf("evidence %q lacks the first id", e)
		}
	}
	// With the sources of the ids' examples: whole, quoted, after the text
	// however long it is; hostile ones escaped and within the bound.
	hostile := strings.Repeat("\x00\n", 40)
	for _, tc := range []struct {
		text          string
		sources, want []string
	}{
		{long + long, []string{"mallory", "mallory", "bob"}, []string{`; from "mallory" ×2, "bob"`}},
		{"short", []string{hostile, hostile + "x", hostile + "y"}, []string{`; from "\x00\n`}},
		{"short", []string{"", ""}, nil},
	} {
		ids := []string{"fb-1", "fb-2", "fb-3"}
		e := sourcedEvidence(tc.text, tc.sources, ids)
		if len(e) > MaxEvidence || !validUTF8(e) || !contains(e, "fb-1") || strings.ContainsAny(e, "\x00\n") {
			t.Errorf("evidence of %d bytes: %q", len(e), e)
		}
		for _, w := range tc.want {
			if !contains(e, w) {
				t.Errorf("evidence %q lacks %q", e, w)
			}
		}
		if tc.want == nil && contains(e, "from") {
			t.Errorf("evidence %q names sources none of which is known", e)
		}
		if from := e[strings.Index(e+"; from ", "; from "):]; strings.Count(from, `"`)%2 != 0 {
			t.Errorf("a source cut mid-quote: %q", e)
		}
	}
}
