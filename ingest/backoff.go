package ingest

import (
	"context"
	"time"

	pause "github.com/driftwatch/driftwatch/internal/backoff"
)

// backoff returns the pause before retry number attempt (0-based): it doubles
// from lo up to hi and is jittered down by up to a half.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	return pause.Exponential(attempt, lo, hi)
}

// sleep waits for d or until ctx ends; it reports whether the full pause
// elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
