package outputs

import (
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
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
	var r *sketch.Labels
	if ref != nil {
		r = &ref.(*classCounts).c
	}
	return Shares(&cur.(*classCounts).c, r, s.Config.MinCount, s.Config.ClassShare, "classified calls")
}
