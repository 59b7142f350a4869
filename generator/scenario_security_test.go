package generator

import (
	"testing"

	"github.com/driftwatch/driftwatch/telemetry"
)

// TestFloodContentSHA256: every example the flood attacker submits carries
// FloodContentSHA256, and no honest annotator's does.
func TestFloodContentSHA256(t *testing.T) {
	sc := DefaultScenario(1, 6)
	sc.Start = testStart
	sc.Feedback = &Feedback{Share: 1, Annotators: 3, Attacks: []string{AttackFlood}, AttackShare: 0.5}
	g, err := New(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	var e telemetry.Event
	var f telemetry.Feedback
	flooded := 0
	for range 200 {
		g.Next(&e)
		if !g.NextFeedback(&f) {
			t.Fatal("an inference without feedback at share 1")
		}
		switch {
		case f.Principal.EndUserID == "mallory":
			flooded++
			if f.ContentSHA256 != FloodContentSHA256() {
				t.Fatalf("mallory's example %s has content hash %s, want %s", f.FeedbackID, f.ContentSHA256, FloodContentSHA256())
			}
		case f.ContentSHA256 == FloodContentSHA256():
			t.Fatalf("%s's example %s has the flooded content hash", f.Principal.EndUserID, f.FeedbackID)
		}
	}
	if flooded < 50 {
		t.Errorf("%d flooded examples of 200 at attack share 0.5", flooded)
	}
}
