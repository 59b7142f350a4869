package outputs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/telemetry"
)

// ErrorRate is the share of a window's calls that failed (error.type set),
// overall (subject "*") and per error type (subject: the type).
//
// Decision: the pooled two-proportion z-test of the window's rate against
// the reference period's, one-sided (an increase), needing MinCount calls
// on each side; effect: the absolute increase of the rate (0.02: two more
// failures per hundred calls). Under "nothing changed" the z statistic is
// asymptotically N(0, 1), so the p-value is calibrated once the expected
// failures on each side are a handful or more; with no failure on either
// side there is no test (NaN).
type ErrorRate struct{ Config Config }

// Name returns "error_rate".
func (ErrorRate) Name() string { return "error_rate" }

// NewPartial returns an empty partial.
func (s ErrorRate) NewPartial() signal.Partial {
	return &errorCounts{c: sketch.NewLabels(), max: s.Config.MaxSubjects}
}

type errorCounts struct {
	c   sketch.Labels // n calls, k failed, labels: error types
	max int
}

func (p *errorCounts) Observe(events []*telemetry.Event) {
	for _, e := range events {
		p.c.N++
		if e.ErrorType != "" {
			p.c.K++
			p.c.Add(e.ErrorType, 1, p.max)
		}
	}
}

func (p *errorCounts) Merge(o signal.Partial)       { p.c.Merge(&o.(*errorCounts).c, p.max) }
func (p *errorCounts) AppendBinary(b []byte) []byte { return p.c.AppendBinary(b) }
func (p *errorCounts) Decode(d *sketch.Decoder)     { p.c.Decode(d, p.max) }

// Score returns the overall verdict and one per error type seen in the
// window or the reference.
func (s ErrorRate) Score(cur, ref signal.Partial) []signal.Verdict {
	c := &cur.(*errorCounts).c
	if c.N == 0 {
		return nil
	}
	r := &sketch.Labels{}
	if ref != nil {
		r = &ref.(*errorCounts).c
	}
	out := []signal.Verdict{Rate("*", c.K, c.N, r.K, r.N, false, s.Config.MinCount, s.Config.ErrorRate,
		fmt.Sprintf("%d of %d calls failed%s", c.K, c.N, topLabels(c, 3)))}
	for _, t := range c.Union(r) {
		out = append(out, Rate(t, c.Named[t], c.N, r.Named[t], r.N, false, s.Config.MinCount, s.Config.ErrorRate,
			fmt.Sprintf("%d of %d calls failed with this type", c.Named[t], c.N)))
	}
	return out
}

// topLabels names the m largest labels of c: "; top: timeout 8, http_500 3".
func topLabels(c *sketch.Labels, m int) string {
	if len(c.Named) == 0 {
		return ""
	}
	ls := make([]string, 0, len(c.Named))
	for l := range c.Named {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b string) int {
		if c.Named[a] != c.Named[b] {
			if c.Named[a] > c.Named[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var sb strings.Builder
	sb.WriteString("; top: ")
	for i, l := range ls[:min(m, len(ls))] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %d", truncate(l, 40), c.Named[l])
	}
	return sb.String()
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
