package backoff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy paces the attempts of Retry.
type Policy struct {
	// Initial is the pause after the first failed attempt; it doubles after
	// each further one (see Exponential).
	Initial time.Duration
	// Max caps every pause, including one asked for with After.
	Max time.Duration
	// OnRetry, when not nil, is called after every failed attempt that will
	// be retried, just before the pause, with the attempt's number (from 1),
	// its error and the pause. It is where callers log and count retries;
	// it is not called for a permanent error or once ctx has ended.
	OnRetry func(attempt int, err error, pause time.Duration)
}

// Retry calls op until it returns nil, returns an error marked Permanent, or
// ctx ends. After a failed attempt it pauses Exponential(n, p.Initial, p.Max)
// before the next one, n counting the retries since the start or since the
// last error marked Reset; an error marked After pauses at least that long
// (at most p.Max).
//
// It returns nil on success and a permanent error as op returned it (still
// marked: IsPermanent reports it). When ctx ends, after an attempt or during
// a pause, it returns an error that wraps both ctx.Err() and the last error
// of op, reading "<ctx error> (last error: <error>)". It never calls op
// again once ctx has ended, but it does not check ctx before the first
// attempt: op receives ctx and decides.
func Retry(ctx context.Context, p Policy, op func(context.Context) error) error {
	retry := 0
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var m *marked
		errors.As(err, &m)
		if m != nil && m.permanent {
			return err
		}
		if ctx.Err() != nil {
			return stopped(ctx, err)
		}
		if m != nil && m.reset {
			retry = 0
		}
		pause := Exponential(retry, p.Initial, p.Max)
		retry++
		if m != nil && m.after > pause {
			pause = min(m.after, p.Max)
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, pause)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return stopped(ctx, err)
		case <-t.C:
		}
	}
}

// stopped is Retry's error when ctx ends: it wraps ctx.Err() and last.
func stopped(ctx context.Context, last error) error {
	return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
}

// marked is an error with instructions for Retry. When marks are nested,
// the outermost one counts.
type marked struct {
	err       error
	permanent bool
	after     time.Duration
	reset     bool
}

func (e *marked) Error() string { return e.err.Error() }
func (e *marked) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix: Retry returns it at
// once. The mark does not change err's text and errors.Is and errors.As see
// through it; it is found anywhere in err's chain. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, permanent: true}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var m *marked
	return errors.As(err, &m) && m.permanent
}

// After marks err as retryable no sooner than d (a server's Retry-After):
// Retry pauses at least d, and at most Policy.Max, before the next attempt.
// After(nil, d) is nil.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, after: d}
}

// Reset marks err as ending an attempt that made progress before it failed
// (a partition that read messages): the pauses start again from
// Policy.Initial. Reset(nil) is nil.
func Reset(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, reset: true}
}
