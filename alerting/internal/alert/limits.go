package alert

import (
	"fmt"
	"time"
)

// ValidateDelivery checks a receiver's HTTP timeout (positive) and the burst
// of its client-side rate limit (at least 1) and names the first bad field.
// Receivers call it from their Config.Validate; it changes nothing.
func ValidateDelivery(timeout time.Duration, burst int) error {
	if timeout <= 0 {
		return fmt.Errorf("timeout: must be positive, got %s", timeout)
	}
	if burst < 1 {
		return fmt.Errorf("burst: must be positive, got %d", burst)
	}
	return nil
}
