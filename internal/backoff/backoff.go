// Package backoff is the retry loop shared by the stages that retry (Kafka
// partitions, publications and dead letters, ClickHouse writes, alert
// deliveries): Retry calls an operation until it succeeds, fails
// permanently or its context ends, pausing exponentially with jitter in
// between. It does not classify errors (each caller marks its own with
// Permanent, After or Reset) and does not log or count: callers do that in
// Policy.OnRetry and in the operation.
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
