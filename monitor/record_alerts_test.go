package monitor

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
)

// TestRecordAlertsStoresSignalAlerts: recordAlerts writes a signal alert's
// signal and subject, and a drift alert's feature, to the alerts table.
func TestRecordAlertsStoresSignalAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := migratedStore(t, ctx)
	m := &Monitor{store: store}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := m.recordAlerts(ctx, []alerting.Record{
		{Time: at, Key: alerting.SignalKey("fraud", "v1", "error_rate", "caller/7"), ModelID: "fraud", ModelVersion: "v1",
			Signal: "error_rate", Subject: "caller/7", Kind: alerting.KindState, State: alerting.StateFiring,
			Severity: alerting.SeverityCritical, Statistic: 0.12, Threshold: 0.05, Summary: "error_rate 0.12 for caller/7 of fraud vv1"},
		{Time: at, Key: alerting.Key("fraud", "v1", "error_rate"), ModelID: "fraud", ModelVersion: "v1", Feature: "error_rate",
			Kind: alerting.KindState, State: alerting.StatePending, Severity: alerting.SeverityWarning,
			Statistic: math.NaN(), Threshold: math.NaN()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, store, `SELECT count() FROM alerts WHERE alert_key = 'driftwatch/fraud/v1/error_rate/caller%2F7'
		AND signal = 'error_rate' AND subject = 'caller/7' AND feature = '' AND state = 'firing'`); n != 1 {
		t.Errorf("%d signal alert rows, want 1", n)
	}
	if n := queryUint(t, store, `SELECT count() FROM alerts WHERE alert_key = 'driftwatch/fraud/v1/error_rate'
		AND feature = 'error_rate' AND signal = '' AND subject = ''`); n != 1 {
		t.Errorf("%d drift alert rows, want 1", n)
	}
}
