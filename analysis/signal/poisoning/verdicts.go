package poisoning

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// MaxEvidence bounds a verdict's evidence, in bytes.
const MaxEvidence = 256

// evidence returns text followed by "; ids " and as many of ids as fit in
// MaxEvidence bytes; text alone is cut, at a character boundary, to leave
// room for at least one id when there is one. Invalid UTF-8 (a decoded
// partial may hold any bytes) becomes U+FFFD.
func evidence(text string, ids []string) string { return sourcedEvidence(text, nil, ids) }

// sourcedEvidence is evidence with the sources of the ids' examples after
// text (fromSources): text is cut to leave room for them whole and one id.
func sourcedEvidence(text string, sources, ids []string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	for i, id := range ids {
		ids[i] = strings.ToValidUTF8(id, "\uFFFD")
	}
	from := fromSources(sources, maxFrom)
	room := MaxEvidence - len(from)
	if len(ids) > 0 {
		room -= len("; ids ") + len(ids[0])
	}
	text = cut(text, room) + from
	if len(ids) == 0 {
		return text
	}
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("; ids ")
	for i, id := range ids {
		sep := ""
		if i > 0 {
			sep = ","
		}
		if b.Len()+len(sep)+len(id) > MaxEvidence {
			break
		}
		b.WriteString(sep)
		b.WriteString(id)
	}
	return b.String()
}

// maxFrom bounds the sources part of an evidence, in bytes.
const maxFrom = MaxEvidence / 2

// fromSources returns "; from " and the distinct sources of the sampled
// examples an evidence shows, each with how many of them it sent when more
// than one, the most first (ties by name), or "" when none is known: who
// sent what drives a verdict. Each source is cut to 32 bytes and quoted
// (Go syntax: control characters escaped); the sources that do not fit in
// limit bytes are left out whole.
func fromSources(sources []string, limit int) string {
	type count struct {
		source string
		n      int
	}
	var cs []count
	for _, src := range sources {
		if src == "" {
			continue
		}
		if i := slices.IndexFunc(cs, func(c count) bool { return c.source == src }); i >= 0 {
			cs[i].n++
		} else {
			cs = append(cs, count{src, 1})
		}
	}
	if len(cs) == 0 {
		return ""
	}
	slices.SortFunc(cs, func(a, b count) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.source, b.source)
	})
	out := "; from "
	for i, c := range cs {
		entry := strconv.Quote(cut(strings.ToValidUTF8(c.source, "\uFFFD"), 32))
		if c.n > 1 {
			entry += fmt.Sprintf(" ×%d", c.n)
		}
		if i > 0 {
			entry = ", " + entry
		}
		if len(out)+len(entry) > limit {
			break
		}
		out += entry
	}
	if out == "; from " {
		return ""
	}
	return out
}

// cut returns s cut to at most n bytes at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxSubject bounds a verdict's subject, in bytes.
const maxSubject = 256

// subject returns s as valid UTF-8 of at most maxSubject bytes.
func subject(s string) string { return cut(strings.ToValidUTF8(s, "\uFFFD"), maxSubject) }

// test is one subject's test, before adjustment across the subjects.
type test struct {
	subject              string
	statistic, p, effect float64
	n                    uint64
	evidence             string
}

// decisions adjusts the p-values of ts by Benjamini–Hochberg across them and
// returns the decisions of the max with the smallest adjusted p-values
// (ties: the smaller p-value, then the larger effect first), levelled by l. The evaluation adjusts
// them again with the window's other decisions.
func decisions(ts []test, l outputs.Levels, max int) []signal.Verdict {
	if len(ts) == 0 {
		return nil
	}
	ps := make([]float64, len(ts))
	for i, t := range ts {
		ps[i] = t.p
	}
	_, adj := stat.BenjaminiHochberg(ps, 1)
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(adj[a], adj[b]); c != 0 {
			return c
		}
		if c := cmp.Compare(ts[a].p, ts[b].p); c != 0 {
			return c
		}
		return cmp.Compare(ts[b].effect, ts[a].effect)
	})
	out := make([]signal.Verdict, 0, min(len(order), max))
	for _, i := range order[:min(len(order), max)] {
		t := ts[i]
		out = append(out, signal.Decision(subject(t.subject), t.statistic, adj[i], t.effect, l.Warning, l.Critical, t.n, t.evidence))
	}
	return out
}

// informs returns the verdicts of ts that only inform (no reference to
// decide against): the max with the largest effects.
func informs(ts []test, max int) []signal.Verdict {
	slices.SortStableFunc(ts, func(a, b test) int { return cmp.Compare(b.effect, a.effect) })
	out := make([]signal.Verdict, 0, min(len(ts), max))
	for _, t := range ts[:min(len(ts), max)] {
		out = append(out, signal.Info(subject(t.subject), t.statistic, t.effect, t.n, t.evidence))
	}
	return out
}
