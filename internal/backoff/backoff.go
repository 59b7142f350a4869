// Package backoff computes the pauses between retries shared by the stages
// that retry (Kafka partitions, ClickHouse writes, alert deliveries). It only
// computes durations; each caller owns its retry loop and context.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Exponential returns the pause before retry number retry (0 for the first
// retry): initial doubled retry times, capped at limit, with "equal jitter"
// (half fixed, half random) so that retrying clients do not move in step.
func Exponential(retry int, initial, limit time.Duration) time.Duration {
	d := min(initial, limit)
	for i := 0; i < retry && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}
