package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

func historyEvidence(windows int, level float64) *Evidence {
	cfg := analysis.DefaultSequentialConfig()
	cfg.HistoryWindows, cfg.HistoryLevel = windows, level
	return NewEvidence(cfg)
}

func decided(sig, subject string, stat float64, n uint64) SignalVerdict {
	return SignalVerdict{Signal: sig, Verdict: signal.Decision(subject, stat, 0.5, 0, 0.01, 0.05, n, "")}
}

func findSignal(out []SignalVerdict, name string) *SignalVerdict {
	for i := range out {
		if out[i].Signal == name {
			return &out[i]
		}
	}
	return nil
}

// TestHistoryRobustZByHand: the previous five latencies 10, 12, 11, 13, 50
// have median 12 and MAD 1 (deviations 2, 0, 1, 1, 38), so 17.5 is
// z = 5.5/1.482602 = 3.7097: a warning at 3.5; 16 (z 2.698) is not.
func TestHistoryRobustZByHand(t *testing.T) {
	e := historyEvidence(5, 3.5)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, x := range []float64{10, 12, 11, 13, 50} {
		out := e.History(m, t0.Add(time.Duration(i)*time.Minute), []SignalVerdict{decided("latency", "*", x, 100)})
		if h := findSignal(out, "latency_history"); h == nil || !math.IsNaN(h.Statistic) || h.Severity != verdict.SeverityOK {
			t.Fatalf("window %d, before the history is full: %+v", i, out)
		}
	}
	out := e.History(m, t0.Add(5*time.Minute), []SignalVerdict{decided("latency", "*", 17.5, 100)})
	h := findSignal(out, "latency_history")
	if h == nil || math.Abs(h.Statistic-5.5/stat.MADScale) > 1e-12 || h.Severity != verdict.SeverityWarning || h.Threshold != 3.5 {
		t.Fatalf("robust z = %+v, want %.6f, a warning", h, 5.5/stat.MADScale)
	}
	// The ring now holds 12, 11, 13, 50, 17.5: median 13, deviations 1, 2, 0, 37, 4.5: MAD 2.
	out = e.History(m, t0.Add(6*time.Minute), []SignalVerdict{decided("latency", "*", 16, 100)})
	if h := findSignal(out, "latency_history"); h == nil || math.Abs(h.Statistic-3/(2*stat.MADScale)) > 1e-12 || h.Severity != verdict.SeverityOK {
		t.Fatalf("robust z = %+v, want %.6f, ok", h, 3/(2*stat.MADScale))
	}
	// A window read again gets the same verdict and does not move the ring.
	again := e.History(m, t0.Add(6*time.Minute), []SignalVerdict{decided("latency", "*", 99, 100)})
	if h := findSignal(again, "latency_history"); h == nil || math.Abs(h.Statistic-3/(2*stat.MADScale)) > 1e-12 {
		t.Fatalf("re-read window: %+v", again)
	}
	// Nor do the access signals' callers (producers name them).
	if out := e.History(m, t0.Add(8*time.Minute), []SignalVerdict{decided("caller_probing", "bot-1", 0.9, 300)}); len(out) != 0 {
		t.Fatalf("a caller got a history: %+v", out)
	}
	// Verdicts that only inform have no history.
	if out := e.History(m, t0.Add(7*time.Minute), []SignalVerdict{{Signal: "latency", Verdict: signal.Info("p50", 3, math.NaN(), 10, "")}}); len(out) != 0 {
		t.Fatalf("an informing verdict got a history: %+v", out)
	}
}

// TestHistoryDDMOnErrorCounts: the error rate's counts feed a DDM; the
// window counts of TestDDMCountsByHand (10, 18 then 60 failures of 1,000)
// detect a change in the third window, and the rows carry the rate.
func TestHistoryDDMOnErrorCounts(t *testing.T) {
	e := historyEvidence(12, 5)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var sev []verdict.Severity
	for i, k := range []float64{10, 18, 60} {
		out := e.History(m, t0.Add(time.Duration(i)*time.Minute), []SignalVerdict{decided("error_rate", "*", k/1000, 1000), decided("error_rate", "timeout", k/1000, 1000)})
		d := findSignal(out, "error_rate_ddm")
		if d == nil {
			t.Fatalf("window %d: no error_rate_ddm in %+v", i, out)
		}
		sev = append(sev, d.Severity)
		if i == 2 && math.Abs(d.Statistic-88.0/3000) > 1e-12 {
			t.Errorf("rate %g, want %g", d.Statistic, 88.0/3000)
		}
		n := 0
		for _, o := range out {
			if o.Signal == "error_rate_ddm" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("window %d: %d DDM rows, want one (subject * only)", i, n)
		}
	}
	if sev[0] != verdict.SeverityOK || sev[1] != verdict.SeverityOK || sev[2] != verdict.SeverityWarning {
		t.Errorf("severities %v, want ok ok warning", sev)
	}
}

// TestHistoryNullRates measures, on stationary windows and with the
// defaults (24 windows, level 5), how often the robust z of a normal
// statistic warns, and how often the windowed DDM detects a change on a 1%
// error rate and on a 0.05% refusal rate (most windows without one) of 1,000
// calls per window: both stay rare (here 0.06% of the windows for the robust
// z, 4 DDM detections over the 40,000 windows of the two streams). The rates
// are documented in docs/signals.md.
func TestHistoryNullRates(t *testing.T) {
	def := analysis.DefaultSequentialConfig()
	e := historyEvidence(def.HistoryWindows, def.HistoryLevel)
	rng := rand.New(rand.NewPCG(3, 4))
	m := analysis.ModelKey{ID: "m", Version: "1"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const windows = 20000
	var zWarn, zTested, ddm int
	for i := range windows {
		fails, refusals := 0, 0
		for range 1000 {
			if rng.Float64() < 0.01 {
				fails++
			}
			if rng.Float64() < 0.0005 { // a rare event: most windows have none
				refusals++
			}
		}
		out := e.History(m, t0.Add(time.Duration(i)*time.Minute), []SignalVerdict{
			decided("latency", "*", 100+10*rng.NormFloat64(), 1000),
			decided("error_rate", "*", float64(fails)/1000, 1000),
			decided("refusal_rate", "*", float64(refusals)/1000, 1000),
		})
		if h := findSignal(out, "latency_history"); h != nil && !math.IsNaN(h.Statistic) {
			zTested++
			if h.Severity == verdict.SeverityWarning {
				zWarn++
			}
		}
		for _, name := range []string{"error_rate_ddm", "refusal_rate_ddm"} {
			if d := findSignal(out, name); d != nil && d.Severity == verdict.SeverityWarning {
				ddm++
			}
		}
	}
	zRate, ddmRate := float64(zWarn)/float64(zTested), float64(ddm)/windows
	t.Logf("robust z warns in %.4f of %d stationary windows; DDM detections in %.4f of %d", zRate, zTested, ddmRate, windows)
	if zRate > 0.003 {
		t.Errorf("robust z warns in %.4f of stationary windows, want at most 0.003", zRate)
	}
	if ddmRate > 0.001 {
		t.Errorf("the DDM detects a change in %.4f of stationary windows, want at most 0.001", ddmRate)
	}
}

// stored is what the signals table keeps of verdicts, and what
// storage.SignalHistory reads back of them: the decisions (p-value and
// threshold) and the "*" of the BitSignals, with the threshold standing for
// both levels.
func stored(vs []SignalVerdict) []SignalVerdict {
	var out []SignalVerdict
	for _, v := range vs {
		d := []SignalVerdict{v}
		DecideSignals(0.05, d)
		th := d[0].Threshold
		if !(math.IsNaN(v.PValue) || math.IsNaN(th)) || (v.Subject == "*" && (v.Signal == "error_rate" || v.Signal == "refusal_rate")) {
			out = append(out, SignalVerdict{Signal: v.Signal, Verdict: signal.Verdict{Subject: v.Subject, Statistic: v.Statistic,
				PValue: v.PValue, Warning: th, Critical: th, N: v.N}})
		}
	}
	return out
}

// TestRestoredHistoryDecidesAsTheOriginal: a signal history restored from
// the stored verdicts of 30 windows (latencies whose median jumps in the
// last window, an error rate whose DDM detects a burst, verdicts that only
// inform, which the table keeps but the history never saw) gives the next
// window the rows the history that decided them gives; a history not
// restored (a restart without it) gives rows without a median yet.
func TestRestoredHistoryDecidesAsTheOriginal(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	m := analysis.ModelKey{ID: "m", Version: "1"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	window := func(i int, burst bool) []SignalVerdict {
		rate := 0.01 + 0.002*rng.Float64()
		if burst {
			rate = 0.2
		}
		return []SignalVerdict{
			decided("latency_p99", "*", 100+10*rng.Float64(), 1000),
			decided("error_rate", "*", rate, 1000),
			{Signal: "class_share", Verdict: signal.Info("fraud", 0.3, 0, 1000, "")},
		}
	}
	original, restored, blind := historyEvidence(24, 5), historyEvidence(24, 5), historyEvidence(24, 5)
	var windows []HistoryWindow
	for i := range 30 {
		vs := window(i, i == 29)
		original.History(m, t0.Add(time.Duration(i)*time.Minute), vs)
		windows = append(windows, HistoryWindow{End: t0.Add(time.Duration(i) * time.Minute), Verdicts: stored(vs)})
	}
	if !restored.NeedsHistory(m) {
		t.Fatal("a new Evidence does not need the history")
	}
	restored.RestoreHistory(m, windows)
	if restored.NeedsHistory(m) || original.NeedsHistory(m) {
		t.Fatal("a fed or restored history still needs restoring")
	}
	next := window(30, true)
	next[0].Statistic = 400 // the latency jumps
	want := original.History(m, t0.Add(30*time.Minute), next)
	got := restored.History(m, t0.Add(30*time.Minute), next)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored history gives\n%v\nthe original\n%v", got, want)
	}
	if h := findSignal(got, "latency_p99_history"); h == nil || h.Severity != verdict.SeverityWarning {
		t.Errorf("the latency's jump: %+v", h)
	}
	if d := findSignal(got, "error_rate_ddm"); d == nil || d.N != 1000 {
		t.Errorf("the error rate's DDM: %+v", d)
	}
	for _, r := range blind.History(m, t0.Add(30*time.Minute), next) {
		if r.Severity != verdict.SeverityOK || strings.Contains(r.Evidence, "median") {
			t.Errorf("without the restore: %+v", r)
		}
	}
}
