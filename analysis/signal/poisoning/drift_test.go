package poisoning

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// TestLabelShiftAgainstScipy: proposed labels a/b/c counted 700/200/100 in
// the reference and 520/180/300 in the window give scipy's
// chi2_contingency statistic and p-value; the largest change of a share,
// c's 0.1 → 0.3, is critical.
func TestLabelShiftAgainstScipy(t *testing.T) {
	want := loadReference(t).Chi2
	s := Drift{DefaultConfig(), Features{}}
	fill := func(counts []float64) Partial {
		p := s.NewPartial()
		for i, n := range counts {
			for j := range int(n) {
				p.Observe([]Example{{ID: fmt.Sprint(i, "-", j), ProposedLabel: []string{"a", "b", "c"}[i]}})
			}
		}
		return p
	}
	vs := s.Score(fill(want.Current), fill(want.Reference))
	if len(vs) != 1 {
		t.Fatalf("%+v", vs)
	}
	v := vs[0]
	if v.Subject != "*" || !close(v.Statistic, want.Statistic, 1e-10) || !close(v.PValue, want.P, 1e-8) || !close(v.Effect, 0.2, 1e-12) {
		t.Fatalf("%+v, scipy %v %v", v, want.Statistic, want.P)
	}
	decide(0.01, vs)
	if vs[0].Severity != verdict.SeverityCritical {
		t.Fatalf("severity %s", vs[0].Severity)
	}
}

// TestDriftOfANumericFeature: a feature shifted by half a standard
// deviation (KS D about 0.2) is a warning, with the statistic of the whole
// data (800 values, all sampled); an unchanged feature is not.
func TestDriftOfANumericFeature(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	s := Drift{DefaultConfig(), Features{Numeric: []string{"moved", "still"}}}
	draw := func(prefix string, shift float64) (Partial, []float64) {
		p := s.NewPartial()
		var moved []float64
		for i := range 800 {
			x := rng.NormFloat64() + shift
			moved = append(moved, x)
			p.Observe([]Example{{ID: fmt.Sprint(prefix, i), Numeric: []float64{x, rng.NormFloat64()}}})
		}
		slices.Sort(moved)
		return p, moved
	}
	ref, x := draw("r", 0)
	cur, y := draw("c", 0.5)
	vs := s.Score(cur, ref)
	decide(0.01, vs)
	moved, still := find(vs, "moved"), find(vs, "still")
	if moved == nil || still == nil || moved.Severity != verdict.SeverityWarning || still.Severity != verdict.SeverityOK {
		t.Fatalf("%+v", vs)
	}
	if ks := stat.KolmogorovSmirnov(y, x); moved.Statistic != ks.Statistic {
		t.Fatalf("D %v, of the whole data %v", moved.Statistic, ks.Statistic)
	}
	if s.Score(cur, nil) != nil {
		t.Fatal("verdicts without a reference")
	}
}

// TestLabelShiftNamesItsSources: a source flooding one proposed label shifts
// the window's labels against the reference; the verdict names that label,
// the flooding source among the sampled examples' sources, and ids of the
// window's examples with that label.
func TestLabelShiftNamesItsSources(t *testing.T) {
	s := Drift{DefaultConfig(), Features{}}
	w := newWorld(41, 20)
	ref := observed(s, w.examples(1000))
	es := fromMallory(w, 500, 300, func(_ int, e *Example) { e.ProposedLabel = "c" })
	labelOf := map[string]string{}
	for _, e := range es {
		labelOf[e.ID] = e.ProposedLabel
	}
	vs := s.Score(roundTrip(t, s, observed(s, es)), roundTrip(t, s, ref))
	v := find(vs, "*")
	if v == nil {
		t.Fatalf("no label shift verdict: %+v", vs)
	}
	ev := v.Evidence
	if !strings.HasPrefix(ev, `proposed label "c" is `) || !strings.Contains(ev, `; from "mallory" ×`) {
		t.Fatalf("evidence %q, want label c from mallory", ev)
	}
	_, list, ok := strings.Cut(ev, "; ids ")
	if !ok {
		t.Fatalf("evidence %q names no ids", ev)
	}
	ids := strings.Split(list, ",")
	if len(ids) != idsPerKey {
		t.Errorf("evidence %q: %d ids, want %d", ev, len(ids), idsPerKey)
	}
	for _, id := range ids {
		if labelOf[id] != "c" {
			t.Errorf("evidence %q: id %q is no example of label c in the window", ev, id)
		}
	}
}

// TestLabelShiftNamesTheRisingLabel: with two labels both shares move by
// the same amount; the examples named are those of the label a source
// floods, not of the one that fell.
func TestLabelShiftNamesTheRisingLabel(t *testing.T) {
	s := Drift{DefaultConfig(), Features{}}
	ex := func(id, src, label string) Example { return Example{ID: id, Source: src, ProposedLabel: label} }
	var ref, cur []Example
	for i := range 1000 {
		label := "a"
		if i%10 == 0 {
			label = "b"
		}
		ref = append(ref, ex(fmt.Sprint("r-", i), fmt.Sprint("annotator-", i%5), label))
		cur = append(cur, ex(fmt.Sprint("c-", i), fmt.Sprint("annotator-", i%5), label))
	}
	for i := range 400 {
		cur = append(cur, ex(fmt.Sprint("m-", i), "mallory", "b"))
	}
	v := find(s.Score(observed(s, cur), observed(s, ref)), "*")
	if v == nil {
		t.Fatal("no label shift verdict")
	}
	if !strings.Contains(v.Evidence, `examples of "b", which rose most; from "mallory" ×`) {
		t.Errorf("evidence %q, want the examples of label b, mallory's", v.Evidence)
	}
}

// TestKSLocation: the value where two empirical distributions differ most
// (the smallest such), and the side of it where the first sample has the
// excess; D at it is scipy's ks_2samp statistic.
func TestKSLocation(t *testing.T) {
	for _, c := range []struct {
		x, y   []float64
		at     float64
		above  bool
		fx, fy float64
	}{
		// ks_2samp([3,4,5,6], [1,2,3,4]).statistic == 0.5, reached first at 2.
		{[]float64{3, 4, 5, 6}, []float64{1, 2, 3, 4}, 2, true, 0, 0.5},
		{[]float64{1, 2, 3, 4}, []float64{3, 4, 5, 6}, 2, false, 0.5, 0},
		// Ties across the samples: the CDFs at 1 are 2/3 and 1/3, at 6
		// 2/3 and 1 (as far apart, found second).
		{[]float64{1, 1, 9}, []float64{1, 5, 6}, 1, false, 2.0 / 3, 1.0 / 3},
		{[]float64{7}, []float64{7}, 7, false, 1, 1},
	} {
		at, above, fx, fy := ksLocation(c.x, c.y)
		if at != c.at || above != c.above || fx != c.fx || fy != c.fy {
			t.Errorf("ksLocation(%v, %v) = %v, %v, %v, %v; want %v, %v, %v, %v", c.x, c.y, at, above, fx, fy, c.at, c.above, c.fx, c.fy)
		}
	}
}

// TestFeatureDriftNamesItsSources: a source sending examples whose "score"
// is shifted by three standard deviations moves the feature away from the
// reference; the verdict says on which side of which value the window has
// the excess, names that source first among the sampled examples' sources
// there, and names ids of that source's examples, up or down. Split into
// three partitions' partials and merged, the evidence is the same.
func TestFeatureDriftNamesItsSources(t *testing.T) {
	s := Drift{DefaultConfig(), testFeatures}
	for _, c := range []struct {
		shift float64
		side  string
	}{{3, "above"}, {-3, "at most"}} {
		w := newWorld(43, 20)
		ref := observed(s, w.examples(2000))
		es := fromMallory(w, 1000, 300, func(_ int, e *Example) { e.Numeric[2] += c.shift })
		sourceOf := sources(es)
		whole := s.Score(roundTrip(t, s, observed(s, es)), roundTrip(t, s, ref))
		v := find(whole, "score")
		if v == nil || v.Statistic < 0.15 {
			t.Fatalf("shift %v: no drift of score: %+v", c.shift, whole)
		}
		ev := v.Evidence
		if !strings.Contains(ev, "% of values "+c.side+" ") || !strings.Contains(ev, " sampled examples there") || !strings.Contains(ev, `; from "mallory" ×`) {
			t.Fatalf("shift %v: evidence %q, want the examples %s a value, mallory's first", c.shift, ev, c.side)
		}
		_, list, ok := strings.Cut(ev, "; ids ")
		if !ok {
			t.Fatalf("shift %v: evidence %q names no ids", c.shift, ev)
		}
		ids := strings.Split(list, ",")
		if len(ids) != idsPerKey {
			t.Errorf("shift %v: evidence %q: %d ids, want %d", c.shift, ev, len(ids), idsPerKey)
		}
		for _, id := range ids {
			if sourceOf[id] != "mallory" {
				t.Errorf("shift %v: evidence %q: id %q is not mallory's", c.shift, ev, id)
			}
		}
		parts := make([]Partial, 3)
		for i := range parts {
			parts[i] = s.NewPartial()
		}
		for i := range es {
			parts[i%3].Observe(es[i : i+1])
		}
		parts[0].Merge(roundTrip(t, s, parts[2]))
		parts[1].Merge(parts[0])
		if merged := find(s.Score(parts[1], ref), "score"); merged == nil || merged.Evidence != ev {
			t.Errorf("shift %v: merged evidence %+v, whole %q", c.shift, merged, ev)
		}
	}
}

// TestFeatureDriftIDsAreTheNamedSources: a source sending a narrow bump of
// values inside the clean range (not in its tail) is named, and the ids
// named are its examples, not the clean tail's.
func TestFeatureDriftIDsAreTheNamedSources(t *testing.T) {
	s := Drift{DefaultConfig(), testFeatures}
	w := newWorld(45, 20)
	ref := observed(s, w.examples(2000))
	es := fromMallory(w, 1000, 300, func(i int, e *Example) { e.Numeric[2] = 0.6 + float64(i%10)*0.001 })
	sourceOf := sources(es)
	v := find(s.Score(observed(s, es), ref), "score")
	if v == nil || !strings.Contains(v.Evidence, `; from "mallory" ×`) {
		t.Fatalf("drift of score %+v, want mallory named", v)
	}
	_, list, _ := strings.Cut(v.Evidence, "; ids ")
	for _, id := range strings.Split(list, ",") {
		if sourceOf[id] != "mallory" {
			t.Errorf("evidence %q: id %q is not mallory's", v.Evidence, id)
		}
	}
}

// TestFeatureDriftEvidenceWithRepeatedIDs: feedback sent again under the
// same ids by another source (mallory replaying others' ids with other
// values) is sampled as examples of that source (the sampling key is the
// hash of the id and the source), each kept once, in the KS test's sample
// and the evidence's alike, whatever the order in which the partials merge;
// no id is named twice.
func TestFeatureDriftEvidenceWithRepeatedIDs(t *testing.T) {
	s := Drift{DefaultConfig(), testFeatures}
	w := newWorld(46, 20)
	ref := observed(s, w.examples(2000))
	clean := w.examples(800)
	var replay []Example
	for _, e := range clean[:400] {
		e.Source = "mallory"
		e.Numeric = append([]float64(nil), e.Numeric...)
		e.Numeric[2] += 3
		replay = append(replay, e)
	}
	a, b := observed(s, clean), observed(s, replay)
	ab, ba := observed(s, nil), observed(s, nil)
	ab.Merge(a)
	ab.Merge(b)
	ba.Merge(b)
	ba.Merge(a)
	x, y := find(s.Score(ab, ref), "score"), find(s.Score(ba, ref), "score")
	if x == nil || y == nil || x.Evidence != y.Evidence {
		t.Fatalf("evidence depends on the order of merges:\n%+v\n%+v", x, y)
	}
	_, list, ok := strings.Cut(x.Evidence, "; ids ")
	if !ok {
		t.Fatalf("evidence %q names no ids", x.Evidence)
	}
	ids := strings.Split(list, ",")
	if len(ids) != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
		t.Errorf("evidence %q names an id twice", x.Evidence)
	}
	var n, of int
	at := strings.Index(x.Evidence, "%; ")
	if at < 0 {
		t.Fatalf("evidence %q has no sampled examples", x.Evidence)
	}
	distinct := map[uint64]bool{}
	for _, k := range ab.(*drifts).examples.keys {
		distinct[k] = true
	}
	if _, err := fmt.Sscanf(x.Evidence[at+3:], "%d of %d sampled examples there", &n, &of); err != nil || of != len(distinct) || len(distinct) != len(ab.(*drifts).examples.keys) {
		t.Errorf("evidence %q: %d of %d sampled examples (%v), want the %d rows sampled of %d distinct ids", x.Evidence, n, of, err, len(ab.(*drifts).examples.keys), len(distinct))
	}
	for j, num := range ab.(*drifts).numeric {
		keys := num.Sample.Keys()
		if len(keys) != len(slices.Compact(slices.Sorted(slices.Values(keys)))) {
			t.Errorf("feature %d: the KS test's sample holds an id twice", j)
		}
		if got, want := slices.Sorted(slices.Values(num.Sample.Values())), slices.Sorted(slices.Values(ba.(*drifts).numeric[j].Sample.Values())); !slices.Equal(got, want) {
			t.Errorf("feature %d: the KS test's sample depends on the order of merges", j)
		}
	}
}

// TestDriftSampleTakesAnIDOnce: one id sent a thousand times by one source
// with other values each time (an attacker filling the sample with its own
// examples, or retries of one) takes one place in the KS test's sample,
// with its least value, and one in the sample of examples.
func TestDriftSampleTakesAnIDOnce(t *testing.T) {
	s := Drift{DefaultConfig(), testFeatures}
	w := newWorld(47, 20)
	es := w.examples(200) // fewer than either sample holds
	for i := range 1000 {
		e := w.example()
		e.ID, e.Source = "fb-smallest", "mallory"
		e.Numeric = append([]float64(nil), e.Numeric...)
		e.Numeric[0] = float64(1000 + i)
		es = append(es, e)
	}
	p := observed(s, es).(*drifts)
	distinct := map[string]bool{}
	for _, e := range es {
		distinct[e.ID] = true
	}
	for j, num := range p.numeric {
		if n := num.Sample.Len(); n != len(distinct) {
			t.Errorf("feature %d: %d values sampled of %d distinct ids, want one each", j, n, len(distinct))
		}
	}
	if got := slices.Max(p.numeric[0].Sample.Values()); got != 1000 {
		t.Errorf("the repeated id's value kept is %v, want the least of its values (1000)", got)
	}
	if n := len(p.examples.keys); n != len(distinct) {
		t.Errorf("%d examples sampled of %d distinct ids", n, len(distinct))
	}
}

// fromMallory draws clean examples of w, then n more from mallory, each
// changed by poison (given its index among them).
func fromMallory(w *world, clean, n int, poison func(i int, e *Example)) []Example {
	es := w.examples(clean)
	for i := range n {
		e := w.example()
		e.Source = "mallory"
		poison(i, &e)
		es = append(es, e)
	}
	return es
}

// sources maps the ids of es to their sources.
func sources(es []Example) map[string]string {
	out := make(map[string]string, len(es))
	for _, e := range es {
		out[e.ID] = e.Source
	}
	return out
}

// TestServingDriftByHand: a window's feedback against what its model
// serves. Of 800 examples, mallory's 400 are 3σ above the served values in
// "moved": its KS distance and p-value are those of the window's values
// against the served sample (the p-value adjusted by Benjamini–Hochberg
// over the two features tested: twice the smaller), critical, and the
// evidence names mallory as the source of the excess; "still" follows the
// served values; a feature the model does not serve is not tested.
func TestServingDriftByHand(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	cfg := DefaultConfig()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w := NewWindow(cfg, Features{Numeric: []string{"moved", "still", "unserved"}}, "fraud", start, start.Add(time.Minute))
	var moved []float64
	for i := range 800 {
		e := Example{ID: fmt.Sprint("fb-", i), Source: fmt.Sprint("annotator-", i%10), Numeric: []float64{rng.NormFloat64(), rng.NormFloat64(), 1}}
		if i%2 == 0 {
			e.Source, e.Numeric[0] = "mallory", 3+rng.NormFloat64()
		}
		moved = append(moved, e.Numeric[0])
		w.Observe([]Example{e}, int64(i))
	}
	slices.Sort(moved)
	served := func(n int) *Served {
		s := &Served{N: uint64(n)}
		for range n {
			s.Sorted = append(s.Sorted, rng.NormFloat64())
		}
		slices.Sort(s.Sorted)
		return s
	}
	byFeature := map[string]*Served{"moved": served(2000), "still": served(2000)}
	vs := w.ScoreServing(func(f string) *Served { return byFeature[f] })
	decide(0.01, vs)
	if len(vs) != 2 || find(vs, "unserved") != nil {
		t.Fatalf("verdicts %+v, want moved and still only", vs)
	}
	m, st := find(vs, "moved"), find(vs, "still")
	if ks := stat.KolmogorovSmirnov(moved, byFeature["moved"].Sorted); m.Statistic != ks.Statistic || math.Abs(m.PValue/(2*ks.PValue)-1) > 1e-12 {
		t.Errorf("moved: D %v p %v, want the window's values against the served sample: D %v p %v (×2)", m.Statistic, m.PValue, ks.Statistic, ks.PValue)
	}
	if m.Severity != verdict.SeverityCritical || !strings.Contains(m.Evidence, "the served inputs'") || !strings.Contains(m.Evidence, `from "mallory" ×`) {
		t.Errorf("moved: %+v, want critical naming mallory against the served inputs", *m)
	}
	if st.Severity != verdict.SeverityOK {
		t.Errorf("still: %+v, want ok", *st)
	}
	if vs := w.ScoreServing(func(string) *Served { return nil }); len(vs) != 0 {
		t.Errorf("verdicts without served features: %+v", vs)
	}
}

// TestSampleKeyDefeatsChosenIDs replays a producer that chooses its feedback
// ids: mallory sends a tenth of the examples, under ids whose unkeyed hash
// (with its source) lies in the upper half, so that no sample of the
// smallest hashes takes them. Unkeyed, neither poisoning_drift's sample of
// examples (256 of 1,000) nor its KS sample of a feature (200) holds one of
// them, and poisoning_spectral's none either; keyed by a secret
// (Config.SampleKey), each holds mallory's examples near their share.
func TestSampleKeyDefeatsChosenIDs(t *testing.T) {
	w := newWorld(48, 20)
	es := w.examples(900)
	for i := 0; len(es) < 1000; i++ {
		e := w.example()
		e.ID, e.Source = fmt.Sprintf("mallory-%d", i), "mallory"
		if exampleKey(0, xxhash.Sum64String(e.ID), xxhash.Sum64String(e.Source)) < 1<<63 {
			continue // a hash a sample could take: try another id
		}
		es = append(es, e)
	}
	mallorys := func(cfg Config) (examples, sampled, spectral int) {
		cfg.DriftSample = 200
		d := observed(Drift{cfg, testFeatures}, es).(*drifts)
		for r := range int32(len(d.examples.keys)) {
			if string(d.examples.source(r)) == "mallory" {
				examples++
			}
		}
		malloryKeys := map[uint64]bool{}
		for _, e := range es {
			if e.Source == "mallory" {
				malloryKeys[exampleKey(sampleSeed(cfg.SampleKey), xxhash.Sum64String(e.ID), xxhash.Sum64String(e.Source))] = true
			}
		}
		for _, k := range d.numeric[0].Sample.Keys() {
			if malloryKeys[k] {
				sampled++
			}
		}
		cfg.SpectralSample = 256
		sp := observed(Spectral{cfg, testFeatures}, es).(*spectra)
		for r := range int32(len(sp.keys)) {
			if string(sp.source(r)) == "mallory" {
				spectral++
			}
		}
		return examples, sampled, spectral
	}
	if e, s, sp := mallorys(DefaultConfig()); e != 0 || s != 0 || sp != 0 {
		t.Errorf("unkeyed: %d, %d and %d of mallory's examples sampled; the chosen ids should hide all", e, s, sp)
	}
	cfg := DefaultConfig()
	cfg.SampleKey = "a secret of the instances"
	// A tenth of each sample (25.6, 20, 25.6): at least half of that.
	if e, s, sp := mallorys(cfg); e < 13 || s < 10 || sp < 13 {
		t.Errorf("keyed: %d of 256, %d of 200 and %d of 256 sampled examples are mallory's, want about a tenth", e, s, sp)
	}
}
