package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/storage"
)

// budgetStateStore is the monitor's StateStore over s (monitor.New builds the same).
func budgetStateStore(s *storage.Store) alerting.StateStore {
	return alerting.StateStoreFuncs{
		Save: func(ctx context.Context, rows []alerting.StateRow) error {
			out := make([]storage.AlertStateRow, len(rows))
			for i, r := range rows {
				out[i] = storage.AlertStateRow(r)
			}
			return s.SaveAlertState(ctx, out)
		},
		Load: func(ctx context.Context, models []string) ([]alerting.StateRow, error) {
			rows, err := s.AlertState(ctx, models)
			out := make([]alerting.StateRow, len(rows))
			for i, r := range rows {
				out[i] = alerting.StateRow(r)
			}
			return out, err
		},
	}
}

// budgetRecorder writes alert records to the alerts table as the monitor does.
func budgetRecorder(s *storage.Store) alerting.Recorder {
	return alerting.RecorderFunc(func(ctx context.Context, recs []alerting.Record) error {
		rows := make([]storage.AlertRow, len(recs))
		for i, r := range recs {
			rows[i] = storage.AlertRow{EventTime: r.Time, AlertKey: r.Key, ModelID: r.ModelID, ModelVersion: r.ModelVersion,
				Feature: r.Feature, Signal: r.Signal, Subject: r.Subject, Record: r.Kind, State: r.State, Severity: string(r.Severity),
				Statistic: r.Statistic, Threshold: r.Threshold, Summary: r.Summary, Receiver: r.Receiver,
				Attempt: uint32(r.Attempt), Outcome: r.Outcome, HTTPStatus: int32(r.HTTPStatus), Error: r.Error}
		}
		return s.RecordAlerts(ctx, rows)
	})
}

// budgetT0 is the start of the first window the budget test observes.
var budgetT0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

// psiWindow is one-minute window i of feature amount of model, with one PSI test.
func psiWindow(i int, model string, psi float64, sev alerting.Severity) alerting.Observation {
	return alerting.Observation{ModelID: model, ModelVersion: "7", Feature: "amount",
		WindowStart: budgetT0.Add(time.Duration(i) * time.Minute), WindowEnd: budgetT0.Add(time.Duration(i+1) * time.Minute),
		Severity: sev, Tests: []alerting.TestResult{{Test: "psi", Statistic: psi, PValue: math.NaN(), Threshold: 0.25, Severity: sev, Samples: 1000}}}
}

// timestamps are the wall-clock times of the output (when the state was
// stored, when a burn alert changed), masked for the golden file.
var timestamps = regexp.MustCompile(`(stored |  )20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// TestBudgetCommand runs a manager with a 2% budget over 30 days on 18
// breaching one-minute windows of fraud-eu (the fast burn pages) and 6
// clean ones (it resolves), storing its state and alert records in
// ClickHouse as the monitor does, then shows them with driftwatch budget:
// the budget, its burn rates and both burn alert records, against
// testdata/budget/*.golden.
func TestBudgetCommand(t *testing.T) {
	s, env := baselineStore(t)
	ctx := context.Background()
	cfg := alerting.DefaultConfig()
	cfg.PendingWindows, cfg.ResolveWindows = 1, 1
	cfg.PolicyFile, cfg.WindowSize = "../../alerting/testdata/policy/budget.good.yml", time.Minute
	quiet := alerting.NotifierFunc(func(context.Context, *alerting.Notification) error { return nil })
	m, err := alerting.NewWithNotifiers(cfg, map[string]alerting.Notifier{"slack-ml": quiet, "pagerduty-fraud": quiet}, budgetRecorder(s), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UseStateStore(budgetStateStore(s), "test-instance"); err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		psi, sev := 0.4, alerting.SeverityCritical
		if i >= 18 {
			psi, sev = 0.01, alerting.SeverityOK
		}
		m.Observe(ctx, []alerting.Observation{psiWindow(i, "fraud-eu", psi, sev), psiWindow(i, "pricing", 0.01, alerting.SeverityOK)})
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveState(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"all", []string{"--since", "2000-01-01T00:00:00Z"}},
		{"model", []string{"--model", "fraud-eu", "--since", "2000-01-01T00:00:00Z"}},
		{"none", []string{"--model", "pricing", "--since", "2000-01-01T00:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(ctx, append([]string{"budget"}, tc.args...), &out, &errb, env); code != 0 {
				t.Fatalf("budget %v: exit %d\n%s", tc.args, code, errb.String())
			}
			got := timestamps.ReplaceAllString(out.String(), "${1}XXXX-XX-XXTXX:XX:XXZ")
			golden := filepath.Join("testdata", "budget", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
	// The page and its resolve landed in the audit trail, with their delivery.
	rows, err := s.Query(ctx, "SELECT record, state, outcome FROM alerts WHERE signal = 'risk_budget' ORDER BY event_time, record")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var trail []string
	for rows.Next() {
		var rec, state, outcome string
		if err := rows.Scan(&rec, &state, &outcome); err != nil {
			t.Fatal(err)
		}
		trail = append(trail, strings.TrimSpace(rec+" "+state+" "+outcome))
	}
	for _, want := range []string{"state firing", "delivery firing success", "state resolved", "delivery resolved success"} {
		if !strings.Contains(strings.Join(trail, "\n")+"\n", want+"\n") {
			t.Errorf("alerts table has burn alert records %q, want one %q", trail, want)
		}
	}
}

func TestBudgetUsage(t *testing.T) {
	env := []string{"DRIFTWATCH_CLICKHOUSE_ADDR=127.0.0.1:1"} // never reached: the command line is refused first
	for _, args := range [][]string{{"--since", "yesterday"}, {"--since", "-1h"}, {"extra"}, {"--bogus"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"budget"}, args...), &out, &errb, env); code != 2 {
			t.Errorf("budget %v: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"budget", "--help"}, &out, &out, env); code != 0 ||
		!strings.Contains(out.String(), "Examples:\n  driftwatch budget") || !strings.Contains(out.String(), "-model") {
		t.Errorf("budget --help: exit %d\n%s", code, out.String())
	}
}
