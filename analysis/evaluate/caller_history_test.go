package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/generator"
	"github.com/driftwatch/driftwatch/telemetry"
)

var callerT0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func callerEvidence(h int) *Evidence {
	cfg := analysis.DefaultSequentialConfig()
	cfg.HistoryWindows = h
	return NewEvidence(cfg)
}

func calls(name string, n uint64) access.CallerSummary {
	return access.CallerSummary{Caller: name, Calls: n}
}

// volumeWarning is the caller_volume warning the access signal gives an
// outstanding caller (its z against the window's callers as effect).
func volumeWarning(name string, n uint64, z float64) SignalVerdict {
	v := signal.Info(name, float64(n), z, n, "")
	v.Threshold, v.Severity = 5, verdict.SeverityWarning
	return SignalVerdict{Signal: "caller_volume", Verdict: v}
}

func findRow(out []SignalVerdict, sig, subject string) *SignalVerdict {
	for i := range out {
		if out[i].Signal == sig && out[i].Subject == subject {
			return &out[i]
		}
	}
	return nil
}

// steady is a caller's calls in window i: 80, 100, 120 in turn (median
// 100, deviations 20, 0, 20: MAD 20).
func steady(i int) uint64 { return uint64(80 + 20*(i%3)) }

// TestCallerVolumeJumpByHand: after 24 windows of 80, 100 and 120 calls
// (median 100, MAD 20, scale 1.482602·20 = 29.652 above √100), 1,000 calls
// are z = 900/29.652 = 30.35: a warning; 130 calls (z 1.01) are not. The
// first 24 windows are not judged.
func TestCallerVolumeJumpByHand(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	for i := range 24 {
		out := e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), []access.CallerSummary{calls("svc", steady(i))}, nil)
		if len(out) != 0 {
			t.Fatalf("window %d, before the history is full: %+v", i, out)
		}
	}
	// The next window is 24 % 3 = 0: 130 instead of 80.
	out := e.CallerHistory(m, callerT0.Add(24*time.Minute), []access.CallerSummary{calls("svc", 130)}, nil)
	if len(out) != 0 {
		t.Fatalf("130 calls against a median of 100 (z %.2f) gave %+v", 30/(20*stat.MADScale), out)
	}
	// The ring is now windows 1 to 23 and 130: 7 × 80, 8 × 100, 8 × 120 and
	// 130: median 100, deviations 0 (8), 20 (15), 30 (1): MAD 20.
	out = e.CallerHistory(m, callerT0.Add(25*time.Minute), []access.CallerSummary{calls("svc", 1000)}, nil)
	h := findRow(out, SignalCallerVolumeHistory, "svc")
	want := 900 / (20 * stat.MADScale)
	if h == nil || math.Abs(h.Effect-want) > 1e-9 || h.Severity != verdict.SeverityWarning || h.Statistic != 1000 || h.Threshold != 5 {
		t.Fatalf("a 10× jump: %+v, want robust z %.4f, a warning", out, want)
	}
	for _, s := range []string{"1000 against the caller's own median of 100", "MAD 20", "previous 24 windows"} {
		if !strings.Contains(h.Evidence, s) {
			t.Errorf("evidence %q does not say %q", h.Evidence, s)
		}
	}
	// A window read again gets the same rows and does not move the ring.
	again := e.CallerHistory(m, callerT0.Add(25*time.Minute), []access.CallerSummary{calls("svc", 5)}, nil)
	if h := findRow(again, SignalCallerVolumeHistory, "svc"); h == nil || math.Abs(h.Effect-want) > 1e-9 {
		t.Fatalf("re-read window: %+v", again)
	}
	if e.callers[m].callers["svc"].hist[statCalls][23] != 1000 {
		t.Errorf("the ring ends with %v", e.callers[m].callers["svc"].hist[statCalls])
	}
}

// TestCallerSteadyHighVolumeIsQuiet: a batch service with 5,000 calls in
// every window has MAD 0, so its scale is the Poisson spread √5000 =
// 70.71: 5,300 calls are z 4.24 (no warning), 5,400 are z 5.66 (a
// warning). The window's caller_volume warning (it is heavy against the
// other callers) brings a row that only informs, and no caller_new_heavy.
func TestCallerSteadyHighVolumeIsQuiet(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	for i := range 30 {
		cs := []access.CallerSummary{calls("batch", 5000), calls("a", 100), calls("b", 90), calls("c", 110)}
		out := e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), cs, []SignalVerdict{volumeWarning("batch", 5000, 490)})
		for _, o := range out {
			if o.Severity != verdict.SeverityOK {
				t.Fatalf("window %d: %+v", i, o)
			}
		}
		if i >= 24 {
			if h := findRow(out, SignalCallerVolumeHistory, "batch"); h == nil || h.Effect != 0 {
				t.Fatalf("window %d: the named caller's history row: %+v", i, out)
			}
		}
	}
	out := e.CallerHistory(m, callerT0.Add(30*time.Minute), []access.CallerSummary{calls("batch", 5300)}, nil)
	if len(out) != 0 {
		t.Fatalf("5300 calls (z %.3f) gave %+v", 300/math.Sqrt(5000), out)
	}
	out = e.CallerHistory(m, callerT0.Add(31*time.Minute), []access.CallerSummary{calls("batch", 5400)}, nil)
	// The ring holds 23 × 5000 and 5300: median 5000, MAD 0.
	if h := findRow(out, SignalCallerVolumeHistory, "batch"); h == nil || math.Abs(h.Effect-400/math.Sqrt(5000)) > 1e-9 || h.Severity != verdict.SeverityWarning {
		t.Fatalf("5400 calls: %+v, want z %.4f, a warning", out, 400/math.Sqrt(5000))
	}
}

// TestCallerBelowMinCallsIsNotJudged: a caller that goes from 3 to 60 calls
// (z 19 against √3) stays below min_calls (100): no warning.
func TestCallerBelowMinCallsIsNotJudged(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	for i := range 24 {
		e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), []access.CallerSummary{calls("tiny", 3)}, nil)
	}
	if out := e.CallerHistory(m, callerT0.Add(24*time.Minute), []access.CallerSummary{calls("tiny", 60)}, nil); len(out) != 0 {
		t.Fatalf("%+v", out)
	}
}

// TestCallerProbingJumpByHand: a caller with 20 probes in 1,000 scored calls
// in every window (median 0.02, MAD 0: the binomial scale √(0.02·0.98/1000)
// = 0.004427) that then has 300 is z (0.3 − 0.02)/0.004427 = 63.25: a
// warning; 30 probes are z 2.26: none.
func TestCallerProbingJumpByHand(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	probes := func(k uint64) []access.CallerSummary {
		return []access.CallerSummary{{Caller: "p", Calls: 1000, ScoredCalls: 1000, Probes: k}}
	}
	for i := range 24 {
		e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), probes(20), nil)
	}
	if out := e.CallerHistory(m, callerT0.Add(24*time.Minute), probes(30), nil); len(out) != 0 {
		t.Fatalf("30 probes: %+v", out)
	}
	out := e.CallerHistory(m, callerT0.Add(25*time.Minute), probes(300), nil)
	h := findRow(out, SignalCallerProbingHistory, "p")
	scale := math.Sqrt(0.02 * 0.98 / 1000)
	if h == nil || math.Abs(h.Effect-0.28/scale) > 1e-4 || h.Severity != verdict.SeverityWarning {
		t.Fatalf("300 probes: %+v, want z %.4f, a warning", out, 0.28/scale)
	}
	if findRow(out, SignalCallerVolumeHistory, "p") != nil {
		t.Errorf("steady volume got a row: %+v", out)
	}
}

// TestCallerNewHeavy: a caller without history that caller_volume names
// is caller_new_heavy once the version has 24 windows of caller history,
// not before, and not again once it has a history.
func TestCallerNewHeavy(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	base := []access.CallerSummary{calls("a", 100), calls("b", 100), calls("c", 100)}
	at := func(i int) time.Time { return callerT0.Add(time.Duration(i) * time.Minute) }
	for i := range 24 {
		cs, vs := base, []SignalVerdict(nil)
		if i == 10 {
			// Heavy and new during the version's first windows: not judged.
			cs, vs = append(cs[:3:3], calls("early", 5000)), []SignalVerdict{volumeWarning("early", 5000, 490)}
		}
		if out := e.CallerHistory(m, at(i), cs, vs); findRow(out, SignalCallerNewHeavy, "early") != nil {
			t.Fatalf("window %d: new heavy before the history is established: %+v", i, out)
		}
	}
	cs := append(base[:3:3], calls("intruder", 5000), calls("light", 150))
	out := e.CallerHistory(m, at(24), cs, []SignalVerdict{volumeWarning("intruder", 5000, 490)})
	h := findRow(out, SignalCallerNewHeavy, "intruder")
	if h == nil || h.Severity != verdict.SeverityWarning || h.Statistic != 5000 || h.Effect != 490 || h.Threshold != 5 {
		t.Fatalf("the new heavy caller: %+v", out)
	}
	// The kept callers a, b, c, early last made 100, 100, 100 and 5000 calls.
	for _, s := range []string{"5000 calls", "without a history (new, or forgotten to make room) after 24 windows", "the 4 callers with one last made a median of 100 calls (MAD 0)"} {
		if !strings.Contains(h.Evidence, s) {
			t.Errorf("evidence %q does not say %q", h.Evidence, s)
		}
	}
	if findRow(out, SignalCallerNewHeavy, "light") != nil || len(out) != 1 {
		t.Errorf("rows %+v, want the intruder's only", out)
	}
	out = e.CallerHistory(m, at(25), cs, []SignalVerdict{volumeWarning("intruder", 5000, 490)})
	if findRow(out, SignalCallerNewHeavy, "intruder") != nil {
		t.Errorf("new heavy again with a history: %+v", out)
	}
	if e.CallersHeld() != 6 || e.CallersRefused() != 0 || e.CallersEvicted() != 0 {
		t.Errorf("held %d refused %d evicted %d, want 6 0 0", e.CallersHeld(), e.CallersRefused(), e.CallersEvicted())
	}
}

// TestCallerHistoryBoundedUnderHostileCallers: 100,000 made-up callers, 500
// new ones in each of 200 windows, never exceed max_callers (1,000): 100 are
// admitted per window (max_new), the other 80,000 refused, and 20,000 − 999
// evicted. The established service's history survives, although it is
// absent for 50 of those windows (its history is full, theirs never is),
// and still catches its own 10× jump.
func TestCallerHistoryBoundedUnderHostileCallers(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	i := 0
	feed := func(cs []access.CallerSummary) []SignalVerdict {
		out := e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), cs, nil)
		i++
		return out
	}
	for range 24 {
		feed([]access.CallerSummary{calls("svc", 5000)})
	}
	hostile := 0
	cs := make([]access.CallerSummary, 0, 501)
	for w := range 200 {
		cs = cs[:0]
		if w < 100 || w >= 150 {
			cs = append(cs, calls("svc", 5000))
		}
		for range 500 {
			cs = append(cs, access.CallerSummary{Caller: fmt.Sprintf("bot-%06d", hostile), Calls: uint64(100 + hostile%7), CallsOvercount: 3})
			hostile++
		}
		for _, o := range feed(cs) {
			if o.Severity != verdict.SeverityOK {
				t.Fatalf("flood window %d: %+v", w, o)
			}
		}
		if n := e.CallersHeld(); n > 1000 {
			t.Fatalf("flood window %d: %d callers held", w, n)
		}
	}
	if hostile != 100000 || e.CallersHeld() != 1000 || e.CallersRefused() != 80000 || e.CallersEvicted() != 19001 {
		t.Errorf("%d hostile callers: held %d, refused %d, evicted %d; want 1000, 80000, 19001",
			hostile, e.CallersHeld(), e.CallersRefused(), e.CallersEvicted())
	}
	svc := e.callers[m].callers["svc"]
	if svc == nil || len(svc.hist[statCalls]) != 24 {
		t.Fatalf("the service's history: %+v", svc)
	}
	out := feed([]access.CallerSummary{calls("svc", 50000)})
	if h := findRow(out, SignalCallerVolumeHistory, "svc"); h == nil || h.Severity != verdict.SeverityWarning ||
		math.Abs(h.Effect-45000/math.Sqrt(5000)) > 1e-9 {
		t.Fatalf("the service's jump after the flood: %+v", out)
	}
}

// TestCallerHistoryBoundsVersions: max_versions versions keep a caller
// history; a further one forgets the version whose last window is the
// oldest.
func TestCallerHistoryBoundsVersions(t *testing.T) {
	cfg := analysis.DefaultSequentialConfig()
	cfg.CallerHistory.MaxVersions = 3
	e := NewEvidence(cfg)
	for v := range 5 {
		e.CallerHistory(analysis.ModelKey{ID: "m", Version: fmt.Sprint(v)}, callerT0.Add(time.Duration(v)*time.Minute),
			[]access.CallerSummary{calls("a", 100), calls("b", 100)}, nil)
	}
	if len(e.callers) != 3 || e.callers[analysis.ModelKey{ID: "m", Version: "1"}] != nil || e.callers[analysis.ModelKey{ID: "m", Version: "4"}] == nil {
		t.Errorf("versions kept: %v", e.callers)
	}
	if e.CallersEvicted() != 4 {
		t.Errorf("evicted %d callers, want 4", e.CallersEvicted())
	}
	// A version without callers (no access signals) keeps nothing.
	e.CallerHistory(analysis.ModelKey{ID: "quiet", Version: "1"}, callerT0, nil, nil)
	if len(e.callers) != 3 {
		t.Errorf("a version without callers took a place: %d", len(e.callers))
	}
}

// TestEvaluatorFeedsCallerHistory runs the access signal caller_volume
// through the evaluator: 24 windows of 30 callers with 100 calls each and
// then one with a new caller of 3,000 calls give a caller_volume warning
// and a caller_new_heavy warning for it, and a 10× window of an
// established caller (1,000 calls, z (1000 − 100)/10 = 90 against its own
// history) a caller_volume_history warning.
func TestEvaluatorFeedsCallerHistory(t *testing.T) {
	cfg := analysis.DefaultConfig()
	vol := access.Volume{Config: access.DefaultConfig()}
	set, err := signal.NewSet(vol)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signals = set
	ev := NewEvaluator(&cfg, nil, NewEvidence(cfg.Sequential))
	m := analysis.ModelKey{ID: "m", Version: "1"}
	mkWindow := func(i int, extra map[string]int) *window.Window {
		p := vol.NewPartial()
		var events []*telemetry.Event
		add := func(name string, n int) {
			for range n {
				events = append(events, &telemetry.Event{Principal: telemetry.Principal{EndUserID: name}})
			}
		}
		for c := range 30 {
			if _, ok := extra[fmt.Sprint("u", c)]; !ok {
				add(fmt.Sprint("u", c), 100)
			}
		}
		for name, n := range extra {
			add(name, n)
		}
		p.Observe(events)
		start := callerT0.Add(time.Duration(i) * time.Minute)
		return &window.Window{Model: m, Start: start, End: start.Add(time.Minute), Signals: []signal.Partial{p}}
	}
	for i := range 24 {
		for _, v := range ev.Evaluate(mkWindow(i, nil), true, nil).Signals {
			if v.Severity != verdict.SeverityOK {
				t.Fatalf("window %d: %+v", i, v)
			}
		}
	}
	d := ev.Evaluate(mkWindow(24, map[string]int{"scraper": 3000}), true, nil)
	if v := findRow(d.Signals, "caller_volume", "scraper"); v == nil || v.Severity != verdict.SeverityWarning {
		t.Fatalf("no caller_volume warning for the scraper: %+v", d.Signals)
	}
	if v := findRow(d.Signals, SignalCallerNewHeavy, "scraper"); v == nil || v.Severity != verdict.SeverityWarning || v.Statistic != 3000 {
		t.Fatalf("no caller_new_heavy for the scraper: %+v", d.Signals)
	}
	d = ev.Evaluate(mkWindow(25, map[string]int{"u7": 1000}), true, nil)
	if v := findRow(d.Signals, SignalCallerVolumeHistory, "u7"); v == nil || v.Severity != verdict.SeverityWarning || math.Abs(v.Effect-90) > 1e-9 {
		t.Fatalf("no caller_volume_history warning for u7: %+v", d.Signals)
	}
	for _, v := range d.Signals {
		if v.Severity == verdict.SeverityCritical {
			t.Errorf("critical: %+v", v)
		}
	}
}

// TestCallerHistoryMemory: a version whose max_callers (1,000) callers, with
// 256-byte names, have full histories of their five figures holds less
// than the documented bound, max_callers × (20·history_windows + 300 +
// name).
func TestCallerHistoryMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	const nameLen = 256
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cs := make([]access.CallerSummary, 1000)
	for i := range cs {
		name := fmt.Sprintf("%0*d", nameLen, i)
		cs[i] = access.CallerSummary{Caller: name, Calls: 1000, ScoredCalls: 1000, Probes: 20, InputCalls: 1000, DistinctInputs: 300,
			OODSampled: 32, OODOutside: 2, ClassCalls: 1000, ClassEntropy: 0.4}
	}
	for i := range 34 { // 10 windows to admit the 1,000 callers, 24 to fill their histories
		e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), cs, nil)
	}
	full := 24
	for _, h := range e.callers[m].callers[cs[999].Caller].hist {
		full = min(full, len(h))
	}
	cs = nil // the window's summaries go; the history keeps its own copies of the names
	runtime.GC()
	runtime.ReadMemStats(&after)
	if e.CallersHeld() != 1000 || full != 24 {
		t.Fatalf("held %d callers, the last with %d windows of each figure", e.CallersHeld(), full)
	}
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	bound := int64(1000 * (20*24 + 300 + nameLen))
	t.Logf("1,000 callers with full histories: %d bytes (%d per caller); bound %d", held, held/1000, bound)
	if held > bound {
		t.Errorf("%d bytes held, above the documented %d", held, bound)
	}
	runtime.KeepAlive(e)
}

// TestCallerInputAndOutputHistoryByHand: a caller's share of distinct
// inputs, share of sampled inputs out of distribution and entropy of its
// classes, the same in 24 windows (MAD 0, so the scale is the sampling
// floor), jump: a warning of caller_diversity_history, caller_ood_history
// and caller_harvest_history with the z worked by hand, while a small
// change is none (a row that informs when the window's access signal names
// the caller, none otherwise).
func TestCallerInputAndOutputHistoryByHand(t *testing.T) {
	base := access.CallerSummary{Caller: "c", Calls: 1000, InputCalls: 1000, DistinctInputs: 100, OODSampled: 32, OODOutside: 1,
		ClassCalls: 1000, ClassEntropy: 0.2}
	divFloor := math.Sqrt(0.1*0.9/1000 + math.Pow(1.04/32*0.1, 2)) // 0.010028
	oodFloor := math.Sqrt(1.0 / 32 * 31 / 32 / 32)                 // 0.03076
	entFloor := 0.5 / math.Sqrt(1000)                              // 0.01581
	for _, c := range []struct {
		signal, named string
		small, jump   func(*access.CallerSummary)
		smallZ, jumpZ float64
	}{
		{SignalCallerDiversityHistory, "caller_diversity", func(s *access.CallerSummary) { s.DistinctInputs = 130 },
			func(s *access.CallerSummary) { s.DistinctInputs = 900 }, 0.03 / divFloor, 0.8 / divFloor},
		{SignalCallerOODHistory, "caller_ood", func(s *access.CallerSummary) { s.OODOutside = 4 },
			func(s *access.CallerSummary) { s.OODOutside = 20 }, (4.0 - 1) / 32 / oodFloor, (20.0 - 1) / 32 / oodFloor},
		{SignalCallerHarvestHistory, "caller_harvest", func(s *access.CallerSummary) { s.ClassEntropy = 0.25 },
			func(s *access.CallerSummary) { s.ClassEntropy = 0.9 }, 0.05 / entFloor, 0.7 / entFloor},
	} {
		t.Run(c.signal, func(t *testing.T) {
			e := callerEvidence(24)
			m := analysis.ModelKey{ID: "m", Version: "1"}
			for i := range 24 {
				if out := e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), []access.CallerSummary{base}, nil); len(out) != 0 {
					t.Fatalf("window %d: %+v", i, out)
				}
			}
			small := base
			c.small(&small)
			if out := e.CallerHistory(m, callerT0.Add(24*time.Minute), []access.CallerSummary{small}, nil); len(out) != 0 {
				t.Fatalf("a small change (z %.2f): %+v", c.smallZ, out)
			}
			// Named by the window's access signal: a row that informs.
			v := SignalVerdict{Signal: c.named, Verdict: signal.Info("c", 0, 0, 0, "")}
			out := e.CallerHistory(m, callerT0.Add(25*time.Minute), []access.CallerSummary{small}, []SignalVerdict{v})
			if r := findRow(out, c.signal, "c"); r == nil || r.Severity != verdict.SeverityOK || math.Abs(r.Effect-c.smallZ) > 1e-3 || len(out) != 1 {
				t.Fatalf("named by %s: %+v, want one row with z %.3f", c.named, out, c.smallZ)
			}
			jump := base
			c.jump(&jump)
			out = e.CallerHistory(m, callerT0.Add(26*time.Minute), []access.CallerSummary{jump}, nil)
			// The ring now holds 22 base windows and two small changes:
			// the median and MAD stay at the base's.
			r := findRow(out, c.signal, "c")
			if r == nil || r.Severity != verdict.SeverityWarning || math.Abs(r.Effect-c.jumpZ) > 1e-3 || len(out) != 1 {
				t.Fatalf("a jump: %+v, want one warning with z %.3f", out, c.jumpZ)
			}
		})
	}
}

// TestCallerSharesNeedMinCalls: shares of a caller with fewer than
// min_calls calls of the kind under its own counter are not kept, so a
// jump of them is not judged.
func TestCallerSharesNeedMinCalls(t *testing.T) {
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: "m", Version: "1"}
	few := access.CallerSummary{Caller: "c", Calls: 1000, InputCalls: 150, InputOvercount: 60, DistinctInputs: 9, OODSampled: 32,
		ClassCalls: 99, ClassEntropy: 0.1}
	for i := range 30 {
		e.CallerHistory(m, callerT0.Add(time.Duration(i)*time.Minute), []access.CallerSummary{few}, nil)
	}
	ce := e.callers[m].callers["c"]
	for _, st := range []callerStat{statDistinct, statOOD, statEntropy, statProbes} {
		if len(ce.hist[st]) != 0 {
			t.Errorf("figure %d kept %v with too few calls", st, ce.hist[st])
		}
	}
	few.DistinctInputs, few.OODOutside, few.ClassEntropy = 90, 30, 0.95
	if out := e.CallerHistory(m, callerT0.Add(30*time.Minute), []access.CallerSummary{few}, nil); len(out) != 0 {
		t.Fatalf("%+v", out)
	}
}

// TestCallerHistoryQuietOverGeneratedWindows runs the five access signals
// over 40 windows of generator traffic (a model's 500 ordinary callers
// and two batch services re-scoring their portfolios at 50× the median
// rate: benign heavy users, the callers whose figures the history judges)
// and feeds each window's tracked callers to their history: with no attack,
// none of the caller_*_history signals warns once the histories are full,
// although every figure of the batch services is judged from window 25 on.
func TestCallerHistoryQuietOverGeneratedWindows(t *testing.T) {
	const windows, perWindow = 40, 6000
	sc := generator.DefaultScenario(1, 15)
	sc.Start = callerT0
	sc.EventStep = time.Minute / perWindow
	sc.Callers = &generator.Callers{N: 500}
	for i := range 2 {
		a, err := generator.DefaultActor(generator.AccessBenignHeavyUser, sc.Models[0].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		a.ID = fmt.Sprint("batch-", i)
		sc.Callers.Actors = append(sc.Callers.Actors, a)
	}
	g, err := generator.New(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	c := access.DefaultConfig()
	sigs := []signal.Signal{access.Volume{Config: c}, access.Probing{Config: c}, access.Diversity{Config: c}, access.OOD{Config: c}, access.Harvest{Config: c}}
	e := callerEvidence(24)
	m := analysis.ModelKey{ID: sc.Models[0].ID, Version: sc.Models[0].Version}
	judged, maxZ := map[string]int{}, map[string]float64{}
	for w := range windows {
		events := make([]*telemetry.Event, perWindow)
		for i := range events {
			events[i] = new(telemetry.Event)
			g.Next(events[i])
		}
		ps := make([]signal.Partial, len(sigs))
		var vs []SignalVerdict
		for i, s := range sigs {
			ps[i] = s.NewPartial()
			ps[i].Observe(events)
			for _, v := range s.Score(ps[i], nil) {
				vs = append(vs, SignalVerdict{Signal: s.Name(), Verdict: v})
			}
		}
		for _, r := range e.CallerHistory(m, callerT0.Add(time.Duration(w+1)*time.Minute), access.Summaries(ps), vs) {
			judged[r.Signal]++
			maxZ[r.Signal] = math.Max(maxZ[r.Signal], r.Effect)
			if r.Severity != verdict.SeverityOK {
				t.Errorf("window %d: %s %s: %s", w, r.Signal, r.Subject, r.Evidence)
			}
		}
	}
	ce := e.callers[m].callers["batch-0"]
	if ce == nil {
		t.Fatal("the batch service has no history")
	}
	for st, h := range ce.hist {
		if len(h) != 24 {
			t.Errorf("the batch service's figure %s has %d windows of history, want 24", callerStats[st].signal, len(h))
		}
	}
	t.Logf("rows by signal (callers the window's access signals named): %v; largest z: %v", judged, maxZ)
}

// TestRestoredCallerHistoryDecidesAsTheOriginal: a caller history restored
// from the 30 stored windows (as caller_windows holds them) decides the
// next window as the history fed them does: the same rows, the jump of an
// established caller (tracked in about 4 windows of 5) and a new heavy
// caller included; one that was not restored (a restart without it) sees
// neither.
func TestRestoredCallerHistoryDecidesAsTheOriginal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := analysis.ModelKey{ID: "m", Version: "1"}
	at := func(i int) time.Time { return callerT0.Add(time.Duration(i) * time.Minute) }
	var stored []CallerWindow
	original := callerEvidence(24)
	for i := range 30 {
		var cs []access.CallerSummary
		for c := range 40 {
			if rng.IntN(5) == 0 {
				continue // not tracked in this window
			}
			n := uint64(200 + rng.IntN(40))
			cs = append(cs, access.CallerSummary{Caller: fmt.Sprint("c", c), Calls: n, CallsOvercount: uint64(rng.IntN(3)),
				ScoredCalls: n, Probes: uint64(rng.IntN(10)), InputCalls: n, DistinctInputs: float64(20 + rng.IntN(5)),
				OODSampled: 32, OODOutside: uint64(rng.IntN(3)), ClassCalls: n, ClassEntropy: 0.3 + 0.01*float64(rng.IntN(5))})
		}
		cs = append(cs, access.CallerSummary{Caller: fmt.Sprint("passing-", i), Calls: 150}) // seen once
		original.CallerHistory(m, at(i), cs, nil)
		stored = append(stored, CallerWindow{End: at(i), Callers: cs})
	}
	restored, blind := callerEvidence(24), callerEvidence(24)
	if !restored.NeedsCallers(m) {
		t.Fatal("a new Evidence does not need the callers' history")
	}
	restored.RestoreCallers(m, stored)
	if restored.NeedsCallers(m) {
		t.Fatal("a restored version still needs its callers' history")
	}
	next := []access.CallerSummary{{Caller: "c3", Calls: 5000, ScoredCalls: 5000, Probes: 2000, InputCalls: 5000, DistinctInputs: 4000,
		OODSampled: 32, OODOutside: 20, ClassCalls: 5000, ClassEntropy: 0.95}, {Caller: "intruder", Calls: 6000}}
	vs := []SignalVerdict{volumeWarning("intruder", 6000, 300), volumeWarning("c3", 5000, 250)}
	want := original.CallerHistory(m, at(30), next, vs)
	got := restored.CallerHistory(m, at(30), next, vs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored history decides\n%v\nthe original\n%v", got, want)
	}
	for _, sig := range []string{SignalCallerVolumeHistory, SignalCallerProbingHistory, SignalCallerDiversityHistory, SignalCallerOODHistory,
		SignalCallerHarvestHistory} {
		if r := findRow(got, sig, "c3"); r == nil || r.Severity != verdict.SeverityWarning {
			t.Errorf("%s: c3's jump is not a warning: %+v", sig, r)
		}
	}
	if r := findRow(got, SignalCallerNewHeavy, "intruder"); r == nil {
		t.Errorf("no caller_new_heavy for the intruder: %+v", got)
	}
	if out := blind.CallerHistory(m, at(30), next, vs); len(out) != 0 {
		t.Errorf("without the restore: %+v", out)
	}
	// Restoring again, or out of order, changes nothing.
	restored.RestoreCallers(m, stored[:3])
	if again := restored.CallerHistory(m, at(30), next, vs); fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("a second restore changed the history: %v", again)
	}
}
