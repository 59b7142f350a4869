package outputs

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Rate is the verdict about a share of events: k of n in the window against
// refK of refN in the reference period (refN 0: no reference, the verdict
// informs). It decides by the pooled two-proportion z-test, one-sided for an
// increase (twoSided false; effect: the increase of the share) or two-sided
// (effect: the absolute change), when both sides have minCount events. The
// evidence gets both shares appended.
func Rate(subject string, k, n, refK, refN uint64, twoSided bool, minCount int, l Levels, evidence string) signal.Verdict {
	share := float64(k) / float64(n)
	if refN == 0 {
		return signal.Info(subject, share, math.NaN(), n, evidence)
	}
	refShare := float64(refK) / float64(refN)
	p := math.NaN()
	if n >= uint64(minCount) && refN >= uint64(minCount) {
		z := stat.TwoProportionZ(float64(k), float64(n), float64(refK), float64(refN))
		if twoSided {
			p = 2 * distuv.UnitNormal.Survival(math.Abs(z))
		} else {
			p = distuv.UnitNormal.Survival(z)
		}
	}
	effect := share - refShare
	if twoSided {
		effect = math.Abs(effect)
	}
	return signal.Decision(subject, share, p, effect, l.Warning, l.Critical, n,
		fmt.Sprintf("%s (%.2f%%; reference %.2f%%)", evidence, 100*share, 100*refShare))
}

// Shares returns one two-sided Rate verdict per label named in the window
// or the reference (nil: none): the label's share of the window's N events
// against its share of the reference's; of names the events in the
// evidence ("classified calls").
func Shares(c, r *sketch.Labels, minCount int, l Levels, of string) []signal.Verdict {
	if c.N == 0 {
		return nil
	}
	var out []signal.Verdict
	for _, label := range c.Union(r) {
		var rk, rn uint64
		if r != nil {
			rk, rn = r.Named[label], r.N
		}
		out = append(out, Rate(label, c.Named[label], c.N, rk, rn, true, minCount, l,
			fmt.Sprintf("%d of %d %s", c.Named[label], c.N, of)))
	}
	return out
}
