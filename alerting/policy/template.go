package policy

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The annotations a rule may set. The URL ones must render an absolute
// http or https URL.
const (
	AnnotationSummary      = "summary"
	AnnotationDescription  = "description"
	AnnotationRunbookURL   = "runbook_url"
	AnnotationDashboardURL = "dashboard_url"
)

// annotationNames lists the annotations in the order they are checked and shown.
var annotationNames = []string{AnnotationSummary, AnnotationDescription, AnnotationRunbookURL, AnnotationDashboardURL}

// isURLAnnotation reports whether an annotation must render a URL.
func isURLAnnotation(name string) bool {
	return name == AnnotationRunbookURL || name == AnnotationDashboardURL
}

// TemplateData is what an annotation template sees, e.g.
// "{{.Signal}} {{humanize .Value}} on {{.Subject}} of {{.Model}} v{{.Version}}"
// or "https://runbooks.example/{{pathEscape .Model}}".
type TemplateData struct {
	// Labels are every label of the alert, the reserved ones included.
	Labels map[string]string
	// Model, Version, Signal and Subject are the alert key's fields. They
	// come from telemetry: escape them for URLs (pathEscape, queryEscape).
	Model, Version, Signal, Subject string
	// Rule names the rule that decided the alert.
	Rule string
	// State is the alert's state after the window: pending, firing, resolved or inactive.
	State string
	// Severity is the alert's severity: warning or critical (ok when inactive).
	Severity string
	// Value is the window's statistic or effect value; NaN when it had none.
	Value float64
	// Threshold is the enter level of Severity under the rule's
	// thresholds; NaN when the rule takes the analysis's severity.
	Threshold float64
	// Samples is the window's sample size, -1 when unknown.
	Samples int
	// WindowStart and WindowEnd bound the window that caused the change.
	WindowStart, WindowEnd time.Time
	// StartsAt is the start of the alert's first breaching window.
	StartsAt time.Time
}

// templateFuncs are the functions annotation templates may call, besides
// text/template's built-ins (printf, urlquery, ...).
var templateFuncs = template.FuncMap{
	// humanize writes a number with three significant digits, "n/a" for NaN.
	"humanize": humanize,
	// pathEscape escapes a string for a URL path segment.
	"pathEscape": url.PathEscape,
	// queryEscape escapes a string for a URL query value.
	"queryEscape": url.QueryEscape,
}

// humanize formats v as notifications do: three significant digits, whole
// numbers from 1000 to a million, exponent form below 0.001, "n/a" for NaN.
func humanize(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	a := math.Abs(v)
	switch {
	case a >= 1000 && a < 1e6:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a != 0 && a < 0.001:
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// compileTemplate parses an annotation template and renders it once on
// sample data, so that a misspelt field, label or function fails at load
// and not in the middle of an incident.
func compileTemplate(name, src string, labels map[string]string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parsing template: %w", stripTemplateName(err, name))
	}
	sample := sampleData(labels)
	out, err := render(t, &sample)
	if err != nil {
		return nil, fmt.Errorf("rendering template on a sample alert: %w", stripTemplateName(err, name))
	}
	if isURLAnnotation(name) {
		if u, perr := url.Parse(out); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("renders %q on a sample alert, not an absolute http(s) URL", out)
		}
	}
	return t, nil
}

// stripTemplateName removes text/template's "template: NAME:" prefix,
// which only repeats the key path.
func stripTemplateName(err error, name string) error {
	msg := strings.TrimPrefix(err.Error(), "template: "+name+":")
	return fmt.Errorf("%s", strings.TrimSpace(msg))
}

// render executes t on data.
func render(t *template.Template, data *TemplateData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// sampleData is the alert templates are checked on at load.
func sampleData(labels map[string]string) TemplateData {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := TemplateData{
		Model: "model", Version: "1", Signal: "psi", Subject: "feature", Rule: "rule",
		State: string(StateFiring), Severity: string(SeverityWarning), Value: 0.5, Threshold: 0.25,
		Samples: 1000, WindowStart: t, WindowEnd: t.Add(time.Minute), StartsAt: t,
	}
	d.Labels = alertLabels(labels, "rule", Key{d.Model, d.Version, d.Signal, d.Subject}, SeverityWarning)
	return d
}

// reservedLabels are set on every alert and may not be set by a rule.
var reservedLabels = []string{"alertname", "rule", "model", "version", "signal", "subject", "severity"}

// alertLabels returns a rule's labels with the reserved ones of an alert.
// alertname is not set here: receivers name alerts their own way.
func alertLabels(static map[string]string, rule string, k Key, sev Severity) map[string]string {
	out := make(map[string]string, len(static)+6)
	for name, v := range static {
		out[name] = v
	}
	out["rule"] = rule
	out["model"] = k.Model
	out["version"] = k.Version
	out["signal"] = k.Signal
	out["subject"] = k.Subject
	out["severity"] = string(sev)
	return out
}

// validLabelName reports whether s is a Prometheus label name.
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, c := range s {
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// isReservedLabel reports whether a rule may not set the label.
func isReservedLabel(s string) bool { return slices.Contains(reservedLabels, s) }
