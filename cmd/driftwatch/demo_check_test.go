package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCheckFaults: a fault counts as detected only by a window that ends
// after it began; windows that ended by then are reported as false alarms
// and detect nothing; a fault whose verdicts could not be read is marked
// unknown, not missed.
func TestCheckFaults(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	u := func(d time.Duration) uint32 { return uint32(at.Add(d).Unix()) }
	expect := []demoExpectation{
		{what: "drift", model: "m", from: at},
		{what: "probing", model: "p", signal: "caller_probing", subject: "prober-1", from: at},
		{what: "flips", model: "c", signal: "poisoning_label_flip", subject: "mallory", from: at.Add(-time.Hour)},
	}
	for _, c := range []struct {
		name       string
		fired      map[string][]uint32
		qerr, derr error
		missed     []string
		lines      []string
	}{{
		name: "all after",
		fired: map[string][]uint32{firedKey("m", "", ""): {u(10 * time.Second)}, firedKey("p", "caller_probing", "prober-1"): {u(time.Second), u(11 * time.Second)},
			firedKey("c", "poisoning_label_flip", "mallory"): {u(-30 * time.Minute)}},
		lines: []string{"yes  drift (input drift scores, in 1 windows after it began)", "yes  probing (caller_probing about prober-1, in 2 windows after it began)",
			"yes  flips (poisoning_label_flip about mallory, in 1 windows after it began)"},
	}, {
		name: "before only, or the window ending as it began",
		fired: map[string][]uint32{firedKey("m", "", ""): {u(-10 * time.Second), u(0)}, firedKey("p", "caller_probing", "prober-1"): {u(20 * time.Second)},
			firedKey("c", "poisoning_label_flip", "someone-else"): {u(0)}},
		missed: []string{"drift", "flips"},
		lines: []string{"NO   drift (input drift scores, in 0 windows after it began; also in 2 windows before it began: false alarms)",
			"yes  probing", "NO   flips"},
	}, {
		name:   "signals unread",
		fired:  map[string][]uint32{firedKey("m", "", ""): {u(-10 * time.Second), u(10 * time.Second)}},
		qerr:   errors.New("no server"),
		lines:  []string{"yes  drift (input drift scores, in 1 windows after it began; also in 1 windows before it began: false alarms)", "?    probing", "?    flips"},
		missed: nil,
	}} {
		var out strings.Builder
		missed := checkFaults(&out, expect, c.fired, c.qerr, c.derr)
		if !slices.Equal(missed, c.missed) {
			t.Errorf("%s: missed %q, want %q", c.name, missed, c.missed)
		}
		for _, l := range c.lines {
			if !strings.Contains(out.String(), "  "+l) {
				t.Errorf("%s: output\n%s\nlacks %q", c.name, out.String(), l)
			}
		}
	}
}
