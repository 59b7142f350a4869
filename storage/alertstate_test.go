package storage

import (
	"reflect"
	"testing"
	"time"
)

func TestAlertStateNewestPerModel(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	at := now()
	old := AlertStateRow{ModelID: "fraud", Instance: "a/1", SavedAt: at, Version: 1, State: `{"alerts":[]}`,
		BurnAlerts: nil}
	fraud := AlertStateRow{ModelID: "fraud", Instance: "b/2", SavedAt: at.Add(time.Second), Version: 2, State: `{"alerts":[{"key":"k"}]}`,
		Budget: "fraud", Period: "30d", WindowEnd: t0, Windows: 43200, Observed: 100, Breached: 3, Allowed: 864,
		Consumed: 3.0 / 864, Remaining: 1 - 3.0/864,
		BurnAlerts: []string{"fast", "slow"}, BurnSeverities: []string{"page", "page"}, BurnThresholds: []float64{14.4, 6},
		BurnLongWindows: []string{"1h", "6h"}, BurnLongRates: []float64{2.5, 0.4}, BurnShortWindows: []string{"5m", "30m"},
		BurnShortRates: []float64{0, 0.8}, BurnFiring: []uint8{0, 1}}
	churn := AlertStateRow{ModelID: "churn", Instance: "a/1", SavedAt: at, Version: 5, State: `{}`}
	// Written out of order: the version decides, not the write.
	if err := s.SaveAlertState(ctx, []AlertStateRow{fraud, churn}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlertState(ctx, []AlertStateRow{old}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AlertState(ctx, []string{"fraud", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], fraud) {
		t.Fatalf("state of fraud:\n got %+v\nwant %+v", got, fraud)
	}
	all, err := s.AlertState(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	churn.BurnAlerts, churn.BurnSeverities, churn.BurnThresholds = []string{}, []string{}, []float64{}
	churn.BurnLongWindows, churn.BurnLongRates, churn.BurnShortWindows, churn.BurnShortRates = []string{}, []float64{}, []string{}, []float64{}
	churn.BurnFiring = []uint8{}
	churn.WindowEnd = time.Unix(0, 0).UTC()
	if len(all) != 2 || !reflect.DeepEqual(all[0], churn) || all[1].Version != 2 {
		t.Fatalf("every model's state:\n got %+v\nwant churn %+v and fraud at version 2", all, churn)
	}
}

func TestBudgetPages(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	page := AlertRow{EventTime: t0.Add(time.Hour), AlertKey: "driftwatch-budget/fraud-eu/fraud/fast", ModelID: "fraud-eu", Signal: "risk_budget",
		Subject: "fraud/fast", Record: "state", State: "firing", Severity: "critical", Statistic: 15, Threshold: 14.4, Summary: "risk budget fraud of fraud-eu: fast burn"}
	resolved := page
	resolved.EventTime, resolved.State = t0.Add(2*time.Hour), "resolved"
	delivery := page
	delivery.Record, delivery.Receiver, delivery.Outcome = "delivery", "pagerduty", "success"
	old := page
	old.EventTime = t0.Add(-time.Hour)
	drift := AlertRow{EventTime: t0.Add(time.Hour), AlertKey: "driftwatch/fraud-eu/1/amount", ModelID: "fraud-eu", Feature: "amount",
		Record: "state", State: "firing", Severity: "critical"}
	other := page
	other.ModelID, other.AlertKey = "fraud-us", "driftwatch-budget/fraud-us/fraud/fast"
	if err := s.RecordAlerts(ctx, []AlertRow{page, resolved, delivery, old, drift, other}); err != nil {
		t.Fatal(err)
	}
	got, err := s.BudgetPages(ctx, "fraud-eu", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].State != "resolved" || !got[0].EventTime.Equal(resolved.EventTime) || got[1].State != "firing" ||
		got[1].Subject != "fraud/fast" || got[1].Statistic != 15 || got[1].Summary != page.Summary {
		t.Fatalf("budget pages of fraud-eu since t0: %+v", got)
	}
	all, err := s.BudgetPages(ctx, "", t0)
	if err != nil || len(all) != 3 {
		t.Fatalf("budget pages of every model: %+v, %v", all, err)
	}
}
