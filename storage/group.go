package storage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// windowWriter joins the WriteWindows calls that overlap (group commit): the first call starts a
// writer goroutine, the calls that arrive while it writes join the next group, and the goroutine
// writes group after group until none is waiting.
type windowWriter struct {
	s *Store

	mu      sync.Mutex
	next    *windowGroup // the group calls join; nil when none waits
	running bool         // a writer goroutine is under way

	// beforeGroup, when set (by tests), runs before each group is taken, outside mu.
	beforeGroup func()
}

// windowGroup is the calls written together.
type windowGroup struct {
	members []*groupMember // its live members once taken (guarded by windowWriter.mu)
	taken   bool           // the writer has taken it (guarded by windowWriter.mu)
	done    chan struct{}  // closed once the group is written or has failed
}

// groupMember is one WriteWindows call in a group.
type groupMember struct {
	ctx   context.Context
	batch WindowBatch
	gone  bool  // its caller returned before the group was taken (guarded by windowWriter.mu)
	err   error // its outcome, set before the group's done is closed
}

// write adds b to the next group and waits for that group's write or for ctx's end.
func (w *windowWriter) write(ctx context.Context, b WindowBatch) error {
	m := &groupMember{ctx: ctx, batch: b}
	w.mu.Lock()
	if w.next == nil {
		w.next = &windowGroup{done: make(chan struct{})}
	}
	g := w.next
	g.members = append(g.members, m)
	if !w.running {
		w.running = true
		go w.run()
	}
	w.mu.Unlock()
	select {
	case <-g.done:
		return m.err
	case <-ctx.Done():
		w.mu.Lock()
		m.gone = true
		alone := g.taken && len(g.members) == 1
		w.mu.Unlock()
		if alone {
			// Its write runs under ctx alone and ends with it: its error
			// says which insert was cut.
			<-g.done
			return m.err
		}
		// The group may have been written meanwhile; report what happened then.
		select {
		case <-g.done:
			return m.err
		default:
		}
		return fmt.Errorf("writing %s: %w", b.rows(), ctx.Err())
	}
}

// run writes the waiting groups one after another and returns when none is left.
func (w *windowWriter) run() {
	for {
		if w.beforeGroup != nil {
			w.beforeGroup()
		}
		w.mu.Lock()
		g := w.next
		w.next = nil
		if g == nil {
			w.running = false
			w.mu.Unlock()
			return
		}
		live := g.members[:0]
		for _, m := range g.members {
			if !m.gone {
				live = append(live, m)
			}
		}
		g.members, g.taken = live, true
		w.mu.Unlock()
		if len(live) > 0 {
			w.writeGroup(live)
		}
		close(g.done)
	}
}

// writeGroup writes the members' batches as one, under a context that ends when every member's
// has (a member that leaves does not abort its neighbours' write), and sets each member's outcome.
// A permanent error may be one member's rows' (a value that does not fit its column): the
// members are then written one by one, each under its own context, and each gets its own
// outcome (tables the group wrote before the error are written again for them: the tables are
// ReplacingMergeTrees).
func (w *windowWriter) writeGroup(members []*groupMember) {
	if len(members) == 1 {
		members[0].err = w.s.writeWindows(members[0].ctx, members[0].batch)
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(members[0].ctx))
	defer cancel()
	var left atomic.Int32
	left.Store(int32(len(members)))
	var b WindowBatch
	for _, m := range members {
		stop := context.AfterFunc(m.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
		b.Append(m.batch)
	}
	err := w.s.writeWindows(ctx, b)
	if err != nil && ctx.Err() == nil && isPermanent(err) {
		for _, m := range members {
			m.err = w.s.writeWindows(m.ctx, m.batch)
		}
		return
	}
	for _, m := range members {
		m.err = err
	}
}
