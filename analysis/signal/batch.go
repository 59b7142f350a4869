package signal

import "github.com/driftwatch/driftwatch/telemetry"

// Batch is the events of one window and Kafka batch that a window hands to
// each of its partials, with the per-event values several partials read
// (the hash of an event's inputs, ...) computed once for all of them: a
// partial that implements BatchObserver reads them as columns, so that
// five caller signals hash each input once, not three times.
//
// A window keeps one Batch and reuses it from batch to batch; the columns'
// memory and their Fillers' state stay with it.
type Batch struct {
	// Events is the batch's events, valid during the calls of its
	// partials only.
	Events []*telemetry.Event
	cols   []batchColumn
	epoch  uint64 // of Events: a column filled in an earlier one is stale
}

// Column names a column of per-event values: a package declares one as a
// variable and asks batches for it by its address.
type Column struct {
	// Name names the column, for errors and profiles.
	Name string
	// New returns the Filler of a batch's column, once per Batch; it may
	// keep state (e.g. caches of feature names) from batch to batch.
	New func() Filler
}

// Filler computes a column's values.
type Filler interface {
	// Fill sets vals[i] to the value of events[i]; len(vals) is
	// len(events).
	Fill(events []*telemetry.Event, vals []uint64)
}

// BatchObserver is a Partial that reads the columns of a Batch: a window
// calls ObserveBatch instead of Observe for it. ObserveBatch(b) observes
// b.Events as Observe(b.Events) would.
type BatchObserver interface {
	ObserveBatch(b *Batch)
}

type batchColumn struct {
	c      *Column
	filler Filler
	vals   []uint64
	epoch  uint64
}

// Reset makes events b's batch; the columns of the previous one are
// recomputed on demand.
func (b *Batch) Reset(events []*telemetry.Event) {
	b.Events = events
	b.epoch++
}

// Filler returns the Filler of column c in b, made by c.New the first
// time: a partial may hand it state (a summary it shares with the window's
// other partials) before it asks for the column's values.
func (b *Batch) Filler(c *Column) Filler { return b.column(c).filler }

// column returns c's column in b, adding it.
func (b *Batch) column(c *Column) *batchColumn {
	i := 0
	for i < len(b.cols) && b.cols[i].c != c {
		i++
	}
	if i == len(b.cols) {
		b.cols = append(b.cols, batchColumn{c: c, filler: c.New(), epoch: b.epoch - 1})
	}
	return &b.cols[i]
}

// Uint64s returns column c of b's events: c's Filler's values, computed by
// the first partial that asks in the batch. The slice is valid until the
// next Reset and must not be modified.
func (b *Batch) Uint64s(c *Column) []uint64 {
	col := b.column(c)
	if col.epoch != b.epoch {
		if cap(col.vals) < len(b.Events) {
			col.vals = make([]uint64, len(b.Events), max(len(b.Events), 2*cap(col.vals)))
		}
		col.vals = col.vals[:len(b.Events)]
		col.filler.Fill(b.Events, col.vals)
		col.epoch = b.epoch
	}
	return col.vals
}

// Observe hands b's events to p: through its columns when p is a
// BatchObserver.
func (b *Batch) Observe(p Partial) {
	if bp, ok := p.(BatchObserver); ok {
		bp.ObserveBatch(b)
		return
	}
	p.Observe(b.Events)
}
