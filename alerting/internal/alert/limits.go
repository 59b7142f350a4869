package alert

import (
	"fmt"
	"time"
)

// ValidateDelivery applies the defaults of a receiver's HTTP timeout and
// client-side rate limit (rate per second, negative to disable pacing, and
// burst) and names the first bad field. Receivers call it from their
// Config.Validate.
func ValidateDelivery(timeout *time.Duration, rate *float64, burst *int, defaultRate float64, defaultBurst int) error {
	if *timeout == 0 {
		*timeout = DefaultTimeout
	}
	if *timeout < 0 {
		return fmt.Errorf("timeout: must be positive, got %s", *timeout)
	}
	if *rate == 0 {
		*rate = defaultRate
	}
	if *burst == 0 {
		*burst = defaultBurst
	}
	if *burst < 0 {
		return fmt.Errorf("burst: must be positive, got %d", *burst)
	}
	return nil
}
