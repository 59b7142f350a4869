package policy_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/policy"
)

// TestDefaultRuleIsTodaysBehaviour: the built-in rule's fields mirror
// alerting.DefaultConfig, and on random series of severities it gives
// the alerting Manager's states and severities window by window.
func TestDefaultRuleIsTodaysBehaviour(t *testing.T) {
	r := policy.DefaultRule()
	cfg := alerting.DefaultConfig()
	if r.For != cfg.PendingWindows-1 || r.KeepFiringFor != cfg.ResolveWindows-1 {
		t.Errorf("default rule: for %d, keep_firing_for %d; alerting defaults: pending_windows %d, resolve_windows %d",
			r.For, r.KeepFiringFor, cfg.PendingWindows, cfg.ResolveWindows)
	}
	if r.Thresholds != nil || r.MinSamples != 0 || !r.Receivers.All || len(r.Labels) != 0 || len(r.Annotations) != 0 {
		t.Errorf("default rule %+v: want the analysis's severity, no minimum, every receiver, no labels or annotations", r)
	}
	if p, _ := policy.Parse("empty.yml", nil); p.Match(policy.Key{Model: "m"}) != r {
		t.Error("an empty policy does not give the default rule")
	}

	m, err := alerting.NewWithNotifiers(cfg, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := policy.NewEvaluator(&policy.Policy{})
	rng := rand.New(rand.NewPCG(7, 8))
	sevs := []policy.Severity{policy.SeverityOK, policy.SeverityWarning, policy.SeverityCritical}
	key := policy.Key{Model: "fraud", Version: "3", Signal: "psi", Subject: "amount"}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fired := 0
	for w := range 2000 {
		// Runs of a regime make the alert go through all its states.
		p := []int{8, 1, 1}
		if (w/15)%2 == 1 {
			p = []int{3, 4, 3}
		}
		x := rng.IntN(10)
		sev := sevs[0]
		switch {
		case x >= p[0]+p[1]:
			sev = sevs[2]
		case x >= p[0]:
			sev = sevs[1]
		}
		start := t0.Add(time.Duration(w) * time.Minute)
		m.Observe(context.Background(), []alerting.Observation{{
			ModelID: key.Model, ModelVersion: key.Version, Feature: key.Subject,
			WindowStart: start, WindowEnd: start.Add(time.Minute), Severity: sev,
			Tests: []alerting.TestResult{{Test: "psi", Statistic: 0.3, PValue: math.NaN(), Threshold: 0.25, Severity: sev}},
		}})
		res := ev.Observe(key, policy.Verdict{WindowStart: start, WindowEnd: start.Add(time.Minute), Value: 0.3, Severity: sev, Samples: -1})
		if res.Transition != nil && res.Transition.To == policy.StateFiring && res.Transition.From != policy.StateFiring {
			fired++
		}
		wantState, wantSev := "inactive", policy.Severity("")
		if a := m.Active(); len(a) == 1 {
			wantState, wantSev = a[0].State, a[0].Severity
		}
		gotState, gotSev := string(res.State), policy.Severity("")
		if as := ev.Alerts(); len(as) == 1 {
			gotSev = as[0].State.Severity
		}
		if gotState != wantState || gotSev != wantSev {
			t.Fatalf("window %d (%s): policy %s/%s, manager %s/%s", w, sev, gotState, gotSev, wantState, wantSev)
		}
	}
	if fired < 10 {
		t.Errorf("only %d alerts fired: the series does not exercise the lifecycle", fired)
	}
}
