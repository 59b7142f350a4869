package poisoning

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// exactConfig has tables large enough for the test windows, so that merges
// are exact.
func exactConfig() Config {
	c := DefaultConfig()
	c.MaxFingerprints, c.MaxPairs = 16384, 16384
	return c
}

// attacked returns clean examples with a flipper, a flood and a backdoor
// mixed in.
func attacked(seed uint64, n int) []Example {
	w := newWorld(seed, 50)
	es := w.examples(n)
	for i, e := range labelled("flipper", 300, 150) {
		e.Numeric, e.Categorical = es[i].Numeric, es[i].Categorical
		es = append(es, e)
	}
	es = append(es, flood(300, strings.Repeat("cd", 32))...)
	es = append(es, backdoor(w, 100, 1, "promo", "c")...)
	// Shuffle deterministically, so that every split mixes them.
	for i := range es {
		j := int(mix64(uint64(i)+seed) % uint64(i+1))
		es[i], es[j] = es[j], es[i]
	}
	return es
}

// samePartial reports whether two partials hold the same state: the same
// bytes, except for drift, whose moments are floating-point sums in another
// order and whose samples are heaps in another order (its labels and its
// examples' ids compared as bytes).
func samePartial(t *testing.T, a, b Partial) {
	t.Helper()
	da, ok := a.(*drifts)
	if !ok {
		if !bytes.Equal(a.AppendBinary(nil), b.AppendBinary(nil)) {
			t.Fatalf("%T: states differ", a)
		}
		return
	}
	db := b.(*drifts)
	if !bytes.Equal(da.labels.appendBinary(nil), db.labels.appendBinary(nil)) || da.malformed != db.malformed {
		t.Fatal("drift labels differ")
	}
	if !bytes.Equal(da.examples.AppendBinary(nil), db.examples.AppendBinary(nil)) {
		t.Fatal("drift examples differ")
	}
	for j := range da.numeric {
		x, y := &da.numeric[j], &db.numeric[j]
		if x.Count != y.Count || !close(x.Mean, y.Mean, 1e-12) || !close(x.M2, y.M2, 1e-9) || x.Min != y.Min || x.Max != y.Max {
			t.Fatalf("feature %d: moments differ", j)
		}
		if !slices.Equal(keyed(&x.Sample), keyed(&y.Sample)) {
			t.Fatalf("feature %d: samples differ", j)
		}
	}
}

func keyed(s *sketch.Sample) []string {
	out := make([]string, s.Len())
	for i, k := range s.Keys() {
		out[i] = fmt.Sprint(k, ":", s.Values()[i])
	}
	slices.Sort(out)
	return out
}

// TestMergeEqualsObservingAll: three partitions of 3,000 attacked examples,
// split round-robin or in blocks, merge into the state of observing them
// all: exactly, counts, ids and samples (bottom-k by id hash), while the
// tables hold every key; merging an empty partial changes nothing.
func TestMergeEqualsObservingAll(t *testing.T) {
	es := attacked(41, 3000)
	for _, s := range Signals(exactConfig(), testFeatures) {
		all := observed(s, es)
		for _, split := range []string{"round-robin", "blocks"} {
			parts := []Partial{s.NewPartial(), s.NewPartial(), s.NewPartial()}
			for i := range es {
				k := i % 3
				if split == "blocks" {
					k = i * 3 / len(es)
				}
				parts[k].Observe(es[i : i+1])
			}
			parts[2].Merge(parts[0])
			parts[2].Merge(parts[1])
			parts[2].Merge(s.NewPartial())
			samePartial(t, all, parts[2])
			if got, want := fmt.Sprint(s.Score(parts[2], nil)), fmt.Sprint(s.Score(all, nil)); got != want {
				t.Fatalf("%s, %s: verdicts differ", s.Name(), split)
			}
		}
	}
}

// TestEncodingRoundTrips: every partial decodes from its encoding to the
// same state (encoding again gives the same bytes) and the same verdicts.
func TestEncodingRoundTrips(t *testing.T) {
	es := attacked(42, 3000)
	ref := newWorld(43, 50).examples(3000)
	for _, s := range Signals(DefaultConfig(), testFeatures) {
		p, r := observed(s, es), observed(s, ref)
		q := roundTrip(t, s, p)
		if !bytes.Equal(p.AppendBinary(nil), q.AppendBinary(nil)) {
			t.Fatalf("%s: encoding again differs", s.Name())
		}
		if got, want := fmt.Sprint(s.Score(q, roundTrip(t, s, r))), fmt.Sprint(s.Score(p, r)); got != want {
			t.Fatalf("%s: verdicts differ after a round trip:\n%s\n%s", s.Name(), got, want)
		}
		if e := s.NewPartial(); !bytes.Equal(roundTrip(t, s, e).AppendBinary(nil), e.AppendBinary(nil)) {
			t.Fatalf("%s: empty partial", s.Name())
		}
	}
}

// TestObserveKeepsNoAliases: the examples' strings alias one buffer, which
// is overwritten once Observe returns; every partial is the same as one fed
// copies (it copied what it kept).
func TestObserveKeepsNoAliases(t *testing.T) {
	es := attacked(44, 2000)
	var buf []byte
	type span struct{ at, n int }
	put := func(s string) span { buf = append(buf, s...); return span{len(buf) - len(s), len(s)} }
	spans := make([][]span, len(es))
	for i, e := range es {
		spans[i] = []span{put(e.ID), put(e.Source), put(e.ProposedLabel), put(e.PredictedLabel), put(e.ContentSHA256)}
		for _, c := range e.Categorical {
			spans[i] = append(spans[i], put(c))
		}
	}
	str := func(s span) string { return unsafe.String(unsafe.SliceData(buf[s.at:]), s.n) }
	aliased := make([]Example, len(es))
	for i, e := range es {
		sp := spans[i]
		aliased[i] = Example{ID: str(sp[0]), Source: str(sp[1]), ProposedLabel: str(sp[2]), PredictedLabel: str(sp[3]),
			ContentSHA256: str(sp[4]), Numeric: e.Numeric, Categorical: make([]string, len(e.Categorical))}
		for j := range e.Categorical {
			aliased[i].Categorical[j] = str(sp[5+j])
		}
	}
	for _, s := range Signals(DefaultConfig(), testFeatures) {
		p := observed(s, aliased)
		for i := range buf {
			buf[i] = 'X'
		}
		samePartial(t, observed(s, es), p)
		// Restore for the next signal.
		buf = buf[:0]
		for _, e := range es {
			put(e.ID)
			put(e.Source)
			put(e.ProposedLabel)
			put(e.PredictedLabel)
			put(e.ContentSHA256)
			for _, c := range e.Categorical {
				put(c)
			}
		}
	}
}

// TestObserveDoesNotAllocate: once its state is at its bound, no partial
// allocates to observe examples, whatever their sources, ids, contents and
// values (new keys take over counters in place).
func TestObserveDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSources, cfg.MaxFingerprints, cfg.MaxPairs, cfg.MaxLabels, cfg.SpectralSample, cfg.DriftSample = 8, 8, 16, 2, 16, 16
	w := newWorld(45, 200)
	batches := make([][]Example, 50)
	for i := range batches {
		batches[i] = w.examples(64)
		for j := range batches[i] {
			batches[i][j].ProposedLabel = fmt.Sprint("label-", i*64+j) // every label new
		}
	}
	for _, s := range Signals(cfg, testFeatures) {
		p := s.NewPartial()
		for _, b := range batches[:10] {
			p.Observe(b)
		}
		i := 10
		if a := testing.AllocsPerRun(200, func() { p.Observe(batches[i%len(batches)]); i++ }); a != 0 {
			t.Errorf("%s: %v allocations per batch of 64", s.Name(), a)
		}
	}
}

// TestConfigValidate: the defaults are valid; each bad field is named.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := testFeatures.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mutate := range map[string]func(*Config){
		"max_sources":      func(c *Config) { c.MaxSources = 0 },
		"min_count":        func(c *Config) { c.MinCount = 1 },
		"quantize_digits":  func(c *Config) { c.QuantizeDigits = 16 },
		"drift_sample":     func(c *Config) { c.DriftSample = 10001 },
		"epsilon":          func(c *Config) { c.Epsilon = 1 },
		"outlier_score":    func(c *Config) { c.OutlierScore = math.Inf(1) },
		"label_flip":       func(c *Config) { c.LabelFlip.Critical = 0.01 },
		"max_fingerprints": func(c *Config) { c.MaxFingerprints = -1 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	for _, f := range []Features{{Numeric: []string{"a", "a"}}, {Numeric: []string{"a"}, Categorical: []string{"a"}}, {Categorical: []string{""}}} {
		if f.Validate() == nil {
			t.Errorf("features %+v valid", f)
		}
	}
}

// TestMalformedExamplesAreCountedNotFatal: examples whose feature slices
// have the wrong length, or with nothing in them, are counted or skipped,
// and every signal still scores.
func TestMalformedExamplesAreCountedNotFatal(t *testing.T) {
	bad := []Example{{}, {ID: "a", ProposedLabel: "x", Numeric: []float64{1}}, {ID: "b", ProposedLabel: "y", Categorical: []string{"q"}},
		{ID: "c", Source: "s", ProposedLabel: "x", PredictedLabel: "x", Numeric: []float64{math.NaN(), math.Inf(1), 1, 2}, Categorical: []string{"", ""}}}
	for _, s := range Signals(DefaultConfig(), testFeatures) {
		p := observed(s, bad)
		for _, ref := range []Partial{nil, p, s.NewPartial()} {
			checkVerdicts(t, s.Name(), s.Score(p, ref))
			checkVerdicts(t, s.Name(), s.Score(s.NewPartial(), ref))
		}
	}
}

// checkVerdicts checks what every verdict must be: bounded evidence and
// subject, valid UTF-8, p-values in [0, 1].
func checkVerdicts(t testing.TB, name string, vs []signal.Verdict) {
	t.Helper()
	for _, v := range vs {
		if len(v.Evidence) > MaxEvidence || !validUTF8(v.Evidence) || !validUTF8(v.Subject) || len(v.Subject) > maxSubject || v.Subject == "" {
			t.Fatalf("%s: verdict %+v", name, v)
		}
		if v.Decides() && !(v.PValue >= 0 && v.PValue <= 1) {
			t.Fatalf("%s: p-value %v", name, v.PValue)
		}
	}
}
