package outputs

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Latency sketch parameters: quantiles within 1% of their true value
// (DDSketch's relative accuracy) over a range of γ^2048 ≈ 6·10¹⁷ between
// the smallest and the largest latency before the lowest buckets collapse.
const (
	latencyAccuracy = 0.01
	latencyBins     = 2048
)

// latencyMapping is the index mapping every latency sketch shares.
var latencyMapping = func() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(latencyAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

// Latency is the serving latency (latency_ms) of a window's calls: its
// 50th, 95th and 99th percentiles from a DDSketch (relative accuracy 1%),
// subject "*", statistic the 95th percentile in milliseconds.
//
// Decision: the share of the window's calls slower than the reference's
// 95th percentile (counted exactly at the DDSketch bucket boundary that
// holds it) against the reference's own share above that boundary, by the
// pooled two-proportion z-test, one-sided (more slow calls); effect: the
// relative increase of the 95th percentile (0.25: 25% slower). Both shares
// are counted at the same boundary from exact bucket counts, so under
// "nothing changed" the test is calibrated like any two-proportion test.
type Latency struct{ Config Config }

// Name returns "latency".
func (Latency) Name() string { return "latency" }

// NewPartial returns an empty partial.
func (Latency) NewPartial() signal.Partial { return &latencies{s: newLatencySketch()} }

func newLatencySketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(latencyMapping, store.NewCollapsingLowestDenseStore(latencyBins),
		store.NewCollapsingLowestDenseStore(latencyBins))
}

type latencies struct {
	n uint64 // calls with a latency
	s *ddsketch.DDSketch
}

func (p *latencies) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.LatencyMS == nil {
			continue
		}
		// The decoder accepts only finite non-negative latencies.
		if p.s.Add(*e.LatencyMS) == nil {
			p.n++
		}
	}
}

func (p *latencies) Merge(o signal.Partial) {
	q := o.(*latencies)
	if q.n == 0 {
		return
	}
	if err := p.s.MergeWith(q.s); err != nil {
		panic("BUG: latency sketches with different mappings: " + err.Error())
	}
	p.n += q.n
}

func (p *latencies) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.n)
	var enc []byte
	p.s.Encode(&enc, true)
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...)
}

// maxLatencyEncoding bounds an encoded sketch: two stores of latencyBins
// bins of at most 10 bytes each, plus headers.
const maxLatencyEncoding = 2*latencyBins*10 + 64

func (p *latencies) Decode(d *sketch.Decoder) {
	p.n = d.Uvarint()
	size := d.Uvarint()
	if d.Err() == nil && size > maxLatencyEncoding {
		d.Fail(fmt.Sprintf("latency sketch of %d bytes", size))
		return
	}
	payload := d.Bytes(int(size), "latency sketch")
	if d.Err() != nil {
		return
	}
	s, err := decodeLatencySketch(payload)
	if err != nil {
		d.Fail("latency sketch: " + err.Error())
		return
	}
	if c := s.GetCount(); c != float64(p.n) {
		d.Fail(fmt.Sprintf("latency sketch counts %g calls, the partial %d", c, p.n))
		return
	}
	p.s = s
}

// decodeLatencySketch decodes into bounded stores and checks every count is
// a whole non-negative number. The library panics on some malformed
// input (an index range that overflows): that is an error here.
func decodeLatencySketch(b []byte) (s *ddsketch.DDSketch, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed: %v", r)
		}
	}()
	s, err = ddsketch.DecodeDDSketch(b, func() store.Store { return store.NewCollapsingLowestDenseStore(latencyBins) }, latencyMapping)
	if err != nil {
		return nil, err
	}
	bad := false
	s.ForEach(func(v, c float64) bool {
		bad = !(c >= 0) || c != math.Trunc(c) || v < 0
		return bad
	})
	if bad || s.GetZeroCount() != math.Trunc(s.GetZeroCount()) || !s.GetNegativeValueStore().IsEmpty() {
		return nil, fmt.Errorf("counts must be whole, non-negative, of non-negative latencies")
	}
	return s, nil
}

// above counts the calls of s in buckets above the one of value v.
func above(s *ddsketch.DDSketch, v float64) float64 {
	k := latencyMapping.Index(v)
	var n float64
	s.ForEach(func(value, count float64) bool {
		if value > 0 && latencyMapping.Index(value) > k {
			n += count
		}
		return false
	})
	return n
}

// Score returns the verdict about the window's latencies.
func (s Latency) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*latencies)
	if c.n == 0 {
		return nil
	}
	q, err := c.s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return nil
	}
	evidence := fmt.Sprintf("p50 %s, p95 %s, p99 %s ms over %d calls", ms(q[0]), ms(q[1]), ms(q[2]), c.n)
	var r *latencies
	if ref != nil {
		r = ref.(*latencies)
	}
	if r == nil || r.n == 0 {
		return []signal.Verdict{signal.Info("*", q[1], math.NaN(), c.n, evidence)}
	}
	rq, err := r.s.GetValueAtQuantile(0.95)
	if err != nil || !(rq > 0) {
		return []signal.Verdict{signal.Info("*", q[1], math.NaN(), c.n, evidence)}
	}
	curAbove, refAbove := above(c.s, rq), above(r.s, rq)
	p := math.NaN()
	if c.n >= uint64(s.Config.MinCount) && r.n >= uint64(s.Config.MinCount) {
		p = distuv.UnitNormal.Survival(stat.TwoProportionZ(curAbove, float64(c.n), refAbove, float64(r.n)))
	}
	evidence += fmt.Sprintf("; reference p95 %s ms; %.1f%% of calls above it (reference %.1f%%)",
		ms(rq), 100*curAbove/float64(c.n), 100*refAbove/float64(r.n))
	return []signal.Verdict{signal.Decision("*", q[1], p, q[1]/rq-1, s.Config.Latency.Warning, s.Config.Latency.Critical, c.n, evidence)}
}

// ms formats milliseconds with three significant digits.
func ms(v float64) string { return fmt.Sprintf("%.3g", v) }
