package ingest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// gateHandler blocks its first Handle until release is closed.
type gateHandler struct {
	release chan struct{}
	handled atomic.Int64
	next    atomic.Int64
}

func (h *gateHandler) Handle(ctx context.Context, batch []Message) error {
	if h.handled.Load() == 0 {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.handled.Add(int64(len(batch)))
	h.next.Store(batch[len(batch)-1].Offset + 1)
	return nil
}

func (h *gateHandler) Committable() int64          { return h.next.Load() }
func (h *gateHandler) Close(context.Context) error { return nil }

// TestBehindWhileMessagesWaitToBeRead: a partition whose handler has not yet
// been handed every message the broker holds is behind, however long its
// handler waits; once it has read them all, it is not; a partition the
// consumer does not run counts as behind.
func TestBehindWhileMessagesWaitToBeRead(t *testing.T) {
	e := startBroker(t, "behind")
	// Four record batches: a fetch of at most MaxBytes returns one of them.
	for _, prefix := range []string{"a", "b", "c", "d"} {
		produce(t, e.Brokers(), "behind", 0, 50, prefix)
	}
	cfg := testConfig(e.Brokers(), "behind", "behind-group")
	cfg.MaxBytes = 1024
	h := &gateHandler{release: make(chan struct{})}
	c, err := NewConsumer(cfg, func(context.Context, string, int32, int64) (PartitionHandler, error) { return h, nil }, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	t.Cleanup(func() { c.Close(); <-errc })
	waitFor(t, 10*time.Second, "the partitions to be assigned", func() bool { return len(c.Health().Partitions) == 3 })
	time.Sleep(1500 * time.Millisecond) // the handler waits for long: still behind, not idle
	if !c.Behind(0) {
		t.Fatal("a partition with 200 unread messages is not behind")
	}
	close(h.release)
	waitFor(t, 10*time.Second, "every message to be handled", func() bool { return h.handled.Load() == 200 })
	waitFor(t, 5*time.Second, "the partition to be caught up", func() bool { return !c.Behind(0) })
	if !c.Behind(7) {
		t.Error("a partition the consumer does not run is not behind")
	}
}
