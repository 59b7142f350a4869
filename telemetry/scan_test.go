package telemetry

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fastSeeds are inputs at the edges of what the fast path takes: each
// either takes it exactly as the slow path would or leaves it to the slow
// path.
var fastSeeds = []string{
	// Taken by the fast path.
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`,
	` {"prediction_id" : "p" , "event_time" : 1795701600000 , "model" : { "id" : "m" , "version" : "7" } } `,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":-0,"b":1e3,"c":-1.5E-3,"d":0.1},"categorical":{"c2":"Zürich"}}}`,
	`{"prediction_id":"p","event_time":null,"model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"prediction":{"score":null,"class":null,"probabilities":null,"threshold":null},"latency_ms":null,"llm":null,"attributes":null,"features":null,"principal":null}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"prediction":{"score":0.5,"class":"a","probabilities":{"a":0.5,"b":0.5},"threshold":0.4},"latency_ms":3}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"llm":{"gen_ai.usage.input_tokens":3,"gen_ai.usage.output_tokens":-1,"gen_ai.response.finish_reasons":["stop","length"],"refusal":true,"gen_ai.response.time_to_first_chunk":0.2}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"llm":{"gen_ai.response.finish_reasons":[]}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"llm":{}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"future":{"a":[1,true,false,null,{"b":"c"}],"n":-0.5e-7}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"attributes":{"k":"v","k2":""}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"":1}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26","model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":17957016000000000,"model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":1.5,"model":{"id":"m"}}`,
	`{"prediction_id":"bad id","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"prediction":{"class":"` + "a\u0085b" + `"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"prediction":{"probabilities":{"a":1.5}}}`,
	`{}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":1e22,"b":1e23,"c":9007199254740993,"d":123456789012345678901,` +
		`"e":1.7976931348623157e308,"f":5e-324,"g":2.2250738585072014e-308,"h":0.30000000000000004,"i":-0.0,"j":1E+2,"k":12.5e-30,"l":4.9e-400}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:59:59.999999999Z","model":{"id":"m"},"features":{"numeric":{"a":0.0000000000000000001,"b":0.00000000000000000001,` +
		`"c":1234567890123456789,"d":9007199254740992,"e":0.9007199254740993,"f":-0.5e1,"g":579.4363,"h":1e-22,"i":1e-23,"j":100000000000000000000000e-2}}}`,
	// Left to the slow path.
	`{"prediction_id":"p\u0041","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`,
	`{"Prediction_ID":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`,
	`{"prediction_id":"p","prediction_id":"q","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":1,"a":2}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":1},"categorical":{"a":"x"}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":null}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":"1"}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"a":1e999}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"llm":{"gen_ai.usage.input_tokens":1.0}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"llm":{"gen_ai.usage.input_tokens":99999999999999999999}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}} x`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"x":01}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"x":"` + "\xff" + `"}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"ſcore":1}`,
	`{"prediction_id":"p","event_time":true,"model":{"id":"m"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"prediction":{"probabilities":{"a":0.5,"b":0.2,"a":0.5}}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"attributes":{"k":"v","j":"v","k":"w"}}`,
	`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"attributes":{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","i":"","b":""}}`,
}

// normal returns e in a form to compare: slices sorted, empty ones nil, no
// pointer into the decoder's storage.
func normal(e *Event) *Event {
	c := e.Clone()
	slices.SortFunc(c.Features.Numeric, func(a, b Number) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Features.Categorical, func(a, b Category) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Prediction.Probabilities, func(a, b ClassProbability) int { return cmp.Compare(a.Class, b.Class) })
	slices.SortFunc(c.Attributes, func(a, b Attribute) int { return cmp.Compare(a.Key, b.Key) })
	return c
}

// checkFastPath decodes b by both paths and fails t when the fast path takes
// b and the two disagree on the outcome or a value; it reports whether
// the fast path took b.
func checkFastPath(t *testing.T, d *Decoder, b []byte) bool {
	t.Helper()
	if d.precheck(b) != nil {
		return false
	}
	var fast, slow Event
	took, fastErr := d.decodeFast(b, &fast)
	if !took {
		return false
	}
	slowErr := d.decodeSlow(b, &slow)
	if fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
		t.Fatalf("%q: fast path %v, slow path %v", b, fastErr, slowErr)
	}
	if fastErr != nil {
		return true
	}
	checkNamesID(t, b, &fast.Features)
	fast.Features.NamesID = 0 // the slow path's events have none
	f, s := normal(&fast), normal(&slow)
	for _, n := range f.Features.Numeric {
		if v, _ := s.Features.NumericValue(n.Name); math.Float64bits(v) != math.Float64bits(n.Value) {
			t.Fatalf("%q: feature %q: fast %v, slow %v", b, n.Name, n.Value, v)
		}
	}
	if !reflect.DeepEqual(f, s) {
		t.Fatalf("%q: the paths disagree:\nfast %+v\nslow %+v", b, f, s)
	}
	return true
}

// namesByID is the feature names of the first event of each NamesID
// checkNamesID saw.
var namesByID = map[uint64][]string{}

// checkNamesID checks Features.NamesID's promise: events with the same ID
// have the same names at the same places (numeric, then categorical, and
// as many of each).
func checkNamesID(t *testing.T, b []byte, f *Features) {
	t.Helper()
	if f.NamesID == 0 {
		return
	}
	names := []string{fmt.Sprint(len(f.Numeric))}
	for _, n := range f.Numeric {
		names = append(names, n.Name)
	}
	for _, c := range f.Categorical {
		names = append(names, c.Name)
	}
	if first, ok := namesByID[f.NamesID]; !ok {
		namesByID[f.NamesID] = names
	} else if !slices.Equal(first, names) {
		t.Fatalf("%q: names %q under NamesID %d, which had %q", b, names, f.NamesID, first)
	}
}

func fastCorpus(t testing.TB) [][]byte {
	var in [][]byte
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "inference*.json"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, b)
		}
	}
	for _, s := range fastSeeds {
		in = append(in, []byte(s))
	}
	return in
}

// TestFastPathTakesPlainEvents checks that the golden events and the plain
// seeds take the fast path, and that what it leaves to the slow path is
// what it says it leaves.
func TestFastPathTakesPlainEvents(t *testing.T) {
	d := newTestDecoder()
	files, _ := filepath.Glob("testdata/good/inference*.json")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !checkFastPath(t, d, b) {
			t.Errorf("%s: left to the slow path", path)
		}
	}
	slowFrom := slices.Index(fastSeeds, `{"prediction_id":"p\u0041","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"}}`)
	for i, s := range fastSeeds {
		if took := checkFastPath(t, d, []byte(s)); took != (i < slowFrom) {
			t.Errorf("seed %d %q: fast path took it: %v", i, s, took)
		}
	}
}

// FuzzFastPathAgrees checks that whatever the fast path takes, it decodes
// exactly as the slow path does: the same rejection, or the same values.
func FuzzFastPathAgrees(f *testing.F) {
	for _, b := range fastCorpus(f) {
		f.Add(b)
	}
	d := newTestDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastPath(t, d, b)
	})
}

// TestDecodeDoesNotAllocate checks the fast path's promise: once an event's
// slices have grown, decoding a plain event allocates nothing.
func TestDecodeDoesNotAllocate(t *testing.T) {
	d := newTestDecoder()
	var e Event
	for _, b := range [][]byte{benchEvent, benchGenAI} {
		if err := d.Decode(b, &e); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if err := d.Decode(b, &e); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%.1f allocations per decode of %.40q...", n, b)
		}
	}
}

// TestSpecialFlagsTheFirstByteThatNeedsALook checks the eight-byte test of
// str against the byte-by-byte rule, for every byte value at every position
// and behind every other byte value.
func TestSpecialFlagsTheFirstByteThatNeedsALook(t *testing.T) {
	needs := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	for first := range 256 {
		for second := range 256 {
			for p := range 8 {
				w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
				w[p] = byte(first)
				if p < 7 {
					w[7] = byte(second)
				}
				want := -1
				for i, c := range w {
					if needs(c) {
						want = i
						break
					}
				}
				m := special(binary.LittleEndian.Uint64(w[:]))
				got := -1
				if m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("bytes %q: first flagged %d, want %d", w, got, want)
				}
			}
		}
	}
}

// TestKnownNamesStillCheckValues checks the decoder's memory of the last
// accepted event's feature names: an event with the same names skips
// their checks but not its values', and rejects exactly as a decoder that
// never saw a name before.
func TestKnownNamesStillCheckValues(t *testing.T) {
	ev := func(x, c string) []byte {
		return []byte(`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"x":` + x +
			`,"y":2},"categorical":{"c":"` + c + `"}}}`)
	}
	seq := [][]byte{
		ev("1", "v"),
		ev("1", "v\u0085"), // a C1 control character in a value: valid JSON, refused by the policy
		ev("1", strings.Repeat("v", DefaultMaxValueLength+1)),
		ev("1e999", "v"), // out of range: the slow path
		ev("3", "w"),
		[]byte(`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"y":2,"x":1},"categorical":{"c":"v"}}}`),
		[]byte(`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"x":1,"c":2},"categorical":{"y":"v"}}}`),
	}
	d := newTestDecoder()
	var e Event
	known := 0
	for i, b := range seq {
		got := d.Decode(b, &e)
		known += map[bool]int{true: 1}[d.fast.namesKnown]
		var fresh Event
		want := newTestDecoder().Decode(b, &fresh)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("event %d: %v after the others, %v alone", i, got, want)
		}
	}
	if known != 3 {
		t.Errorf("%d events took the known names, want 3 (the value problems and the next good one)", known)
	}
}

// schemaEvent returns an event of model m whose feature names end in
// suffix: the schemas of several models sharing a partition.
func schemaEvent(m, suffix, x string) []byte {
	return []byte(`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"` + m + `"},"features":{"numeric":{"x` +
		suffix + `":` + x + `,"y` + suffix + `":2},"categorical":{"c` + suffix + `":"v"}}}`)
}

// TestKnownNamesOfSeveralSchemas checks that the decoder remembers the
// names of the models sharing a partition: events of interleaved schemas
// skip the name checks after each schema's first event, up to
// maxKnownNames schemas; beyond that the oldest list is replaced and every
// event still decodes exactly as a fresh decoder decodes it.
func TestKnownNamesOfSeveralSchemas(t *testing.T) {
	for _, schemas := range []int{1, 6, maxKnownNames, maxKnownNames + 1, 3 * maxKnownNames} {
		t.Run(strconv.Itoa(schemas), func(t *testing.T) {
			d := newTestDecoder()
			var e Event
			known, total := 0, 0
			for round := range 4 {
				for i := range schemas {
					b := schemaEvent("m"+strconv.Itoa(i), "_"+strconv.Itoa(i), strconv.Itoa(round))
					got := d.Decode(b, &e)
					var fresh Event
					want := newTestDecoder().Decode(b, &fresh)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("schema %d round %d: %v after the others, %v alone", i, round, got, want)
					}
					if got == nil && (e.Features.Numeric[0].Name != "x_"+strconv.Itoa(i) || e.Features.Numeric[0].Value != float64(round)) {
						t.Fatalf("schema %d round %d: decoded %+v", i, round, e.Features)
					}
					if d.fast.namesKnown {
						known++
					}
					total++
				}
			}
			// Every event after a schema's first takes the known names while
			// the schemas fit; none does once they rotate through more lists
			// than are kept (each replaces the one the next event needs).
			want := total - schemas
			if schemas > maxKnownNames {
				want = 0
			}
			if known != want {
				t.Errorf("%d of %d events took known names, want %d", known, total, want)
			}
			if d.fast.nKnown > maxKnownNames {
				t.Errorf("%d name lists kept, bound %d", d.fast.nKnown, maxKnownNames)
			}
		})
	}
}

// TestGuessedNamesDecodeAsScanned checks the reading of feature names by
// comparison with a remembered list (nameKey): events whose names are a
// remembered list's, nearly one (a name longer, shorter or escaped, one
// more or one fewer, the kinds swapped, the objects in the other order,
// another list's first name) decode exactly as a fresh decoder decodes
// them, and as the slow path does, and only a list's exact names count as
// known (on the fast path: the truncated events take the slow one).
func TestGuessedNamesDecodeAsScanned(t *testing.T) {
	ev := func(features string) []byte {
		return []byte(`{"prediction_id":"p","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":` + features + `}`)
	}
	seq := []struct {
		features string
		known    bool
	}{
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, true},
		{`{"categorical":{"c":"w"},"numeric":{"x":3,"y":4}}`, true},
		{` { "numeric" : { "x" : 1 , "y" : 2 } , "categorical" : { "c" : "v" } } `, true},
		{`{"numeric":{"x":1,"yy":2},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, true},
		{`{"numeric":{"x":1},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2,"z":3},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v","d":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{}}`, false},
		{`{"numeric":{"x":1,"c":2},"categorical":{"y":"v"}}`, false},
		{`{"numeric":{"y":2,"x":1},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"\u0079":2},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2,"y":3},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"x":"v"}}`, false},
		{`{"numeric":{"a":1,"b":2},"categorical":{"c":"v"}}`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, true},
		{`{"numeric":{"a":1,"b":2},"categorical":{"c":"v"}}`, true},
		{`{"numeric":{"a":1,"y":2},"categorical":{"c":"v"}}`, false},
		{`{"categorical":{"c":"v"},"numeric":{"a":1,"b":2}}`, true},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, true},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}`, false},
		{`{"numeric":{"x":1,"y":2`, false},
		{`{"numeric":{"x"`, false},
		{`{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}`, true},
	}
	d := newTestDecoder()
	for i, c := range seq {
		b := ev(c.features)
		var e, fresh Event
		slow := d.SlowPath()
		got := d.Decode(b, &e)
		if fast := d.SlowPath() == slow; fast && d.fast.namesKnown != c.known || !fast && c.known {
			t.Errorf("event %d %s: names known %v, want %v", i, c.features, d.fast.namesKnown, c.known)
		}
		want := newTestDecoder().Decode(b, &fresh)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("event %d %s: %v after the others, %v alone", i, c.features, got, want)
		}
		if got == nil && d.SlowPath() == slow {
			// Every accepted event of the fast path names its list.
			if e.Features.NamesID == 0 {
				t.Errorf("event %d %s: no NamesID", i, c.features)
			}
			checkNamesID(t, b, &e.Features)
		}
		e.Features.NamesID, fresh.Features.NamesID = 0, 0 // a decoder's own
		if got == nil && !reflect.DeepEqual(normal(&e), normal(&fresh)) {
			t.Fatalf("event %d %s: decoded\n%+v\nafter the others,\n%+v\nalone", i, c.features, normal(&e), normal(&fresh))
		}
		checkFastPath(t, d, b)
	}
}
