package signal_test

import (
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/telemetry"
)

// lengths is a Filler that counts its calls: each event's numeric features.
type lengths struct{ fills *int }

func (l lengths) Fill(events []*telemetry.Event, vals []uint64) {
	*l.fills++
	for i, e := range events {
		vals[i] = uint64(len(e.Features.Numeric))
	}
}

// columnReader is a BatchObserver that reads a column and records it.
type columnReader struct {
	signal.Partial
	c   *signal.Column
	got []uint64
}

func (r *columnReader) ObserveBatch(b *signal.Batch) { r.got = append(r.got[:0], b.Uint64s(r.c)...) }

// TestBatchComputesAColumnOnceABatch: the partials of a batch share one
// computation of a column, a new batch computes it again for its events,
// and a partial that does not read columns gets the events.
func TestBatchComputesAColumnOnceABatch(t *testing.T) {
	fills, news := 0, 0
	c := &signal.Column{Name: "lengths", New: func() signal.Filler { news++; return lengths{&fills} }}
	ev := func(n int) *telemetry.Event {
		return &telemetry.Event{Features: telemetry.Features{Numeric: make([]telemetry.Number, n)}}
	}
	a, b := &columnReader{c: c}, &columnReader{c: c}
	var plain eventCounter
	var batch signal.Batch
	for round, events := range [][]*telemetry.Event{{ev(1), ev(2)}, {ev(3), ev(0), ev(5)}} {
		batch.Reset(events)
		for _, p := range []signal.Partial{a, &plain, b} {
			batch.Observe(p)
		}
		if fills != round+1 || news != 1 {
			t.Fatalf("batch %d: %d fills by %d fillers, want %d by 1", round, fills, news, round+1)
		}
		for _, r := range []*columnReader{a, b} {
			if len(r.got) != len(events) || r.got[len(events)-1] != uint64(len(events[len(events)-1].Features.Numeric)) {
				t.Fatalf("batch %d: column %v", round, r.got)
			}
		}
	}
	if plain.n != 5 {
		t.Fatalf("a partial without columns observed %d events, want 5", plain.n)
	}
}

type eventCounter struct {
	signal.Partial
	n int
}

func (c *eventCounter) Observe(events []*telemetry.Event) { c.n += len(events) }
