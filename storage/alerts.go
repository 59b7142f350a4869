package storage

import (
	"context"
	"time"
)

// AlertRow is one row of alerts: either a state change of an alert (Record "state") or one delivery
// attempt to a receiver (Record "delivery"). The table is append-only history.
type AlertRow struct {
	EventTime    time.Time // zero means the time of the write
	AlertKey     string    // stable identity of the alert (alerting.Key): "driftwatch/<model>/<version>/<feature>", parts percent-escaped; for a signal alert (alerting.SignalKey) "driftwatch/<model>/<version>/<signal>/<subject>"
	ModelID      string
	ModelVersion string
	Feature      string // drift alerts: the feature; "" for a signal alert
	Signal       string // signal alerts: the signal's name (e.g. "error_rate"); "" for a drift alert
	Subject      string // signal alerts: what the verdict is about, "*" for the model itself; "" for a drift alert
	Record       string // "state" or "delivery"
	State        string // "pending", "firing" or "resolved"
	Severity     string
	Statistic    float64
	Threshold    float64
	Summary      string
	Receiver     string // delivery rows: the receiver's name
	Attempt      uint32 // delivery rows: 1 for the first attempt
	Outcome      string // delivery rows: e.g. "sent", "retry", "failed"
	HTTPStatus   int32  // delivery rows: the receiver's HTTP status, 0 when none
	Error        string // delivery rows: the error, "" when none
}

var alertFields = []field[AlertRow]{
	fieldOf("event_time", func(r *AlertRow) time.Time { return r.EventTime }),
	fieldOf("alert_key", func(r *AlertRow) string { return r.AlertKey }),
	fieldOf("model_id", func(r *AlertRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *AlertRow) string { return r.ModelVersion }),
	fieldOf("feature", func(r *AlertRow) string { return r.Feature }),
	fieldOf("signal", func(r *AlertRow) string { return r.Signal }),
	fieldOf("subject", func(r *AlertRow) string { return r.Subject }),
	fieldOf("record", func(r *AlertRow) string { return r.Record }),
	fieldOf("state", func(r *AlertRow) string { return r.State }),
	fieldOf("severity", func(r *AlertRow) string { return r.Severity }),
	fieldOf("statistic", func(r *AlertRow) float64 { return r.Statistic }),
	fieldOf("threshold", func(r *AlertRow) float64 { return r.Threshold }),
	fieldOf("summary", func(r *AlertRow) string { return r.Summary }),
	fieldOf("receiver", func(r *AlertRow) string { return r.Receiver }),
	fieldOf("attempt", func(r *AlertRow) uint32 { return r.Attempt }),
	fieldOf("outcome", func(r *AlertRow) string { return r.Outcome }),
	fieldOf("http_status", func(r *AlertRow) int32 { return r.HTTPStatus }),
	fieldOf("error", func(r *AlertRow) string { return r.Error }),
}

// RecordAlerts appends alert history rows, retrying like WriteWindows until it succeeds or ctx ends
// (pass a ctx with a deadline if alert history must not hold up the caller). Rows with a zero
// EventTime get the time of the call.
func (s *Store) RecordAlerts(ctx context.Context, rows []AlertRow) error {
	rows = stamp(rows, now(), func(r *AlertRow) *time.Time { return &r.EventTime })
	return insert(ctx, s, alertsTable.name, alertFields, rows)
}
