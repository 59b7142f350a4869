package storage

import (
	"reflect"
	"testing"
	"time"
)

func TestRecordAlerts(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	rows := []AlertRow{
		{EventTime: t0, AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1", Feature: "amount",
			Record: "state", State: "firing", Severity: "critical", Statistic: 0.31, Threshold: 0.25,
			Summary: "PSI of amount is 0.31 (> 0.25)"},
		{EventTime: t0.Add(time.Second), AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1",
			Feature: "amount", Record: "delivery", State: "firing", Severity: "critical", Statistic: 0.31,
			Threshold: 0.25, Summary: "PSI of amount is 0.31 (> 0.25)", Receiver: "pagerduty", Attempt: 2,
			Outcome: "retry", HTTPStatus: 429, Error: "rate limited"},
		{EventTime: t0.Add(2 * time.Second), AlertKey: "driftwatch/fraud/v1/error_rate/caller%2F7", ModelID: "fraud",
			ModelVersion: "v1", Signal: "error_rate", Subject: "caller/7", Record: "state", State: "pending",
			Severity: "warning", Statistic: 0.12, Threshold: 0.05, Summary: "error_rate 0.12 for caller/7 of fraud vv1"},
	}
	if err := s.RecordAlerts(ctx, rows); err != nil {
		t.Fatalf("RecordAlerts: %v", err)
	}
	// alerts is a plain MergeTree: writing the same history again keeps both copies.
	if err := s.RecordAlerts(ctx, rows[:1]); err != nil {
		t.Fatal(err)
	}
	q, err := s.Query(ctx, `SELECT event_time, alert_key, model_id, model_version, feature, signal, subject, record, state,
		severity, statistic, threshold, summary, receiver, attempt, outcome, http_status, error FROM alerts ORDER BY event_time, record`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var got []AlertRow
	for q.Next() {
		var r AlertRow
		if err := q.Scan(&r.EventTime, &r.AlertKey, &r.ModelID, &r.ModelVersion, &r.Feature, &r.Signal, &r.Subject,
			&r.Record, &r.State, &r.Severity, &r.Statistic, &r.Threshold, &r.Summary, &r.Receiver, &r.Attempt, &r.Outcome,
			&r.HTTPStatus, &r.Error); err != nil {
			t.Fatal(err)
		}
		r.EventTime = r.EventTime.UTC()
		got = append(got, r)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	want := []AlertRow{rows[0], rows[0], rows[1], rows[2]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("alerts:\n got %+v\nwant %+v", got, want)
	}
}
