package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxSeriesWindows bounds the windows one series of a cases file expands to.
const maxSeriesWindows = 1 << 20

// point is one window of a test series: a value, or no verdict at all.
type point[T any] struct {
	v       T
	missing bool
}

// parseSeries expands the compact notation of a test series, one token per
// window or run of windows, separated by spaces:
//
//	0.3        one window
//	0.3x4      four windows of 0.3 (not five, as in promtool)
//	0+0.1x4    four windows stepping by 0.1: 0 0.1 0.2 0.3 (also 1-0.1x4)
//	_  _x4     one, four windows without a verdict
//	nan        a window whose verdict has no value
//
// one parses a single value; step is nil for series that cannot step.
func parseSeries[T any](s string, one func(string) (T, error), step func(a, b T, i int) T) ([]point[T], error) {
	var out []point[T]
	for _, tok := range strings.Fields(s) {
		body, count := tok, 1
		if i := strings.LastIndexByte(tok, 'x'); i > 0 {
			n, err := strconv.Atoi(tok[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: the count after x must be a positive whole number", tok)
			}
			body, count = tok[:i], n
		}
		if len(out)+count > maxSeriesWindows {
			return nil, fmt.Errorf("%q: the series is longer than %d windows", tok, maxSeriesWindows)
		}
		if body == "_" {
			for range count {
				out = append(out, point[T]{missing: true})
			}
			continue
		}
		base, inc, stepping := body, "", false
		if j := stepAt(body); j > 0 {
			if step == nil {
				return nil, fmt.Errorf("%q: this series cannot step", tok)
			}
			base, inc, stepping = body[:j], body[j:], true
			if count == 1 && !strings.Contains(tok, "x") {
				return nil, fmt.Errorf("%q: a step needs a count, e.g. %sx5", tok, body)
			}
		}
		a, err := one(base)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", tok, err)
		}
		if !stepping {
			for range count {
				out = append(out, point[T]{v: a})
			}
			continue
		}
		b, err := one(inc)
		if err != nil {
			return nil, fmt.Errorf("%q: step: %w", tok, err)
		}
		for i := range count {
			out = append(out, point[T]{v: step(a, b, i)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty series")
	}
	return out, nil
}

// stepAt returns the index of the + or - that starts a step in body
// ("0+0.1", "1-0.25"), or -1; a sign at the start or in an exponent is not one.
func stepAt(body string) int {
	for j := 1; j < len(body); j++ {
		if (body[j] == '+' || body[j] == '-') && body[j-1] != 'e' && body[j-1] != 'E' {
			return j
		}
	}
	return -1
}

// parseValue parses one value of a values series; "nan" is a window
// without a value.
func parseValue(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number")
	}
	return v, nil
}

// stepValue is the i-th value of a stepping values series.
func stepValue(a, b float64, i int) float64 { return a + float64(i)*b }

// parseSeverity parses one value of a severities series.
func parseSeverity(s string) (Severity, error) {
	sev := Severity(s)
	if !sev.Valid() {
		return "", fmt.Errorf("not a severity (ok, warning, critical)")
	}
	return sev, nil
}

// parseSamples parses one value of a samples series.
func parseSamples(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a sample size (a whole number, at least 0)")
	}
	return n, nil
}

// stepSamples is the i-th value of a stepping samples series.
func stepSamples(a, b, i int) int { return a + i*b }
