// Package signaltest provides a small, exact signal for tests of the
// plumbing that carries signals (windows, partials topic, merge, evaluation,
// signals table): it is not a monitoring signal.
package signaltest

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// MaxClasses bounds the classes a partial counts; others are counted as
// "other".
const MaxClasses = 8

// Classes counts a window's events per predicted class. Its verdicts, one
// per class and one for the model ("*"), carry the count (N), the class's
// share (Statistic) and the change of that share from the reference's
// (Effect; NaN without one). They are always "ok".
type Classes struct{}

var _ signal.Signal = Classes{}

// Name returns "classes".
func (Classes) Name() string { return "classes" }

// NewPartial returns an empty partial.
func (Classes) NewPartial() signal.Partial { return &ClassCounts{Counts: map[string]uint64{}} }

// Score returns a verdict per class and one for the model.
func (Classes) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*ClassCounts)
	var r *ClassCounts
	if ref != nil {
		r = ref.(*ClassCounts)
	}
	out := []signal.Verdict{{Subject: "*", Statistic: float64(c.Events), N: c.Events, Severity: verdict.SeverityOK, PValue: nan(), Effect: nan()}}
	for _, class := range slices.Sorted(maps.Keys(c.Counts)) {
		n := c.Counts[class]
		v := signal.Verdict{Subject: class, N: n, Severity: verdict.SeverityOK, PValue: nan(), Effect: nan(),
			Statistic: float64(n) / float64(c.Events), Evidence: fmt.Sprintf("%d of %d events", n, c.Events)}
		if r != nil && r.Events > 0 {
			v.Effect = v.Statistic - float64(r.Counts[class])/float64(r.Events)
		}
		out = append(out, v)
	}
	return out
}

func nan() float64 { return math.NaN() }

// ClassCounts is the partial of Classes.
type ClassCounts struct {
	// Events is the number of events observed.
	Events uint64
	// Counts are per class.
	Counts map[string]uint64
}

// Observe counts events.
func (p *ClassCounts) Observe(events []*telemetry.Event) {
	for _, e := range events {
		p.Events++
		p.add(e.Prediction.Class, 1)
	}
}

func (p *ClassCounts) add(class string, n uint64) {
	if _, ok := p.Counts[class]; !ok && len(p.Counts) >= MaxClasses {
		class = "other"
	}
	// A copy: the event's class may share its message's bytes (a test
	// signal may allocate; a real one keeps copies only of new keys).
	p.Counts[strings.Clone(class)] += n
}

// Merge adds o.
func (p *ClassCounts) Merge(o signal.Partial) {
	q := o.(*ClassCounts)
	p.Events += q.Events
	for _, class := range slices.Sorted(maps.Keys(q.Counts)) {
		p.add(class, q.Counts[class])
	}
}

// AppendBinary appends the counts in class order.
func (p *ClassCounts) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.Events)
	b = binary.AppendUvarint(b, uint64(len(p.Counts)))
	for _, class := range slices.Sorted(maps.Keys(p.Counts)) {
		b = sketch.AppendString(b, class)
		b = binary.AppendUvarint(b, p.Counts[class])
	}
	return b
}

// Decode reads what AppendBinary wrote.
func (p *ClassCounts) Decode(d *sketch.Decoder) {
	p.Events = d.Uvarint()
	n := d.Count(MaxClasses+1, "classes")
	for range n {
		class := d.String()
		p.Counts[class] = d.Uvarint()
	}
}

// Verdict returns the verdict about subject in vs, failing t when there is
// none.
func Verdict(t testing.TB, vs []signal.Verdict, subject string) signal.Verdict {
	t.Helper()
	for _, v := range vs {
		if v.Subject == subject {
			return v
		}
	}
	t.Fatalf("no verdict about %q in %+v", subject, vs)
	return signal.Verdict{}
}
