package alert

import (
	"context"

	"golang.org/x/time/rate"
)

// NewLimiter returns the token bucket that paces requests to one destination
// (Slack asks for about one message a second per webhook): refilled at
// perSecond tokens a second, holding at most burst tokens (at least one).
// perSecond <= 0 disables pacing: the limiter never waits.
func NewLimiter(perSecond float64, burst int) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// Wait takes one token from l, sleeping until one is available or ctx ends. A
// wait cut short by ctx takes no token (rate.Limiter cancels its
// reservation). rate.Limiter refuses at once, without an error from ctx, a
// wait that would outlast ctx's deadline; Wait then sleeps until the deadline
// and returns ctx.Err(), so that a notifier always reports a wait that ctx
// ended as interrupted, never as a failed delivery.
func Wait(ctx context.Context, l *rate.Limiter) error {
	err := l.Wait(ctx)
	if err != nil && ctx.Err() == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}
