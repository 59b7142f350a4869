package alerting

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	m := &Manager{cfg: Config{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{5, 0, 5 * time.Second, 10 * time.Second},
		{50, 0, 5 * time.Second, 10 * time.Second},
		{1, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		{1, time.Hour, 10 * time.Second, 10 * time.Second},
	}
	for _, tc := range tests {
		for range 100 {
			if d := m.backoff(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
				t.Fatalf("backoff(%d, %s) = %s, want in [%s, %s]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
			}
		}
	}
}
