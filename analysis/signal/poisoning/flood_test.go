package poisoning

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// flood returns n copies of one example with the same content and its
// numeric values jittered within their quantization cells.
func flood(n int, content string) []Example {
	out := make([]Example, n)
	for i := range out {
		j := 1 + float64(i%7)*1e-4
		out[i] = Example{ID: fmt.Sprintf("flood-%d", i), Source: "bot", ProposedLabel: "a", ContentSHA256: content,
			Numeric: []float64{129.9 * j, 41 * j, 0.52 * j, 3}, Categorical: []string{"c3", "web"}}
	}
	return out
}

// TestFloodNamesTheFingerprints: 800 copies of one example (jittered within
// their cells) in a window of 5,000 clean examples hold 13.8% of it, under
// one content hash and one SimHash fingerprint, both critical against a
// clean reference, named with three of the copies' ids; the clean data's
// benign repeats (5% of contents drawn from 20) stay ok.
func TestFloodNamesTheFingerprints(t *testing.T) {
	s := Flood{DefaultConfig(), testFeatures}
	w := newWorld(11, 50)
	ref := observed(s, w.examples(5000))
	cur := observed(s, w.examples(5000))
	content := strings.Repeat("ab", 32)
	cur.Observe(flood(800, content))
	vs := s.Score(cur, ref)
	decide(0.01, vs)
	fp, _ := simHash(flood(1, "")[0].Numeric, flood(1, "")[0].Categorical, 2)
	for _, subject := range []string{"content:" + content, fmt.Sprintf("simhash:%016x", fp)} {
		v := find(vs, subject)
		if v == nil || v.Severity != verdict.SeverityCritical || v.N != 800 || strings.Count(v.Evidence, "flood-") != 3 ||
			!strings.Contains(v.Evidence, `from "bot" ×3`) {
			t.Fatalf("%s: %+v in %+v", subject, v, vs)
		}
	}
	for _, v := range vs {
		if v.Severity != verdict.SeverityOK && v.N != 800 {
			t.Errorf("benign %+v", v)
		}
	}
	// Without a reference the groups only inform.
	for _, v := range s.Score(cur, nil) {
		if v.Decides() {
			t.Fatalf("decides without a reference: %+v", v)
		}
	}
}

// TestFloodGroupsWithinTheHammingRadius: fingerprints 1 and 3 bits from
// the heaviest join its group; one 4 bits away does not, and a fingerprint
// joins one group only.
func TestFloodGroupsWithinTheHammingRadius(t *testing.T) {
	tb := newTable(16, 8, idsPerKey)
	base := uint64(0xdeadbeefcafef00d)
	for _, c := range []struct {
		fp uint64
		n  int
	}{{base, 10}, {base ^ 1, 5}, {base ^ 0b111, 4}, {base ^ 0xf, 3}, {^base, 2}} {
		for i := range c.n {
			tb.add(binary.BigEndian.AppendUint64(nil, c.fp), 0, fmt.Sprint(c.fp, i), "", true)
		}
	}
	gs := groups(tb, 3)
	if len(gs) != 3 || gs[0].k != 19 || len(gs[0].members) != 3 || gs[1].k != 3 || gs[2].k != 2 {
		t.Fatalf("groups %+v", gs)
	}
	if got := refCount(tb, binary.BigEndian.AppendUint64(nil, base^2), 3); got != 22 {
		t.Fatalf("the reference's group around a neighbour: %d, want 10+5+4+3", got)
	}
	if ids, _ := groupIDs(tb, gs[0]); len(ids) != idsPerKey {
		t.Fatalf("group ids %v", ids)
	}
}
