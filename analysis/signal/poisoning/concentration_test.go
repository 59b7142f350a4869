package poisoning

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// sourced returns n examples of source.
func sourced(source string, n int) []Example {
	out := make([]Example, n)
	for i := range out {
		out[i] = Example{ID: fmt.Sprintf("%s-%d", source, i), Source: source}
	}
	return out
}

// TestHerfindahlByHand: sources of 50, 30 and 20 examples have shares
// 0.5, 0.3 and 0.2, HHI Σs² = 0.38 (effective number 2.63), and the
// unbiased estimate Σn(n−1)/(N(N−1)) = 3700/9900 = 0.373737...; 100 equal
// sources of 10 have 9000/999000.
func TestHerfindahlByHand(t *testing.T) {
	s := Concentration{DefaultConfig()}
	p := s.NewPartial()
	for _, c := range []struct {
		s string
		n int
	}{{"a", 50}, {"b", 30}, {"c", 20}} {
		p.Observe(sourced(c.s, c.n))
	}
	h := concentration(p.(*contributors).sources)
	if !close(h.h, 3700.0/9900, 1e-14) || !close(h.sumP2, 0.38, 1e-14) || !h.exact || h.top != "a" {
		t.Fatalf("%+v", h)
	}
	q := s.NewPartial()
	for i := range 100 {
		q.Observe(sourced(fmt.Sprint("s", i), 10))
	}
	if h := concentration(q.(*contributors).sources); !close(h.h, 9000.0/999000, 1e-14) {
		t.Fatalf("100 equal sources: %v", h.h)
	}
}

// TestHerfindahlVarianceByEnumeration: the variance of the unbiased HHI of
// n = 8 draws from shares (0.5, 0.3, 0.2), summed over every multinomial
// outcome, equals the U-statistic formula, and the mean is Σp² = 0.38.
func TestHerfindahlVarianceByEnumeration(t *testing.T) {
	p := []float64{0.5, 0.3, 0.2}
	const n = 8
	var mean, sq float64
	fact := func(k int) float64 { return math.Gamma(float64(k) + 1) }
	for a := 0; a <= n; a++ {
		for b := 0; a+b <= n; b++ {
			c := n - a - b
			pr := fact(n) / (fact(a) * fact(b) * fact(c)) * math.Pow(p[0], float64(a)) * math.Pow(p[1], float64(b)) * math.Pow(p[2], float64(c))
			u := float64(a*(a-1)+b*(b-1)+c*(c-1)) / (n * (n - 1))
			mean += pr * u
			sq += pr * u * u
		}
	}
	if !close(mean, 0.38, 1e-12) {
		t.Fatalf("E[H] = %v, want 0.38", mean)
	}
	if got, want := hhiVariance(n, 0.38, 0.16), sq-mean*mean; !close(got, want, 1e-10) {
		t.Fatalf("variance %v, enumeration %v", got, want)
	}
}

// TestConcentrationNamesANewSourceInVolume: a window of the reference's
// twenty sources of 100 examples, and an intruder with 860 (30% of the
// window): the HHI rises from 0.05 to about 0.114 (a warning) and the
// intruder, not among the reference's sources, is a new source in volume
// (a warning: 30% is below the critical 50%); an unchanged window raises
// nothing.
func TestConcentrationNamesANewSourceInVolume(t *testing.T) {
	s := Concentration{DefaultConfig()}
	ref, same, cur := s.NewPartial(), s.NewPartial(), s.NewPartial()
	for i := range 20 {
		ref.Observe(sourced(fmt.Sprint("s", i), 100))
		same.Observe(sourced(fmt.Sprint("s", i), 100))
		cur.Observe(sourced(fmt.Sprint("s", i), 100))
	}
	cur.Observe(sourced("intruder", 860))
	vs := s.Score(cur, ref)
	decide(0.01, vs)
	star, in := find(vs, "*"), find(vs, "intruder")
	if star == nil || in == nil || star.Severity != verdict.SeverityWarning || in.Severity != verdict.SeverityWarning {
		t.Fatalf("verdicts %+v", vs)
	}
	if !close(in.Effect, 860.0/2860, 1e-12) || !strings.Contains(in.Evidence, "new source") || strings.Count(in.Evidence, "intruder-") != 3 {
		t.Fatalf("intruder %+v", in)
	}
	if want := 20*(99*100.0)/(2860*2859) + 860*859.0/(2860*2859); !close(star.Statistic, want, 1e-12) {
		t.Fatalf("HHI %v, want %v", star.Statistic, want)
	}
	vs = s.Score(same, ref)
	decide(0.01, vs)
	if len(vs) != 1 || vs[0].Severity != verdict.SeverityOK || vs[0].Effect != 0 {
		t.Fatalf("unchanged window: %+v", vs)
	}
}
