package alerting

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/internal/backoff"
)

// job is one notification on its way to one receiver.
type job struct {
	n       *Notification
	attempt int // attempts made so far
}

// lane is one receiver's bounded FIFO queue. Only the holder of busy pops and
// delivers, so a receiver sees the notifications of one alert in order
// (a resolve never overtakes the firing it resolves).
type lane struct {
	idx      int
	name     string
	n        Notifier
	resend   time.Duration
	perAlert bool        // the notifier takes every alert on its own, grouping or not
	disabled atomic.Bool // the notifier said it takes nothing any more (logged once)

	mu    sync.Mutex
	q     []*job
	ready chan struct{} // signalled when a job is pushed
	busy  chan struct{} // a one-slot semaphore held while delivering
}

func newLane(idx int, name string, n Notifier) *lane {
	l := &lane{idx: idx, name: name, n: n, ready: make(chan struct{}, 1), busy: make(chan struct{}, 1)}
	if r, ok := n.(interface{ ResendInterval() time.Duration }); ok {
		l.resend = r.ResendInterval()
	}
	if p, ok := n.(interface{ PerAlert() bool }); ok {
		l.perAlert = p.PerAlert()
	}
	return l
}

func (l *lane) push(j *job, limit int) bool {
	l.mu.Lock()
	if len(l.q) >= limit {
		l.mu.Unlock()
		return false
	}
	l.q = append(l.q, j)
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
	return true
}

// pushFront puts back a job whose delivery was interrupted; it may exceed the limit by one.
func (l *lane) pushFront(j *job) {
	l.mu.Lock()
	l.q = append([]*job{j}, l.q...)
	l.mu.Unlock()
}

func (l *lane) pop() *job {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 {
		return nil
	}
	j := l.q[0]
	l.q[0] = nil
	l.q = l.q[1:]
	return j
}

func (l *lane) take() []*job {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.q
	l.q = nil
	return q
}

// Run delivers queued notifications (one worker per receiver), re-sends firing
// alerts to receivers that need it and flushes records, until ctx ends. A
// delivery interrupted by ctx goes back to the head of its queue for Close.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range m.lanes {
		wg.Go(func() { m.work(ctx, l) })
		if l.resend > 0 {
			wg.Go(func() { every(ctx, l.resend, func() { m.refresh(l, l.resend) }) })
		}
	}
	if len(m.cfg.GroupBy) > 0 {
		wait, interval, _ := m.cfg.groupTimes()
		wg.Go(func() {
			every(ctx, min(max(min(wait, interval)/10, 10*time.Millisecond), time.Second), m.flushGroupsNow)
		})
	}
	if m.silencer != nil {
		wg.Go(func() { m.watchSilences(ctx) })
	}
	// Series that went silent get no observation to end their alerts.
	wg.Go(func() { every(ctx, max(m.cfg.StaleAfter/10, 10*time.Millisecond), m.sweepNow) })
	if m.rec != nil {
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					m.flush(ctx)
				case <-m.records.full:
					m.flush(ctx)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func (m *Manager) work(ctx context.Context, l *lane) {
	for {
		select {
		case l.busy <- struct{}{}:
		case <-ctx.Done():
			return
		}
		j := l.pop()
		if j != nil {
			m.deliver(ctx, l, j)
			<-l.busy
			continue
		}
		<-l.busy
		select {
		case <-l.ready:
		case <-ctx.Done():
			return
		}
	}
}

// Close stops Observe, queues the message of every group with changes not
// yet sent (without waiting for its group_wait or group_interval), delivers
// what is queued (with retries) until the queues are empty or ctx ends, and
// flushes the records. Notifications still queued when ctx ends are counted
// and recorded as dropped. Close is idempotent.
func (m *Manager) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.flushGroups(m.now(), true)
		m.mu.Unlock()
	})
	var wg sync.WaitGroup
	for _, l := range m.lanes {
		wg.Go(func() {
			select {
			case l.busy <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-l.busy }()
			for ctx.Err() == nil {
				j := l.pop()
				if j == nil {
					return
				}
				m.deliver(ctx, l, j)
			}
		})
	}
	wg.Wait()
	left := 0
	for _, l := range m.lanes {
		for _, j := range l.take() {
			left++
			m.met.notifications.WithLabelValues(l.name, OutcomeDropped).Inc()
			m.fail.Add(1)
			m.record(m.deliveryRecord(l, j, OutcomeDropped, ctx.Err()))
		}
	}
	flushErr := m.flush(ctx)
	if left > 0 {
		return fmt.Errorf("closing alerting: %d notifications undelivered: %w", left, ctx.Err())
	}
	if flushErr != nil {
		return fmt.Errorf("closing alerting: %w", flushErr)
	}
	return nil
}

// deliver tries j until it succeeds, fails permanently, runs out of attempts,
// or ctx ends (then j goes back to the head of the queue). The wait after a
// failed attempt is InitialBackoff doubled per attempt of this call, with
// equal jitter, at least the receiver's Retry-After, at most MaxBackoff.
func (m *Manager) deliver(ctx context.Context, l *lane, j *job) {
	err := backoff.Retry(ctx, backoff.Policy{
		Initial: m.cfg.InitialBackoff,
		Max:     m.cfg.MaxBackoff,
		OnRetry: func(_ int, err error, wait time.Duration) {
			m.met.notifications.WithLabelValues(l.name, OutcomeRetry).Inc()
			m.record(m.deliveryRecord(l, j, OutcomeRetry, err))
			m.log.Warn("alert delivery will be retried", "receiver", l.name, "key", j.n.Key, "attempt", j.attempt,
				"wait", wait, "err", err)
		},
	}, func(ctx context.Context) error {
		j.attempt++
		err := l.n.Notify(ctx, j.n)
		if err == nil {
			m.ok.Add(1)
			m.met.notifications.WithLabelValues(l.name, OutcomeSuccess).Inc()
			m.record(m.deliveryRecord(l, j, OutcomeSuccess, nil))
			return nil
		}
		if ctx.Err() != nil {
			j.attempt-- // interrupted, not answered: the attempt does not count
			return err
		}
		if errors.Is(err, alert.ErrDisabled) {
			m.fail.Add(1)
			m.met.notifications.WithLabelValues(l.name, OutcomeDisabled).Inc()
			m.record(m.deliveryRecord(l, j, OutcomeDisabled, err))
			if l.disabled.CompareAndSwap(false, true) {
				m.log.Error("alert receiver disabled: it will not take anything any more; its notifications are counted and recorded (outcome disabled), not sent",
					"receiver", l.name, "err", err)
			}
			return backoff.Permanent(err)
		}
		retry, after := IsRetryable(err)
		if !retry || j.attempt >= m.cfg.MaxAttempts {
			m.fail.Add(1)
			m.met.notifications.WithLabelValues(l.name, OutcomeFailed).Inc()
			m.record(m.deliveryRecord(l, j, OutcomeFailed, err))
			m.log.Error("alert delivery failed", "receiver", l.name, "key", j.n.Key, "status", j.n.Status,
				"attempt", j.attempt, "retryable", retry, "err", err)
			return backoff.Permanent(err)
		}
		return backoff.After(err, after)
	})
	if err != nil && !backoff.IsPermanent(err) {
		// ctx ended during the attempt or the wait after it.
		l.pushFront(j)
	}
}

func (m *Manager) deliveryRecord(l *lane, j *job, outcome string, err error) Record {
	n := j.n
	r := Record{
		Time: m.now(), Key: n.Key, ModelID: n.ModelID, ModelVersion: n.ModelVersion, Feature: n.Feature,
		Signal: n.Signal, Subject: n.Subject, Test: n.Test, Rule: n.Rule,
		Kind: KindDelivery, State: n.Status, Severity: n.Severity, Summary: n.Summary, Receiver: l.name,
		Attempt: j.attempt, Outcome: outcome, HTTPStatus: HTTPStatus(err),
		Statistic: math.NaN(), Threshold: math.NaN(),
	}
	if i := alert.Worst(n.Tests); i >= 0 {
		r.Statistic, r.Threshold = n.Tests[i].Statistic, n.Tests[i].Threshold
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// recordBuffer holds records until the next flush; it is bounded.
type recordBuffer struct {
	max   int
	mu    sync.Mutex
	recs  []Record
	full  chan struct{}
	flush sync.Mutex // one flush at a time, so records keep their order
}

// record buffers recs for the Recorder, counting what does not fit.
func (m *Manager) record(recs ...Record) {
	if m.rec == nil || len(recs) == 0 {
		return
	}
	b := &m.records
	b.mu.Lock()
	room := b.max - len(b.recs)
	if room < len(recs) {
		m.met.recordsDrop.Add(float64(len(recs) - max(room, 0)))
		recs = recs[:max(room, 0)]
	}
	b.recs = append(b.recs, recs...)
	n := len(b.recs)
	b.mu.Unlock()
	if n >= 500 {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

// flush hands the buffered records to the Recorder; errors are logged and counted.
func (m *Manager) flush(ctx context.Context) error {
	if m.rec == nil {
		return nil
	}
	b := &m.records
	b.flush.Lock()
	defer b.flush.Unlock()
	b.mu.Lock()
	recs := b.recs
	b.recs = nil
	b.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if err := m.rec.RecordAlerts(ctx, recs); err != nil {
		m.met.recordErrors.Inc()
		m.log.Error("recording alerts", "records", len(recs), "err", err)
		return fmt.Errorf("recording %d alert records: %w", len(recs), err)
	}
	return nil
}
