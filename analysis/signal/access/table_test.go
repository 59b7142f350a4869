package access

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// mixedCalls returns n calls of a heavy-tailed population of about
// callers callers (some anonymous), each call of each kind at random:
// scored or not, with numeric inputs, categorical ones or none, with a
// predicted class or not.
func mixedCalls(seed uint64, n, callers int) []*telemetry.Event {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	evs := make([]*telemetry.Event, n)
	for i := range evs {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("p-%d-%d", seed, i)}
		if rng.IntN(20) != 0 {
			e.Principal.EndUserID = fmt.Sprint("c-", int(math.Exp(rng.Float64()*math.Log(float64(callers)))))
		}
		if rng.IntN(4) != 0 {
			sc, th := rng.Float64(), 0.5
			e.Prediction.Score, e.Prediction.Threshold = &sc, &th
		}
		switch rng.IntN(3) {
		case 0:
			e.Features.Numeric = []telemetry.Number{{Name: "x", Value: float64(rng.IntN(50))}, {Name: "y", Value: rng.NormFloat64()}}
		case 1:
			e.Features.Categorical = []telemetry.Category{{Name: "plan", Value: fmt.Sprint("p", rng.IntN(9))}}
		}
		if rng.IntN(5) != 0 {
			e.Prediction.Class = fmt.Sprint("k", rng.IntN(4))
		}
		evs[i] = e
	}
	return evs
}

// kinds names, per access signal, the calls it counts per caller.
var kinds = map[string]func(e *telemetry.Event) bool{
	"caller_volume":    func(*telemetry.Event) bool { return true },
	"caller_probing":   func(e *telemetry.Event) bool { return e.Prediction.Score != nil && e.Prediction.Threshold != nil },
	"caller_diversity": hasInputs,
	"caller_ood":       func(e *telemetry.Event) bool { return len(e.Features.Numeric) > 0 },
	"caller_harvest":   func(e *telemetry.Event) bool { return e.Prediction.Class != "" },
}

// observeShared observes evs into one partial of each of sigs, in batches
// of 64 that the partials share as a window's.
func observeShared(sigs []signal.Signal, evs []*telemetry.Event) []signal.Partial {
	ps := make([]signal.Partial, len(sigs))
	for i, s := range sigs {
		ps[i] = s.NewPartial()
	}
	var bt signal.Batch
	for b := 0; b < len(evs); b += 64 {
		bt.Reset(evs[b:min(b+64, len(evs))])
		for _, p := range ps {
			bt.Observe(p)
		}
	}
	return ps
}

// TestSharedSummariesBoundEachKind: the five signals of a window count
// their callers in two shared summaries (volume and probing in one,
// diversity, ood and harvest in the other) far smaller than the callers,
// over calls of every mix of kinds; each signal's encoding, decoded,
// keeps the Space-Saving bound for its own kind of calls: for every caller
// it names, Count − Err ≤ the caller's true calls of the kind ≤ Count, and
// N is the kind's calls with a caller; every caller with more than 1/k of
// all the calls with a caller (k counters) is named by each signal whose
// kind it called.
func TestSharedSummariesBoundEachKind(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers, c.InputCallers = 64, 24
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	evs := mixedCalls(3, 30_000, 3000)
	ps := observeShared(sigs, evs)
	if a, b := ps[0].(*callers).ref.t, ps[1].(*probes).ref.t; a == nil || a != b {
		t.Fatal("caller_volume and caller_probing do not share their summary")
	}
	var names sketch.HLL // every call's caller
	for _, e := range evs {
		if e.Principal.EndUserID != "" {
			names.Add(xxhash.Sum64String(e.Principal.EndUserID))
		}
	}
	if !bytes.Equal(ps[0].(*callers).distinct.AppendBinary(nil), names.AppendBinary(nil)) {
		t.Error("caller_volume's sketch of the callers' names is not the sketch of every call's caller")
	}
	in := ps[2].(*diversity).ref.t
	if in == nil || in != ps[3].(*ood).ref.t || in != ps[4].(*harvest).ref.t || in == ps[0].(*callers).ref.t {
		t.Fatal("caller_diversity, caller_ood and caller_harvest do not share one summary of their own")
	}
	all, calls := map[string]uint64{}, uint64(0)
	for _, e := range evs {
		if e.Principal.EndUserID != "" {
			all[e.Principal.EndUserID]++
			calls++
		}
	}
	for i, s := range sigs {
		truth, n := map[string]uint64{}, uint64(0)
		for _, e := range evs {
			if e.Principal.EndUserID != "" && kinds[s.Name()](e) {
				truth[e.Principal.EndUserID]++
				n++
			}
		}
		q := s.NewPartial()
		d := sketch.NewDecoder(ps[i].AppendBinary(nil))
		q.Decode(d)
		if d.Err() != nil {
			t.Fatalf("%s: %v", s.Name(), d.Err())
		}
		h := summaryOf(q)
		if h.N != n {
			t.Errorf("%s: N %d, want the kind's %d calls with a caller", s.Name(), h.N, n)
		}
		k := uint64(h.Capacity)
		named := map[string]bool{}
		for _, x := range h.Top() {
			named[x.Key] = true
			if tc := truth[x.Key]; x.Count-x.Err > tc || tc > x.Count {
				t.Errorf("%s: %q counted %d (overcount %d) for %d calls", s.Name(), x.Key, x.Count, x.Err, tc)
			}
		}
		heavy := 0
		for caller, tc := range all {
			if tc > calls/k && truth[caller] > 0 {
				heavy++
				if !named[caller] {
					t.Errorf("%s: %q with %d of %d calls not named", s.Name(), caller, tc, calls)
				}
			}
		}
		if heavy == 0 {
			t.Errorf("%s: %d heavy callers, %d named: the calls do not test the bound", s.Name(), heavy, len(named))
		}
	}
}

// TestSharedSummariesEncodeAsAlone: while a window's callers fit the
// summaries, sharing them changes nothing: each signal's partial encodes
// byte for byte as a partial that counts its callers alone, over calls of
// every mix of kinds, and scores the same.
func TestSharedSummariesEncodeAsAlone(t *testing.T) {
	c := DefaultConfig()
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	evs := mixedCalls(5, 20_000, 200)
	shared := observeShared(sigs, evs)
	alone := observe(sigs, evs)
	for i, s := range sigs {
		if !bytes.Equal(shared[i].AppendBinary(nil), alone[i].AppendBinary(nil)) {
			t.Errorf("%s: the shared summary's partial encodes differently from one alone", s.Name())
		}
		if a, b := fmt.Sprint(s.Score(shared[i], nil)), fmt.Sprint(s.Score(alone[i], nil)); a != b {
			t.Errorf("%s: scores %s shared, %s alone", s.Name(), a, b)
		}
	}
}

// TestPartialLeavesAForeignSummary: a partial observed through the batches
// of two windows, the second's summary already counting another partial's
// calls, counts on its own summary: it encodes as a partial that observed
// every call alone, and the other partial as one that observed its own.
func TestPartialLeavesAForeignSummary(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers = 40
	s := Probing{c}
	evs := mixedCalls(7, 6000, 300)
	first, second, other := evs[:2000], evs[2000:4000], evs[4000:]
	p, r := s.NewPartial(), s.NewPartial()
	var a, b signal.Batch
	for i := 0; i < len(first); i += 64 {
		a.Reset(first[i:min(i+64, len(first))])
		a.Observe(p)
	}
	for i := 0; i < len(second); i += 64 {
		b.Reset(other[i:min(i+64, len(other))])
		b.Observe(r)
		b.Reset(second[i:min(i+64, len(second))])
		b.Observe(p)
	}
	alone := s.NewPartial()
	for i := 0; i < 4000; i += 64 {
		alone.Observe(evs[i:min(i+64, 4000)])
	}
	if !bytes.Equal(p.AppendBinary(nil), alone.AppendBinary(nil)) {
		t.Error("a partial moved to another window's batch lost or mixed calls")
	}
	ralone := s.NewPartial()
	for i := 0; i < len(other); i += 64 {
		ralone.Observe(other[i:min(i+64, len(other))])
	}
	if !bytes.Equal(r.AppendBinary(nil), ralone.AppendBinary(nil)) {
		t.Error("the window's own partial counted another's calls")
	}
}

// TestSharedSummaryOfARareKind, by hand: two counters, two callers of 100
// unscored calls each, then 101 calls of a third, the last one scored: its
// first 100 are counted in its filter cell (no counter: the smallest count
// is 100), the 101st takes a counter over with an overcount of 100. Of
// scored calls there is one: the third caller's Count is 1 and its Err 0
// (its overcount at most the scored calls it was not counted for), not
// 101, which no summary of one call could decode.
func TestSharedSummaryOfARareKind(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers = 2
	sigs := []signal.Signal{Volume{c}, Probing{c}}
	var evs []*telemetry.Event
	for _, u := range []string{"a", "b"} {
		for range 100 {
			evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: u}})
		}
	}
	for range 100 {
		evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: "c"}})
	}
	sc, th := 0.52, 0.5
	evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: "c"}, Prediction: telemetry.Prediction{Score: &sc, Threshold: &th}})
	ps := observeShared(sigs, evs)
	q := Probing{c}.NewPartial()
	d := sketch.NewDecoder(ps[1].AppendBinary(nil))
	q.Decode(d)
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	top := q.(*probes).h.Top()
	if len(top) != 1 || top[0] != (sketch.Hitter{Key: "c", Count: 1, Err: 0, Aux: 1}) || q.(*probes).h.N != 1 {
		t.Errorf("scored calls' summary %+v of %d, want c counted once, a probe", top, q.(*probes).h.N)
	}
	v := Volume{c}.NewPartial()
	d = sketch.NewDecoder(ps[0].AppendBinary(nil))
	v.Decode(d)
	if got, err := v.(*callers).h.Count("c"); d.Err() != nil || got != 101 || err != 100 {
		t.Errorf("calls' summary: c counted %d (overcount %d), want 101 (100): %v", got, err, d.Err())
	}
}

// TestPartialObservesAfterScoring: a partial scored (which settles it onto
// a summary of its own) and then observed further counts on from its own
// counters: while the callers fit, it encodes and scores as a partial that
// observed every call at once, for each of the five signals.
func TestPartialObservesAfterScoring(t *testing.T) {
	c := DefaultConfig()
	evs := mixedCalls(11, 12_000, 150)
	for _, s := range []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}} {
		p, all := s.NewPartial(), s.NewPartial()
		for i := 0; i < len(evs); i += 64 {
			if i == 6400 {
				s.Score(p, nil)
			}
			p.Observe(evs[i:min(i+64, len(evs))])
			all.Observe(evs[i:min(i+64, len(evs))])
		}
		if !bytes.Equal(p.AppendBinary(nil), all.AppendBinary(nil)) {
			t.Errorf("%s: observed after scoring, it encodes differently from a partial of every call", s.Name())
		}
		if a, b := fmt.Sprint(s.Score(p, nil)), fmt.Sprint(s.Score(all, nil)); a != b {
			t.Errorf("%s: scores %s, want %s", s.Name(), a, b)
		}
	}
}

// TestFirstCallOfATakeOverIsNotTracked, by hand: two input counters, a
// and b five calls each, then c's first five calls are counted in its
// filter cell (no counter: the smallest count is 5) and its sixth takes
// a's counter over (Err 5, what its cell counted) and is not tracked: the
// input signals do not name c. Its seventh call is: c counted 7,
// overcount 6 (its five calls without a counter and the sixth), one call
// in its state (one input sampled, one class counted), b exact.
func TestFirstCallOfATakeOverIsNotTracked(t *testing.T) {
	c := DefaultConfig()
	c.InputCallers = 2
	sigs := []signal.Signal{Diversity{c}, OOD{c}, Harvest{c}}
	call := func(caller string, x float64) *telemetry.Event {
		return &telemetry.Event{Principal: telemetry.Principal{EndUserID: caller}, Prediction: telemetry.Prediction{Class: "k"},
			Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "x", Value: x}}}}
	}
	var evs []*telemetry.Event
	for i := range 5 {
		evs = append(evs, call("a", float64(i)))
	}
	for i := range 5 {
		evs = append(evs, call("b", float64(10+i)))
	}
	decoded := func(ps []signal.Partial) [][]sketch.Hitter {
		var out [][]sketch.Hitter
		for i, s := range sigs {
			q := s.NewPartial()
			d := sketch.NewDecoder(ps[i].AppendBinary(nil))
			if q.Decode(d); d.Err() != nil {
				t.Fatalf("%s: %v", s.Name(), d.Err())
			}
			out = append(out, summaryOf(q).Top())
		}
		return out
	}
	for i := range 5 {
		evs = append(evs, call("c", float64(30+i)))
	}
	first := decoded(observeShared(sigs, append(slices.Clone(evs), call("c", 20))))
	for i, top := range first {
		if len(top) != 1 || top[0] != (sketch.Hitter{Key: "b", Count: 5}) {
			t.Errorf("%s after c's first call: %+v, want b alone, exact", sigs[i].Name(), top)
		}
	}
	ps := observeShared(sigs, append(evs, call("c", 20), call("c", 21)))
	for i, top := range decoded(ps) {
		want := []sketch.Hitter{{Key: "c", Count: 7, Err: 6}, {Key: "b", Count: 5}}
		if !slices.Equal(top, want) {
			t.Errorf("%s after c's second call: %+v, want %+v", sigs[i].Name(), top, want)
		}
	}
	if s := Summaries(ps); len(s) != 2 || s[1].Caller != "c" || s[1].InputCalls != 7 || s[1].InputOvercount != 6 || s[1].OODSampled != 1 || s[1].ClassCalls != 1 || s[1].DistinctInputs < 0.9 || s[1].DistinctInputs > 1.1 {
		t.Errorf("c's state: %+v, want one call in it", s)
	}
}

// TestSummariesByName: the caller rows of a window's five partials (2,000
// callers calling evenly, more than either summary counts, so the two
// summaries track different callers) hold each tracked caller once, in name order, with
// each signal's figures from its own summary and zeros where a signal does
// not track the caller.
func TestSummariesByName(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers, c.InputCallers = 300, 64
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	ps := observeShared(sigs, generatorEvents(t, 20_000)) // 2,000 callers, evenly
	want := map[string]CallerSummary{}
	for _, p := range ps {
		h := settledSummary(p)
		for slot := range h.Len() {
			x := h.AtSlot(slot)
			s := want[x.Key]
			s.Caller = x.Key
			switch p.(type) {
			case *callers:
				s.Calls, s.CallsOvercount = x.Count, x.Err
			case *probes:
				s.ScoredCalls, s.ScoredOvercount, s.Probes = x.Count, x.Err, x.Aux
			case *diversity:
				s.InputCalls, s.InputOvercount = x.Count, x.Err
			case *harvest:
				s.ClassCalls = x.Count - x.Err
			}
			want[x.Key] = s
		}
	}
	got := Summaries(ps)
	if len(got) != len(want) || len(got) <= c.MaxCallers {
		t.Fatalf("%d callers summarised, the summaries track %d (want more than %d: two summaries' callers)", len(got), len(want), c.MaxCallers)
	}
	for i, s := range got {
		if i > 0 && got[i-1].Caller >= s.Caller {
			t.Fatalf("row %d: %q after %q", i, s.Caller, got[i-1].Caller)
		}
		w := want[s.Caller]
		if s.Calls != w.Calls || s.CallsOvercount != w.CallsOvercount || s.ScoredCalls != w.ScoredCalls || s.ScoredOvercount != w.ScoredOvercount ||
			s.Probes != w.Probes || s.InputCalls != w.InputCalls || s.InputOvercount != w.InputOvercount || s.ClassCalls != w.ClassCalls {
			t.Fatalf("%s: %+v, want %+v", s.Caller, s, w)
		}
	}
}

// TestSharedSummariesMergeBoundEachKind: the calls of
// TestSharedSummariesBoundEachKind split over three partitions at random
// (a topic keyed by prediction), each partition's five partials encoded,
// decoded and merged as a decider does: for every caller each merged
// summary of a kind names, Count − Err ≤ its true calls of the kind ≤
// Count, and a caller it does not name made at most its floor. A
// partition's summary of a kind declares what a caller it does not count
// may have made (its floor): the callers without a counter in the shared
// summary, or that lost theirs, made calls of the kind that no counter
// of the kind counts.
func TestSharedSummariesMergeBoundEachKind(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers, c.InputCallers = 64, 24
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	evs := mixedCalls(5, 30_000, 3000)
	rng := rand.New(rand.NewPCG(9, 10))
	parts := make([][]*telemetry.Event, 3)
	for _, e := range evs {
		p := rng.IntN(3)
		parts[p] = append(parts[p], e)
	}
	checkMergedBounds(t, sigs, evs, parts)
}

// TestKindFloorByHand, by hand: two counters; on one partition a and b
// call five times each without a score, and c three times with one (c's
// calls counted in its filter cell, none under a counter), or c's three
// scored calls come first and c loses its counter to b; on another, c
// calls three times with a score. Merged, caller_probing counts c's six
// scored calls, overcounting at most three: a partition's summary of
// scored calls says c may have made up to three calls it does not count.
// Then the input signals, whose counter takes over skip the taking call.
func TestKindFloorByHand(t *testing.T) {
	c := DefaultConfig()
	c.MaxCallers = 2
	sigs := []signal.Signal{Volume{c}, Probing{c}}
	sc, th := 0.52, 0.5
	call := func(u string, scored bool) *telemetry.Event {
		e := &telemetry.Event{Principal: telemetry.Principal{EndUserID: u}}
		if scored {
			e.Prediction.Score, e.Prediction.Threshold = &sc, &th
		}
		return e
	}
	calls := func(u string, n int, scored bool) []*telemetry.Event {
		var evs []*telemetry.Event
		for range n {
			evs = append(evs, call(u, scored))
		}
		return evs
	}
	other := calls("c", 3, true)
	for name, first := range map[string][]*telemetry.Event{
		"c without a counter": slices.Concat(calls("a", 5, false), calls("b", 5, false), calls("c", 3, true)),
		"c's counter lost":    slices.Concat(calls("c", 3, true), calls("a", 5, false), calls("b", 5, false)),
	} {
		t.Run(name, func(t *testing.T) {
			checkMergedBounds(t, sigs, slices.Concat(first, other), [][]*telemetry.Event{first, other})
		})
	}
	// The input signals: c's sixth call takes a's counter over (Err 5, its
	// cell's count) and is not tracked, so none of c's six calls is
	// counted under its counter; its calls on the other partition merged,
	// it is counted at least its nine.
	c.InputCallers = 2
	input := func(u string, n int) []*telemetry.Event {
		var evs []*telemetry.Event
		for i := range n {
			evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: u}, Prediction: telemetry.Prediction{Class: "k"},
				Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "x", Value: float64(len(u)*100 + i)}}}})
		}
		return evs
	}
	first, second := slices.Concat(input("a", 5), input("bb", 5), input("ccc", 6)), input("ccc", 3)
	t.Run("c's taking call not tracked", func(t *testing.T) {
		checkMergedBounds(t, []signal.Signal{Diversity{c}, OOD{c}, Harvest{c}}, slices.Concat(first, second), [][]*telemetry.Event{first, second})
	})
}

// checkMergedBounds observes each part of evs into sigs' partials, encodes,
// decodes and merges them per signal, and checks the Space-Saving bound of
// each merged summary against each caller's true calls of its kind.
func checkMergedBounds(t *testing.T, sigs []signal.Signal, evs []*telemetry.Event, parts [][]*telemetry.Event) {
	t.Helper()
	merged := make([]signal.Partial, len(sigs))
	for _, part := range parts {
		for i, p := range observeShared(sigs, part) {
			q := sigs[i].NewPartial()
			d := sketch.NewDecoder(p.AppendBinary(nil))
			if q.Decode(d); d.Err() != nil {
				t.Fatalf("%s: %v", sigs[i].Name(), d.Err())
			}
			if merged[i] == nil {
				merged[i] = q
			} else {
				merged[i].Merge(q)
			}
		}
	}
	for i, s := range sigs {
		truth := map[string]uint64{}
		for _, e := range evs {
			if e.Principal.EndUserID != "" && kinds[s.Name()](e) {
				truth[e.Principal.EndUserID]++
			}
		}
		h := settledSummary(merged[i])
		named := 0
		for caller, tc := range truth {
			if count, err := h.Count(caller); count > 0 {
				named++
				if count-err > tc || tc > count {
					t.Errorf("%s: %q counted %d (overcount %d) for %d calls", s.Name(), caller, count, err, tc)
				}
			} else if tc > h.Floor() {
				t.Errorf("%s: %q not counted, with %d calls, above the summary's floor %d", s.Name(), caller, tc, h.Floor())
			}
		}
		if named == 0 {
			t.Errorf("%s: no caller named: the calls do not test the bound", s.Name())
		}
	}
}

// TestKindFloorRefusesHostile: a summary's floor above its calls, or a
// trailer that is not a floor, does not decode; an encoding without the
// trailer (an earlier release's) decodes with a floor of 0.
func TestKindFloorRefusesHostile(t *testing.T) {
	c := DefaultConfig()
	ps := observeShared([]signal.Signal{Probing{c}}, mixedCalls(7, 2000, 100))
	enc := ps[0].AppendBinary(nil)
	n := ps[0].(*probes).kind.n
	// The trailer is the marker and the floor's varint, last.
	body := enc[:len(enc)-1-len(binary.AppendUvarint(nil, ps[0].(*probes).kind.floor(&ps[0].(*probes).ref)))]
	for name, c := range map[string]struct {
		b  []byte
		ok bool
	}{
		"as encoded":          {enc, true},
		"without the trailer": {body, true},
		"floor = calls":       {binary.AppendUvarint(append(slices.Clone(body), kindFloored), n), true},
		"floor above calls":   {binary.AppendUvarint(append(slices.Clone(body), kindFloored), n+1), false},
		"another trailer":     {binary.AppendUvarint(append(slices.Clone(body), kindFloored+1), 0), false},
		"a cut floor":         {append(slices.Clone(body), kindFloored), false},
	} {
		q := Probing{DefaultConfig()}.NewPartial()
		d := sketch.NewDecoder(c.b)
		q.Decode(d)
		if (d.Err() == nil) != c.ok {
			t.Errorf("%s: decoded %v, want %v (%v)", name, d.Err() == nil, c.ok, d.Err())
		}
		if name == "without the trailer" && q.(*probes).h.Floor() != 0 {
			t.Errorf("without the trailer: floor %d, want 0", q.(*probes).h.Floor())
		}
	}
}

// TestSettledPartialStaysFiltered: a partial scored (settled onto a
// summary of its own) and observed further counts on a filtered summary,
// and so does the next window's after a reset: what a window counts does
// not depend on whether its partial was scored before.
func TestSettledPartialStaysFiltered(t *testing.T) {
	c := DefaultConfig()
	evs := mixedCalls(17, 4000, 3000)
	for _, s := range []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}} {
		p := s.NewPartial()
		p.Observe(evs[:2000])
		s.Score(p, nil)
		p.Observe(evs[2000:2064])
		if ref := refOf(p); ref.t == nil || !ref.t.h.Filtered() {
			t.Errorf("%s: observed after scoring on a summary that is not filtered", s.Name())
		}
		p.(signal.Resetter).Reset()
		p.Observe(evs[2064:])
		if ref := refOf(p); ref.t == nil || !ref.t.h.Filtered() {
			t.Errorf("%s: the next window counts on a summary that is not filtered", s.Name())
		}
	}
}

// refOf returns an access partial's hold on its shared summary.
func refOf(p signal.Partial) *tableRef {
	switch q := p.(type) {
	case *callers:
		return &q.ref
	case *probes:
		return &q.ref
	case *diversity:
		return &q.ref
	case *ood:
		return &q.ref
	case *harvest:
		return &q.ref
	}
	return nil
}
