package poisoning

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// testFeatures are the features of the synthetic model.
var testFeatures = Features{
	Numeric:     []string{"amount", "age", "score", "items"},
	Categorical: []string{"country", "channel"},
}

// world draws stationary synthetic feedback: sources with fixed, unequal
// volumes; labels a/b/c at 0.6/0.3/0.1, the model agreeing with 90% of
// them; countries whose label mix depends on the label (benign predictors);
// Gaussian and log-normal numeric values shifted a little per label; 95%
// distinct contents and 5% drawn from 20 common ones.
type world struct {
	rng     *rand.Rand
	sources []string
	weights []float64 // cumulative
	next    int
}

func newWorld(seed uint64, sources int) *world {
	w := &world{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	var total float64
	for i := range sources {
		w.sources = append(w.sources, fmt.Sprintf("source-%02d", i))
		total += 1 + float64(i%7) // volumes 1 to 7
		w.weights = append(w.weights, total)
	}
	for i := range w.weights {
		w.weights[i] /= total
	}
	return w
}

var labelsABC = []string{"a", "b", "c"}

func (w *world) label() string {
	switch u := w.rng.Float64(); {
	case u < 0.6:
		return "a"
	case u < 0.9:
		return "b"
	}
	return "c"
}

func (w *world) source() string {
	u := w.rng.Float64()
	for i, c := range w.weights {
		if u < c {
			return w.sources[i]
		}
	}
	return w.sources[len(w.sources)-1]
}

// example draws one clean example.
func (w *world) example() Example {
	w.next++
	y := w.label()
	pred := y
	if w.rng.Float64() < 0.1 {
		pred = labelsABC[(indexOf(labelsABC, y)+1+w.rng.IntN(2))%3]
	}
	shift := float64(indexOf(labelsABC, y)) * 0.3
	country := fmt.Sprintf("c%d", w.rng.IntN(8))
	if y == "c" && w.rng.Float64() < 0.5 {
		country = "c7" // a benign predictor of c
	}
	content := fmt.Sprintf("%064x", w.rng.Uint64())
	if w.rng.Float64() < 0.05 {
		content = fmt.Sprintf("%064x", w.rng.IntN(20))
	}
	return Example{
		ID:             fmt.Sprintf("fb-%08d", w.next),
		Source:         w.source(),
		ProposedLabel:  y,
		PredictedLabel: pred,
		ContentSHA256:  content,
		Numeric: []float64{
			math.Exp(3 + 0.8*w.rng.NormFloat64() + shift), w.rng.NormFloat64()*10 + 40, w.rng.NormFloat64() + shift,
			float64(1 + w.rng.IntN(5)),
		},
		Categorical: []string{country, []string{"web", "app", "api"}[w.rng.IntN(3)]},
	}
}

func (w *world) examples(n int) []Example {
	out := make([]Example, n)
	for i := range out {
		out[i] = w.example()
	}
	return out
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// observed returns a partial of s that observed es.
func observed(s Signal, es []Example) Partial {
	p := s.NewPartial()
	p.Observe(es)
	return p
}

// roundTrip encodes p and decodes it into a new partial of s.
func roundTrip(t testing.TB, s Signal, p Partial) Partial {
	t.Helper()
	q := s.NewPartial()
	d := sketch.NewDecoder(p.AppendBinary(nil))
	q.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("%s: decoding its own encoding: %v, %d bytes left", s.Name(), d.Err(), d.Remaining())
	}
	return q
}

// decide takes the decisions of a window's verdicts as the evaluation does
// (analysis/evaluate.DecideSignals): Benjamini–Hochberg at fdr over every
// decision, then the effect levels.
func decide(fdr float64, vs []signal.Verdict) {
	var idx []int
	var ps []float64
	for i := range vs {
		if vs[i].Decides() {
			idx = append(idx, i)
			ps = append(ps, vs[i].PValue)
		}
	}
	if len(idx) == 0 {
		return
	}
	rejected, adjusted := stat.BenjaminiHochberg(ps, fdr)
	for j, i := range idx {
		v := &vs[i]
		v.AdjustedP, v.Severity, v.Threshold = adjusted[j], verdict.SeverityOK, v.Warning
		if !rejected[j] || !(v.Effect >= v.Warning) {
			continue
		}
		v.Severity = verdict.SeverityWarning
		if v.Effect >= v.Critical {
			v.Severity, v.Threshold = verdict.SeverityCritical, v.Critical
		}
	}
}

// find returns the verdict about subject, nil when there is none.
func find(vs []signal.Verdict, subject string) *signal.Verdict {
	for i := range vs {
		if vs[i].Subject == subject {
			return &vs[i]
		}
	}
	return nil
}

func validUTF8(s string) bool { return utf8.ValidString(s) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func xxhashOf(s string) uint64 { return xxhash.Sum64String(s) }
