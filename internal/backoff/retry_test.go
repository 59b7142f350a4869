package backoff

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var errFlaky = errors.New("flaky")

// retried is what one failed attempt passed to OnRetry.
type retried struct {
	attempt int
	err     error
	pause   time.Duration
}

func TestRetry(t *testing.T) {
	policy := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name string
		// errs are the results of op's attempts, in order; op succeeds after them.
		errs []error
		// cancelAfter cancels ctx this long after the start (0: never).
		cancelAfter time.Duration
		wantCalls   int
		// wantPauses are [lo, hi] bounds of each pause passed to OnRetry.
		wantPauses [][2]time.Duration
		// wantErr is a substring of Retry's error ("" for nil).
		wantErr string
		wantIs  []error
	}{
		{name: "first attempt succeeds", wantCalls: 1},
		{
			name:       "retries with doubling pauses until success",
			errs:       []error{errFlaky, errFlaky, errFlaky},
			wantCalls:  4,
			wantPauses: [][2]time.Duration{{50, 100}, {100, 200}, {200, 400}},
		},
		{
			name:       "pauses are capped at Max",
			errs:       []error{errFlaky, errFlaky, errFlaky, errFlaky, errFlaky, errFlaky},
			wantCalls:  7,
			wantPauses: [][2]time.Duration{{50, 100}, {100, 200}, {200, 400}, {400, 800}, {500, 1000}, {500, 1000}},
		},
		{
			name:      "permanent stops at once",
			errs:      []error{errFlaky, fmt.Errorf("inserting: %w", Permanent(errFlaky))},
			wantCalls: 2, wantPauses: [][2]time.Duration{{50, 100}},
			wantErr: "inserting: flaky", wantIs: []error{errFlaky},
		},
		{
			name:       "after raises the pause",
			errs:       []error{After(errFlaky, 700*time.Millisecond), After(errFlaky, time.Millisecond)},
			wantCalls:  3,
			wantPauses: [][2]time.Duration{{700, 700}, {100, 200}},
		},
		{
			name:       "after is capped at Max",
			errs:       []error{After(errFlaky, time.Hour)},
			wantCalls:  2,
			wantPauses: [][2]time.Duration{{1000, 1000}},
		},
		{
			name:       "reset starts the pauses over",
			errs:       []error{errFlaky, errFlaky, Reset(errFlaky), errFlaky},
			wantCalls:  5,
			wantPauses: [][2]time.Duration{{50, 100}, {100, 200}, {50, 100}, {100, 200}},
		},
		{
			name:        "cancelled during a pause",
			errs:        []error{errFlaky, errFlaky, errFlaky, errFlaky, errFlaky, errFlaky},
			cancelAfter: 120 * time.Millisecond,
			// 50-100ms, then 100-200ms: cancelled in the first or second pause.
			wantCalls: -1, wantPauses: nil,
			wantErr: "context canceled (last error: flaky)", wantIs: []error{context.Canceled, errFlaky},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.cancelAfter > 0 {
					time.AfterFunc(tc.cancelAfter, cancel)
				}
				start := time.Now()
				calls := 0
				var seen []retried
				p := policy
				p.OnRetry = func(attempt int, err error, pause time.Duration) {
					seen = append(seen, retried{attempt, err, pause})
				}
				err := Retry(ctx, p, func(context.Context) error {
					calls++
					if calls <= len(tc.errs) {
						return tc.errs[calls-1]
					}
					return nil
				})
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("Retry = %v, want nil", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Fatalf("Retry = %v, want an error containing %q", err, tc.wantErr)
				}
				for _, target := range tc.wantIs {
					if !errors.Is(err, target) {
						t.Errorf("Retry's error %v does not wrap %v", err, target)
					}
				}
				if tc.wantCalls >= 0 && calls != tc.wantCalls {
					t.Errorf("op called %d times, want %d", calls, tc.wantCalls)
				}
				if tc.wantPauses != nil && len(seen) != len(tc.wantPauses) {
					t.Fatalf("OnRetry called %d times, want %d", len(seen), len(tc.wantPauses))
				}
				var total time.Duration
				for i, r := range seen {
					if r.attempt != i+1 || r.err != tc.errs[i] {
						t.Errorf("OnRetry #%d got attempt %d, error %v; want %d, %v", i, r.attempt, r.err, i+1, tc.errs[i])
					}
					if tc.wantPauses != nil {
						lo, hi := tc.wantPauses[i][0]*time.Millisecond, tc.wantPauses[i][1]*time.Millisecond
						if r.pause < lo || r.pause > hi {
							t.Errorf("pause %d = %s, want in [%s, %s]", i+1, r.pause, lo, hi)
						}
					}
					total += r.pause
				}
				elapsed := time.Since(start)
				if tc.cancelAfter > 0 {
					if elapsed != tc.cancelAfter || calls != len(seen) {
						t.Errorf("returned %s after the start with %d calls and %d pauses, want at the cancellation (%s) during the last pause",
							elapsed, calls, len(seen), tc.cancelAfter)
					}
				} else if elapsed != total {
					t.Errorf("took %s, want the sum of the pauses, %s", elapsed, total)
				}
			})
		})
	}
}

func TestRetryStopsWhenOpSeesTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls, hooks := 0, 0
		err := Retry(ctx, Policy{Initial: time.Second, Max: time.Second, OnRetry: func(int, error, time.Duration) { hooks++ }},
			func(context.Context) error {
				calls++
				cancel() // the attempt was interrupted by the end of ctx
				return errFlaky
			})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) || calls != 1 || hooks != 0 {
			t.Errorf("Retry = %v after %d calls and %d OnRetry, want Canceled and the last error, 1 call, no OnRetry", err, calls, hooks)
		}
	})
}

func TestMarks(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
	}{
		{errFlaky, false},
		{Permanent(errFlaky), true},
		{fmt.Errorf("writing: %w", Permanent(errFlaky)), true},
		{After(errFlaky, time.Second), false},
		{Reset(errFlaky), false},
	}
	for _, tc := range tests {
		if got := IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("IsPermanent(%v) = %t, want %t", tc.err, got, tc.permanent)
		}
		if !errors.Is(tc.err, errFlaky) || !strings.HasSuffix(tc.err.Error(), "flaky") {
			t.Errorf("mark changed %v", tc.err)
		}
	}
	if Permanent(nil) != nil || After(nil, time.Second) != nil || Reset(nil) != nil {
		t.Error("marking nil is not nil")
	}
}
