package storage

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSignalHistory reads back the signals rows that fed a model version's
// history in its last windows before a time, oldest window first: of the
// windows scored against a reference, the decisions (a p-value and a
// threshold) and the "*" rows of the bit signals, each once (the newest
// decision of a window written twice); not the rows that only inform, a
// warm-up window's, the history's own rows, another version's or later
// windows.
func TestSignalHistory(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	nan := math.NaN()
	row := func(version string, w int, signal, subject string, stat, p, threshold float64, decided time.Time) SignalRow {
		start := t0.Add(time.Duration(w) * time.Minute)
		return SignalRow{ModelID: "m", ModelVersion: version, WindowStart: start, WindowEnd: start.Add(time.Minute), Signal: signal,
			Subject: subject, Statistic: stat, PValue: p, Effect: nan, Threshold: threshold, Severity: "ok", N: 100, ReferenceID: "ref-1",
			DecidedAt: decided}
	}
	var b WindowBatch
	for w := range 4 {
		at := t0.Add(time.Hour)
		b.Signals = append(b.Signals,
			row("1", w, "latency", "*", float64(w), 0.5, 0.1, at),  // a decision
			row("1", w, "error_rate", "*", 0.01, nan, nan, at),     // a bit signal's counts
			row("1", w, "class_share", "fraud", 0.3, nan, nan, at), // informs
			row("1", w, "latency_history", "*", 1.5, nan, 5, at),   // the history's own
			row("1", w, "error_rate_ddm", "*", 0.01, nan, nan, at), // the history's own
			row("2", w, "latency", "*", 9, 0.5, 0.1, at))           // another version
	}
	b.Signals = append(b.Signals, row("1", 2, "latency", "*", 22, 0.4, 0.1, t0.Add(2*time.Hour))) // window 2 decided again
	warmup := row("1", 3, "margin_density", "*", 0.2, 0.3, 0.1, t0.Add(time.Hour))
	warmup.ReferenceID = "" // a warm-up window's verdict: no history fed
	b.Signals = append(b.Signals, warmup)
	if err := s.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}
	// The 2 windows before window 4 (ending before its end): 2 and 3.
	rows, err := s.SignalHistory(ctx, "m", "1", t0.Add(5*time.Minute), 2, 100, []string{"error_rate", "refusal_rate"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s/%s@%d=%g p%g th%g n%d", r.Signal, r.Subject, int(r.WindowEnd.Sub(t0)/time.Minute)-1, r.Statistic, r.PValue, r.Threshold, r.N))
	}
	want := "error_rate/*@2=0.01 pNaN thNaN n100 latency/*@2=22 p0.4 th0.1 n100 error_rate/*@3=0.01 pNaN thNaN n100 latency/*@3=3 p0.5 th0.1 n100"
	if strings.Join(got, " ") != want {
		t.Errorf("signal history\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestCallerHistory reads back the caller_windows rows of a model version's
// last decided windows before a time, oldest window first, each caller once
// (the newest decision of a window written twice), another version's and
// later windows left out; a row limit that cuts a window leaves it out
// whole; a decided window without caller_windows rows counts among the
// last windows.
func TestCallerHistory(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	row := func(version string, w int, caller string, calls uint64, decided time.Time) CallerRow {
		start := t0.Add(time.Duration(w) * time.Minute)
		return CallerRow{ModelID: "m", ModelVersion: version, WindowStart: start, WindowEnd: start.Add(time.Minute), Caller: caller,
			Calls: calls, InputCalls: calls, DistinctInputs: 0.5, ClassEntropy: 0.25, Classes: 3, DecidedAt: decided}
	}
	var b WindowBatch
	for w := range 6 {
		for c := range 3 {
			b.Callers = append(b.Callers, row("1", w, fmt.Sprint("c", c), uint64(100*w+c), t0.Add(time.Hour)))
		}
		b.Callers = append(b.Callers, row("2", w, "other-version", 7, t0.Add(time.Hour)))
	}
	b.Callers = append(b.Callers, row("1", 3, "c0", 999, t0.Add(2*time.Hour))) // window 3 decided again
	for w := range 7 {                                                         // the decided windows: window 6 stored no caller_windows row
		start := t0.Add(time.Duration(w) * time.Minute)
		for _, v := range []string{"1", "2"} {
			b.Models = append(b.Models, ModelWindowRow{ModelID: "m", ModelVersion: v, WindowStart: start, WindowEnd: start.Add(time.Minute)})
		}
	}
	if err := s.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}
	describe := func(rows []CallerRow) string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s@%d=%d", r.Caller, int(r.WindowEnd.Sub(t0)/time.Minute)-1, r.Calls))
		}
		return strings.Join(out, " ")
	}
	// The 3 windows before window 5 (ending before its end): 2, 3, 4.
	end5 := t0.Add(6 * time.Minute)
	rows, _, err := s.CallerHistory(ctx, "m", "1", end5, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(rows), "c0@2=200 c1@2=201 c2@2=202 c0@3=999 c1@3=301 c2@3=302 c0@4=400 c1@4=401 c2@4=402"; got != want {
		t.Errorf("caller history\n got %s\nwant %s", got, want)
	}
	if r := rows[0]; r.DistinctInputs != 0.5 || r.ClassEntropy != 0.25 || r.Classes != 3 || r.InputCalls != 200 || r.ModelVersion != "1" {
		t.Errorf("first row %+v", r)
	}
	// 7 rows cut window 2 short: it is left out.
	if rows, _, err = s.CallerHistory(ctx, "m", "1", end5, 3, 7); err != nil || describe(rows) != "c0@3=999 c1@3=301 c2@3=302 c0@4=400 c1@4=401 c2@4=402" {
		t.Errorf("with 7 rows: %s (%v)", describe(rows), err)
	}
	if rows, _, err = s.CallerHistory(ctx, "m", "3", end5, 3, 100); err != nil || len(rows) != 0 {
		t.Errorf("a version without windows: %v (%v)", rows, err)
	}
	// The last 3 decided windows ending before window 7 ends: 4, 5 and 6, which stored
	// no caller_windows row (its callers all light); not 3, 4 and 5.
	if rows, _, err = s.CallerHistory(ctx, "m", "1", t0.Add(8*time.Minute), 3, 100); err != nil ||
		describe(rows) != "c0@4=400 c1@4=401 c2@4=402 c0@5=500 c1@5=501 c2@5=502" {
		t.Errorf("the last 3 decided windows: %s (%v)", describe(rows), err)
	}
}

// TestLightCallers: the tracked callers a window keeps in its model_windows
// row instead of caller_windows come back per window, oldest first, by
// name, with their calls and overcount, the newest decision of a window
// winning, as CallerHistory's rows do; a window without light callers has
// none, and maxRows leaves the oldest window out whole.
func TestLightCallers(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry())
	ctx := testContext(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	model := func(version string, w int, decided time.Time, light ...string) ModelWindowRow {
		start := t0.Add(time.Duration(w) * time.Minute)
		r := ModelWindowRow{ModelID: "m", ModelVersion: version, WindowStart: start, WindowEnd: start.Add(time.Minute), DecidedAt: decided}
		for i, c := range light {
			r.LightCallers = append(r.LightCallers, c)
			r.LightCalls = append(r.LightCalls, uint64(10*w+i+1))
			r.LightCallsOvercount = append(r.LightCallsOvercount, uint64(i))
		}
		return r
	}
	var b WindowBatch
	for w := range 5 {
		if w == 1 {
			b.Models = append(b.Models, model("1", w, t0.Add(time.Hour))) // no light callers
			continue
		}
		b.Models = append(b.Models, model("1", w, t0.Add(time.Hour), "a", "b"), model("2", w, t0.Add(time.Hour), "other-version"))
	}
	b.Models = append(b.Models, model("1", 3, t0.Add(2*time.Hour), "z")) // window 3 decided again
	if err := s.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}
	describe := func(rows []CallerRow) string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s@%d=%d/%d", r.Caller, int(r.WindowEnd.Sub(t0)/time.Minute)-1, r.Calls, r.CallsOvercount))
		}
		return strings.Join(out, " ")
	}
	end := t0.Add(6 * time.Minute) // the last 4 windows: 1 to 4
	_, rows, err := s.CallerHistory(ctx, "m", "1", end, 4, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(rows), "a@2=21/0 b@2=22/1 z@3=31/0 a@4=41/0 b@4=42/1"; got != want {
		t.Errorf("light callers\n got %s\nwant %s", got, want)
	}
	if _, rows, err = s.CallerHistory(ctx, "m", "1", end, 4, 4); err != nil || describe(rows) != "z@3=31/0 a@4=41/0 b@4=42/1" {
		t.Errorf("with 4 rows: %s (%v)", describe(rows), err)
	}
}
