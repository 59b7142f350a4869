package alert

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
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

// TestSummary: a drift summary names the test and the feature, a signal
// summary the signal and its subject (none for "*", the model itself), in
// every status, with the names rendered by quote.
func TestSummary(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	tests := []TestResult{
		{Test: "psi", Statistic: 0.41, PValue: math.NaN(), Threshold: 0.25, Severity: SeverityCritical},
		{Test: "ks", Statistic: 0.2, PValue: 0.001, Threshold: 0.1, Severity: SeverityWarning},
	}
	rate := []TestResult{{Test: "error_rate", Statistic: 0.12, PValue: 0.001, Threshold: 0.05, Severity: SeverityCritical}}
	drift := Notification{ModelID: "fraud-scorer", ModelVersion: "3", Feature: "amount"}
	sig := Notification{ModelID: "fraud-scorer", ModelVersion: "3", Signal: "error_rate", Subject: "checkout-web"}
	self := sig
	self.Subject = "*"
	quoted := func(s string) string { return "`" + s + "`" }
	cases := []struct {
		name   string
		n      Notification
		status string
		stale  bool
		tests  []TestResult
		quote  func(string) string
		want   string
		title  string
	}{
		{"drift firing", drift, StatusFiring, false, tests, nil,
			"psi 0.41 on feature amount of fraud-scorer v3 (window 14:00–14:01)", "fraud-scorer v3 · amount"},
		{"drift resolved", drift, StatusResolved, false, tests, nil,
			"drift resolved on feature amount of fraud-scorer v3 (window 14:00–14:01)", ""},
		{"drift stale", drift, StatusResolved, true, nil, nil,
			"drift resolved as stale (no newer window) on feature amount of fraud-scorer v3 (window 14:00–14:01)", ""},
		{"drift without tests", drift, StatusFiring, false, nil, quoted,
			"drift warning on feature `amount` of `fraud-scorer v3` (window 14:00–14:01)", ""},
		{"signal firing", sig, StatusFiring, false, rate, nil,
			"error_rate 0.12 for checkout-web of fraud-scorer v3 (window 14:00–14:01)", "fraud-scorer v3 · error_rate · checkout-web"},
		{"signal quoted", sig, StatusFiring, false, rate, quoted,
			"`error_rate` 0.12 for `checkout-web` of `fraud-scorer v3` (window 14:00–14:01)", ""},
		{"signal resolved", sig, StatusResolved, false, rate, nil,
			"error_rate resolved for checkout-web of fraud-scorer v3 (window 14:00–14:01)", ""},
		{"signal stale", sig, StatusResolved, true, nil, nil,
			"error_rate resolved as stale (no newer window) for checkout-web of fraud-scorer v3 (window 14:00–14:01)", ""},
		{"signal without tests", sig, StatusFiring, false, nil, nil,
			"error_rate warning for checkout-web of fraud-scorer v3 (window 14:00–14:01)", ""},
		{"the model itself", self, StatusFiring, false, rate, quoted,
			"`error_rate` 0.12 of `fraud-scorer v3` (window 14:00–14:01)", "fraud-scorer v3 · error_rate"},
		{"a subject that reads like more text", Notification{ModelID: "m", Signal: "caller_share", Subject: "x of y"}, StatusFiring, false, rate, quoted,
			"`caller_share` 0.12 for `x of y` of `m` (window 14:00–14:01)", "m · caller_share · x of y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			n.Status, n.Stale, n.Tests, n.Severity = tc.status, tc.stale, tc.tests, SeverityWarning
			if got := Summary(WhatOf(&n), SeriesOf(&n), t0, t0.Add(time.Minute), tc.quote); got != tc.want {
				t.Errorf("Summary =\n %q\nwant %q", got, tc.want)
			}
			if tc.title != "" && Title(&n) != tc.title {
				t.Errorf("Title = %q, want %q", Title(&n), tc.title)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"paces after the burst", func(t *testing.T) {
			l := NewLimiter(20, 2)
			start := time.Now()
			var at []time.Duration
			for range 4 {
				if err := Wait(context.Background(), l); err != nil {
					t.Fatal(err)
				}
				at = append(at, time.Since(start))
			}
			// Two at once, then one every 50ms.
			want := []time.Duration{0, 0, 50 * time.Millisecond, 100 * time.Millisecond}
			if !slices.Equal(at, want) {
				t.Errorf("4 tokens at 20/s burst 2 at %v, want %v", at, want)
			}
		}},
		{"a cancelled wait takes no token", func(t *testing.T) {
			l := NewLimiter(10, 1)
			start := time.Now()
			if err := Wait(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			if err := Wait(ctx, l); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled wait returned %v", err)
			}
			if d := time.Since(start); d != 20*time.Millisecond {
				t.Errorf("cancelled wait returned after %s, want 20ms", d)
			}
			// The next token is due 100ms after the first, as if the
			// cancelled wait had never been.
			if err := Wait(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 100*time.Millisecond {
				t.Errorf("token after a cancelled wait at %s, want 100ms", d)
			}
		}},
		{"a deadline before the token ends the wait at the deadline", func(t *testing.T) {
			l := NewLimiter(1, 1)
			start := time.Now()
			if err := Wait(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := Wait(ctx, l); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait past the deadline returned %v", err)
			}
			if d := time.Since(start); d != 300*time.Millisecond {
				t.Errorf("wait past the deadline returned after %s, want 300ms", d)
			}
			if err := Wait(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != time.Second {
				t.Errorf("token after a refused wait at %s, want 1s", d)
			}
		}},
		{"a negative rate disables pacing", func(t *testing.T) {
			l := NewLimiter(-1, 1)
			start := time.Now()
			for range 100 {
				if err := Wait(context.Background(), l); err != nil {
					t.Fatal(err)
				}
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("100 waits without pacing took %s", d)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, tc.run)
		})
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

func TestReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  invalid_payload\n", "invalid_payload"},
		{"a\r\nb\tc\x1b[0m\u202ed\x00e", "a b c [0m d e"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{strings.Repeat("x", 300), strings.Repeat("x", MaxReason-3) + "…"},
		{strings.Repeat("é", 150), strings.Repeat("é", (MaxReason-3)/2) + "…"},
		{strings.Repeat("ab ", 100), strings.TrimSpace(strings.Repeat("ab ", 66)) + "…"},
	}
	for _, tc := range tests {
		got := Reason(tc.in)
		if got != tc.want {
			t.Errorf("Reason(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > MaxReason {
			t.Errorf("Reason(%.40q) is %d bytes", tc.in, len(got))
		}
	}
	if got := Visible("a\nb\u200bc`d"); got != "a\uFFFDb\uFFFDc`d" {
		t.Errorf("Visible = %q", got)
	}
}
