package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/internal/kafkatest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// TestParseScenarios: the --scenario list parser, alone.
func TestParseScenarios(t *testing.T) {
	tests := []struct {
		name, list, feedbackTopic string
		want                      scenarioSet
		says                      string // in the error, "" for none
	}{
		{"none", "", "", scenarioSet{}, ""},
		{"one shift", "input-drift", "", scenarioSet{shifts: []string{"input-drift"}}, ""},
		{"one access", "extraction", "", scenarioSet{access: []string{"extraction"}}, ""},
		{"probing is a caller", "probing", "", scenarioSet{access: []string{"probing"}}, ""},
		{"honest feedback needs no attack", "scraping", "fb", scenarioSet{access: []string{"scraping"}}, ""},
		{"combined", "input-drift,label-flip", "fb", scenarioSet{shifts: []string{"input-drift"}, attacks: []string{"label-flip"}}, ""},
		{"every kind, with spaces", "latency-spike, error-burst,extraction,benign-heavy-user ,backdoor", "fb",
			scenarioSet{shifts: []string{"latency-spike", "error-burst"}, access: []string{"extraction", "benign-heavy-user"}, attacks: []string{"backdoor"}}, ""},
		{"unknown", "input-drift,meteor", "", scenarioSet{},
			`unknown scenario "meteor"; valid scenarios: input-drift, latency-spike, error-burst, class-shift, confidence-collapse, refusal-spike, token-inflation, concept-drift, extraction, scraping, probing, benign-heavy-user, label-flip, flood, backdoor`},
		{"feedback without topic", "label-flip", "", scenarioSet{}, "--scenario label-flip attacks the training feedback: give --feedback-topic"},
		{"flood without topic", "extraction,flood", "", scenarioSet{}, "--scenario flood attacks the training feedback: give --feedback-topic"},
		{"attacks combine", "label-flip,backdoor,flood", "fb", scenarioSet{attacks: []string{"label-flip", "backdoor", "flood"}}, ""},
		{"an attack twice", "flood,flood", "fb", scenarioSet{}, "flood given twice"},
		{"twice", "scraping,scraping", "", scenarioSet{}, "scraping given twice"},
		{"empty name", "extraction,", "", scenarioSet{}, "an empty name; valid scenarios: input-drift"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScenarios(tt.list, tt.feedbackTopic)
			switch {
			case tt.says != "":
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Errorf("parseScenarios(%q): %v, want an error saying %q", tt.list, err, tt.says)
				}
			case err != nil:
				t.Errorf("parseScenarios(%q): %v", tt.list, err)
			case !slices.Equal(got.shifts, tt.want.shifts) || !slices.Equal(got.access, tt.want.access) || !slices.Equal(got.attacks, tt.want.attacks):
				t.Errorf("parseScenarios(%q) = %+v, want %+v", tt.list, got, tt.want)
			}
		})
	}
}

// TestCombineShifts: shift scenarios combined make each of their changes.
func TestCombineShifts(t *testing.T) {
	s, err := combineShifts([]string{"input-drift", "latency-spike", "error-burst"}, "m", time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Model != "m" || s.After != time.Minute || s.MeanShift != 2 || !s.CategoryFlip || s.LatencyFactor != 2 || s.ErrorRate != 0.05 {
		t.Errorf("combined shift %+v", s)
	}
}

// TestGenerateScenarioErrors: driftwatch generate refuses what it cannot
// do, before connecting to any broker.
func TestGenerateScenarioErrors(t *testing.T) {
	base := []string{"generate", "--brokers", "127.0.0.1:1", "--events", "10", "--rate", "0"}
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"unknown", []string{"--scenario", "extraction,meteor"}, `unknown scenario "meteor"; valid scenarios: input-drift,`},
		{"feedback without topic", []string{"--scenario", "label-flip"}, "give --feedback-topic"},
		{"shift without model", []string{"--scenario", "input-drift,extraction"}, "--scenario input-drift shifts a model: give --shift-model"},
		{"access without callers", []string{"--scenario", "probing", "--callers", "0"}, "give --callers > 0"},
		{"negative callers", []string{"--callers", "-1"}, "--callers"},
		{"negative feedback delay", []string{"--feedback-topic", "fb", "--feedback-delay", "-1s"}, "--feedback-delay"},
		{"access of an unknown model", []string{"--scenario", "scraping", "--shift-model", "nope"}, `no model "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append(slices.Clone(base), tt.args...), &out, &errb, nil)
			if code != 1 || !strings.Contains(errb.String(), tt.says) {
				t.Errorf("exit %d, stderr %q; want exit 1 saying %q", code, errb.String(), tt.says)
			}
		})
	}
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// spread is the distance between the 5th and 95th percentiles of xs.
func spread(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)*95/100] - xs[len(xs)*5/100]
}

// TestGenerateSecurityScenarios runs driftwatch generate --scenario
// label-flip,extraction --feedback-topic through the embedded broker and
// reads both topics back: the feedback events decode with DecodeFeedback,
// carry the CloudEvents headers, and show the attack (mallory proposes a
// label other than the model's prediction for almost all of its feedback,
// the honest annotators for about 3%); the inference events show the
// extraction caller: about 100× the median caller's calls to the first
// model, inputs spread wider than the population's, every one distinct,
// the classes covered evenly.
func TestGenerateSecurityScenarios(t *testing.T) {
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Topics: []string{"t", "fb"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	const events = 30000
	args := []string{"generate", "--brokers", broker.Brokers()[0], "--topic", "t", "--events", "30000", "--rate", "0",
		"--scenario", "label-flip,extraction", "--feedback-topic", "fb", "--feedback-delay", "1s", "--shift-after", "0s"}
	if code := run(ctx, args, &out, &errb, nil); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "produced 30000 events to t\nproduced ") || !strings.Contains(out.String(), "feedback events to fb (0 dropped") || !strings.Contains(out.String(), "caller extractor-1 (extraction) made ") {
		t.Errorf("stdout %q", out.String())
	}

	d := telemetry.NewDecoder(telemetry.DefaultLimits(), time.Now)
	class := map[string]string{} // by prediction id
	at := map[string]time.Time{} // by prediction id
	type caller struct {
		calls, positive int
		numeric         map[string][]float64
		inputs          map[string]bool
	}
	callers := map[string]*caller{}
	target := "fraud-scorer"
	msgs := kafkatest.ReadTopic(t, broker.Brokers(), "t", 2)
	if len(msgs) != events {
		t.Fatalf("%d inference messages, want %d", len(msgs), events)
	}
	for _, m := range msgs {
		var e telemetry.Event
		if err := d.Decode(m.Value, &e); err != nil {
			t.Fatalf("decoding %s: %v", m.Value, err)
		}
		class[e.PredictionID] = e.Prediction.Class
		at[e.PredictionID] = e.EventTime
		if e.Model.ID != target {
			continue
		}
		p := e.Principal
		if p.EndUserID == "" || p.Tenant == "" || p.ClientAddress == "" || p.Service == "" {
			t.Fatalf("principal %+v: want enduser.id, tenant, client.address and service", p)
		}
		c := callers[p.EndUserID]
		if c == nil {
			c = &caller{numeric: map[string][]float64{}, inputs: map[string]bool{}}
			callers[p.EndUserID] = c
		}
		c.calls++
		if e.Prediction.Class == "positive" {
			c.positive++
		}
		for _, n := range e.Features.Numeric {
			c.numeric[n.Name] = append(c.numeric[n.Name], n.Value)
		}
		c.inputs[fmt.Sprint(e.Features.Numeric, e.Features.Categorical)] = true
	}
	x := callers["extractor-1"]
	if x == nil {
		t.Fatalf("no call from extractor-1 among %d callers", len(callers))
	}
	pop := &caller{numeric: map[string][]float64{}}
	var counts []int
	for id, c := range callers {
		if id == "extractor-1" {
			continue
		}
		counts = append(counts, c.calls)
		pop.calls += c.calls
		pop.positive += c.positive
		for k, v := range c.numeric {
			pop.numeric[k] = append(pop.numeric[k], v...)
		}
	}
	slices.Sort(counts)
	median := float64(counts[len(counts)/2])
	t.Logf("extractor-1: %d calls (%.0f× the median caller's %v, %d ordinary callers), positive share %.3f (ordinary %.3f)",
		x.calls, float64(x.calls)/median, median, len(counts), float64(x.positive)/float64(x.calls), float64(pop.positive)/float64(pop.calls))
	if len(counts) < 150 || float64(x.calls)/median < 70 || float64(x.calls)/median > 140 {
		t.Errorf("extractor-1 made %d calls, %.0f× the median of %d ordinary callers (%v); want about 100×", x.calls, float64(x.calls)/median, len(counts), median)
	}
	if share := float64(x.calls) / float64(x.calls+pop.calls); share < 0.15 {
		t.Errorf("extractor-1 made %.3f of %s's calls, want about a fifth", share, target)
	}
	if len(x.inputs) != x.calls {
		t.Errorf("extractor-1: %d distinct inputs in %d calls", len(x.inputs), x.calls)
	}
	if got := float64(x.positive) / float64(x.calls); math.Abs(got-0.5) > 0.03 {
		t.Errorf("extractor-1: positive share %.3f, want about 0.5", got)
	}
	if got := float64(pop.positive) / float64(pop.calls); math.Abs(got-0.5) < 0.1 {
		t.Errorf("ordinary callers: positive share %.3f; the test needs an uneven population", got)
	}
	wider := 0
	for name, xs := range x.numeric {
		r := spread(xs) / spread(pop.numeric[name])
		if r < 0.9 {
			t.Errorf("%s: extractor-1's inputs spread %.2f× the population's", name, r)
		}
		if r > 1.4 {
			wider++
		}
	}
	if wider < len(x.numeric)/2 {
		t.Errorf("extractor-1's inputs spread far wider than the population's in %d of %d features", wider, len(x.numeric))
	}

	type source struct{ n, flipped int }
	sources := map[string]*source{}
	fbs := kafkatest.ReadTopic(t, broker.Brokers(), "fb", 2)
	if len(fbs) < events/10 {
		t.Fatalf("%d feedback events for %d inferences", len(fbs), events)
	}
	for _, m := range fbs {
		var f telemetry.Feedback
		if err := d.DecodeFeedback(m.Value, &f); err != nil {
			t.Fatalf("decoding feedback %s: %v", m.Value, err)
		}
		if header(m, "ce_type") != telemetry.TypeFeedback || header(m, "ce_id") != f.FeedbackID || string(m.Key) != f.ModelID {
			t.Fatalf("feedback %s: key %s, headers %v", m.Value, m.Key, m.Headers)
		}
		if f.Kind != "label_override" {
			continue
		}
		predicted, ok := class[f.PredictionID]
		if !ok {
			t.Fatalf("feedback %s about an unknown prediction", m.Value)
		}
		if d := f.EventTime.Sub(at[f.PredictionID]); d != time.Second {
			t.Fatalf("feedback %s comes %s after its inference, want the --feedback-delay of 1s", m.Value, d)
		}
		s := sources[f.Principal.EndUserID]
		if s == nil {
			s = &source{}
			sources[f.Principal.EndUserID] = s
		}
		s.n++
		if f.ProposedLabel != predicted {
			s.flipped++
		}
	}
	attacker := sources["mallory"]
	honest := source{}
	for id, s := range sources {
		if id != "mallory" {
			honest.n += s.n
			honest.flipped += s.flipped
		}
	}
	if attacker == nil || len(sources) < 10 {
		t.Fatalf("feedback sources %v: want mallory and the honest annotators", sources)
	}
	am, hm := float64(attacker.flipped)/float64(attacker.n), float64(honest.flipped)/float64(honest.n)
	t.Logf("mallory flips %.3f of %d labels, the honest annotators %.3f of %d", am, attacker.n, hm, honest.n)
	if am < 0.95 || hm > 0.06 || attacker.n < 200 {
		t.Errorf("mallory flips %.3f of %d labels, the honest annotators %.3f of %d; want nearly all against about 3%%", am, attacker.n, hm, honest.n)
	}
}
