package alert

import (
	"strconv"
	"strings"
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

// Title is the one-line name of an alert's subject: "fraud-scorer v3 · amount".
func Title(n *Notification) string {
	var b strings.Builder
	b.WriteString(n.ModelID)
	if n.ModelVersion != "" {
		b.WriteString(" v")
		b.WriteString(n.ModelVersion)
	}
	b.WriteString(" · ")
	b.WriteString(n.Feature)
	return b.String()
}
