package access

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

func classCalls(p signal.Partial, caller string, counts ...int) {
	var evs []*telemetry.Event
	for j, n := range counts {
		for range n {
			evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: caller},
				Prediction: telemetry.Prediction{Class: fmt.Sprint("class-", j)}})
		}
	}
	p.Observe(evs)
}

// TestHarvestByHand: ten callers with classes (80, 15, 5) and a harvester
// with (50, 50, 50). Against the others' (800, 150, 50) its table has the
// chi-square statistic X² = Σ (O − E)²/E over the 2×3 table, and with 2
// degrees of freedom the p-value is exactly exp(−X²/2) (the χ²₂ survival
// function); its effect is 1 − H(0.8, 0.15, 0.05)/ln 3. The ordinary
// callers, less even than the rest, are not tested.
func TestHarvestByHand(t *testing.T) {
	s := Harvest{Config: DefaultConfig()}
	p := s.NewPartial()
	for i := range 10 {
		classCalls(p, fmt.Sprint("user-", i), 80, 15, 5)
	}
	classCalls(p, "harvester", 50, 50, 50)
	vs := s.Score(p, nil)
	if len(vs) != 2 {
		t.Fatalf("verdicts %+v, want * and the harvester", vs)
	}
	rest, row := []float64{800, 150, 50}, []float64{50, 50, 50}
	var x2 float64
	for j := range rest {
		col := rest[j] + row[j]
		for _, o := range []struct{ obs, tot float64 }{{rest[j], 1000}, {row[j], 150}} {
			e := o.tot * col / 1150
			x2 += (o.obs - e) * (o.obs - e) / e
		}
	}
	h0 := -(0.8*math.Log(0.8) + 0.15*math.Log(0.15) + 0.05*math.Log(0.05)) / math.Log(3)
	v := vs[1]
	if v.Subject != "harvester" || v.N != 150 || math.Abs(v.Statistic-1) > 1e-12 || math.Abs(v.Effect-(1-h0)) > 1e-12 {
		t.Errorf("harvester %+v, want effect %g", v, 1-h0)
	}
	if want := math.Exp(-x2 / 2); math.Abs(v.PValue-want) > 1e-9*want {
		t.Errorf("p %g, want exp(−%g/2) = %g", v.PValue, x2, want)
	}
	if !strings.Contains(v.Evidence, fmt.Sprintf("chi-square %.1f, 2 df", x2)) {
		t.Errorf("evidence %q", v.Evidence)
	}
	// The population: 1150 calls over 3 classes.
	pop := []float64{850, 200, 100}
	if math.Abs(vs[0].Statistic-normEntropy(pop, 3)) > 1e-12 || vs[0].N != 1150 {
		t.Errorf("summary %+v", vs[0])
	}
}

// TestChiSquareSurvivalPublished pins the p-values harvest relies on to
// the published critical values of the chi-square distribution (NIST
// Engineering Statistics Handbook, table 1.3.6.7.4): the statistic with
// upper tail 0.05, 0.01 and 0.001 at 1 to 4 degrees of freedom, as tables
// whose homogeneity statistic is that value.
func TestChiSquareSurvivalPublished(t *testing.T) {
	for _, c := range []struct {
		df    int
		x2, p float64
	}{
		{1, 3.841, 0.05}, {1, 6.635, 0.01}, {1, 10.828, 0.001},
		{2, 5.991, 0.05}, {2, 9.210, 0.01}, {2, 13.816, 0.001},
		{3, 7.815, 0.05}, {3, 11.345, 0.01}, {3, 16.266, 0.001},
		{4, 9.488, 0.05}, {4, 13.277, 0.01}, {4, 18.467, 0.001},
	} {
		// chi2_contingency's p-value is the χ² survival at its statistic:
		// check it through a 2×(df+1) table with that statistic, found by
		// scaling a fixed imbalance.
		ref, cur := make([]float64, c.df+1), make([]float64, c.df+1)
		for j := range ref {
			ref[j] = 1000
		}
		lo, hi := 0.0, 900.0
		var r stat.ChiSquareResult
		for range 200 {
			mid := (lo + hi) / 2
			for j := range cur {
				cur[j] = 1000
			}
			cur[0] += mid
			r = stat.ChiSquare(ref, cur)
			if r.Statistic < c.x2 {
				lo = mid
			} else {
				hi = mid
			}
		}
		if r.DoF != c.df || math.Abs(r.PValue-c.p) > 1e-3*c.p+2e-5 {
			t.Errorf("df %d, X² %g: p %g, published %g", c.df, c.x2, r.PValue, c.p)
		}
	}
}

// oodCalls returns n calls of caller whose feature f0 is value(i).
func oodCalls(caller string, from, n int, value func(i int) float64) []*telemetry.Event {
	evs := make([]*telemetry.Event, n)
	for i := range evs {
		evs[i] = &telemetry.Event{PredictionID: fmt.Sprintf("p-%d", from+i), Principal: telemetry.Principal{EndUserID: caller},
			Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "f0", Value: value(i)}}}}
	}
	return evs
}

// TestOODByHand: a reference of f0 = 1, ..., 1000 has a central range from
// about 3 to about 990 (the 0.5 % and 99.5 % quantiles of its distinct
// quantized inputs); ten callers send the same 150 inputs inside it, a
// fuzzer 120 of those and 30 of its own far outside (2000·1.02^j), the
// first of them 500 times more (an input counts once). The population has
// 180 distinct inputs, all in its sample, 30 outside ("*"); the fuzzer is
// compared with the other callers' 320 sampled inputs (32 each), none
// outside: p₀ = ½/321. Its sample is the 32 of its 150 distinct inputs with
// the smallest hashes, and its p-value the exact binomial tail.
func TestOODByHand(t *testing.T) {
	s := OOD{Config: DefaultConfig()}
	ref, cur := s.NewPartial(), s.NewPartial()
	ref.Observe(oodCalls("r", 0, 1000, func(i int) float64 { return float64(i + 1) }))
	for c := range 10 {
		cur.Observe(oodCalls(fmt.Sprint("user-", c), 10000+1000*c, 150, func(i int) float64 { return float64(100 + 5*i) }))
	}
	fuzz := oodCalls("fuzzer", 50000, 150, func(i int) float64 {
		if i >= 120 {
			return 2000 * math.Pow(1.02, float64(i-120))
		}
		return float64(100 + 5*i)
	})
	cur.Observe(fuzz)
	cur.Observe(oodCalls("fuzzer", 60000, 500, func(int) float64 { return 2000 })) // repeats count once
	vs := s.Score(cur, ref)
	if len(vs) != 2 || vs[0].Statistic != 30.0/180 {
		t.Fatalf("verdicts %+v", vs)
	}
	slices.SortFunc(fuzz, func(a, b *telemetry.Event) int {
		ha, _ := inputHash(a)
		hb, _ := inputHash(b)
		return cmpUint(ha, hb)
	})
	x := 0
	for _, e := range fuzz[:32] {
		if e.Features.Numeric[0].Value >= 2000 {
			x++
		}
	}
	p0 := 0.5 / 321
	v := vs[1]
	if v.Subject != "fuzzer" || v.N != 32 || v.Statistic != float64(x)/32 || math.Abs(v.Effect-(float64(x)/32-p0)) > 1e-12 {
		t.Errorf("fuzzer %+v, want %d of 32 outside", v, x)
	}
	if want := binomialTail(int64(x), 32, p0); math.Abs(v.PValue-want) > 1e-9*want {
		t.Errorf("p %g, want %g", v.PValue, want)
	}
	// Without a reference the range is the window's own.
	if vs := s.Score(cur, nil); !strings.Contains(vs[0].Evidence, "this window's calls") {
		t.Errorf("without a reference: %+v", vs[0])
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestCallerPartialsMergeAndDecode: below their bounds the partials of any
// split of a window, encoded, decoded and merged in any order, are the
// partial of every event, byte for byte, whatever the order of each
// event's features.
func TestCallerPartialsMergeAndDecode(t *testing.T) {
	w := newWorld(21)
	evs := shuffled(w, w.ordinaryCallers(100, 15), w.actor("extractor-1", 300, w.spray))
	for _, s := range newSignals()[1:] {
		all := observe([]signal.Signal{s}, evs)[0]
		want := all.AppendBinary(nil)
		parts := make([]signal.Partial, 3)
		for i := range parts {
			parts[i] = s.NewPartial()
		}
		for i, e := range evs {
			if i%2 == 1 { // the producer's feature order does not matter
				r := *e
				r.Features.Numeric = slices.Clone(e.Features.Numeric)
				slices.Reverse(r.Features.Numeric)
				e = &r
			}
			parts[(i*7)%3].Observe([]*telemetry.Event{e})
		}
		for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}} {
			merged := s.NewPartial()
			for _, i := range order {
				q := s.NewPartial()
				d := sketch.NewDecoder(parts[i].AppendBinary(nil))
				q.Decode(d)
				if d.Err() != nil || d.Remaining() != 0 {
					t.Fatalf("%s: decoding part %d: %v", s.Name(), i, d.Err())
				}
				merged.Merge(q)
			}
			if got := merged.AppendBinary(nil); !bytes.Equal(got, want) {
				t.Errorf("%s: merged in order %v differs from the partial of every event", s.Name(), order)
			}
			if fmt.Sprint(s.Score(merged, nil)) != fmt.Sprint(s.Score(all, nil)) {
				t.Errorf("%s: merged in order %v scores differently", s.Name(), order)
			}
		}
	}
}

// TestCallerPartialsRefuseHostileInput: encodings that break a bound or
// an invariant fail to decode, without allocating beyond the bounds.
func TestCallerPartialsRefuseHostileInput(t *testing.T) {
	c := DefaultConfig()
	hh := func(n uint64, keys ...string) []byte { // N, then each key with count 1
		h := sketch.NewHeavyHitters(1000)
		for _, k := range keys {
			h.Add(k, 1)
		}
		h.N = n
		return h.AppendBinary(nil)
	}
	emptyHLL := []byte{0}
	for _, tc := range []struct {
		name string
		s    signal.Signal
		b    []byte
		err  string
	}{
		{"diversity: callers beyond calls", Diversity{c}, slices.Concat([]byte{0}, emptyHLL, hh(1, "a")), "callers with 1 of 0 calls"},
		{"diversity: register", Diversity{c}, slices.Concat([]byte{1}, []byte{1, 1, 0, 99}), "value 99"},
		{"diversity: too many callers", Diversity{c}, slices.Concat([]byte{0xff, 0x0f}, emptyHLL, []byte{0xff, 0x0f, 0xff, 0x0f}, bytes.Repeat([]byte{1, 'a', 1, 0, 0}, 300)), "at most 256"},
		{"harvest: classes beyond the bound", Harvest{c}, []byte{5, 33}, "at most 32"},
		{"harvest: class twice", Harvest{c}, []byte{2, 2, 1, 'a', 1, 'a'}, "twice"},
		{"harvest: classes beyond calls", Harvest{c}, []byte{2, 1, 1, 'a', 2, 1}, "more than the 2 calls"},
		{"harvest: caller's classes beyond its calls", Harvest{c}, slices.Concat([]byte{2, 1, 1, 'a', 1, 1}, hh(2, "x"), []byte{2, 0}), "more calls of a class"},
		{"harvest: caller's classes short of its calls", Harvest{c}, slices.Concat([]byte{2, 1, 1, 'a', 2, 0}, hh(2, "x"), []byte{0, 0}), "0 of its 1 calls"},
		{"ood: features beyond the bound", OOD{c}, []byte{5, 17}, "at most 16"},
		{"ood: sample beyond calls", OOD{c}, []byte{1, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, "2 inputs sampled of 1 calls"},
		{"ood: sample out of order", OOD{c}, slices.Concat([]byte{5, 0, 2}, []byte{2, 0, 0, 0, 0, 0, 0, 0}, []byte{1, 0, 0, 0, 0, 0, 0, 0}), "out of order"},
		{"ood: caller sample beyond its calls", OOD{c}, slices.Concat([]byte{5, 0, 0}, hh(5, "x"), []byte{2}, make([]byte, 16)), "at most 1"},
	} {
		d := sketch.NewDecoder(tc.b)
		tc.s.NewPartial().Decode(d)
		if d.Err() == nil || !strings.Contains(d.Err().Error(), tc.err) {
			t.Errorf("%s: %v, want an error about %q", tc.name, d.Err(), tc.err)
		}
	}
}

// FuzzCallerPartialsDecode feeds hostile bytes to the three partials'
// decoders (the first byte picks one): they never panic, and what they
// accept encodes back to bytes that decode to the same partial.
func FuzzCallerPartialsDecode(f *testing.F) {
	w := newWorld(31)
	evs := shuffled(w, w.ordinaryCallers(5, 10), w.actor("x", 20, w.spray))
	sigs := newSignals()[1:]
	for i, s := range sigs {
		f.Add(append([]byte{byte(i)}, observe([]signal.Signal{s}, evs)[0].AppendBinary(nil)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		s := sigs[int(b[0])%len(sigs)]
		p := s.NewPartial()
		d := sketch.NewDecoder(b[1:])
		p.Decode(d)
		if d.Err() != nil {
			return
		}
		again := p.AppendBinary(nil)
		q := s.NewPartial()
		d2 := sketch.NewDecoder(again)
		q.Decode(d2)
		if d2.Err() != nil || !bytes.Equal(q.AppendBinary(nil), again) {
			t.Fatalf("%s: re-encoding does not decode to the same partial: %v", s.Name(), d2.Err())
		}
		s.Score(p, q)
	})
}

// callersAndCalls returns the names of distinct callers and a pool of 4,096
// calls with ordinary inputs and classes, without a caller.
func callersAndCalls(w *world, distinct int) (keys []string, pool []*telemetry.Event) {
	keys = make([]string, distinct)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%07d", i)
	}
	pool = make([]*telemetry.Event, 4096)
	for i := range pool {
		pool[i] = w.event("", w.ordinary())
	}
	return keys, pool
}

// boundEvents returns batches of calls of distinct callers (far more than
// any bound) with ordinary inputs and classes, and a few heavy callers.
func boundEvents(w *world, distinct, n int) [][]*telemetry.Event {
	keys, pool := callersAndCalls(w, distinct)
	var batches [][]*telemetry.Event
	for b := 0; b < n; b += 64 {
		batch := make([]*telemetry.Event, 64)
		for i := range batch {
			e := *pool[w.rng.IntN(len(pool))]
			e.PredictionID = fmt.Sprintf("pred-%09d", b+i)
			e.Principal.EndUserID = keys[w.rng.IntN(distinct)]
			if w.rng.IntN(4) == 0 {
				e.Principal.EndUserID = keys[w.rng.IntN(10)]
			}
			batch[i] = &e
		}
		batches = append(batches, batch)
	}
	return batches
}

// TestCallerPartialsDoNotAllocateAtTheBound: once their callers, samples
// and classes have reached their bounds, observing allocates nothing per
// event.
func TestCallerPartialsDoNotAllocateAtTheBound(t *testing.T) {
	w := newWorld(41)
	batches := boundEvents(w, 50000, 200000)
	for _, s := range newSignals() {
		p := s.NewPartial()
		for _, b := range batches[:len(batches)/2] {
			p.Observe(b)
		}
		i := len(batches) / 2
		if a := testing.AllocsPerRun(200, func() { p.Observe(batches[i]); i++ }); a != 0 {
			t.Errorf("%s: %v allocations per batch of 64 calls", s.Name(), a)
		}
	}
}

// streamCalls observes n calls into ps, 64 at a time through the same
// reused events (the partials keep none of their strings): seven in eight
// from ordinary callers, the i-th of them from caller i·7919 mod distinct
// (7919 is prime, so every one of the distinct callers calls once 7n/8 ≥
// distinct), the others from ten heavy callers, each call's input and
// class drawn from a pool of ordinary ones.
func streamCalls(w *world, ps []signal.Partial, distinct, n int) {
	keys, pool := callersAndCalls(w, distinct)
	batch, ids := make([]*telemetry.Event, 64), make([]string, 64)
	for i := range batch {
		batch[i] = new(telemetry.Event)
	}
	ordinary := 0
	for b := 0; b < n; b += len(batch) {
		for i, e := range batch {
			*e = *pool[w.rng.IntN(len(pool))]
			ids[i] = fmt.Sprintf("pred-%09d", b+i)
			e.PredictionID = ids[i]
			if w.rng.IntN(8) == 0 {
				e.Principal.EndUserID = keys[w.rng.IntN(10)]
			} else {
				e.Principal.EndUserID = keys[ordinary*7919%distinct]
				ordinary++
			}
		}
		for _, p := range ps {
			p.Observe(batch)
		}
	}
}

// TestCallerPartialsMemoryIsFlat: the five caller signals' partials of a
// window, observed at the default bounds over 1,310,720 calls of 10,000 and
// then of 1,000,000 distinct callers (an eighth from ten heavy ones; every
// caller calls, as caller_volume's count of the window's callers shows),
// hold the same memory within 5% (and 64 KiB): what falls out of the
// summaries is counted, not kept (BenchmarkCallerSignals prints the bytes).
func TestCallerPartialsMemoryIsFlat(t *testing.T) {
	c := DefaultConfig()
	sigs := []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}}
	const calls = 20 << 16
	retained := func(distinct int) int64 {
		w := &world{rng: rand.New(rand.NewPCG(51, 52))}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ps := make([]signal.Partial, len(sigs))
		for i, s := range sigs {
			ps[i] = s.NewPartial()
		}
		streamCalls(w, ps, distinct, calls)
		runtime.GC()
		runtime.ReadMemStats(&after)
		// caller_volume estimates the window's callers (tracked, and the
		// others by a sketch of their names): all of them called.
		v := ps[0].(*callers)
		v.settle()
		if _, _, n := v.population(); math.Abs(n/float64(distinct)-1) > 0.05 {
			t.Errorf("about %.0f callers estimated, want %d: not every caller called", n, distinct)
		}
		runtime.KeepAlive(ps)
		return int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	small, large := retained(10_000), retained(1_000_000)
	t.Logf("retained: %d bytes with 10,000 callers, %d with 1,000,000", small, large)
	if small <= 0 || float64(large) > 1.05*float64(small)+64<<10 {
		t.Errorf("the partials hold %d bytes with 1,000,000 callers against %d with 10,000; want them flat", large, small)
	}
}

// BenchmarkCallerSignals observes calls of 10,000 to 1,000,000 distinct
// callers (a quarter from ten heavy ones) into each new signal's partial at
// the default bounds: the bytes the partial holds (retained_bytes) stay
// flat, and nothing is allocated per call.
func BenchmarkCallerSignals(b *testing.B) {
	for _, s := range newSignals()[1:] {
		for _, distinct := range []int{10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%d", s.Name(), distinct), func(b *testing.B) {
				w := &world{rng: rand.New(rand.NewPCG(51, 52))}
				batches := boundEvents(w, distinct, 1<<18)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				p := s.NewPartial()
				for _, batch := range batches { // to the bound
					p.Observe(batch)
				}
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for n := 0; n < b.N; n += 64 {
					p.Observe(batches[i%len(batches)])
					i++
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/call")
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "retained_bytes")
				runtime.KeepAlive(p)
				runtime.KeepAlive(batches)
			})
		}
	}
}

// TestInputHasher: the hash does not depend on the order of the features,
// the cache of names changes nothing (also when the order changes from one
// call to the next), and values in one cell of the grid are one input.
func TestInputHasher(t *testing.T) {
	w := newWorld(61)
	var x inputHasher
	for i := range 200 {
		e := w.event("c", w.ordinary())
		e.Features.Categorical = []telemetry.Category{{Name: "country", Value: fmt.Sprint("c", i%7)}, {Name: "device", Value: "ios"}}
		if i%3 == 0 {
			slices.Reverse(e.Features.Numeric)
			slices.Reverse(e.Features.Categorical)
		}
		// A decoder names each list of names (NamesID): the names are
		// then hashed once per list, not compared per call.
		if i%2 == 0 {
			e.Features.NamesID = 1 + uint64(min(i%3, 1)) // one ID per order
		}
		h1, ok1 := x.hash(e)
		h2, ok2 := inputHash(e)
		if h1 != h2 || !ok1 || !ok2 {
			t.Fatalf("call %d: cached %x, uncached %x", i, h1, h2)
		}
	}
	a := &telemetry.Event{Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "f", Value: 1000}}}}
	b := &telemetry.Event{Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "f", Value: 1001}}}}
	c := &telemetry.Event{Features: telemetry.Features{Numeric: []telemetry.Number{{Name: "f", Value: 1010}}}}
	ha, _ := x.hash(a)
	hb, _ := x.hash(b)
	hc, _ := x.hash(c)
	if ha != hb || ha == hc {
		t.Errorf("1000 and 1001 (one cell of 4) hash %x, %x; 1010 %x", ha, hb, hc)
	}
	if _, ok := x.hash(&telemetry.Event{}); ok {
		t.Error("a call without inputs has an input")
	}
	// The column the caller signals share holds the same hashes, and
	// caller_ood keeps the codes by column, also when the order or the
	// names change.
	o := OOD{Config: DefaultConfig()}.NewPartial().(*ood)
	var batch signal.Batch
	for i := range 200 {
		e := w.event("c", w.ordinary())
		e.Features.Categorical = []telemetry.Category{{Name: "country", Value: fmt.Sprint("c", i%7)}}
		if i%3 == 0 {
			slices.Reverse(e.Features.Numeric)
		}
		if i%5 == 0 {
			e.Features.Numeric = append(e.Features.Numeric, telemetry.Number{Name: fmt.Sprint("extra", i%2), Value: float64(i)})
		}
		want, _ := inputHash(e)
		batch.Reset([]*telemetry.Event{e, {}})
		if got := batch.Uint64s(&inputHashes); got[0] != want || got[1] != 0 {
			t.Fatalf("call %d: the column holds %x, the input's hash %x", i, got, want)
		}
		codes := make([]uint16, o.d)
		o.codes(e, codes)
		for _, n := range e.Features.Numeric {
			if col := slices.Index(o.names, n.Name); col < 0 || codes[col] != code(n.Value) {
				t.Fatalf("call %d: %s at column %d: code %d, want %d", i, n.Name, col, codes[max(col, 0)], code(n.Value))
			}
		}
	}
}

// TestSlotsChangeHandsClean: caller_diversity and caller_harvest clear a
// slot that changes hands after few calls by what those calls set only;
// the state is the one of clearing every slot whole (forced after each
// batch), over 50,000 callers taking 256 counters over.
func TestSlotsChangeHandsClean(t *testing.T) {
	w := newWorld(71)
	batches := boundEvents(w, 50000, 40000)
	for _, s := range []signal.Signal{Diversity{DefaultConfig()}, Harvest{DefaultConfig()}} {
		lazy, whole := s.NewPartial(), s.NewPartial()
		for _, b := range batches {
			lazy.Observe(b)
			whole.Observe(b)
			switch p := whole.(type) {
			case *diversity:
				p.forgetInputs()
			case *harvest:
				p.forgetRecent()
			}
		}
		if string(lazy.AppendBinary(nil)) != string(whole.AppendBinary(nil)) {
			t.Errorf("%s: clearing what a slot's calls set differs from clearing the slot whole", s.Name())
		}
	}
}

// TestVecSampleKeepsTheSmallestKeys: a sample offered many keys, repeats
// among them, holds the k smallest distinct ones, each with the codes it
// was offered with, through replacements of its largest key, an encoding
// and a merge; for the population's indexed sample and a caller's.
func TestVecSampleKeepsTheSmallestKeys(t *testing.T) {
	const d = 3
	codesOf := func(key uint64) []uint16 { return []uint16{uint16(key), uint16(key >> 16), uint16(key>>32) | 1} }
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		name string
		k    int
		s    vecSample
	}{{"population", oodPopulation, indexed(vecSample{})}, {"caller", 32, vecSample{}}} {
		var offered []uint64
		for range 20_000 {
			key := rng.Uint64() >> 1
			if len(offered) > 0 && rng.IntN(4) == 0 {
				key = offered[rng.IntN(len(offered))] // sent again
			}
			offered = append(offered, key)
			if codes, ok := c.s.offer(key, c.k, d); ok {
				copy(codes, codesOf(key))
			}
		}
		want := slices.Compact(slices.Sorted(slices.Values(offered)))[:c.k]
		check := func(what string, s *vecSample) {
			t.Helper()
			if got := slices.Sorted(slices.Values(s.keys)); !slices.Equal(got, want) {
				t.Fatalf("%s %s: holds %d keys, not the %d smallest distinct", c.name, what, len(got), c.k)
			}
			for i, key := range s.keys {
				if !slices.Equal(s.row(i, d), codesOf(key)) {
					t.Fatalf("%s %s: key %x has codes %v, offered with %v", c.name, what, key, s.row(i, d), codesOf(key))
				}
				if i > 0 && s.keys[(i-1)/2] < key {
					t.Fatalf("%s %s: key %d is larger than its parent in the heap", c.name, what, i)
				}
			}
		}
		check("offered", &c.s)
		dec := sketch.NewDecoder(appendSample(nil, &c.s, d, []int{0, 1, 2}))
		var back vecSample
		decodeSample(dec, &back, c.k, d, d)
		if dec.Err() != nil {
			t.Fatal(dec.Err())
		}
		check("decoded", &back)
		// Merged with a sample of larger keys, it is unchanged; a smaller
		// key offered after the merge replaces the largest.
		var large vecSample
		for i := range c.k {
			large.add(want[len(want)-1]+uint64(i)+1, codesOf(want[len(want)-1]+uint64(i)+1))
		}
		merged := mergeSample(&back, &large, []int{0, 1, 2}, c.k, d)
		check("merged", &merged)
		if codes, ok := merged.offer(0, c.k, d); !ok || len(codes) != d || merged.keys[0] != want[c.k-2] {
			t.Fatalf("%s: offering the smallest key after the merge: taken %v, largest now %x, want %x", c.name, ok, merged.keys[0], want[c.k-2])
		}
	}
}

// TestResetPartialsObserveAsNew: each access partial, filled by one window
// of 10,000 heavy-tailed callers and reset, observes the next window as a
// new partial does (the same encoding and verdicts), and a reset partial
// observing a window like the one it held allocates nothing.
func TestResetPartialsObserveAsNew(t *testing.T) {
	batches := generatedBatches(t, 10_000, 20_000)
	first, second := batches[:len(batches)/2], batches[len(batches)/2:]
	c := DefaultConfig()
	for _, s := range []signal.Signal{Volume{c}, Probing{c}, Diversity{c}, OOD{c}, Harvest{c}} {
		used, fresh := s.NewPartial(), s.NewPartial()
		r, ok := used.(signal.Resetter)
		if !ok {
			t.Fatalf("%s: no Reset", s.Name())
		}
		for _, b := range first {
			used.Observe(b)
		}
		r.Reset()
		for _, b := range second {
			used.Observe(b)
			fresh.Observe(b)
		}
		if !bytes.Equal(used.AppendBinary(nil), fresh.AppendBinary(nil)) {
			t.Errorf("%s: a reset partial encodes differently from a new one", s.Name())
		}
		if fmt.Sprint(s.Score(used, nil)) != fmt.Sprint(s.Score(fresh, nil)) {
			t.Errorf("%s: a reset partial scores differently from a new one", s.Name())
		}
		if a := testing.AllocsPerRun(3, func() {
			r.Reset()
			for _, b := range first {
				used.Observe(b)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations observing a window after a reset", s.Name(), a)
		}
	}
}

// TestOrderPairIsTheSortedValues: the central range's ends found without
// sorting are the sorted sample's, near the ends and far from them, with
// ties and small samples.
func TestOrderPairIsTheSortedValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 2, 3, 200, 2048} {
		for _, spread := range []int{2, 50, 65535} {
			for _, q := range []float64{0, 0.005, 0.01, 0.05, 0.2, 0.24} {
				vals := make([]uint16, n)
				for k := range vals {
					vals[k] = uint16(1 + rng.IntN(spread))
				}
				sorted := slices.Sorted(slices.Values(vals))
				m := float64(n - 1)
				i, j := int(math.Floor(q*m)), int(math.Ceil((1-q)*m))
				lo, hi := orderPair(vals, i, j)
				if lo != sorted[i] || hi != sorted[j] {
					t.Fatalf("n %d spread %d q %g: got %d, %d; sorted %d, %d", n, spread, q, lo, hi, sorted[i], sorted[j])
				}
			}
		}
	}
}
