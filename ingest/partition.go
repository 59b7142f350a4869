package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/driftwatch/driftwatch/internal/backoff"
)

// Backoff bounds for restarting a partition loop after an error.
const (
	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = 10 * time.Second
)

// partitionLoop owns one assigned partition for the lifetime of a generation.
type partitionLoop struct {
	c         *Consumer
	gen       *kafka.Generation
	topic     string
	partition int32
	log       *slog.Logger

	// assigned is the offset the group handed over: a committed offset, or
	// kafka.FirstOffset / kafka.LastOffset when none was committed.
	assigned int64
	// committed is the last offset known to be committed, -1 if none.
	committed int64
	// hwm is the partition's high watermark from the last fetch or poll,
	// -1 before; position is the furthest next offset to read handed to
	// the handler, -1 before; progressed is when position last grew or
	// caught up with hwm (Unix nanoseconds). The watcher reads them
	// concurrently.
	hwm, position, progressed atomic.Int64
	committedSeen             atomic.Int64 // committed, for the watcher
	stalled                   bool         // the watcher's view; only it touches this

	batch []Message
	// buf holds the keys and values handed to a Borrower (copyOut): at
	// most a batch's, reused once Handle has returned.
	buf []byte

	messages, bytes          prometheus.Counter
	committedGauge, lagGauge prometheus.Gauge
}

func newPartitionLoop(c *Consumer, gen *kafka.Generation, partition int32, assigned int64) *partitionLoop {
	label := strconv.Itoa(int(partition))
	p := &partitionLoop{
		c:              c,
		gen:            gen,
		topic:          c.cfg.Topic,
		partition:      partition,
		log:            c.log.With("partition", partition, "generation", gen.ID),
		assigned:       assigned,
		committed:      -1,
		messages:       c.metrics.messages.WithLabelValues(c.cfg.Topic),
		bytes:          c.metrics.bytes.WithLabelValues(c.cfg.Topic),
		committedGauge: c.metrics.committedOffset.WithLabelValues(c.cfg.Topic, label),
		lagGauge:       c.metrics.commitLag.WithLabelValues(c.cfg.Topic, label),
	}
	if assigned >= 0 {
		p.committed = assigned
		p.committedGauge.Set(float64(assigned))
	}
	p.hwm.Store(-1)
	p.position.Store(-1)
	p.committedSeen.Store(p.committed)
	p.progressed.Store(time.Now().UnixNano())
	return p
}

// run is the body started with Generation.Start. It returns only when the
// generation ends; errors restart the partition from the committed offset.
func (p *partitionLoop) run(ctx context.Context) {
	label := strconv.Itoa(int(p.partition))
	defer p.c.metrics.committedOffset.DeleteLabelValues(p.topic, label)
	defer p.c.metrics.commitLag.DeleteLabelValues(p.topic, label)
	p.c.track(p, true)
	defer p.c.track(p, false)
	watched := make(chan struct{})
	go func() { defer close(watched); p.watch(ctx) }()
	defer func() { <-watched }()

	// Retry returns only when ctx ends: session returns then, and errors
	// restart it.
	_ = backoff.Retry(ctx, backoff.Policy{
		Initial: restartBackoffMin,
		Max:     restartBackoffMax,
		OnRetry: func(_ int, err error, pause time.Duration) {
			p.log.Warn("partition loop stopped, restarting from committed offset",
				"committed", p.committed, "backoff", pause, "err", err)
		},
	}, func(ctx context.Context) error {
		read, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.c.metrics.partitionErrors.Inc()
		if err == nil {
			err = errors.New("partition session ended")
		}
		if read > 0 {
			// It made progress: the pauses start over.
			return backoff.Reset(err)
		}
		return err
	})
}

// session dials the leader, opens a handler at the committed offset and feeds
// it until ctx ends (nil error) or something fails. It returns the number of
// messages it passed to the handler.
func (p *partitionLoop) session(ctx context.Context) (read int64, err error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return 0, err
	}
	start, err := p.seek(conn)
	// The connection only positions the partition: fetches go through the
	// consumer's client (fetch).
	_ = conn.Close()
	if err != nil {
		return 0, err
	}
	h, err := p.c.factory(ctx, p.topic, p.partition, start)
	if err != nil {
		return 0, fmt.Errorf("opening handler at offset %d: %w", start, err)
	}
	handlerFailed := false
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		// A failed handler's state is suspect: restart from what was
		// committed before the failure.
		if !handlerFailed {
			p.commit(h.Committable())
		}
		if cerr := h.Close(closeCtx); cerr != nil {
			p.log.Warn("closing partition handler", "err", cerr)
		}
	}()

	cfg := p.c.cfg
	next := start
	if p.position.Load() < 0 {
		p.position.Store(start)
	}
	lastCommit := time.Now()
	if p.batch == nil {
		p.batch = make([]Message, 0, cfg.MaxBatch)
	}
	_, borrows := h.(Borrower)
	maxBytes := cfg.MaxBytes
	for {
		res, ferr := p.fetchRetrying(ctx, next, maxBytes)
		if errors.Is(ferr, ErrBatchUnreadable) && ctx.Err() == nil {
			if maxBytes > 1 {
				// Which of the fetch's batches is it? Fetch one at a time
				// (a broker returns at least the first batch whole).
				maxBytes = 1
				continue
			}
			// The batch at next is a bomb: pass over it, dead-lettered.
			last, err := p.batchEnd(ctx, next)
			if err != nil {
				if ctx.Err() != nil {
					return read, nil
				}
				return read, fmt.Errorf("finding the end of the record batch at offset %d: %w", next, err)
			}
			detail := fmt.Sprintf("offsets %d to %d of %s/%d: %v", next, last, p.topic, p.partition, ferr)
			reason := ReasonBatchUnreadable
			if errors.Is(ferr, ErrCompressionRatio) {
				reason = ReasonBatchTooLarge
			}
			p.log.Warn("skipping a compressed record batch that cannot be read", "from", next, "to", last, "reason", reason, "err", ferr)
			p.c.metrics.skippedBatches.WithLabelValues(p.topic, string(reason)).Inc()
			p.advance(last + 1)
			if err := h.Handle(ctx, []Message{{Topic: p.topic, Partition: p.partition, Offset: last,
				Skipped: &Skipped{From: next, Reason: reason, Detail: detail}}}); err != nil {
				if ctx.Err() != nil {
					return read, nil
				}
				handlerFailed = true
				return read, fmt.Errorf("handling the skipped offsets %d to %d: %w", next, last, err)
			}
			next, maxBytes = last+1, cfg.MaxBytes
			continue
		}
		if ferr != nil {
			if ctx.Err() != nil {
				return read, nil
			}
			return read, fmt.Errorf("fetching at offset %d: %w", next, ferr)
		}
		maxBytes = cfg.MaxBytes
		n, herr, ferr := p.handle(ctx, res, h, borrows, &next)
		read += n
		if ferr != nil {
			return read, fmt.Errorf("reading the fetch at offset %d: %w", next, ferr)
		}
		if herr != nil {
			if ctx.Err() != nil {
				// Interrupted by the end of the generation, not broken:
				// what it reports as committable still holds.
				return read, nil
			}
			handlerFailed = true
			return read, herr
		}
		if ctx.Err() != nil {
			return read, nil
		}
		if time.Since(lastCommit) >= cfg.CommitInterval {
			p.commit(h.Committable())
			lastCommit = time.Now()
		} else {
			p.updateLag()
		}
	}
}

// A fetch that fails with a temporary error is retried fetchRetries times,
// fetchRetryPause apart, before the session ends: longer than the client's
// metadata refresh (kafka-go's Transport refreshes every 6 s), so that a
// moved leader is found without reopening the handler.
const (
	fetchRetries    = 40
	fetchRetryPause = 250 * time.Millisecond
)

// fetchRetrying is fetch, retrying a temporary failure: a moved leader
// (NotLeaderForPartition and the like) is found by the client's next
// metadata refresh, and the handler keeps its state instead of being
// reopened by a new session.
func (p *partitionLoop) fetchRetrying(ctx context.Context, next int64, maxBytes int) (*kafka.FetchResponse, error) {
	for failed := 0; ; failed++ {
		res, err := p.fetch(ctx, next, maxBytes)
		var ke kafka.Error
		if err == nil || failed == fetchRetries || !errors.As(err, &ke) || !ke.Temporary() {
			return res, err
		}
		select {
		case <-time.After(fetchRetryPause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// fetch fetches the partition's messages from offset next: at least
// MinBytes (at most maxBytes), waiting up to MaxWait for them, at most
// about maxBytes (more when the first record batch is larger). A broker
// that does not answer within MaxWait and fetchGrace fails it. An empty
// fetch is no error.
func (p *partitionLoop) fetch(ctx context.Context, next int64, maxBytes int) (*kafka.FetchResponse, error) {
	cfg := p.c.cfg
	// The broker is asked to wait MaxWait (the client's Timeout is unset);
	// the deadline fails a broker that does not answer.
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxWait+fetchGrace)
	defer cancel()
	res, err := p.c.client.Fetch(ctx, &kafka.FetchRequest{Topic: p.topic, Partition: int(p.partition), Offset: next,
		MinBytes: int64(min(cfg.MinBytes, maxBytes)), MaxBytes: int64(maxBytes), MaxWait: cfg.MaxWait})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	if hwm := res.HighWatermark; hwm > 0 || p.hwm.Load() < 0 {
		p.hwm.Store(hwm)
	}
	return res, nil
}

// batchEnd returns the last offset of the record batch holding offset from,
// one that fails to decompress (ErrBatchUnreadable): kafka-go does not
// expose a batch's last offset, so it is found by fetching one batch at a
// time beyond it, at from + 1, 2, 4, ... until a fetch reads (or is past the
// end of the partition), then by bisection between the last offset that
// failed and the first that read. A batch of n records takes about 2·log₂ n
// fetches, each decompressing at most max_compression_ratio times the
// batch. Were two bombs to enclose another producer's batch within the
// probed range, that batch would be passed over with them (dead-lettered in
// the same range).
func (p *partitionLoop) batchEnd(ctx context.Context, from int64) (int64, error) {
	fails := func(off int64) (bool, error) {
		_, err := p.fetchRetrying(ctx, off, 1)
		switch {
		case err == nil, errors.Is(err, kafka.OffsetOutOfRange):
			return false, nil
		case errors.Is(err, ErrBatchUnreadable):
			return true, nil
		}
		return false, err
	}
	bad, good := from, from+1 // bad fails; good is probed next
	for step := int64(1); ; step *= 2 {
		f, err := fails(good)
		if err != nil {
			return 0, err
		}
		if !f {
			break
		}
		bad, good = good, good+2*step
	}
	for good-bad > 1 {
		mid := bad + (good-bad)/2
		f, err := fails(mid)
		if err != nil {
			return 0, err
		}
		if f {
			bad = mid
		} else {
			good = mid
		}
	}
	return bad, nil
}

// handle passes the records of one fetch to the handler in slices of at
// most MaxBatch messages. It returns the number of messages handed over, the
// handler's error and an error reading the fetch.
//
// A message's key and value are copied out of the fetch's buffers (which
// kafka-go pools): for a Borrower into the partition's buffer, reused
// once the handler has returned; for other handlers into memory of their
// own.
func (p *partitionLoop) handle(ctx context.Context, res *kafka.FetchResponse, h PartitionHandler, borrows bool, next *int64) (n int64, herr, ferr error) {
	var size int
	p.buf = p.buf[:0]
	flush := func() error {
		if len(p.batch) == 0 {
			p.advance(*next) // past control records, if any
			return nil
		}
		first := p.batch[0].Offset
		cnt := len(p.batch)
		// Once per batch, not per message: it reads the clock.
		p.advance(*next)
		err := h.Handle(ctx, p.batch)
		p.batch = p.batch[:0]
		p.buf = p.buf[:0]
		if err != nil {
			return fmt.Errorf("handling %d messages from offset %d: %w", cnt, first, err)
		}
		n += int64(cnt)
		p.messages.Add(float64(cnt))
		p.bytes.Add(float64(size))
		size = 0
		return nil
	}
	for _, rb := range recordBatches(res.Records) {
		// A control batch (a transaction's commit or abort marker) is no
		// message: its offsets are passed over.
		_, control := rb.(*protocol.ControlBatch)
		for {
			r, err := rb.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if herr := flush(); herr != nil {
					return n, herr, nil
				}
				return n, nil, err
			}
			// kafka-go #1398: never hand over a message below the next
			// expected offset (stale or re-sent data; a record batch
			// may also start before the offset fetched).
			if r.Offset < *next || control {
				release(r.Key)
				release(r.Value)
				if r.Offset >= *next {
					*next = r.Offset + 1
				}
				continue
			}
			m := Message{Topic: p.topic, Partition: p.partition, Offset: r.Offset, Headers: r.Headers, Time: r.Time}
			var kerr, verr error
			m.Key, kerr = p.copyOut(r.Key, borrows)
			m.Value, verr = p.copyOut(r.Value, borrows)
			if err := errors.Join(kerr, verr); err != nil {
				// Hand over what came before it; the session restarts at it.
				if herr := flush(); herr != nil {
					return n, herr, nil
				}
				return n, nil, fmt.Errorf("record at offset %d: %w", r.Offset, err)
			}
			p.batch = append(p.batch, m)
			size += len(m.Key) + len(m.Value)
			*next = r.Offset + 1
			if len(p.batch) == cap(p.batch) {
				if err := flush(); err != nil {
					return n, err, nil
				}
			}
		}
	}
	if err := flush(); err != nil {
		return n, err, nil
	}
	return n, nil, nil
}

// copyOut copies b's bytes out of the fetch's buffers and releases them:
// into the partition's reused buffer when borrowed, into a slice of their
// own otherwise. A nil b (a null key or value) is nil.
func (p *partitionLoop) copyOut(b kafka.Bytes, borrowed bool) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer release(b)
	n := b.Len()
	if n == 0 {
		return []byte{}, nil // empty, not null (no allocation)
	}
	var dst []byte
	if borrowed {
		if len(p.buf)+n > cap(p.buf) {
			// Messages handed out keep the old buffer until Handle
			// returns; the larger one is reused from then on.
			p.buf = make([]byte, 0, max(2*cap(p.buf), minBuffer, n))
		}
		start := len(p.buf)
		p.buf = p.buf[:start+n]
		dst = p.buf[start : start+n : start+n]
	} else {
		dst = make([]byte, n)
	}
	if _, err := io.ReadFull(b, dst); err != nil {
		return nil, fmt.Errorf("reading %d bytes: %w", n, err)
	}
	return dst, nil
}

// recordBatches returns the record batches of a fetch's records: kafka-go
// streams them with its control batches hidden, whose offsets must still
// be passed over (a partition that ends with a transaction marker would
// otherwise be fetched at the marker again and again).
func recordBatches(r kafka.RecordReader) []kafka.RecordReader {
	if s, ok := r.(*protocol.RecordStream); ok {
		return s.Records
	}
	return []kafka.RecordReader{r}
}

// minBuffer is the least size of a partition's reused message buffer.
const minBuffer = 256 << 10

// release returns a record's key or value to kafka-go's buffer pool.
func release(b kafka.Bytes) {
	if b != nil {
		_ = b.Close()
	}
}

// dial connects to the partition's leader through the first broker that
// answers.
func (p *partitionLoop) dial(ctx context.Context) (*kafka.Conn, error) {
	var errs []error
	for _, addr := range p.c.cfg.Brokers {
		conn, err := p.c.dialer.DialLeader(ctx, "tcp", addr, p.topic, int(p.partition))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dialing partition leader: %w", errors.Join(errs...))
}

// seek positions conn at the committed offset, or at the configured start
// when none is committed or the committed offset is no longer retained.
func (p *partitionLoop) seek(conn *kafka.Conn) (int64, error) {
	off := p.assigned
	if p.committed >= 0 {
		off = p.committed
	}
	resolved, err := resolveOffset(conn, off)
	if err != nil {
		return 0, err
	}
	_, err = conn.Seek(resolved, kafka.SeekAbsolute)
	if errors.Is(err, kafka.OffsetOutOfRange) {
		reset := kafka.FirstOffset
		if p.c.cfg.StartOffset == StartLatest {
			reset = kafka.LastOffset
		}
		if resolved, err = resolveOffset(conn, reset); err != nil {
			return 0, err
		}
		p.log.Warn("committed offset out of range, resetting", "offset", off, "reset_to", resolved)
		_, err = conn.Seek(resolved, kafka.SeekAbsolute)
	}
	if err != nil {
		return 0, fmt.Errorf("seeking to offset %d: %w", resolved, err)
	}
	return resolved, nil
}

// resolveOffset turns kafka.FirstOffset and kafka.LastOffset into absolute
// offsets.
func resolveOffset(conn *kafka.Conn, off int64) (int64, error) {
	var err error
	switch off {
	case kafka.FirstOffset:
		off, err = conn.ReadFirstOffset()
	case kafka.LastOffset:
		off, err = conn.ReadLastOffset()
	}
	if err != nil {
		return 0, fmt.Errorf("reading partition offsets: %w", err)
	}
	return off, nil
}

// commit commits off (the next offset to read) if it advances the committed
// offset. Failures are counted and logged; the next commit retries.
func (p *partitionLoop) commit(off int64) {
	if off < 0 || off <= p.committed {
		p.updateLag()
		return
	}
	err := p.gen.CommitOffsets(map[string]map[int]int64{p.topic: {int(p.partition): off}})
	if err != nil {
		p.c.metrics.commitErrors.Inc()
		p.log.Warn("committing offset", "offset", off, "err", err)
		return
	}
	p.c.metrics.commits.Inc()
	p.committed = off
	p.committedSeen.Store(off)
	p.committedGauge.Set(float64(off))
	p.updateLag()
}

func (p *partitionLoop) updateLag() {
	if hwm := p.hwm.Load(); p.committed >= 0 && hwm >= 0 {
		p.lagGauge.Set(float64(max(hwm-p.committed, 0)))
	}
}

// advance records that the next offset to read is now next. Only a new
// furthest position is progress: a loop that fails and re-reads the same
// messages from its committed offset again and again makes none.
func (p *partitionLoop) advance(next int64) {
	if next > p.position.Load() {
		p.position.Store(next)
		p.progressed.Store(time.Now().UnixNano())
	}
}

// watch polls the partition's high watermark until ctx ends, on a
// connection of its own, so that the lag gauge moves and a partition whose
// reading is blocked (a handler waiting, a fetch failing) is seen: it is
// stalled when it has messages to read and its read position has not moved
// for StallAfter.
func (p *partitionLoop) watch(ctx context.Context) {
	every := min(p.c.cfg.StallAfter/4, 10*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var conn *kafka.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
		if p.stalled {
			p.c.metrics.stalled.WithLabelValues(p.topic).Dec()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if conn == nil {
			c, err := p.dial(ctx)
			if err != nil {
				p.check(time.Now())
				continue
			}
			conn = c
		}
		_ = conn.SetReadDeadline(time.Now().Add(every))
		hwm, err := conn.ReadLastOffset()
		if err != nil {
			conn.Close()
			conn = nil
		} else {
			p.hwm.Store(hwm)
			if p.position.Load() >= hwm {
				p.progressed.Store(time.Now().UnixNano())
			}
			p.updateLagFromWatcher(hwm)
		}
		p.check(time.Now())
	}
}

// updateLagFromWatcher sets the lag gauge from a polled high watermark; the
// committed offset is read from its gauge's source under the loop's rules
// (it only grows), so a stale value only overstates the lag.
func (p *partitionLoop) updateLagFromWatcher(hwm int64) {
	if c := p.committedSeen.Load(); c >= 0 && hwm >= 0 {
		p.lagGauge.Set(float64(max(hwm-c, 0)))
	}
}

// check updates whether the partition is stalled as of now.
func (p *partitionLoop) check(now time.Time) {
	behind := p.position.Load() < p.hwm.Load()
	stalled := behind && now.Sub(time.Unix(0, p.progressed.Load())) >= p.c.cfg.StallAfter
	if stalled == p.stalled {
		return
	}
	p.stalled = stalled
	g := p.c.metrics.stalled.WithLabelValues(p.topic)
	if stalled {
		g.Inc()
		p.log.Warn("partition stalled: messages to read and no read progress", "position", p.position.Load(), "high_watermark", p.hwm.Load(),
			"since", time.Unix(0, p.progressed.Load()).UTC())
	} else {
		g.Dec()
		p.log.Info("partition reading again", "position", p.position.Load())
	}
}

// health reports the partition's state for the readiness endpoint.
func (p *partitionLoop) health(now time.Time) PartitionHealth {
	h := PartitionHealth{Topic: p.topic, Partition: p.partition, Position: p.position.Load(), HighWatermark: p.hwm.Load(),
		Committed: p.committedSeen.Load()}
	behind := h.Position < h.HighWatermark
	h.Stalled = behind && now.Sub(time.Unix(0, p.progressed.Load())) >= p.c.cfg.StallAfter
	if h.Stalled {
		h.Since = time.Unix(0, p.progressed.Load()).UTC()
	}
	return h
}
