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
	return &classCounts{c: sketch.NewLabels(), max: s.Config.MaxSubjects}
}

type classCounts struct {
	c   sketch.Labels // n = k: classified calls; labels: classes
	max int
}

func (p *classCounts) Observe(events []*telemetry.Event) {
	for _, e := range events {
		if e.Prediction.Class == "" {
			continue
		}
		p.c.N++
		p.c.K++
		p.c.Add(e.Prediction.Class, 1, p.max)
	}
}

func (p *classCounts) Merge(o signal.Partial)       { p.c.Merge(&o.(*classCounts).c, p.max) }
func (p *classCounts) AppendBinary(b []byte) []byte { return p.c.AppendBinary(b) }
func (p *classCounts) Decode(d *sketch.Decoder)     { p.c.Decode(d, p.max) }

// Score returns one verdict per class seen in the window or the reference.
func (s ClassShare) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*classCounts).c
	if c.N == 0 {
		return nil
	}
	var r *sketch.Labels
	if ref != nil {
		if r = &ref.(*classCounts).c; r.N == 0 {
			r = nil
		}
	}
	var out []signal.Verdict
	for _, class := range c.Union(r) {
		k := c.Named[class]
		share := float64(k) / float64(c.N)
		evidence := fmt.Sprintf("%d of %d classified calls", k, c.N)
		if r == nil {
			out = append(out, signal.Info(class, share, math.NaN(), c.N, evidence))
			continue
		}
		rk := r.Named[class]
		refShare := float64(rk) / float64(r.N)
		p := math.NaN()
		if c.N >= uint64(s.Config.MinCount) && r.N >= uint64(s.Config.MinCount) {
			p = 2 * distuv.UnitNormal.Survival(math.Abs(stat.TwoProportionZ(float64(k), float64(c.N), float64(rk), float64(r.N))))
		}
		out = append(out, signal.Decision(class, share, p, math.Abs(share-refShare), s.Config.ClassShare.Warning, s.Config.ClassShare.Critical, c.N,
			fmt.Sprintf("%s (%.1f%%; reference %.1f%%)", evidence, 100*share, 100*refShare)))
	}
	return out
}
