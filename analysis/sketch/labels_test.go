package sketch

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestLabelsNameTheSameWhateverTheSplit: 50 labels over 5 names, events
// split at random over 4 states in random orders and merged in any order,
// name the same labels with the same counts as one state of every event,
// and lose no event.
func TestLabelsNameTheSameWhateverTheSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var events []string
	for i := range 5000 {
		events = append(events, fmt.Sprint("label-", r.IntN(50)+i%3))
	}
	whole := NewLabels()
	for _, l := range events {
		whole.N++
		whole.K++
		whole.Add(l, 1, 5)
	}
	for trial := range 20 {
		parts := make([]Labels, 4)
		for i := range parts {
			parts[i] = NewLabels()
		}
		for _, i := range r.Perm(len(events)) {
			p := &parts[r.IntN(len(parts))]
			p.N++
			p.K++
			p.Add(events[i], 1, 5)
		}
		merged := NewLabels()
		for _, i := range r.Perm(len(parts)) {
			// Through the codec, as partials travel.
			var got Labels = NewLabels()
			d := NewDecoder(parts[i].AppendBinary(nil))
			got.Decode(d, 5)
			if d.Err() != nil {
				t.Fatal(d.Err())
			}
			merged.Merge(&got, 5)
		}
		if !maps.Equal(merged.Named, whole.Named) || merged.Rest != whole.Rest || merged.N != whole.N || merged.K != whole.K {
			t.Fatalf("trial %d: merged %+v, whole %+v", trial, merged, whole)
		}
	}
	var sum uint64
	for _, v := range whole.Named {
		sum += v
	}
	if len(whole.Named) != 5 || sum+whole.Rest != uint64(len(events)) {
		t.Fatalf("%d names, %d + %d events of %d", len(whole.Named), sum, whole.Rest, len(events))
	}
}
