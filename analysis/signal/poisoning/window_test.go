package poisoning

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// TestWindowMergesAndRoundTrips: a window's examples split over three
// partition windows merge into the window of them all (each signal's state
// and verdicts, the example count and the first offset), and a window
// decodes from its encoding to the same bytes and verdicts.
func TestWindowMergesAndRoundTrips(t *testing.T) {
	cfg := exactConfig()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	es := attacked(51, 3000)
	all := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	all.Observe(es, 0)
	parts := make([]*Window, 3)
	for k := range parts {
		parts[k] = NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	}
	for i := range es {
		parts[i%3].Observe(es[i:i+1], int64(100+i))
	}
	for _, p := range parts[1:] {
		if parts[0].Merge(p) {
			t.Fatal("windows over the same features merged in part")
		}
	}
	if parts[0].Examples != uint64(len(es)) || parts[0].FirstOffset != 100 || parts[0].Mixed {
		t.Fatalf("merged: %d examples, first offset %d, mixed %t", parts[0].Examples, parts[0].FirstOffset, parts[0].Mixed)
	}
	for i := range all.Partials() {
		samePartial(t, all.Partials()[i], parts[0].Partials()[i])
	}
	if got, want := fmt.Sprint(parts[0].Score(nil)), fmt.Sprint(all.Score(nil)); got != want {
		t.Fatal("merged verdicts differ")
	}

	b := all.AppendBinary(nil)
	back, err := DecodeWindow(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.AppendBinary(nil), b) || back.Model != "fraud" || !back.Start.Equal(start) || back.Examples != uint64(len(es)) {
		t.Fatal("the decoded window differs")
	}
	ref := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	ref.Observe(newWorld(52, 50).examples(3000), 0)
	if got, want := fmt.Sprint(back.Score(ref)), fmt.Sprint(all.Score(ref)); got != want {
		t.Fatal("verdicts differ after a round trip")
	}
	for _, n := range []int{0, 1, len(b) / 2, len(b) - 1} {
		if _, err := DecodeWindow(cfg, b[:n]); !errors.Is(err, sketch.ErrCorrupt) {
			t.Errorf("%d of %d bytes: %v, want a corrupt input", n, len(b), err)
		}
	}
	if _, err := DecodeWindow(cfg, append(b, 0)); !errors.Is(err, sketch.ErrCorrupt) {
		t.Errorf("a trailing byte: %v", err)
	}
}

// TestWindowOverOtherFeaturesMergesInPart: a window over other features
// merges only its label flips and concentration, and says so; a reference
// over other features is used by those two only. (A window without any
// features is not "other": TestWindowWithoutFeaturesTakesThemLater.)
func TestWindowOverOtherFeaturesMergesInPart(t *testing.T) {
	cfg := exactConfig()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	es := attacked(53, 1000)
	a := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	a.Observe(es, 0)
	before := a.AppendBinary(nil)
	b := NewWindow(cfg, Features{Numeric: []string{"zz_other"}}, "fraud", start, start.Add(time.Minute))
	stripped := make([]Example, len(es))
	for i, e := range es {
		e.Numeric, e.Categorical = nil, nil
		stripped[i] = e
	}
	b.Observe(stripped, 5)
	if !a.Merge(b) || !a.Mixed || a.Examples != 2*uint64(len(es)) {
		t.Fatalf("mixed %t, %d examples", a.Mixed, a.Examples)
	}
	orig, err := DecodeWindow(cfg, before)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Partials() {
		same := bytes.Equal(p.AppendBinary(nil), orig.Partials()[i].AppendBinary(nil))
		if (i < featureFree) == same {
			t.Errorf("%s: merged %t, want %t", a.Signals()[i].Name(), !same, i < featureFree)
		}
	}
	for _, s := range a.Score(b) {
		if s.Signal == "poisoning_drift" && len(s.Verdicts) != 0 {
			t.Errorf("drift scored against a reference over other features: %v", s.Verdicts)
		}
	}
}

// TestWindowWithoutFeaturesTakesThemLater: a window opened by feedback
// without features (label overrides) adopts the model's features once they
// are known, keeping the counts of the signals that do not read features,
// and merging a window without features into one with them (or the other
// way round) is not a mix: the feature signals end as those of the windows
// that had features.
func TestWindowWithoutFeaturesTakesThemLater(t *testing.T) {
	cfg := exactConfig()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	es := attacked(53, 2000)
	bare := make([]Example, 300)
	for i := range bare {
		bare[i] = Example{ID: fmt.Sprint("bare-", i), Source: es[i].Source, ProposedLabel: es[i].ProposedLabel, PredictedLabel: es[i].PredictedLabel}
	}
	// One partition: 300 examples without features, then the rest.
	late := NewWindow(cfg, Features{}, "fraud", start, start.Add(time.Minute))
	late.Observe(bare, 0)
	late.AdoptFeatures(cfg, testFeatures)
	late.Observe(es, 300)
	// The same examples in a window that knew the features from the start.
	known := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	known.Observe(bare, 0)
	known.Observe(es, 300)
	if late.Examples != known.Examples {
		t.Fatalf("%d examples, want %d", late.Examples, known.Examples)
	}
	// The feature signals start again at the adoption: they hold what a
	// window over the features holds of the examples after it.
	onlyLater := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
	onlyLater.Observe(es, 300)
	for i := range known.Partials() {
		if i < featureFree {
			samePartial(t, known.Partials()[i], late.Partials()[i])
		} else {
			samePartial(t, onlyLater.Partials()[i], late.Partials()[i])
		}
	}

	// Merging: a window without features and one with them, both ways.
	for _, bareFirst := range []bool{true, false} {
		withF := NewWindow(cfg, testFeatures, "fraud", start, start.Add(time.Minute))
		withF.Observe(es, 300)
		noF := NewWindow(cfg, Features{}, "fraud", start, start.Add(time.Minute))
		noF.Observe(bare, 0)
		acc, o := withF, noF
		if bareFirst {
			acc, o = noF, withF
		}
		if acc.Merge(o) || acc.Mixed {
			t.Fatalf("bare first %t: a window without features mixed the merge", bareFirst)
		}
		for i := range known.Partials() {
			if i < featureFree {
				samePartial(t, known.Partials()[i], acc.Partials()[i])
			}
		}
		if got, want := fmt.Sprint(acc.Features), fmt.Sprint(testFeatures); got != want {
			t.Fatalf("bare first %t: merged features %s, want %s", bareFirst, got, want)
		}
		for i := featureFree; i < len(onlyLater.Partials()); i++ {
			samePartial(t, onlyLater.Partials()[i], acc.Partials()[i])
		}
	}
}

// TestWindowEncodedBeforeSourcesDecodes: a window encoded before the
// partials kept their example ids' sources (testdata/window_before_sources.bin,
// written by the encoder of 871b447: 500 clean examples from 20 sources, a
// flood of 60 and a backdoor of 40), as stored reference feedback and
// partials on the topic at an upgrade are, decodes: the same counts, the
// flood and the backdoor named with their ids and no sources; encoded again
// it carries sources (none known) and decodes to the same bytes.
func TestWindowEncodedBeforeSourcesDecodes(t *testing.T) {
	w, old := decodeGolden(t, "testdata/window_before_sources.bin", 600)
	if w.Mixed {
		t.Fatal("decoded a mixed window")
	}
	named := map[string]string{}
	for _, s := range w.Score(nil) {
		for _, v := range s.Verdicts {
			named[v.Subject] = v.Evidence
		}
	}
	for _, subject := range []string{"content:" + strings.Repeat("ab", 32), "channel=promo-xyz -> c"} {
		ev, ok := named[subject]
		if !ok || !strings.Contains(ev, "; ids ") || strings.Contains(ev, "; from ") {
			t.Errorf("%s: evidence %q, want ids and no sources", subject, ev)
		}
	}
	reencodesAnew(t, w, old)
}

// TestWindowEncodedBeforeDriftIDsDecodes: a window encoded before
// poisoning_drift's label counters kept example ids
// (testdata/window_before_drift_ids.bin, written by the encoder of
// ef89b83: 500 clean examples from 20 sources and 80 of label c from
// mallory) decodes: the same counts, its label shift found against a
// reference and named without ids; encoded again it carries the ids (none
// known) and decodes to the same bytes.
func TestWindowEncodedBeforeDriftIDsDecodes(t *testing.T) {
	w, old := decodeGolden(t, "testdata/window_before_drift_ids.bin", 580)
	ref := NewWindow(DefaultConfig(), w.Features, "fraud", w.Start.Add(-time.Hour), w.End.Add(-time.Hour))
	ref.Observe(newWorld(8, 20).examples(1000), 0)
	if shift := driftVerdict(w, ref, "*"); shift == nil || !strings.HasPrefix(shift.Evidence, `proposed label "c" is `) || strings.Contains(shift.Evidence, "; ids ") {
		t.Fatalf("label shift %+v, want label c named without ids", shift)
	}
	reencodesAnew(t, w, old)
}

// decodeGolden decodes the feedback window of model fraud with examples
// examples encoded in file, with the default configuration.
func decodeGolden(t *testing.T, file string, examples uint64) (*Window, []byte) {
	t.Helper()
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	w, err := DecodeWindow(DefaultConfig(), old)
	if err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	if w.Examples != examples || w.Model != "fraud" {
		t.Fatalf("%s: decoded %d examples of %q, want %d of fraud", file, w.Examples, w.Model, examples)
	}
	return w, old
}

// driftVerdict returns poisoning_drift's verdict about subject of w scored
// against ref, nil when it has none.
func driftVerdict(w, ref *Window, subject string) *signal.Verdict {
	for _, s := range w.Score(ref) {
		if s.Signal == (Drift{}).Name() {
			return find(s.Verdicts, subject)
		}
	}
	return nil
}

// reencodesAnew checks that w, decoded from old, encodes to other bytes
// (the current encoding) that decode to the same bytes again.
func reencodesAnew(t *testing.T, w *Window, old []byte) {
	t.Helper()
	again := w.AppendBinary(nil)
	if bytes.Equal(again, old) {
		t.Fatal("encoded again in the encoding of before")
	}
	w2, err := DecodeWindow(DefaultConfig(), again)
	if err != nil || !bytes.Equal(w2.AppendBinary(nil), again) {
		t.Fatalf("the window encoded again: %v, or not encoded the same after a round trip", err)
	}
}

// TestWindowEncodedBeforeDriftExamplesDecodes: a window encoded before
// poisoning_drift kept a sample of its examples' ids and sources
// (testdata/window_before_drift_examples.bin, written by the encoder of
// 15aac4a: 1000 clean examples from 20 sources after 2000 drawn for the
// reference, then 300 from mallory with "score" three standard deviations
// up) decodes: the same counts, the drift of score found against the
// reference and its side named, without sources or ids; encoded again it
// carries the sample (empty) and decodes to the same bytes. Merged with a
// window that keeps its sample, the merge's sample lacks the old window's
// examples: its evidence names none rather than the new window's alone.
func TestWindowEncodedBeforeDriftExamplesDecodes(t *testing.T) {
	w, old := decodeGolden(t, "testdata/window_before_drift_examples.bin", 1300)
	cfg := DefaultConfig()
	ref := NewWindow(cfg, w.Features, "fraud", w.Start.Add(-time.Hour), w.End.Add(-time.Hour))
	ref.Observe(newWorld(43, 20).examples(2000), 0)
	if score := driftVerdict(w, ref, "score"); score == nil || score.Statistic < 0.15 || !strings.Contains(score.Evidence, "% of values above ") ||
		strings.Contains(score.Evidence, "sampled examples") || strings.Contains(score.Evidence, "; ids ") || strings.Contains(score.Evidence, "; from ") {
		t.Fatalf("drift of score %+v, want its side named without sources or ids", score)
	}
	reencodesAnew(t, w, old)
	fresh := NewWindow(cfg, w.Features, "fraud", w.Start, w.End)
	fresh.Observe(newWorld(44, 20).examples(200), 0)
	fresh.Merge(w)
	if v := driftVerdict(fresh, ref, "score"); v == nil || strings.Contains(v.Evidence, "sampled examples") || strings.Contains(v.Evidence, "; from ") {
		t.Fatalf("drift of score after merging an old window %+v, want no sampled examples named", v)
	}
}
