package poisoning

import (
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// TestNullRates: on stationary synthetic feedback (50 sources of unequal
// but fixed volume, three labels, benign label-predicting values, benign
// repeated contents, Gaussian and log-normal features), 200 windows of
// 2,000 examples scored against a reference of 10,000, every signal's
// verdicts decided together at the analysis FDR of 0.01 as the evaluation
// does: the share of windows with any critical verdict is at most the FDR
// (measured: 0 of 200), and warnings stay rare. The race detector makes it
// 15 times slower: 50 windows then.
func TestNullRates(t *testing.T) {
	if testing.Short() {
		t.Skip("200 windows")
	}
	const size, fdr = 2000, 0.01
	windows := 200
	if raceEnabled {
		windows = 50
	}
	cfg := DefaultConfig()
	sigs := Signals(cfg, testFeatures)
	w := newWorld(51, 50)
	ref := make([]Partial, len(sigs))
	refData := w.examples(5 * size)
	for i, s := range sigs {
		ref[i] = observed(s, refData)
	}
	start := time.Now()
	var critical, warning, rejected int
	var rejectedAny bool
	bySignal, rejectedBy := map[string]int{}, map[string]int{}
	for range windows {
		data := w.examples(size)
		var vs []signal.Verdict
		var names []string
		for i, s := range sigs {
			for _, v := range s.Score(observed(s, data), ref[i]) {
				vs = append(vs, v)
				names = append(names, s.Name())
			}
		}
		checkVerdicts(t, "null", vs)
		decide(fdr, vs)
		for i, v := range vs {
			if v.Decides() && v.AdjustedP <= fdr {
				rejectedBy[names[i]]++
				rejectedAny = true
			}
		}
		if rejectedAny {
			rejected++
		}
		rejectedAny = false
		var anyCritical, anyWarning bool
		for i, v := range vs {
			switch v.Severity {
			case verdict.SeverityCritical:
				anyCritical = true
				bySignal[names[i]+" critical"]++
				t.Logf("critical %s %s: %s", names[i], v.Subject, v.Evidence)
			case verdict.SeverityWarning:
				anyWarning = true
				bySignal[names[i]+" warning"]++
			}
		}
		if anyCritical {
			critical++
		}
		if anyWarning {
			warning++
		}
	}
	t.Logf("%d windows of %d examples in %v: %d with a critical verdict, %d with a warning (by signal %v); "+
		"%d with a decision rejected by Benjamini–Hochberg whatever its effect (by signal %v)",
		windows, size, time.Since(start).Round(time.Millisecond), critical, warning, bySignal, rejected, rejectedBy)
	if float64(critical)/float64(windows) > fdr {
		t.Fatalf("%d of %d windows critical, more than the FDR %g", critical, windows, fdr)
	}
	if float64(warning)/float64(windows) > 0.05 {
		t.Fatalf("%d of %d windows with a warning", warning, windows)
	}
}
