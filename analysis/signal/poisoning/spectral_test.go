package poisoning

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// TestSpectralScoresAgainstNumpy: on 200 × 8 standard-normal
// representations of one label, the last 10 shifted by 6 along
// (1, 1, 1, 1, 0, 0, 0, 0)/2, the scores ((rᵢ − μ)·v)² of the standardised
// rows and the singular values are numpy's (np.linalg.svd), and the 15 =
// 1.5·ε·n highest scores (ε = 5%) hold all 10 planted examples, as in Tran,
// Li and Mądry's Algorithm 1.
func TestSpectralScoresAgainstNumpy(t *testing.T) {
	ref := loadReference(t).Spectral
	cfg := DefaultConfig()
	s := Spectral{cfg, Features{Numeric: []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}}}
	p := s.NewPartial().(*spectra)
	for i, row := range ref.Rows {
		p.Observe([]Example{{ID: fmt.Sprintf("r-%03d", i), ProposedLabel: "y", Numeric: row}})
	}
	rows := make([]int32, len(ref.Rows))
	for i := range rows {
		rows[i] = int32(i)
	}
	feats, sd := p.spread(rows)
	scores, sv, ok := spectralScores(p.centred(rows, feats, sd))
	if !ok || len(feats) != 8 {
		t.Fatal("no factorisation")
	}
	for i, want := range ref.Singular {
		if !close(sv[i], want, 1e-9) {
			t.Errorf("singular value %d: %v, numpy %v", i, sv[i], want)
		}
	}
	for i, want := range ref.Scores {
		if math.Abs(scores[i]-want) > 1e-9*math.Max(1, want) {
			t.Errorf("score %d: %v, numpy %v", i, scores[i], want)
		}
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	top := slices.Sorted(slices.Values(order[:15]))
	if !slices.Equal(top, ref.Top15) {
		t.Fatalf("top 15 %v, numpy %v", top, ref.Top15)
	}
	for _, i := range ref.Poisoned {
		if !slices.Contains(top, i) {
			t.Errorf("planted example %d not among the top 15", i)
		}
	}
}

// gaussianRows returns n examples of label y with d standard-normal values
// shifted by shift.
func gaussianRows(rng *rand.Rand, prefix, y string, n, d int, shift []float64) []Example {
	out := make([]Example, n)
	for i := range out {
		v := make([]float64, d)
		for j := range v {
			v[j] = rng.NormFloat64()
			if shift != nil {
				v[j] += shift[j]
			}
		}
		out[i] = Example{ID: fmt.Sprintf("%s-%d", prefix, i), Source: prefix + "-source", ProposedLabel: y, Numeric: v}
	}
	return out
}

// TestSpectralFindsAPlantedCluster: a window of 1,000 clean Gaussian
// examples of label "y" (d = 8) and 50 poisoned ones (4.8%) shifted by 6
// along (1, 1, 1, 1, 0, 0, 0, 0)/2 has about 5% more outliers than a clean
// reference (0.27% for Gaussian data): critical, the evidence naming
// poisoned examples only; label "z", clean in both, stays ok.
func TestSpectralFindsAPlantedCluster(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cfg := DefaultConfig()
	s := Spectral{cfg, Features{Numeric: []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}}}
	shift := []float64{3, 3, 3, 3, 0, 0, 0, 0}
	ref := observed(s, gaussianRows(rng, "ref", "y", 1000, 8, nil))
	ref.Observe(gaussianRows(rng, "refz", "z", 500, 8, nil))
	cur := observed(s, gaussianRows(rng, "clean", "y", 1000, 8, nil))
	cur.Observe(gaussianRows(rng, "poison", "y", 50, 8, shift))
	cur.Observe(gaussianRows(rng, "curz", "z", 500, 8, nil))
	vs := s.Score(cur, ref)
	decide(0.01, vs)
	y, z := find(vs, "y"), find(vs, "z")
	if y == nil || z == nil || y.Severity != verdict.SeverityCritical || z.Severity != verdict.SeverityOK {
		t.Fatalf("%+v", vs)
	}
	if y.Statistic < 0.045 || strings.Count(y.Evidence, "poison-") != 4 || !strings.Contains(y.Evidence, `from "poison-source" ×3`) ||
		strings.Contains(y.Evidence, "clean-") {
		t.Fatalf("y: %+v", y)
	}
	t.Logf("y: %s", y.Evidence)
}
