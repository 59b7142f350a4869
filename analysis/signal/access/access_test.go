package access

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
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
	} {
		c := DefaultConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}
