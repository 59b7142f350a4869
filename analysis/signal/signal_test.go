package signal_test

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/signaltest"
)

type named struct {
	signaltest.Classes
	name string
}

func (n named) Name() string { return n.name }

// TestNewSetRefusesBadOrDuplicateNames: a name is what partials, the
// signals table and alert keys carry, so it is checked once, at
// registration.
func TestNewSetRefusesBadOrDuplicateNames(t *testing.T) {
	for _, bad := range []string{"", "Error", "error-rate", "a/b", "x y", "é", strings.Repeat("a", 65)} {
		if _, err := signal.NewSet(named{name: bad}); err == nil {
			t.Errorf("signal named %q registered", bad)
		}
	}
	if _, err := signal.NewSet(named{name: "a"}, named{name: "a"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a name registered twice: %v", err)
	}
	s, err := signal.NewSet(named{name: "error_rate"}, named{name: "latency_p99"})
	if err != nil {
		t.Fatal(err)
	}
	if i, ok := s.Index("latency_p99"); !ok || i != 1 || s.Len() != 2 || s.At(1).Name() != "latency_p99" || len(s.NewPartials()) != 2 {
		t.Fatalf("set: index %d %v, len %d", i, ok, s.Len())
	}
	var none *signal.Set
	if none.Len() != 0 || none.NewPartials() != nil {
		t.Fatal("a nil set is not empty")
	}
	if _, ok := none.Index("x"); ok {
		t.Fatal("a nil set knows a signal")
	}
}
