package access

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

func calls(p signal.Partial, principal telemetry.Principal, n int) {
	evs := make([]*telemetry.Event, n)
	for i := range evs {
		evs[i] = &telemetry.Event{Principal: principal}
	}
	p.Observe(evs)
}

// TestVolumeByHand: ten callers with 10 calls, ten with 12 and a scraper
// with 500: median 12, MAD 2, scale max(1.482602·2, √12) = √12, so the
// scraper's z is 488/√12 = 140.87: a warning naming it, never critical.
// A caller of 99 calls is below min_count; anonymous calls are counted
// apart; the caller is named by its most specific principal field.
func TestVolumeByHand(t *testing.T) {
	s := Volume{Config: DefaultConfig()}
	cur, ref := s.NewPartial(), s.NewPartial()
	for i := range 10 {
		calls(cur, telemetry.Principal{EndUserID: fmt.Sprint("user-", i), Service: "web"}, 10)
		calls(cur, telemetry.Principal{ClientAddress: fmt.Sprint("10.0.0.", i)}, 12)
	}
	calls(cur, telemetry.Principal{EndUserID: "scraper", Tenant: "acme"}, 500)
	calls(cur, telemetry.Principal{}, 7)
	calls(ref, telemetry.Principal{EndUserID: "user-1"}, 10)
	vs := s.Score(cur, ref)
	if len(vs) != 2 {
		t.Fatalf("verdicts %+v, want * and the scraper", vs)
	}
	if vs[0].Subject != "*" || vs[0].Statistic != 21 || vs[0].N != 727 || !strings.Contains(vs[0].Evidence, "7 anonymous calls") {
		t.Errorf("summary %+v", vs[0])
	}
	v := vs[1]
	if v.Subject != "scraper" || v.Statistic != 500 || math.Abs(v.Effect-488/math.Sqrt(12)) > 1e-9 || v.Severity != verdict.SeverityWarning ||
		!strings.Contains(v.Evidence, "not among the reference period's callers") {
		t.Errorf("scraper %+v", v)
	}
	// Below min_count the same outlier is not named.
	small := s.NewPartial()
	for i := range 20 {
		calls(small, telemetry.Principal{EndUserID: fmt.Sprint("u", i)}, 2)
	}
	calls(small, telemetry.Principal{EndUserID: "x"}, 99)
	if vs := s.Score(small, nil); len(vs) != 1 {
		t.Errorf("a caller under min_count was named: %+v", vs)
	}
}

// TestCallerFieldsConfigured: caller_fields picks the principal field that
// names the caller, in its order: the same calls counted by end user, by
// tenant or by service name different callers, and an event without any of
// the configured fields is anonymous.
func TestCallerFieldsConfigured(t *testing.T) {
	tests := []struct {
		fields []string
		heavy  string // the caller of the 500 calls
		named  int    // callers counted
		anon   string // the anonymous calls' evidence
	}{
		{[]string{FieldEndUser, FieldClient, FieldService, FieldTenant}, "scraper", 21, "7 anonymous calls"},
		{[]string{FieldTenant}, "acme", 1, "227 anonymous calls"},
		{[]string{FieldService, FieldEndUser}, "scraper", 2, "127 anonymous calls"},
		{[]string{FieldClient, FieldTenant}, "acme", 11, "107 anonymous calls"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.fields, ","), func(t *testing.T) {
			c := DefaultConfig()
			c.CallerFields = tt.fields
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			s := Volume{Config: c}
			cur := s.NewPartial()
			for i := range 10 {
				calls(cur, telemetry.Principal{EndUserID: fmt.Sprint("user-", i), Service: "web"}, 10)
				calls(cur, telemetry.Principal{ClientAddress: fmt.Sprint("10.0.0.", i)}, 12)
			}
			calls(cur, telemetry.Principal{EndUserID: "scraper", Tenant: "acme"}, 500)
			calls(cur, telemetry.Principal{}, 7)
			// Encoded and decoded as the decider reads it.
			q := s.NewPartial()
			d := sketch.NewDecoder(cur.AppendBinary(nil))
			if q.Decode(d); d.Err() != nil {
				t.Fatal(d.Err())
			}
			vs := s.Score(q, nil)
			if len(vs) == 0 || vs[0].Subject != "*" || vs[0].Statistic != float64(tt.named) || !strings.Contains(vs[0].Evidence, tt.anon) {
				t.Fatalf("summary %+v, want %d callers and %q", vs, tt.named, tt.anon)
			}
			var top string
			for _, h := range Summaries([]signal.Partial{q}) {
				if h.Calls == 500 {
					top = h.Caller
				}
			}
			if top != tt.heavy {
				t.Errorf("the 500 calls counted as %q's, want %q's", top, tt.heavy)
			}
		})
	}
}

// TestVolumeMergesAndDecodes: partials of any split merge to the partial
// of every event (fewer callers than max_callers), and survive encoding.
func TestVolumeMergesAndDecodes(t *testing.T) {
	s := Volume{Config: DefaultConfig()}
	all, parts := s.NewPartial(), []signal.Partial{s.NewPartial(), s.NewPartial(), s.NewPartial()}
	for i := range 300 {
		p := telemetry.Principal{EndUserID: fmt.Sprint("user-", i%37)}
		calls(all, p, 1+i%5)
		calls(parts[i%3], p, 1+i%5)
	}
	merged := s.NewPartial()
	for _, p := range parts {
		b := p.AppendBinary(nil)
		q := s.NewPartial()
		d := sketch.NewDecoder(b)
		q.Decode(d)
		if d.Err() != nil {
			t.Fatal(d.Err())
		}
		merged.Merge(q)
	}
	if string(merged.AppendBinary(nil)) != string(all.AppendBinary(nil)) {
		t.Error("merged partials differ from the partial of every event")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.CallerFields = nil },
		func(c *Config) { c.CallerFields = []string{"ip"} },
		func(c *Config) { c.MaxCallers = 0 },
		func(c *Config) { c.VolumeLevel = math.NaN() },
		func(c *Config) { c.StoreCallers = -1 },
	} {
		c := DefaultConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// TestStoredCallers: which tracked callers a window's caller_windows rows
// hold. Light callers beyond StoreCallers are left out, the heaviest by
// calls of their own kept (then by calls, then by name); a caller a verdict
// names, or with at least MinCount calls of a kind counted under its own
// counter (calls, scored calls, calls with inputs, calls with a class), is
// kept even beyond StoreCallers; both parts keep the callers' order (by
// name), and the window's summaries are left as they were.
func TestStoredCallers(t *testing.T) {
	cs := []CallerSummary{
		{Caller: "a", Calls: 5}, {Caller: "b", Calls: 9, CallsOvercount: 8}, {Caller: "c", Calls: 7},
		{Caller: "d", Calls: 150, CallsOvercount: 60}, // 90 of its own: light
		{Caller: "e", Calls: 100},                     // judged on its calls
		{Caller: "f", Calls: 7}, {Caller: "g", Calls: 1},
		{Caller: "h", InputCalls: 150, InputOvercount: 20},   // judged on its inputs alone
		{Caller: "i", ScoredCalls: 120, ScoredOvercount: 30}, // 90 scored calls of its own: light
	}
	all := "a b c d e f g h i"
	for _, tc := range []struct {
		store int
		named []string
		want  string
	}{
		{store: 100, want: all},
		{store: 9, want: all},
		{store: 4, want: "c d e h"},   // e, h judged; then d (90 of its own), c (7; c before f by name)
		{store: 5, want: "c d e f h"}, // b has 9 calls but 1 of its own
		{store: 1, want: "e h"},       // the judged ones already fill it
		{store: 0, want: "e h"},       // only judged and named callers
		{store: 0, named: []string{"*", "g"}, want: "e g h"},
		{store: 4, named: []string{"a", "g"}, want: "a e g h"},
		{store: 5, named: []string{"a", "g"}, want: "a d e g h"},
	} {
		c := DefaultConfig()
		c.StoreCallers = tc.store
		before := fmt.Sprint(cs)
		stored, others := c.Stored(cs, tc.named)
		var got, rest []string
		for _, s := range stored {
			got = append(got, s.Caller)
		}
		for _, s := range others {
			rest = append(rest, s.Caller)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("store_callers %d, named %v: stored %v, want %s", tc.store, tc.named, got, tc.want)
		}
		var wantRest []string
		for _, n := range strings.Fields(all) {
			if !slices.Contains(strings.Fields(tc.want), n) {
				wantRest = append(wantRest, n)
			}
		}
		if fmt.Sprint(rest) != fmt.Sprint(wantRest) {
			t.Errorf("store_callers %d, named %v: others %v, want %v", tc.store, tc.named, rest, wantRest)
		}
		if fmt.Sprint(cs) != before {
			t.Fatalf("Stored changed the summaries: %v", cs)
		}
	}
}

// TestVolumeMedianOfManyCallers: 10,000 callers whose calls are
// heavy-tailed (caller i makes ⌈a·e^(z_i)⌉ calls, z_i the normal quantile
// (i+½)/10,000: for a = 1.2 a true median of 2 calls and the busiest with
// 59, for a = 2.5 of 3 and 123, for a = 5.5 of 6 and 270), streamed in random
// order into three partitions of 1,000 counters and merged. The median the
// robust z is taken against is within 0.5 calls of the true one, where the
// counters' own median (with their overcount) is several times it; the
// callers are estimated within 5%; and a batch service at 50× the true
// median is named a warning, never critical.
func TestVolumeMedianOfManyCallers(t *testing.T) {
	const n = 10_000
	for _, c := range []struct {
		a       float64
		trueMed float64
	}{{1.2, 2}, {2.5, 3}, {5.5, 6}} {
		var evs []*telemetry.Event
		counts := make([]float64, n)
		for i := range n {
			z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/n-1)
			k := int(math.Ceil(c.a * math.Exp(z)))
			counts[i] = float64(k)
			for range k {
				evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{EndUserID: fmt.Sprintf("u-%05d", i)}})
			}
		}
		if m, _ := stat.MedianMAD(counts); m != c.trueMed {
			t.Fatalf("a %v: true median %v, want %v", c.a, m, c.trueMed)
		}
		for range int(50 * c.trueMed) {
			evs = append(evs, &telemetry.Event{Principal: telemetry.Principal{Service: "batch-scoring"}})
		}
		rng := rand.New(rand.NewPCG(9, 10))
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		s := Volume{Config: DefaultConfig()}
		merged := s.NewPartial()
		parts := []signal.Partial{s.NewPartial(), s.NewPartial(), s.NewPartial()}
		for i := 0; i < len(evs); i += 64 {
			parts[(i/64)%3].Observe(evs[i:min(i+64, len(evs))])
		}
		for _, p := range parts {
			merged.Merge(p)
		}
		p := merged.(*callers)
		med, _, pop := p.population()
		var overcounted []float64
		for _, h := range p.h.Top() {
			overcounted = append(overcounted, float64(h.Count))
		}
		counterMed, _ := stat.MedianMAD(overcounted)
		t.Logf("a %v: median %.2f over about %.0f callers (true %v over %d); the counters' median %.1f", c.a, med, pop, c.trueMed, n+1, counterMed)
		if math.Abs(med-c.trueMed) > 0.5 {
			t.Errorf("a %v: median %.2f, true %v", c.a, med, c.trueMed)
		}
		if math.Abs(pop-(n+1)) > 0.05*(n+1) {
			t.Errorf("a %v: about %.0f callers, true %d", c.a, pop, n+1)
		}
		if counterMed < 2*c.trueMed {
			t.Errorf("a %v: the counters' median %.1f: the population no longer tests overcounting", c.a, counterMed)
		}
		vs := s.Score(merged, nil)
		if v, ok := find(vs, "batch-scoring"); !ok || v.Severity != verdict.SeverityWarning {
			t.Errorf("a %v: batch service at 50× the median not a warning: %+v", c.a, vs)
		}
		for _, v := range vs {
			if v.Severity > verdict.SeverityWarning {
				t.Errorf("a %v: volume alone critical: %+v", c.a, v)
			}
		}
	}
}

// TestVolumeDecodesEarlierPartials: a partial encoded before the callers'
// sketch was kept (the summary last) decodes, its callers' number unknown,
// and so does its merge; an unknown trailer fails with a clear error.
func TestVolumeDecodesEarlierPartials(t *testing.T) {
	s := Volume{Config: DefaultConfig()}
	p := s.NewPartial()
	for i := range 50 {
		calls(p, telemetry.Principal{EndUserID: fmt.Sprint("user-", i)}, 1+i%3)
	}
	c := p.(*callers)
	old := c.summary().AppendBinary(binary.AppendUvarint(nil, c.anonymous))
	q := s.NewPartial()
	d := sketch.NewDecoder(old)
	q.Decode(d)
	if d.Err() != nil || !q.(*callers).distinctUnknown {
		t.Fatalf("earlier encoding: %v", d.Err())
	}
	m := s.NewPartial()
	m.Merge(q)
	m.Merge(p)
	if med, _, pop := m.(*callers).population(); !m.(*callers).distinctUnknown || pop != 50 || med != 4 {
		t.Errorf("merge with an earlier partial: median %v of %v callers", med, pop)
	}
	r := s.NewPartial()
	d = sketch.NewDecoder(append(slices.Clone(old), 7))
	r.Decode(d)
	if d.Err() == nil || !strings.Contains(d.Err().Error(), "caller_volume trailer 7") {
		t.Errorf("unknown trailer: %v", d.Err())
	}
}
