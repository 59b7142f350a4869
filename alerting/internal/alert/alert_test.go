package alert

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestClassification(t *testing.T) {
	base := &StatusError{Code: 503, Body: "busy"}
	err := Retryable(base, 2*time.Second)
	wrapped := errors.Join(errors.New("posting"), err)
	if ok, after := IsRetryable(wrapped); !ok || after != 2*time.Second {
		t.Errorf("IsRetryable = %v, %s", ok, after)
	}
	if HTTPStatus(wrapped) != 503 {
		t.Errorf("HTTPStatus = %d", HTTPStatus(wrapped))
	}
	if ok, _ := IsRetryable(base); ok {
		t.Error("an unmarked error is retryable")
	}
	if Retryable(nil, time.Second) != nil {
		t.Error("Retryable(nil) is not nil")
	}
}

func TestWorst(t *testing.T) {
	tests := []TestResult{
		{Test: "ks", Statistic: 0.9, Threshold: 0.1, Severity: SeverityWarning},
		{Test: "psi", Statistic: 0.3, Threshold: 0.25, Severity: SeverityCritical},
		{Test: "js", Statistic: 0.6, Threshold: 0.25, Severity: SeverityCritical},
		{Test: "chi2", Statistic: math.NaN(), Threshold: 1, Severity: SeverityCritical},
	}
	if got := Worst(tests); got != 2 {
		t.Errorf("Worst = %d, want 2 (critical with the largest ratio)", got)
	}
	if Worst(nil) != -1 {
		t.Error("Worst(nil) != -1")
	}
}

func TestText(t *testing.T) {
	if got := Truncate("héllo wörld", 5); got != "héll…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate = %q", got)
	}
	for in, want := range map[float64]string{0.41: "0.41", 0.41234: "0.412", 12.5: "12.5", 1234.5: "1234", 0.00001: "1.00e-05", 0: "0"} {
		if got := FormatFloat(in); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", in, got, want)
		}
	}
	if FormatFloat(math.NaN()) != "n/a" {
		t.Error("FormatFloat(NaN)")
	}
	if Finite(math.Inf(1)) != nil || *Finite(2) != 2 {
		t.Error("Finite")
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(20, 2)
	start := time.Now()
	for range 4 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Two at once, then two more at 50ms each.
	if d := time.Since(start); d < 90*time.Millisecond || d > time.Second {
		t.Errorf("4 tokens at 20/s burst 2 took %s, want about 100ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Error("Wait on an exhausted bucket ignored a cancelled context")
	}
	var none *Limiter
	if none.Wait(ctx) != nil || NewLimiter(-1, 1) != nil {
		t.Error("a nil limiter waits")
	}
}

func TestLoadSecretTrimsAndNames(t *testing.T) {
	t.Setenv("DRIFTWATCH_TEST_SECRET", "  value\n")
	s, err := LoadSecret("", "DRIFTWATCH_TEST_SECRET", "k_file", "k_env")
	if err != nil || s != "value" {
		t.Errorf("LoadSecret = %q, %v", s, err)
	}
	if _, err := LoadSecret("", "", "k_file", "k_env"); err == nil || !strings.HasPrefix(err.Error(), "k_file: ") {
		t.Errorf("missing secret error %v", err)
	}
	if s, err := OptionalSecret("", "", "a", "b"); s != "" || err != nil {
		t.Errorf("OptionalSecret = %q, %v", s, err)
	}
}
