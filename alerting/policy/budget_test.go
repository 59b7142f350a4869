package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestSREWorkbookNumbers checks the burn-rate maths against the Google SRE
// Workbook's table for a 30-day period: b* = f·T/w and consumption b·w/T.
func TestSREWorkbookNumbers(t *testing.T) {
	const period = 30 * day
	cases := []struct {
		consumed    float64
		long        time.Duration
		rate        float64
		defaultName string
	}{
		{0.02, time.Hour, 14.4, "fast"},
		{0.05, 6 * time.Hour, 6, "slow"},
		{0.10, 3 * day, 1, "ticket"},
	}
	for i, c := range cases {
		if got := RateFor(c.consumed, c.long, period); !near(got, c.rate) {
			t.Errorf("RateFor(%g, %s) = %g, want %g", c.consumed, c.long, got, c.rate)
		}
		if got := Consumed(c.rate, c.long, period); !near(got, c.consumed) {
			t.Errorf("Consumed(%g, %s) = %g, want %g", c.rate, c.long, got, c.consumed)
		}
		d := DefaultBurnAlerts[i]
		if d.Name != c.defaultName || d.Long != c.long || d.Rate != c.rate || d.Short != d.Long/12 {
			t.Errorf("default burn alert %d = %+v, want %s: %s at %g with a short window of long/12", i, d, c.defaultName, c.long, c.rate)
		}
	}
	// The workbook's detection time t = b*·(1−SLO)·w/e: a 100% outage under
	// a 99.9% SLO alerts on the 1h/14.4 rule in 0.864 minutes.
	if got := 14.4 * 0.001 * 60 / 1; !near(got, 0.864) {
		t.Errorf("detection time %g min", got)
	}
}

// TestWindowsRounding: durations are counted in whole analysis windows,
// rounding up, at least one.
func TestWindowsRounding(t *testing.T) {
	cases := []struct {
		d, window time.Duration
		want      int
	}{
		{time.Hour, time.Minute, 60},
		{5 * time.Minute, time.Minute, 5},
		{time.Hour, 10 * time.Minute, 6},
		{5 * time.Minute, 10 * time.Minute, 1},
		{30 * time.Minute, 10 * time.Minute, 3},
		{90 * time.Minute, time.Hour, 2},
		{time.Hour, 2 * time.Hour, 1},
		{time.Nanosecond, time.Hour, 1},
		{30 * day, 7 * time.Minute, 6172},
	}
	for _, c := range cases {
		if got := Windows(c.d, c.window); got != c.want {
			t.Errorf("Windows(%s, %s) = %d, want %d", c.d, c.window, got, c.want)
		}
	}
}

// TestPlan: the default alerts of a 2% budget over 30 days at several
// window lengths, and budgets that cannot be evaluated.
func TestPlan(t *testing.T) {
	b := &Budget{Name: "fraud", File: "p.yml", Line: 3, Path: "budgets[0]", Share: 0.02, Period: 30 * day, Alerts: DefaultBurnAlerts}
	type win struct{ long, short int }
	cases := []struct {
		window   time.Duration
		windows  int
		allowed  float64
		alerts   []win
		consumed []float64
	}{
		{time.Minute, 43200, 864, []win{{60, 5}, {360, 30}, {4320, 360}}, []float64{0.02, 0.05, 0.10}},
		{10 * time.Minute, 4320, 86.4, []win{{6, 1}, {36, 3}, {432, 36}}, []float64{0.02, 0.05, 0.10}},
		{time.Hour, 720, 14.4, []win{{1, 1}, {6, 1}, {72, 6}}, []float64{0.02, 0.05, 0.10}},
		{2 * time.Hour, 360, 7.2, []win{{1, 1}, {3, 1}, {36, 3}}, []float64{0.04, 0.05, 0.10}},
		{7 * time.Minute, 6172, 123.44, []win{{9, 1}, {52, 5}, {618, 52}},
			[]float64{14.4 * 9 / 6172.0, 6 * 52 / 6172.0, 618 / 6172.0}},
	}
	for _, c := range cases {
		p, err := b.Plan(c.window)
		if err != nil {
			t.Errorf("window %s: %v", c.window, err)
			continue
		}
		if p.Windows != c.windows || !near(p.Allowed, c.allowed) {
			t.Errorf("window %s: %d windows, %g allowed; want %d, %g", c.window, p.Windows, p.Allowed, c.windows, c.allowed)
		}
		for i, a := range p.Alerts {
			if a.LongWindows != c.alerts[i].long || a.ShortWindows != c.alerts[i].short || !near(a.Consumed, c.consumed[i]) {
				t.Errorf("window %s, alert %s: %d/%d windows, consumes %g; want %d/%d, %g",
					c.window, a.Name, a.LongWindows, a.ShortWindows, a.Consumed, c.alerts[i].long, c.alerts[i].short, c.consumed[i])
			}
		}
	}
	refused := []struct {
		b      Budget
		window time.Duration
		want   string
	}{
		{Budget{Name: "tiny", File: "p.yml", Line: 3, Path: "budgets[0]", Share: 0.001, Period: day}, time.Hour,
			"p.yml:3: budgets[0]: 0.1% of 24 windows of 1h0m0s is 0.024 windows: one breached window would spend more than the whole budget; use a longer period or a larger share"},
		{Budget{Name: "huge", File: "p.yml", Line: 3, Path: "budgets[0]", Share: 0.02, Period: 365 * day}, 10 * time.Second,
			"p.yml:3: budgets[0]: period 1y is more than 1048576 windows of 10s: use a longer window or a shorter period"},
		{Budget{Name: "z"}, 0, `planning budget "z": window must be positive, got 0s`},
	}
	for _, c := range refused {
		if _, err := c.b.Plan(c.window); err == nil || err.Error() != c.want {
			t.Errorf("Plan(%s) of %s = %v, want %s", c.window, c.b.Name, err, c.want)
		}
	}
}

// newTestTracker returns a Tracker of a 2% budget over 30 days for model
// "m" at the given window length.
func newTestTracker(t *testing.T, window time.Duration) *Tracker {
	t.Helper()
	p := mustParse(t, `
budgets:
  - name: b
    models: [m]
    budget: 2%
    period: 30d
    receivers: {page: [pagerduty], ticket: [slack]}
`)
	tr, err := NewTracker(p, window)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// feed observes breaches for consecutive windows from window index first
// and returns the transitions as "index:alert:state".
func feed(tr *Tracker, model string, first int, breaches string) []string {
	var out []string
	for i, c := range breaches {
		idx := first + i
		end := time.Unix(0, 0).UTC().Add(time.Duration(idx+1) * tr.window)
		for _, bt := range tr.Observe(model, end, c == '1') {
			out = append(out, fmt.Sprintf("%d:%s:%s", idx, bt.Alert, bt.State))
		}
	}
	return out
}

// TestBurnDetectionTime: a total outage (every window in breach) of a 2%
// budget over 30 days fires fast, slow and ticket after b*·budget·w of
// windows: 17.28, 43.2 and 86.4 minutes of one-minute windows, rounded up
// to whole windows (the workbook's t = b*·(1−SLO)·w/e with e = 1).
func TestBurnDetectionTime(t *testing.T) {
	tr := newTestTracker(t, time.Minute)
	got := feed(tr, "m", 1000, strings.Repeat("1", 100))
	want := []string{"1017:fast:firing", "1043:slow:firing", "1086:ticket:firing"}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	s, ok := tr.Status("m")
	if !ok || s.Breached != 100 || s.Observed != 100 || !near(s.Consumed, 100/864.0) || !near(s.Remaining, 1-100/864.0) {
		t.Errorf("status %+v", s)
	}
	// At the fast alert's firing the hour held 18 breached windows: burn
	// 18/60/2% = 15 ≥ 14.4, 2.08% of the budget spent in the hour.
	if fast := s.Burns[0]; !near(fast.LongRate, 50) || !near(fast.ShortRate, 50) || !fast.Firing ||
		fast.Since != time.Unix(0, 0).UTC().Add(1018*time.Minute) {
		t.Errorf("fast %+v", fast)
	}
	// The outage ends: fast resolves once its 5-minute window drops below
	// 14.4 × 2% × 5 = 1.44 breached windows, i.e. on the fourth clean window.
	got = feed(tr, "m", 1100, "0000")
	if !slices.Equal(got, []string{"1103:fast:resolved"}) {
		t.Errorf("after the outage: %v", got)
	}
}

// TestBurnThresholdExact: the fast alert needs 18 of 60 windows (17.28
// rounded up) in the long window and 2 of 5 in the short one.
func TestBurnThresholdExact(t *testing.T) {
	cases := []struct {
		name     string
		breaches string
		fires    bool
	}{
		{"17 of 60, 2 of the last 5", strings.Repeat("0", 43) + strings.Repeat("1", 15) + "011", false},
		{"18 of 60, 2 of the last 5", strings.Repeat("0", 42) + strings.Repeat("1", 16) + "011", true},
		{"18 of 60, 1 of the last 5", strings.Repeat("0", 38) + strings.Repeat("1", 17) + "00001", false},
	}
	for _, c := range cases {
		tr := newTestTracker(t, time.Minute)
		feed(tr, "m", 0, strings.Repeat("0", 100)+c.breaches)
		s, _ := tr.Status("m")
		if s.Burns[0].Firing != c.fires {
			t.Errorf("%s: fast firing %t (long %.4g, short %.4g)", c.name, s.Burns[0].Firing, s.Burns[0].LongRate, s.Burns[0].ShortRate)
		}
	}
}

// TestBurnTenMinuteWindows: with 10-minute windows the fast pair is 6 and
// 1 windows: two breached windows in an hour (burn 16.7) with the last
// one breached fire it; one does not (burn 8.3).
func TestBurnTenMinuteWindows(t *testing.T) {
	tr := newTestTracker(t, 10*time.Minute)
	if got := feed(tr, "m", 0, "0000001000"); len(got) != 0 {
		t.Errorf("one breached window: %v", got)
	}
	if got := feed(tr, "m", 10, "1"); !slices.Equal(got, []string{"10:fast:firing"}) {
		t.Errorf("two breached windows in an hour: %v", got)
	}
	if got := feed(tr, "m", 11, "0"); !slices.Equal(got, []string{"11:fast:resolved"}) {
		t.Errorf("a clean 10-minute short window resolves: %v", got)
	}
}

// TestTrackerGapsAndLateWindows: windows without a verdict are not in
// breach, verdicts of one window combine, late windows within the
// period count, older ones are ignored, Advance moves silent models on.
func TestTrackerGapsAndLateWindows(t *testing.T) {
	tr := newTestTracker(t, time.Minute)
	end := func(idx int) time.Time { return time.Unix(0, 0).UTC().Add(time.Duration(idx+1) * time.Minute) }
	tr.Observe("m", end(100), false)
	tr.Observe("m", end(100), true) // another key of the model breached in the same window
	tr.Observe("m", end(100), false)
	tr.Observe("m", end(110), true)
	tr.Observe("m", end(105), true) // late, within the period
	tr.Observe("m", end(110-43200), true)
	s, _ := tr.Status("m")
	if s.Observed != 3 || s.Breached != 3 {
		t.Errorf("observed %d, breached %d; want 3, 3", s.Observed, s.Breached)
	}
	if tr.Observe("other", end(1), true) != nil {
		t.Error("a model without a budget has burn transitions")
	}
	if _, ok := tr.Status("other"); ok || slices.Contains(tr.Models(), "other") {
		t.Error("a model without a budget has a status")
	}
	// A silent model's fast alert resolves when the clock moves on.
	feed(tr, "m", 200, strings.Repeat("1", 20))
	var got []string
	for _, bt := range tr.Advance(end(230)) {
		got = append(got, bt.Alert+":"+string(bt.State))
	}
	if !slices.Equal(got, []string{"fast:resolved"}) {
		t.Errorf("Advance: %v", got)
	}
	// Moving more than a period on forgets everything.
	tr.Advance(end(230 + 43200))
	if s, _ := tr.Status("m"); s.Breached != 0 || s.Observed != 0 {
		t.Errorf("after a period of silence: %+v", s)
	}
}

// TestBurnTransitionContent: burn transitions carry the budget's receivers.
func TestBurnTransitionContent(t *testing.T) {
	tr := newTestTracker(t, 10*time.Minute)
	var got []BurnTransition
	for i := range 3 {
		got = append(got, tr.Observe("m", time.Unix(0, 0).Add(time.Duration(i+1)*10*time.Minute), true)...)
	}
	if len(got) != 1 {
		t.Fatalf("transitions %+v", got)
	}
	bt := got[0]
	if bt.Model != "m" || bt.Budget != "b" || bt.Alert != "fast" || bt.Severity != BurnPage || bt.State != StateFiring ||
		!slices.Equal(bt.Receivers, []string{"pagerduty"}) || bt.AllReceivers || bt.Rate != 14.4 ||
		!near(bt.LongRate, 2/6.0/0.02) || !near(bt.ShortRate, 50) || !near(bt.Consumed, 2/86.4) {
		t.Errorf("transition %+v", bt)
	}
}

// TestTrackerRoundTrip: the state, encoded as JSON and restored into a new
// Tracker mid-series, gives the same transitions and status as a Tracker
// that ran through.
func TestTrackerRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	for w := range 3000 {
		p := 0.005
		if (w/150)%4 == 1 {
			p = 0.4
		}
		if rng.Float64() < p {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	breaches := b.String()
	through := newTestTracker(t, time.Minute)
	want := feed(through, "m", 0, breaches)
	wantStatus, _ := through.Status("m")
	if len(want) < 4 {
		t.Fatalf("only %v: the series does not exercise the alerts", want)
	}
	for _, cut := range []int{1, 170, 1500, 2999} {
		first := newTestTracker(t, time.Minute)
		got := feed(first, "m", 0, breaches[:cut])
		js, err := json.Marshal(first.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		var st TrackerState
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		second := newTestTracker(t, time.Minute)
		if err := second.Restore(st); err != nil {
			t.Fatal(err)
		}
		got = append(got, feed(second, "m", cut, breaches[cut:])...)
		if !slices.Equal(got, want) {
			t.Errorf("cut at %d: %v, want %v", cut, got, want)
		}
		if s, _ := second.Status("m"); fmt.Sprint(s) != fmt.Sprint(wantStatus) {
			t.Errorf("cut at %d: status %+v, want %+v", cut, s, wantStatus)
		}
	}
	if err := newTestTracker(t, 10*time.Minute).Restore(through.Snapshot()); err == nil ||
		err.Error() != "restoring budget state: it counts windows of 1m0s, the tracker 10m0s" {
		t.Errorf("restoring another window length: %v", err)
	}
	bad := through.Snapshot()
	bad.Models[0].Breached = append(bad.Models[0].Breached, [2]int64{5000, 4000})
	if err := newTestTracker(t, time.Minute).Restore(bad); err == nil || !strings.Contains(err.Error(), "run [5000 4000] is not within its windows") {
		t.Errorf("restoring a bad run: %v", err)
	}
}

// TestTrackerSetPolicy: a reload keeps the breach history and counts it
// under the new budget; burn alerts are evaluated again at the next window.
func TestTrackerSetPolicy(t *testing.T) {
	tr := newTestTracker(t, time.Minute)
	feed(tr, "m", 0, strings.Repeat("1", 30)+strings.Repeat("0", 10))
	if err := tr.SetPolicy(mustParse(t, "budgets: [{name: strict, models: [m], budget: 1%, period: 30d}]")); err != nil {
		t.Fatal(err)
	}
	s, _ := tr.Status("m")
	if s.Budget != "strict" || s.Breached != 30 || !near(s.Consumed, 30/432.0) || s.Burns[1].Firing {
		t.Errorf("after reload: %+v", s)
	}
	if got := feed(tr, "m", 40, "0"); !slices.Equal(got, []string{"40:slow:firing"}) {
		t.Errorf("next window after reload: %v", got)
	}
	// A policy whose budget cannot be planned is refused and changes nothing.
	if err := tr.SetPolicy(mustParse(t, "budgets: [{name: tiny, budget: 0.001%, period: 30d}]")); err == nil {
		t.Error("a budget of 0.4 windows was accepted")
	}
	if s2, _ := tr.Status("m"); s2.Budget != "strict" {
		t.Errorf("after a refused reload: %+v", s2)
	}
}

// TestBitRingCount compares the ring's counts with a plain slice.
func TestBitRingCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 5, 63, 64, 65, 130, 1000} {
		r := newBitRing(n)
		ref := map[int64]bool{}
		head := int64(-1)
		for range 3000 {
			head++
			r.clear(head)
			delete(ref, head-int64(n))
			if rng.IntN(3) == 0 {
				r.set(head)
				ref[head] = true
			}
			from := head - int64(rng.IntN(n+1))
			want := 0
			for j := from + 1; j <= head; j++ {
				if ref[j] {
					want++
				}
			}
			if got := r.count(from, head); got != want {
				t.Fatalf("n %d, head %d: count(%d, %d) = %d, want %d", n, head, from, head, got, want)
			}
		}
	}
}
