package window

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
)

// TestNamesIDObservesAsNames: events whose lists of feature names carry a
// NamesID, as the decoder's fast path gives them (one ID per list; lists
// with features missing, in two orders), are observed exactly as the same
// events without: the window finds a known list's features by place, and
// encodes byte for byte the same.
func TestNamesIDObservesAsNames(t *testing.T) {
	cfg := windowtest.Config(t)
	m := analysis.ModelKey{ID: "fraud", Version: "v1"}
	r := rand.New(rand.NewPCG(5, 6))
	with, without := NewWindow(cfg, m, windowtest.T0, nil), NewWindow(cfg, m, windowtest.T0, nil)
	ids := map[string]uint64{}
	for i := range 3000 {
		e := windowtest.RandomEvent(r, i, m, windowtest.T0)
		if i%4 == 0 {
			f := &e.Features
			f.Numeric[0], f.Numeric[len(f.Numeric)-1] = f.Numeric[len(f.Numeric)-1], f.Numeric[0]
		}
		var names []string
		for _, n := range e.Features.Numeric {
			names = append(names, n.Name)
		}
		names = append(names, "|")
		for _, c := range e.Features.Categorical {
			names = append(names, c.Name)
		}
		key := strings.Join(names, ",")
		if ids[key] == 0 {
			ids[key] = uint64(len(ids) + 1)
		}
		plain := e.Clone()
		e.Features.NamesID = ids[key]
		with.Observe(e, int64(i))
		without.Observe(plain, int64(i))
	}
	if len(ids) < 4 {
		t.Fatalf("%d lists of names: the events do not test the places", len(ids))
	}
	if !bytes.Equal(with.AppendBinary(nil), without.AppendBinary(nil)) {
		t.Error("a window of events with NamesIDs encodes differently from one of the same events without")
	}
}
