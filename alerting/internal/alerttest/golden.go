package alerttest

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/alerting"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares v, encoded as indented JSON without HTML escaping, with the
// file testdata/<name>; go test -update rewrites the file.
func Golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file:\n got %s\nwant %s", path, buf.Bytes(), want)
	}
}

// Sample returns the notifications used for golden files: fraud-scorer v3's
// feature "amount" firing critical, and the same alert resolved.
func Sample() (firing, resolved *alerting.Notification) {
	tests := []alerting.TestResult{
		{Test: "psi", Statistic: 0.41, PValue: math.NaN(), Threshold: 0.25, Severity: alerting.SeverityCritical},
		{Test: "ks", Statistic: 0.18, PValue: 0.0004, Threshold: 0.1, Severity: alerting.SeverityWarning},
	}
	firing = &alerting.Notification{
		Key: alerting.Key("fraud-scorer", "3", "amount"), Status: "firing", Severity: alerting.SeverityCritical,
		ModelID: "fraud-scorer", ModelVersion: "3", Feature: "amount",
		Summary:  "psi 0.41 on feature amount of fraud-scorer v3 (window 14:01–14:02)",
		Tests:    tests,
		StartsAt: T0, WindowStart: T0.Add(time.Minute), WindowEnd: T0.Add(2 * time.Minute),
		DashboardURL: "https://grafana.example/d/driftwatch",
	}
	r := *firing
	r.Status = "resolved"
	r.Summary = "drift resolved on feature amount of fraud-scorer v3 (window 14:05–14:06)"
	r.Tests = []alerting.TestResult{{Test: "psi", Statistic: 0.04, PValue: math.NaN(), Threshold: 0.25, Severity: alerting.SeverityOK}}
	r.WindowStart, r.WindowEnd = T0.Add(5*time.Minute), T0.Add(6*time.Minute)
	r.EndsAt = r.WindowEnd
	return firing, &r
}

// SignalSample returns the signal notifications used for golden files:
// fraud-scorer v3's signal "error_rate" about the caller "checkout-web"
// firing critical, and the same alert resolved.
func SignalSample() (firing, resolved *alerting.Notification) {
	firing = &alerting.Notification{
		Key: alerting.SignalKey("fraud-scorer", "3", "error_rate", "checkout-web"), Status: "firing", Severity: alerting.SeverityCritical,
		ModelID: "fraud-scorer", ModelVersion: "3", Signal: "error_rate", Subject: "checkout-web",
		Summary:  "error_rate 0.12 for checkout-web of fraud-scorer v3 (window 14:01–14:02)",
		Tests:    []alerting.TestResult{Rate("error_rate", 0.12, 0.0002, alerting.SeverityCritical)},
		StartsAt: T0, WindowStart: T0.Add(time.Minute), WindowEnd: T0.Add(2 * time.Minute),
		DashboardURL: "https://grafana.example/d/driftwatch",
	}
	r := *firing
	r.Status = "resolved"
	r.Summary = "error_rate resolved for checkout-web of fraud-scorer v3 (window 14:05–14:06)"
	r.Tests = []alerting.TestResult{Rate("error_rate", 0.01, 0.6, alerting.SeverityOK)}
	r.WindowStart, r.WindowEnd = T0.Add(5*time.Minute), T0.Add(6*time.Minute)
	r.EndsAt = r.WindowEnd
	return firing, &r
}
