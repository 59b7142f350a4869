package alert

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Truncate shortens s to at most n runes, ending in "…" when it was cut.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// FormatFloat renders a statistic compactly: three significant digits, never
// an exponent for values between 0.001 and 10^6, "n/a" for NaN.
func FormatFloat(v float64) string {
	if v != v {
		return "n/a"
	}
	a := v
	if a < 0 {
		a = -a
	}
	if a >= 1000 && a < 1e6 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	if a != 0 && a < 0.001 {
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Series names what an alert is about: a feature of a model version (Signal
// empty), or a signal of a model version about a subject (Feature empty).
type Series struct {
	ModelID, ModelVersion, Feature, Signal, Subject string
}

// SeriesOf returns the series notification n is about.
func SeriesOf(n *Notification) Series {
	return Series{ModelID: n.ModelID, ModelVersion: n.ModelVersion, Feature: n.Feature, Signal: n.Signal, Subject: n.Subject}
}

// ModelSubject is the subject of a signal verdict about the model itself.
const ModelSubject = "*"

// Title is the one-line name of an alert's series: "fraud-scorer v3 ·
// amount" for a drift alert ("fraud-scorer v3 · amount · psi" for one
// decided on one test), "fraud-scorer v3 · error_rate · checkout-web"
// for a signal alert, "fraud-scorer v3 · error_rate" for one about the model
// itself.
func Title(n *Notification) string {
	var b strings.Builder
	b.WriteString(n.ModelID)
	if n.ModelVersion != "" {
		b.WriteString(" v")
		b.WriteString(n.ModelVersion)
	}
	b.WriteString(" · ")
	if n.Signal == "" {
		b.WriteString(n.Feature)
		if n.Test != "" {
			b.WriteString(" · ")
			b.WriteString(n.Test)
		}
		return b.String()
	}
	b.WriteString(n.Signal)
	if n.Subject != ModelSubject {
		b.WriteString(" · ")
		b.WriteString(n.Subject)
	}
	return b.String()
}

// What is how the summary of a drift alert starts: "drift resolved" for a
// resolved alert ("drift resolved as stale (no newer window)" for a stale
// one), else the worst test and its statistic ("psi 0.41"), or "drift
// <severity>" when there is no test.
func What(status string, sev Severity, tests []TestResult) string {
	if status == StatusResolved {
		return "drift resolved"
	}
	if status == whatStale {
		return "drift resolved as stale (no newer window)"
	}
	if i := Worst(tests); i >= 0 {
		return tests[i].Test + " " + FormatFloat(tests[i].Statistic)
	}
	return "drift " + string(sev)
}

// SignalWhat is what the summary of a signal alert says after the signal's
// name: "resolved" for a resolved alert ("resolved as stale (no newer
// window)" for a stale one), else the statistic of the worst test ("0.12"),
// or the severity when there is no test.
func SignalWhat(status string, sev Severity, tests []TestResult) string {
	if status == StatusResolved {
		return "resolved"
	}
	if status == whatStale {
		return "resolved as stale (no newer window)"
	}
	if i := Worst(tests); i >= 0 {
		return FormatFloat(tests[i].Statistic)
	}
	return string(sev)
}

// whatStale is the pseudo-status What renders for a stale resolution.
const whatStale = "stale"

// WhatOf is What, or SignalWhat for a signal alert, for notification n: a
// stale resolution says so.
func WhatOf(n *Notification) string {
	status := n.Status
	if n.Stale {
		status = whatStale
	}
	if n.Signal != "" {
		return SignalWhat(status, n.Severity, n.Tests)
	}
	return What(status, n.Severity, n.Tests)
}

// Summary is the one-line text of an alert, what (What or SignalWhat) put
// together with the names of its series and the window in UTC. For a drift
// alert: "psi 0.41 on feature amount of fraud-scorer v3 (window
// 14:00–14:01)", what, the feature, then the model ("<id> v<version>", or
// the id alone when the version is empty). For a signal alert:
// "error_rate 0.12 for checkout-web of fraud-scorer v3 (window
// 14:00–14:01)", the signal, what, the subject (left out, with its "for",
// when it is "*", the model itself), then the model. quote renders the
// names, which come from telemetry (a sink's escaping); nil leaves them as
// they are.
func Summary(what string, s Series, start, end time.Time, quote func(string) string) string {
	if quote == nil {
		quote = func(s string) string { return s }
	}
	model := s.ModelID
	if s.ModelVersion != "" {
		model += " v" + s.ModelVersion
	}
	window := " of " + quote(model) + " (window " + windowText(start, end) + ")"
	if s.Signal == "" {
		return what + " on feature " + quote(s.Feature) + window
	}
	out := quote(s.Signal) + " " + what
	if s.Subject != ModelSubject {
		out += " for " + quote(s.Subject)
	}
	return out + window
}

// windowText renders a window as "14:00–14:01" (UTC), with seconds or dates
// when needed, and only its end when its start is unknown.
func windowText(start, end time.Time) string {
	s, e := start.UTC(), end.UTC()
	layout := "15:04"
	if s.Second() != 0 || e.Second() != 0 {
		layout = "15:04:05"
	}
	if start.IsZero() {
		return "ending " + e.Format("2006-01-02 "+layout)
	}
	if s.YearDay() != e.YearDay() || s.Year() != e.Year() {
		return s.Format("2006-01-02 "+layout) + "–" + e.Format("2006-01-02 "+layout)
	}
	return s.Format(layout) + "–" + e.Format(layout)
}

// invisible reports whether r is a control or formatting character (line
// breaks, escapes, zero-width and bidirectional marks): text that changes how
// the rest of a line reads without being seen itself.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// Visible replaces every control or formatting character of s, and every
// byte that is not UTF-8, by U+FFFD, so that telemetry text stays on one line
// and shows that something was there.
func Visible(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || invisible(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if invisible(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MaxReason bounds, in bytes, what Reason keeps of a receiver's text.
const MaxReason = 200

// Reason turns text a receiver chose (a response body, a transport error
// quoting its answer) into a short reason fit for errors, logs and alert
// records: control and formatting characters become spaces, runs of white
// space one space, and the result is cut on a rune boundary to at most
// MaxReason bytes, ending in "…" when it was cut.
func Reason(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if invisible(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > MaxReason {
			break
		}
	}
	out := b.String()
	if len(out) <= MaxReason {
		return out
	}
	cut := MaxReason - len("…")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:cut], " ") + "…"
}
