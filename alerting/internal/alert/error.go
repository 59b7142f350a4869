package alert

import (
	"errors"
	"fmt"
	"time"
)

// retryableError marks an error after which the same delivery may succeed later.
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as temporary: the delivery is tried again, no sooner than
// retryAfter when it is positive (a receiver's Retry-After). Errors not marked
// are permanent. Retryable(nil, d) is nil.
func Retryable(err error, retryAfter time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err, after: retryAfter}
}

// IsRetryable reports whether err was marked with Retryable, and the delay the
// receiver asked for (0 when it did not).
func IsRetryable(err error) (bool, time.Duration) {
	var r *retryableError
	if errors.As(err, &r) {
		return true, r.after
	}
	return false, 0
}

// ErrDisabled marks the error of a receiver that will not take anything
// any more (a Slack webhook that answered 404 or 410: removed, its app
// uninstalled): the delivery is not retried, and the notifier answers every
// later one with an error wrapping ErrDisabled without sending it.
var ErrDisabled = errors.New("receiver disabled")

// StatusError is a receiver's answer that was not a success.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Body is a short reason taken from the start of the response body, as
	// Reason makes it: one line of at most MaxReason bytes. It is empty for a
	// redirect, which is never followed.
	Body string
}

func (e *StatusError) Error() string {
	if e.Code >= 300 && e.Code < 400 {
		return fmt.Sprintf("unexpected status %d: redirect not followed", e.Code)
	}
	if e.Body == "" {
		return fmt.Sprintf("unexpected status %d", e.Code)
	}
	return fmt.Sprintf("unexpected status %d: %s", e.Code, e.Body)
}

// HTTPStatus returns the status code carried by err, or 0 when it carries none.
func HTTPStatus(err error) int {
	var s *StatusError
	if errors.As(err, &s) {
		return s.Code
	}
	return 0
}
