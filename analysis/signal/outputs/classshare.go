package outputs

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/telemetry"
)

// ClassShare is the share of each predicted class (prediction.class) among
// the window's classified calls, subject: the class. The drift battery's
// chi-square on prediction.class says the mix changed; this signal says
// which class moved and by how much.
//
// Decision: the pooled two-proportion z-test of the class's share against
// its share in the reference period, two-sided; effect: the absolute change
// of the share (0.1: ten points).
type ClassShare struct{ Config Config }

// Name returns "class_share".
func (ClassShare) Name() string { return "class_share" }

// NewPartial returns an empty partial.
func (s ClassShare) NewPartial() signal.Partial {
	return &classCounts{c: newCounts(), max: s.Config.MaxSubjects}
}

type classCounts struct {
	c   counts // n = k: classified calls; labels: classes
	max int
}

func (p *classCounts) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.Prediction.Class == "" {
			continue
		}
		p.c.n++
		p.c.k++
		p.c.add(e.Prediction.Class, 1, p.max)
	}
}

func (p *classCounts) Merge(o signal.Partial)       { p.c.merge(&o.(*classCounts).c, p.max) }
func (p *classCounts) AppendBinary(b []byte) []byte { return p.c.appendBinary(b) }
func (p *classCounts) Decode(d *sketch.Decoder)     { p.c.decode(d, p.max) }

// Score returns one verdict per class seen in the window or the reference.
func (s ClassShare) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*classCounts).c
	if c.n == 0 {
		return nil
	}
	var r *counts
	if ref != nil {
		if r = &ref.(*classCounts).c; r.n == 0 {
			r = nil
		}
	}
	var out []signal.Verdict
	for _, class := range subjects(c, r) {
		k := c.labels[class]
		share := float64(k) / float64(c.n)
		evidence := fmt.Sprintf("%d of %d classified calls", k, c.n)
		if r == nil {
			out = append(out, signal.Info(class, share, math.NaN(), c.n, evidence))
			continue
		}
		rk := r.labels[class]
		refShare := float64(rk) / float64(r.n)
		p := math.NaN()
		if c.n >= uint64(s.Config.MinCount) && r.n >= uint64(s.Config.MinCount) {
			p = 2 * distuv.UnitNormal.Survival(math.Abs(stat.TwoProportionZ(float64(k), float64(c.n), float64(rk), float64(r.n))))
		}
		out = append(out, signal.Decision(class, share, p, math.Abs(share-refShare), s.Config.ClassShare.Warning, s.Config.ClassShare.Critical, c.n,
			fmt.Sprintf("%s (%.1f%%; reference %.1f%%)", evidence, 100*share, 100*refShare)))
	}
	return out
}
