package partial

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/telemetry"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testConfig(t *testing.T) *analysis.Config {
	t.Helper()
	cfg := analysis.DefaultConfig()
	cfg.WindowSize = 10 * time.Second
	cfg.AllowedLateness = 2 * time.Second
	cfg.SampleSize = 50
	cfg.ReferenceSampleSize = 100
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// filled returns a warm-up window of m at start with events events of
// prediction ids unique to seed.
func filled(cfg *analysis.Config, m analysis.ModelKey, start time.Time, events int, seed int) *window.Window {
	w := window.NewWindow(cfg, m, start, nil)
	for i := range events {
		e := &telemetry.Event{PredictionID: fmt.Sprintf("%d-%d", seed, i), EventTime: start,
			Model:    telemetry.Model{ID: m.ID, Version: m.Version},
			Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": float64(i)}), Categorical: telemetry.CategoriesOf(map[string]string{"c": "a"})}}
		w.Observe(e, int64(i))
	}
	return w
}

func noRefs(analysis.ModelKey, string) *reference.Reference { return nil }

// TestRecordsRoundTrip splits a partial into small chunks, assembles them in
// the presence of another publication's chunks, and decodes the same state.
func TestRecordsRoundTrip(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	src := Source{"telemetry", 7}
	a, b := filled(cfg, m, t0, 40, 1), filled(cfg, m, t0.Add(cfg.WindowSize), 30, 2)
	ra, rb := EncodePartial(src, a, 100), EncodePartial(Source{"telemetry", 2}, b, 100)
	if len(ra) < 3 || len(rb) < 3 {
		t.Fatalf("chunks %d and %d, want several", len(ra), len(rb))
	}
	// Interleave the two publications and a progress record.
	var stream [][]byte
	for i := range max(len(ra), len(rb)) {
		if i < len(ra) {
			stream = append(stream, ra[i])
		}
		if i == 1 {
			stream = append(stream, EncodeProgress(src, 12345, true))
		}
		if i < len(rb) {
			stream = append(stream, rb[i])
		}
	}
	asm := NewAssembler(1 << 20)
	var got []*window.Window
	var firsts []int64
	for off, raw := range stream {
		r, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == KindProgress {
			if r.Source != src || r.Progress != 12345 || !r.Idle {
				t.Fatalf("progress %+v", r)
			}
			continue
		}
		payload, first, err := asm.Add(r, int64(off))
		if err != nil {
			t.Fatal(err)
		}
		if payload == nil {
			if asm.First() != 0 {
				t.Fatalf("oldest incomplete partial starts at %d, want 0", asm.First())
			}
			continue
		}
		s, w, err := DecodePartial(cfg, payload, noRefs)
		if err != nil {
			t.Fatal(err)
		}
		if (w.Events == 40) != (s == src) {
			t.Fatalf("source %v for a window of %d events", s, w.Events)
		}
		got = append(got, w)
		firsts = append(firsts, first)
	}
	if len(got) == 2 && got[0].Events == 40 {
		got[0], got[1], firsts[0], firsts[1] = got[1], got[0], firsts[1], firsts[0]
	}
	// Publication a started at offset 0, b at offset 1.
	if len(got) != 2 || got[0].Events != 30 || got[1].Events != 40 || !slices.Equal(firsts, []int64{1, 0}) || asm.First() != -1 {
		t.Fatalf("assembled %d partials, first offsets %v, pending from %d", len(got), firsts, asm.First())
	}
	if !slices.Equal(got[1].AppendBinary(nil), a.AppendBinary(nil)) {
		t.Fatal("decoded partial differs from the published one")
	}
}

// TestEncoderReusesOnlyItsBuffer encodes windows of different sizes, and in
// chunks of different sizes, with one Encoder: each call's records must read
// back as EncodePartial's do, and stay intact when the Encoder writes the
// next window.
func TestEncoderReusesOnlyItsBuffer(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	var enc Encoder
	type call struct {
		w       *window.Window
		chunk   int
		records [][]byte
		copies  [][]byte
	}
	var calls []call
	for i, events := range []int{40, 3, 90, 0, 60} {
		w := filled(cfg, m, t0.Add(time.Duration(i)*cfg.WindowSize), events, i)
		chunk := []int{0, 64, 100}[i%3]
		recs := enc.Encode(Source{"telemetry", int32(i)}, w, chunk)
		var copies [][]byte
		for _, r := range recs {
			copies = append(copies, slices.Clone(r))
		}
		calls = append(calls, call{w, chunk, recs, copies})
	}
	for i, c := range calls {
		want := EncodePartial(Source{"telemetry", int32(i)}, c.w, c.chunk)
		if len(c.records) != len(want) {
			t.Fatalf("window %d: %d records, EncodePartial writes %d", i, len(c.records), len(want))
		}
		asm := NewAssembler(1 << 20)
		var payload []byte
		for j, r := range c.records {
			if !slices.Equal(r, c.copies[j]) {
				t.Fatalf("window %d: record %d changed when the encoder wrote later windows", i, j)
			}
			got, err := Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := Parse(want[j])
			if got.Identity != ref.Identity || got.Index != ref.Index || got.Count != ref.Count || !slices.Equal(got.Data, ref.Data) {
				t.Fatalf("window %d: record %d differs from EncodePartial's", i, j)
			}
			if p, _, err := asm.Add(got, int64(j)); err != nil {
				t.Fatal(err)
			} else if p != nil {
				payload = p
			}
		}
		src, w, err := DecodePartial(cfg, payload, noRefs)
		if err != nil || src != (Source{"telemetry", int32(i)}) || !slices.Equal(w.AppendBinary(nil), c.w.AppendBinary(nil)) {
			t.Fatalf("window %d: decoded %v from %v, or a different state", i, err, src)
		}
	}
}

// BenchmarkEncodePartial encodes a warm-up window as the partitions of the
// pipeline benchmark close them (12 numeric and 3 categorical features,
// 10,000 events, all in the sample), with and without a kept buffer.
func BenchmarkEncodePartial(b *testing.B) {
	cfg := analysis.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	w := window.NewWindow(&cfg, m, t0, nil)
	e := telemetry.Event{Model: telemetry.Model{ID: m.ID, Version: m.Version}, EventTime: t0,
		Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{}), Categorical: telemetry.CategoriesOf(map[string]string{})}}
	for i := range 10000 {
		e.PredictionID = fmt.Sprintf("p-%d", i)
		for f := range 12 {
			e.Features.SetNumeric(fmt.Sprintf("x%d", f), math.Sin(float64(i*(f+1)))*100)
		}
		for f := range 3 {
			e.Features.SetCategorical(fmt.Sprintf("c%d", f), fmt.Sprintf("v%d", (i+f)%7))
		}
		w.Observe(&e, int64(i))
	}
	src := Source{"telemetry", 1}
	size := 0
	for _, r := range EncodePartial(src, w, 0) {
		size += len(r)
	}
	b.Run("EncodePartial", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			EncodePartial(src, w, 0)
		}
	})
	b.Run("Encoder", func(b *testing.B) {
		var enc Encoder
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			enc.Encode(src, w, 0)
		}
	})
}

// TestLabelsRecord round-trips the labels news and refuses its corruptions.
func TestLabelsRecord(t *testing.T) {
	m := analysis.ModelKey{ID: "fraud", Version: "v3"}
	b := EncodeLabels(m, -60000)
	r, err := Parse(b)
	if err != nil || r.Kind != KindLabels || r.Model != m || r.WindowStart != -60000 {
		t.Fatalf("Parse = %+v, %v", r, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), EncodeLabels(analysis.ModelKey{}, 0),
		{KindLabels, wireVersion, 200, 1}} {
		if _, err := Parse(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Parse(%q): %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestParseRejectsCorruptRecords(t *testing.T) {
	cfg := testConfig(t)
	good := EncodePartial(Source{"t", 0}, filled(cfg, analysis.ModelKey{ID: "m", Version: "1"}, t0, 5, 1), 0)[0]
	for _, b := range [][]byte{nil, {KindChunk}, {KindChunk, 9}, {'X', wireVersion}, good[:5],
		{KindProgress, wireVersion, 200}, append(EncodeProgress(Source{"t", 1}, 5, false), 0)} {
		if _, err := Parse(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Parse(%q): %v, want ErrCorrupt", b, err)
		}
	}
	// Chunks out of order and repeated (a publisher retried some) still
	// assemble, once.
	w := filled(cfg, analysis.ModelKey{ID: "m", Version: "1"}, t0, 50, 1)
	chunks := EncodePartial(Source{"t", 0}, w, 64)
	asm := NewAssembler(1 << 20)
	order := []int{2, 0, 2}
	for i := 3; i < len(chunks); i++ {
		order = append(order, i)
	}
	order = append(order, 1)
	var payload []byte
	for k, i := range order {
		r, err := Parse(chunks[i])
		if err != nil {
			t.Fatal(err)
		}
		p, first, err := asm.Add(r, int64(10+k))
		if err != nil {
			t.Fatal(err)
		}
		if p != nil {
			if payload != nil || first != 10 {
				t.Fatalf("assembled twice, or first offset %d", first)
			}
			payload = p
		}
	}
	if _, got, err := DecodePartial(cfg, payload, noRefs); err != nil || !slices.Equal(got.AppendBinary(nil), w.AppendBinary(nil)) {
		t.Fatalf("out-of-order chunks: %v", err)
	}
	// A chunk delivered again after its publication was assembled (a
	// producer retry after a lost acknowledgement) starts nothing: it must
	// not hold commits back.
	late, _ := Parse(chunks[1])
	if p, _, err := asm.Add(late, 99); p != nil || err != nil || asm.First() != -1 {
		t.Fatalf("late duplicate chunk: payload %v, err %v, first %d", p != nil, err, asm.First())
	}
	// A new publication of the same partial supersedes an incomplete one,
	// so that an abandoned publication cannot hold commits back.
	abandoned, again := EncodePartial(Source{"t", 0}, w, 64), EncodePartial(Source{"t", 0}, w, 64)
	a0, _ := Parse(abandoned[0])
	asm.Add(a0, 100)
	if asm.First() != 100 {
		t.Fatalf("first %d", asm.First())
	}
	for i, c := range again {
		r, _ := Parse(c)
		if p, _, _ := asm.Add(r, int64(101+i)); p != nil && i != len(again)-1 {
			t.Fatal("assembled early")
		}
	}
	if asm.First() != -1 || asm.Evicted() != 1 {
		t.Fatalf("after the replay: first %d, evicted %d", asm.First(), asm.Evicted())
	}
	// Beyond the byte bound the oldest incomplete publication is evicted.
	small := NewAssembler(100)
	r0, _ := Parse(chunks[0])
	r1, _ := Parse(chunks[1])
	small.Add(r0, 0)
	small.Add(r1, 1)
	if small.Evicted() == 0 || small.First() != -1 {
		t.Fatalf("evicted %d, first %d", small.Evicted(), small.First())
	}
	// Chunks without data still count: a hostile stream of publications of
	// 4096 empty chunks with long identities cannot grow the assembler.
	bounded := NewAssembler(1 << 20)
	for i := range 1000 {
		r := Record{Kind: KindChunk, Identity: fmt.Sprintf("%08d%s", i, strings.Repeat("x", 60000)), Nonce: uint64(i), Index: 0, Count: maxChunks}
		if _, _, err := bounded.Add(r, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if bounded.bytes > 1<<20 || len(bounded.pending) > 20 {
		t.Fatalf("the assembler holds %d bytes in %d publications, bound 1 MiB", bounded.bytes, len(bounded.pending))
	}
}

// TestMergerWaitsForEverySource: a window is complete only when every
// expected source has reported progress past its end plus the lateness; a
// replayed partial is ignored; decisions come in window order; a silent
// source is waited for until the timeout and then named as missing.
func TestMergerWaitsForEverySource(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Minute, MaxModels: 10, MaxWindows: 10})
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // the wall clock
	mg.Expect("telemetry", 3)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	s0, s1, s2 := Source{"telemetry", 0}, Source{"telemetry", 1}, Source{"telemetry", 2}
	w0 := func(seed int) *window.Window { return filled(cfg, m, t0, 10, seed) }

	if o := mg.Add(s0, w0(0), 100, now); o != Merged {
		t.Fatalf("first partial: %v", o)
	}
	if o := mg.Add(s1, w0(1), 101, now); o != Merged {
		t.Fatalf("second partial: %v", o)
	}
	if o := mg.Add(s1, w0(1), 105, now); o != Duplicate {
		t.Fatalf("replayed partial: %v", o)
	}
	// Records naming another topic, or a partition the topic does not
	// have, cannot hold windows back.
	if mg.Advance(Source{"other", 0}, math.MinInt64, false) || mg.Add(Source{"other", 0}, w0(9), 106, now) != Dropped {
		t.Fatal("a source of another topic was accepted")
	}
	if mg.Advance(Source{"telemetry", 99999}, math.MinInt64, false) || mg.Sources() != 3 {
		t.Fatalf("a partition beyond the topic's was accepted: %d sources", mg.Sources())
	}
	mg.Add(s0, filled(cfg, m, t0.Add(10*time.Second), 10, 5), 102, now)
	// Sources 0 and 1 are past window 0 (end 10s + lateness 2s); source 2 is not.
	mg.Advance(s0, ms(22*time.Second), false)
	mg.Advance(s1, ms(12*time.Second), false)
	mg.Advance(s2, ms(11*time.Second), false)
	if r := mg.Ready(now); len(r) != 0 {
		t.Fatalf("decided %d windows before source 2 passed", len(r))
	}
	if c := mg.Committable(200); c != 100 {
		t.Fatalf("committable %d, want 100 (first partial of an open window)", c)
	}
	mg.Advance(s2, ms(12*time.Second), false)
	mg.Advance(s2, ms(5*time.Second), false) // progress never goes back
	r := mg.Ready(now)
	if len(r) != 1 || r[0].Window.Events != 20 || r[0].Partials != 2 || len(r[0].Missing) != 0 || !r[0].Window.Start.Equal(t0) {
		t.Fatalf("ready %+v", r)
	}
	if o := mg.Add(s2, w0(2), 110, now); o != AlreadyDecided {
		t.Fatalf("partial of a decided window: %v", o)
	}
	if c := mg.Committable(200); c != 102 {
		t.Fatalf("committable %d, want 102", c)
	}
	// Source 2 goes silent: window 1 (due at 22s) waits for it until its
	// first partial came a minute ago, then is decided naming source 2.
	mg.Advance(s0, ms(81*time.Second), false)
	mg.Advance(s1, ms(30*time.Second), false)
	now = now.Add(59 * time.Second)
	if r := mg.Ready(now); len(r) != 0 {
		t.Fatalf("forced %d windows before the timeout", len(r))
	}
	now = now.Add(time.Second)
	r = mg.Ready(now)
	if len(r) != 1 || !slices.Equal(r[0].Missing, []Source{s2}) || r[0].Window.Events != 10 {
		t.Fatalf("forced %+v", r)
	}
	if c := mg.Committable(200); c != 200 || mg.Open() != 0 {
		t.Fatalf("committable %d with %d open windows, want 200 and 0", c, mg.Open())
	}
}

// TestMergerRestoreAndBounds: windows decided before a restart are replays;
// model versions beyond the bound are dropped, not merged; a window beyond
// the bound of windows decides the oldest early, and one older than every
// window being merged there is dropped.
func TestMergerRestoreAndBounds(t *testing.T) {
	cfg := testConfig(t)
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Minute, MaxModels: 1, MaxWindows: 2})
	now := t0
	a, b := analysis.ModelKey{ID: "a", Version: "1"}, analysis.ModelKey{ID: "b", Version: "1"}
	mg.Restore(map[analysis.ModelKey]time.Time{a: t0.Add(10 * time.Second)})
	src := Source{"telemetry", 0}
	if o := mg.Add(src, filled(cfg, a, t0, 3, 1), 0, now); o != AlreadyDecided {
		t.Fatalf("restored window: %v", o)
	}
	if o := mg.Add(src, filled(cfg, a, t0.Add(10*time.Second), 3, 1), 1, now); o != Merged {
		t.Fatalf("next window: %v", o)
	}
	if o := mg.Add(src, filled(cfg, b, t0.Add(10*time.Second), 3, 1), 2, now); o != Dropped {
		t.Fatalf("second model beyond max_models: %v", o)
	}
	mg.Add(src, filled(cfg, a, t0.Add(20*time.Second), 3, 1), 3, now)
	if o := mg.Add(src, filled(cfg, a, t0.Add(30*time.Second), 3, 1), 4, now); o != Merged {
		t.Fatalf("third window beyond the bound: %v", o)
	}
	if c, n := mg.Committable(10), mg.Open(); c != 1 || n != 3 {
		t.Fatalf("committable %d with %d windows held, want 1 (the decided window is not handed over yet) and 3", c, n)
	}
	if r := mg.Ready(now); len(r) != 1 || !r[0].Window.Start.Equal(t0.Add(10*time.Second)) || len(r[0].Missing) != 0 {
		t.Fatalf("decided early: %+v", r)
	}
	if o := mg.Add(src, filled(cfg, a, t0.Add(10*time.Second), 3, 1), 5, now); o != AlreadyDecided {
		t.Fatalf("a partial of the window decided early: %v", o)
	}

	// Older than both windows being merged, at the bound: dropped.
	mg2 := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Minute, MaxModels: 1, MaxWindows: 2})
	mg2.Add(src, filled(cfg, a, t0.Add(30*time.Second), 3, 1), 0, now)
	mg2.Add(src, filled(cfg, a, t0.Add(50*time.Second), 3, 1), 1, now)
	if o := mg2.Add(src, filled(cfg, a, t0.Add(20*time.Second), 3, 1), 2, now); o != Dropped {
		t.Fatalf("window older than those being merged: %v", o)
	}
}

// TestMergerBackfillAheadOfASilentSource: a backfill sends more windows than
// the bound before the other source (a partition without events) reports:
// no window is lost; those beyond the bound are decided early, in order,
// naming the silent source as missing.
func TestMergerBackfillAheadOfASilentSource(t *testing.T) {
	cfg := testConfig(t)
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Hour, IdleWait: time.Hour, MaxModels: 1, MaxWindows: 3})
	mg.Expect("telemetry", 2)
	a := analysis.ModelKey{ID: "a", Version: "1"}
	s0, s1 := Source{"telemetry", 0}, Source{"telemetry", 1}
	now := t0
	for i := range 10 {
		if o := mg.Add(s0, filled(cfg, a, t0.Add(time.Duration(i)*10*time.Second), 5, i), int64(i), now); o != Merged {
			t.Fatalf("window %d: %v", i, o)
		}
		if mg.Open() > 3+i {
			t.Fatalf("window %d: %d held", i, mg.Open())
		}
		if want := max(0, i-2); mg.Forced() != want {
			t.Fatalf("window %d: Forced() = %d, want %d", i, mg.Forced(), want)
		}
	}
	mg.Advance(s0, t0.Add(time.Hour).UnixMilli(), false)
	r := mg.Ready(now)
	if mg.Forced() != 0 {
		t.Fatalf("Forced() = %d after Ready", mg.Forced())
	}
	if len(r) != 7 {
		t.Fatalf("%d windows decided early, want 7", len(r))
	}
	for i, c := range r {
		if !c.Window.Start.Equal(t0.Add(time.Duration(i)*10*time.Second)) || !slices.Equal(c.Missing, []Source{s1}) || c.Window.Events != 5 {
			t.Fatalf("window %d: start %s, missing %v, %d events", i, c.Window.Start, c.Missing, c.Window.Events)
		}
	}
	mg.Advance(s1, t0.Add(time.Hour).UnixMilli(), true)
	r = mg.Ready(now)
	if len(r) != 3 || !r[0].Window.Start.Equal(t0.Add(70*time.Second)) || len(r[0].Missing) != 0 {
		t.Fatalf("the last 3 windows once the silent source reported: %+v", r)
	}
}

// TestMergerMixedReferences: a partial opened against another reference than
// the window's first one adds its counts, not its states, and marks the window.
func TestMergerMixedReferences(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "a", Version: "1"}
	warm := filled(cfg, m, t0, 100, 9)
	ref := reference.Build(warm.Sketches(), cfg.Bins, cfg.SampleSize, "warmup", 1, t0)
	withRef := window.NewWindow(cfg, m, t0.Add(10*time.Second), ref)
	for i := range 7 {
		withRef.Observe(&telemetry.Event{PredictionID: fmt.Sprint(i), Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": 1})}}, int64(i))
	}
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Minute, MaxModels: 2, MaxWindows: 2})
	now := t0
	mg.Expect("t", 2)
	// 150 events overflow the warm-up sample (100): no exact rebinding.
	mg.Add(Source{"t", 0}, filled(cfg, m, t0.Add(10*time.Second), 150, 1), 0, now)
	mg.Add(Source{"t", 1}, withRef, 1, now)
	// 5 events rebind exactly to the reference of the window's first partial.
	mg.Add(Source{"t", 0}, withRefCopy(t, cfg, ref, m, t0.Add(20*time.Second)), 2, now)
	mg.Add(Source{"t", 1}, filled(cfg, m, t0.Add(20*time.Second), 5, 4), 3, now)
	mg.Advance(Source{"t", 0}, t0.Add(time.Hour).UnixMilli(), false)
	mg.Advance(Source{"t", 1}, t0.Add(time.Hour).UnixMilli(), false)
	r := mg.Ready(now)
	if len(r) != 2 || !r[0].MixedReferences || r[0].Window.Events != 157 || r[0].Window.Numeric[0].Count != 150 {
		t.Fatalf("ready %+v", r)
	}
	if r[1].MixedReferences || r[1].Window.RefID() != ref.ID || r[1].Window.Events != 12 || r[1].Window.Numeric[0].Count != 12 {
		t.Fatalf("rebound window %+v", r[1])
	}
}

func withRefCopy(t *testing.T, cfg *analysis.Config, ref *reference.Reference, m analysis.ModelKey, start time.Time) *window.Window {
	t.Helper()
	w := window.NewWindow(cfg, m, start, ref)
	for i := range 7 {
		w.Observe(&telemetry.Event{PredictionID: fmt.Sprint("r", i), Features: telemetry.Features{Numeric: telemetry.NumbersOf(map[string]float64{"x": float64(i)})}}, int64(i))
	}
	return w
}

// TestMergerDoesNotWaitForIdleSources: a source that says it is idle is not
// waited for; once it reports progress again it is, and a partial it sends
// for a window decided meanwhile is AlreadyDecided.
func TestMergerDoesNotWaitForIdleSources(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "a", Version: "1"}
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Hour, IdleWait: 5 * time.Second, MaxModels: 2, MaxWindows: 8})
	mg.Expect("t", 2)
	now := t0
	s0, s1 := Source{"t", 0}, Source{"t", 1}
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	mg.Add(s0, filled(cfg, m, t0, 4, 1), 0, now)
	mg.Advance(s0, ms(12*time.Second), false)
	if r := mg.Ready(now); len(r) != 0 {
		t.Fatalf("decided before source 1 reported: %d", len(r))
	}
	mg.Advance(s1, math.MinInt64, true) // an empty partition, idle
	// It may be waking up with events of the window: wait IdleWait for it.
	if r := mg.Ready(now.Add(4 * time.Second)); len(r) != 0 {
		t.Fatalf("idle source not waited for IdleWait: %+v", r)
	}
	now = now.Add(5 * time.Second)
	if r := mg.Ready(now); len(r) != 1 || len(r[0].Missing) != 0 {
		t.Fatalf("idle source waited for beyond IdleWait: %+v", r)
	}
	// A source that wakes up within IdleWait is waited for.
	mg.Add(s0, filled(cfg, m, t0.Add(20*time.Second), 4, 7), 5, now)
	mg.Advance(s1, math.MinInt64, false)
	if r := mg.Ready(now.Add(time.Minute)); len(r) != 0 {
		t.Fatalf("decided while the source that woke up is behind: %d", len(r))
	}
	mg.Add(s1, filled(cfg, m, t0.Add(20*time.Second), 4, 8), 6, now)
	// Source 1 wakes up behind: it is waited for again.
	mg.Advance(s1, ms(5*time.Second), false)
	mg.Add(s0, filled(cfg, m, t0.Add(10*time.Second), 4, 2), 1, now)
	mg.Advance(s0, ms(40*time.Second), false)
	if r := mg.Ready(now); len(r) != 0 {
		t.Fatalf("decided while the woken source is behind: %d", len(r))
	}
	if o := mg.Add(s1, filled(cfg, m, t0, 4, 3), 2, now); o != AlreadyDecided {
		t.Fatalf("partial for a window decided while its source was idle: %v", o)
	}
	mg.Advance(s1, ms(22*time.Second), false)
	if r := mg.Ready(now); len(r) != 1 || r[0].Window.Events != 4 {
		t.Fatalf("after the woken source passed: %+v", r)
	}
}

// TestMergerDecidesAModelsWindowsInOrder: a newer window whose idle wait
// ran out is not decided before an older one that still waits for a source
// that is behind (its partial would then be AlreadyDecided, and a restart
// would skip the older window).
func TestMergerDecidesAModelsWindowsInOrder(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "a", Version: "1"}
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Hour, IdleWait: 5 * time.Second, MaxModels: 2, MaxWindows: 8})
	mg.Expect("t", 3)
	a, b, c := Source{"t", 0}, Source{"t", 1}, Source{"t", 2}
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	now := t0
	mg.Advance(c, math.MinInt64, true) // empty and idle
	// A has events only in window 1 and is far ahead; B is catching up.
	mg.Add(a, filled(cfg, m, t0.Add(10*time.Second), 3, 1), 0, now)
	mg.Advance(a, ms(time.Minute), false)
	mg.Advance(b, ms(5*time.Second), false)
	now = now.Add(4 * time.Second)
	mg.Add(b, filled(cfg, m, t0, 3, 2), 1, now) // window 0 first comes now
	mg.Add(b, filled(cfg, m, t0.Add(10*time.Second), 3, 3), 2, now)
	mg.Advance(b, ms(22*time.Second), false) // B passed both windows
	now = now.Add(2 * time.Second)           // window 1's idle wait ran out, window 0's did not
	if r := mg.Ready(now); len(r) != 0 {
		t.Fatalf("decided %d windows out of order", len(r))
	}
	now = now.Add(3 * time.Second)
	r := mg.Ready(now)
	if len(r) != 2 || !r[0].Window.Start.Equal(t0) || r[1].Window.Events != 6 {
		t.Fatalf("ready %+v", r)
	}
}

// TestMergerDroppedPartialMakesAWindowIncomplete: a partial dropped at a
// bound (here max_models) is remembered: when the window is decided later
// from the other sources' partials, the dropped source is listed as missing
// instead of the window passing as complete.
func TestMergerDroppedPartialMakesAWindowIncomplete(t *testing.T) {
	cfg := testConfig(t)
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Hour, IdleWait: time.Hour, MaxModels: 1, MaxWindows: 10})
	mg.Expect("telemetry", 2)
	a, b := analysis.ModelKey{ID: "a", Version: "1"}, analysis.ModelKey{ID: "b", Version: "1"}
	s0, s1 := Source{"telemetry", 0}, Source{"telemetry", 1}
	size := cfg.WindowSize
	if o := mg.Add(s0, filled(cfg, a, t0, 3, 1), 0, t0); o != Merged {
		t.Fatalf("first window: %v", o)
	}
	if o := mg.Add(s1, filled(cfg, b, t0.Add(size), 3, 2), 1, t0); o != Dropped {
		t.Fatalf("a second model beyond max_models: %v", o)
	}
	mg.Add(s1, filled(cfg, a, t0, 3, 3), 2, t0)
	past := func(end time.Time) int64 { return end.Add(cfg.AllowedLateness).UnixMilli() }
	mg.Advance(s0, past(t0.Add(size)), false)
	mg.Advance(s1, past(t0.Add(size)), false)
	if got := mg.Ready(t0); len(got) != 1 || len(got[0].Missing) != 0 {
		t.Fatalf("the first window: %+v", got)
	}
	// Model b's window, now with room, from source 0 only: source 1's
	// partial of it was dropped.
	mg.Add(s0, filled(cfg, b, t0.Add(size), 3, 4), 3, t0)
	mg.Advance(s0, past(t0.Add(2*size)), false)
	mg.Advance(s1, past(t0.Add(2*size)), false)
	got := mg.Ready(t0)
	if len(got) != 1 || len(got[0].Missing) != 1 || got[0].Missing[0] != s1 {
		t.Fatalf("a window decided without a dropped partial: %+v", got)
	}
}

// TestEvictedPublicationMakesAWindowIncomplete: a publication the assembler
// evicts at its byte bound before it is whole never reaches the merger; the
// merger is told, and the window lists that partition as missing.
func TestEvictedPublicationMakesAWindowIncomplete(t *testing.T) {
	cfg := testConfig(t)
	a := analysis.ModelKey{ID: "a", Version: "1"}
	s0, s1 := Source{"telemetry", 0}, Source{"telemetry", 1}
	lostChunks := EncodePartial(s1, filled(cfg, a, t0, 30, 1), 64)
	bigChunks := EncodePartial(s0, filled(cfg, analysis.ModelKey{ID: "b", Version: "1"}, t0, 40, 2), 64)
	// The bound holds the big publication but not both: the older one goes.
	held := func(chunks [][]byte) int {
		probe := NewAssembler(1 << 30)
		for _, c := range chunks {
			r, _ := Parse(c)
			probe.Add(r, 0)
		}
		return probe.bytes
	}
	asm := NewAssembler(held(bigChunks[:len(bigChunks)-1]) + held(lostChunks[:1]) - 1)
	r, _ := Parse(lostChunks[0])
	asm.Add(r, 0)
	for i, c := range bigChunks[:len(bigChunks)-1] {
		r, _ := Parse(c)
		asm.Add(r, int64(10+i))
	}
	lost := asm.TakeLost()
	if len(lost) != 1 || asm.Evicted() < 1 {
		t.Fatalf("lost %d publications, evicted %d", len(lost), asm.Evicted())
	}
	mg := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: time.Hour, IdleWait: time.Hour, MaxModels: 10, MaxWindows: 10})
	mg.Expect("telemetry", 2)
	mg.Add(s0, filled(cfg, a, t0, 30, 3), 0, t0)
	mg.Lost(lost[0])
	past := t0.Add(cfg.WindowSize + cfg.AllowedLateness).UnixMilli()
	mg.Advance(s0, past, false)
	mg.Advance(s1, past, false)
	got := mg.Ready(t0)
	if len(got) != 1 || len(got[0].Missing) != 1 || got[0].Missing[0] != s1 {
		t.Fatalf("a window decided without an evicted publication: %+v", got)
	}
	if _, _, _, ok := parseIdentity("garbage"); ok {
		t.Fatal("a corrupt identity parsed")
	}
}

// TestMergerRestoredIsBounded: the merger remembers where the decisions of
// at most 4 × max_models versions end, forgetting the oldest; a forgotten
// version is not Known, so its caller looks its decisions up again.
func TestMergerRestoredIsBounded(t *testing.T) {
	mg := NewMerger(Config{Lateness: time.Second, Timeout: time.Minute, MaxModels: 1, MaxWindows: 2})
	decided := map[analysis.ModelKey]time.Time{}
	for i := range 6 {
		decided[analysis.ModelKey{ID: "m", Version: fmt.Sprint(i)}] = t0.Add(time.Duration(i) * time.Minute)
	}
	mg.Restore(decided)
	for i := range 6 {
		if known := mg.Knows(analysis.ModelKey{ID: "m", Version: fmt.Sprint(i)}); known != (i >= 2) {
			t.Errorf("version %d known: %v", i, known)
		}
	}
}

// TestAssemblerCopiesWhatItKeeps: the records of a publication are read
// from one buffer reused for every record (as a handler that borrows its
// messages reads them), out of order, some twice, a newer record of
// another partial between them; the assembled payload is the encoded
// chunks' data in order, though every record's bytes were overwritten once
// Add returned, and the assembler counts the bytes it still holds.
func TestAssemblerCopiesWhatItKeeps(t *testing.T) {
	cfg := testConfig(t)
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	chunks := EncodePartial(Source{"telemetry", 1}, filled(cfg, m, t0, 40, 1), 64)
	var want []byte // the chunks' data in order
	for _, c := range chunks {
		want = append(want, mustParse(t, c).Data...)
	}
	other := EncodePartial(Source{"telemetry", 2}, filled(cfg, m, t0, 3, 2), 64)
	if len(chunks) < 4 || len(other) < 2 {
		t.Fatalf("%d and %d chunks: too few to test", len(chunks), len(other))
	}
	order := []int{2, 0, 2, 1}
	for i := 3; i < len(chunks); i++ {
		order = append(order, i)
	}
	order = append([]int{len(chunks) - 1}, order...) // the last first, too
	asm := NewAssembler(1 << 20)
	var buf []byte
	var payload []byte
	add := func(rec []byte) []byte {
		buf = append(buf[:0], rec...)
		r, err := Parse(buf)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := asm.Add(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 0xa5 // the buffer is reused
		}
		return p
	}
	for k, i := range order {
		if k == 2 {
			add(other[0])
		}
		if p := add(chunks[i]); p != nil {
			if payload != nil {
				t.Fatal("assembled twice")
			}
			payload = bytes.Clone(p)
		}
	}
	if !bytes.Equal(payload, want) {
		t.Fatalf("assembled %d bytes that differ from the %d encoded", len(payload), len(want))
	}
	// The next publication assembled reuses the memory of the last payload.
	again := EncodePartial(Source{"telemetry", 3}, filled(cfg, m, t0, 30, 3), 64)
	var wantAgain, gotAgain []byte
	for _, c := range again {
		wantAgain = append(wantAgain, mustParse(t, c).Data...)
		if p := add(c); p != nil {
			gotAgain = bytes.Clone(p)
		}
	}
	if !bytes.Equal(gotAgain, wantAgain) {
		t.Fatalf("assembled %d bytes of the next publication that differ from the %d encoded", len(gotAgain), len(wantAgain))
	}
	if asm.bytes != asm.pending[mustIdentity(t, other[0])].cost+asm.pending[mustIdentity(t, other[0])].held {
		t.Fatalf("the assembler counts %d bytes; its one incomplete publication holds %d", asm.bytes,
			asm.pending[mustIdentity(t, other[0])].cost+asm.pending[mustIdentity(t, other[0])].held)
	}
}

func mustIdentity(t *testing.T, rec []byte) string { return mustParse(t, rec).Identity }

func mustParse(t *testing.T, rec []byte) Record {
	t.Helper()
	r, err := Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAssemblerReservesLittleForAClaim: the first chunk of a publication
// that claims a thousand chunks reserves room for maxRoomChunks of its
// size, not for a thousand: a hostile record does not take the bound.
func TestAssemblerReservesLittleForAClaim(t *testing.T) {
	asm := NewAssembler(1 << 30)
	r := Record{Kind: KindChunk, Identity: "x", Nonce: 1, Count: 1000, Data: make([]byte, 1024)}
	if p, _, err := asm.Add(r, 0); p != nil || err != nil {
		t.Fatalf("payload %d bytes, %v", len(p), err)
	}
	if held, most := asm.bytes, 24*1000+2*len("x")+64+maxRoomChunks*1024; held > most {
		t.Fatalf("one chunk of 1 KiB claiming 1000 holds %d bytes, want at most %d", held, most)
	}
}
