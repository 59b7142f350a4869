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

// Quantiles is a signal on the distribution of a non-negative per-call
// quantity such as a duration: its 50th, 95th and 99th percentiles from a
// DDSketch (relative accuracy 1%), subject "*", statistic the 95th
// percentile.
//
// Decision: the share of the window's calls above the reference's 95th
// percentile (counted exactly at the DDSketch bucket boundary that holds
// it) against the reference's own share above that boundary, by the pooled
// two-proportion z-test, one-sided (more calls above it); effect: the
// relative increase of the 95th percentile (0.25: 25% higher). Both shares
// are counted at the same boundary from exact bucket counts, so under
// "nothing changed" the test is calibrated like any two-proportion test.
type Quantiles struct {
	// SignalName is the signal's name.
	SignalName string
	// Unit is the values' unit, in the evidence ("ms", "s").
	Unit string
	// Value returns a call's value, if it has one; it must be finite and
	// non-negative (the decoder's policy for the fields it reads).
	Value func(*telemetry.Event) (float64, bool)
	// Levels are the effect's levels.
	Levels Levels
	// MinCount is the smallest number of calls on each side to test.
	MinCount int
}

// Latency is the serving latency (latency_ms) of a window's calls, in
// milliseconds: Quantiles named "latency" at c's levels.
func Latency(c Config) Quantiles {
	return Quantiles{SignalName: "latency", Unit: "ms", Levels: c.Latency, MinCount: c.MinCount,
		Value: func(e *telemetry.Event) (float64, bool) {
			if e.LatencyMS == nil {
				return 0, false
			}
			return *e.LatencyMS, true
		}}
}

// Name returns the signal's name.
func (s Quantiles) Name() string { return s.SignalName }

// NewPartial returns an empty partial.
func (s Quantiles) NewPartial() signal.Partial {
	return &latencies{s: newLatencySketch(), value: s.Value}
}

func newLatencySketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(latencyMapping, store.NewCollapsingLowestDenseStore(latencyBins),
		store.NewCollapsingLowestDenseStore(latencyBins))
}

type latencies struct {
	n     uint64 // calls with a value
	s     *ddsketch.DDSketch
	value func(*telemetry.Event) (float64, bool)
}

func (p *latencies) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if v, ok := p.value(e); ok && p.s.Add(v) == nil {
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

// Score returns the verdict about the window's values.
func (s Quantiles) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*latencies)
	if c.n == 0 {
		return nil
	}
	q, err := c.s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return nil
	}
	u := s.Unit
	evidence := fmt.Sprintf("p50 %s, p95 %s, p99 %s %s over %d calls", ms(q[0]), ms(q[1]), ms(q[2]), u, c.n)
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
	if c.n >= uint64(s.MinCount) && r.n >= uint64(s.MinCount) {
		p = distuv.UnitNormal.Survival(stat.TwoProportionZ(curAbove, float64(c.n), refAbove, float64(r.n)))
	}
	evidence += fmt.Sprintf("; reference p95 %s %s; %.1f%% of calls above it (reference %.1f%%)",
		ms(rq), u, 100*curAbove/float64(c.n), 100*refAbove/float64(r.n))
	return []signal.Verdict{signal.Decision("*", q[1], p, q[1]/rq-1, s.Levels.Warning, s.Levels.Critical, c.n, evidence)}
}

// ms formats a value with three significant digits.
func ms(v float64) string { return fmt.Sprintf("%.3g", v) }
