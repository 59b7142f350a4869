package backoff

import (
	"testing"
	"time"
)

func TestExponentialDoublesWithinJitterAndCaps(t *testing.T) {
	for retry, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 200 {
			d := Exponential(retry, 100*time.Millisecond, time.Second)
			if d < want/2 || d > want {
				t.Fatalf("retry %d: %s outside [%s, %s]", retry, d, want/2, want)
			}
		}
	}
	if d := Exponential(3, 5*time.Second, time.Second); d > time.Second {
		t.Fatalf("initial above the limit: %s", d)
	}
}
