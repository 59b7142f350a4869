package policy

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of a rule's optional fields. For and KeepFiringFor mirror the
// alerting package's defaults (DefaultPendingWindows 2 and
// DefaultResolveWindows 2, in Prometheus' terms: pending for one window,
// firing on through one clean window).
const (
	DefaultFor           = 1
	DefaultKeepFiringFor = 1
	DefaultMinSamples    = 0
	DefaultBudgetLevel   = SeverityWarning
)

// DefaultRuleName names the built-in rule; no rule in a file may take it.
const DefaultRuleName = "default"

// Rule decides the alerts of the keys it matches. It is immutable once parsed.
type Rule struct {
	// Name identifies the rule; alerts carry it as the label "rule".
	Name string
	// File, Line and Path locate the rule in its policy file; File is empty
	// for the built-in default.
	File string
	Line int
	Path string
	// Match selects the keys; an empty Match selects every key.
	Match Match
	// Thresholds give a window its severity from its value. Nil: the
	// severity the analysis proposed is taken as it is.
	Thresholds *Thresholds
	// For is how many windows an alert stays pending before it fires: it
	// fires on the (For+1)-th consecutive breaching window, as a Prometheus
	// rule with `for` fires once pending that long. 0 fires on the first.
	// Default: 1.
	For int
	// KeepFiringFor is how many clean windows a firing alert keeps firing
	// through: it resolves on the (KeepFiringFor+1)-th consecutive clean
	// window. A breaching window starts the count again. Likewise a firing
	// alert keeps its severity through KeepFiringFor breaching windows
	// below it (it escalates at once). Default: 1.
	KeepFiringFor int
	// MinSamples is the smallest sample size a window needs to count: a
	// window with fewer is skipped (neither breach nor clean, and it does
	// not break a run of either). 0: no minimum beyond the analysis's own
	// min_count. Default: 0.
	MinSamples int
	// BudgetLevel is the lowest severity at which a window counts as in
	// breach for the model's risk budget; "" means never. Default: warning.
	BudgetLevel Severity
	// Labels are added to every alert of the rule.
	Labels map[string]string
	// Annotations are text/template sources by annotation name (summary,
	// description, runbook_url, dashboard_url), rendered on TemplateData.
	Annotations map[string]string
	// Receivers route the rule's alerts by severity ("warning", "critical").
	Receivers Receivers

	templates map[string]*template.Template
	builtin   bool // DefaultRule or NewDefaultRule
}

// defaultRule is the built-in rule, see DefaultRule.
var defaultRule = &Rule{
	Name:          DefaultRuleName,
	For:           DefaultFor,
	KeepFiringFor: DefaultKeepFiringFor,
	MinSamples:    DefaultMinSamples,
	BudgetLevel:   DefaultBudgetLevel,
	Receivers:     Receivers{All: true},
	builtin:       true,
}

// DefaultRule returns the built-in rule that decides every key no rule of
// a policy matches. It reproduces the alerting Manager's behaviour with
// alerting.DefaultConfig:
//
//   - no thresholds: a window's severity is the one the analysis proposed
//     (analysis.thresholds, fdr and min_count decide it), as
//     Manager.Observe takes Observation.Severity;
//   - For 1: alerting.pending_windows 2, the alert fires on the second
//     consecutive drifted window;
//   - KeepFiringFor 1: alerting.resolve_windows 2, it resolves on the
//     second consecutive clean window;
//   - MinSamples 0: no minimum besides analysis.min_count;
//   - no labels and no annotations: the Manager's own summary text;
//   - every configured receiver.
//
// BudgetLevel warning only matters when a budget matches the model. The
// returned rule is shared and must not be modified.
func DefaultRule() *Rule { return defaultRule }

// NewDefaultRule returns the built-in rule with For and KeepFiringFor set
// to forWindows and keepFiringFor (an alerting configuration's
// pending_windows − 1 and resolve_windows − 1), everything else as
// DefaultRule. Negative counts are taken as 0.
func NewDefaultRule(forWindows, keepFiringFor int) *Rule {
	r := *defaultRule
	r.For, r.KeepFiringFor = max(forWindows, 0), max(keepFiringFor, 0)
	return &r
}

// IsDefault reports whether r is the built-in default rule (DefaultRule or
// one NewDefaultRule made).
func (r *Rule) IsDefault() bool { return r.builtin }

// Level returns a window's severity under r for a key whose previous
// hysteresis level was prev.
func (r *Rule) Level(prev Severity, v *Verdict) Severity {
	if r.Thresholds == nil {
		if v.Severity.Valid() {
			return v.Severity
		}
		return SeverityOK
	}
	return r.Thresholds.Level(prev, v.Value, v.Severity)
}

// Render returns the labels and the rendered annotations of an alert of k
// under r, in state with severity sev, after window v; startsAt is the
// start of the alert's first breaching window. An annotation whose template fails (it was checked at load, so
// only exotic data can make it) is rendered as the error's text, so that a
// notification still goes out.
func (r *Rule) Render(k Key, state State, sev Severity, v *Verdict, startsAt time.Time) (labels, annotations map[string]string) {
	labels = alertLabels(r.Labels, r.Name, k, sev)
	if len(r.templates) == 0 {
		return labels, nil
	}
	thr := math.NaN()
	if r.Thresholds != nil {
		thr = r.Thresholds.Enter(sev)
	}
	data := &TemplateData{
		Labels: labels, Model: k.Model, Version: k.Version, Signal: k.Signal, Subject: k.Subject,
		Rule: r.Name, State: string(state), Severity: string(sev), Value: v.Value, Threshold: thr,
		Samples: v.Samples, WindowStart: v.WindowStart, WindowEnd: v.WindowEnd, StartsAt: startsAt,
	}
	annotations = make(map[string]string, len(r.templates))
	for name, t := range r.templates {
		s, err := render(t, data)
		if err != nil {
			s = fmt.Sprintf("(annotation %s failed: %v)", name, err)
		}
		annotations[name] = s
	}
	return labels, annotations
}

// String summarises the rule on one line.
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s; ", r.Name, r.Match.String())
	if r.Thresholds == nil {
		b.WriteString("severity from the analysis")
	} else {
		fmt.Fprintf(&b, "%s %s", r.Thresholds.Direction, r.Thresholds.String())
	}
	fmt.Fprintf(&b, "; for %d, keep_firing_for %d", r.For, r.KeepFiringFor)
	if r.MinSamples > 0 {
		fmt.Fprintf(&b, ", min_samples %d", r.MinSamples)
	}
	if r.BudgetLevel == "" {
		b.WriteString("; spends no budget")
	} else {
		fmt.Fprintf(&b, "; budget breach from %s", r.BudgetLevel)
	}
	if len(r.Labels) > 0 {
		keys := slices.Sorted(maps.Keys(r.Labels))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + r.Labels[k]
		}
		fmt.Fprintf(&b, "; labels %s", strings.Join(parts, ","))
	}
	if len(r.Annotations) > 0 {
		var names []string
		for _, n := range annotationNames {
			if _, ok := r.Annotations[n]; ok {
				names = append(names, n)
			}
		}
		fmt.Fprintf(&b, "; annotations %s", strings.Join(names, ","))
	}
	fmt.Fprintf(&b, "; receivers %s", r.Receivers.String())
	return b.String()
}

// rule decodes one rule.
func (d *decoder) rule(n *yaml.Node, path string) *Rule {
	fs := d.mapping(n, path, "name", "match", "thresholds", "for", "keep_firing_for",
		"min_samples", "budget_level", "labels", "annotations", "receivers")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	r := &Rule{File: d.file, Line: resolve(n).Line, Path: path, For: DefaultFor, KeepFiringFor: DefaultKeepFiringFor,
		MinSamples: DefaultMinSamples, BudgetLevel: DefaultBudgetLevel, Receivers: Receivers{All: true}}
	if f, ok := fs["name"]; !ok {
		d.errorf(n, join(path, "name"), "required")
	} else if s, ok := d.str(f.val, join(path, "name")); ok {
		r.Name = s
		if s == DefaultRuleName {
			d.errorf(f.val, join(path, "name"), "%q is the built-in rule's name: add a last rule without match to replace it, under another name", s)
		}
	}
	if f, ok := fs["match"]; ok {
		r.Match = d.match(f.val, join(path, "match"))
	}
	if f, ok := fs["thresholds"]; ok {
		r.Thresholds = d.thresholds(f.val, join(path, "thresholds"))
	}
	if f, ok := fs["for"]; ok {
		r.For, _ = d.integer(f.val, join(path, "for"), 0)
	}
	if f, ok := fs["keep_firing_for"]; ok {
		r.KeepFiringFor, _ = d.integer(f.val, join(path, "keep_firing_for"), 0)
	}
	if f, ok := fs["min_samples"]; ok {
		r.MinSamples, _ = d.integer(f.val, join(path, "min_samples"), 0)
	}
	if f, ok := fs["budget_level"]; ok {
		at := join(path, "budget_level")
		if s, ok := d.scalar(f.val, at); ok {
			switch s {
			case "warning", "critical":
				r.BudgetLevel = Severity(s)
			case "none":
				r.BudgetLevel = ""
			default:
				d.errorf(f.val, at, "must be warning, critical or none, got %q", s)
			}
		}
	}
	if f, ok := fs["labels"]; ok {
		r.Labels = d.labels(f.val, join(path, "labels"))
	}
	if f, ok := fs["annotations"]; ok {
		r.Annotations, r.templates = d.annotations(f.val, join(path, "annotations"), r.Labels)
	}
	if f, ok := fs["receivers"]; ok {
		r.Receivers = d.receivers(f.val, join(path, "receivers"), "warning", "critical")
	}
	if len(d.errs) > bad {
		return nil
	}
	return r
}

// match decodes a rule's match.
func (d *decoder) match(n *yaml.Node, path string) Match {
	fs := d.mapping(n, path, "models", "versions", "signals", "subjects")
	var m Match
	for _, f := range []struct {
		key  string
		into *[]string
	}{{"models", &m.Models}, {"versions", &m.Versions}, {"signals", &m.Signals}, {"subjects", &m.Subjects}} {
		if v, ok := fs[f.key]; ok {
			*f.into = d.patterns(v.val, join(path, f.key))
		}
	}
	return m
}

// labels decodes a rule's static labels.
func (d *decoder) labels(n *yaml.Node, path string) map[string]string {
	fs := d.mapping(n, path)
	out := make(map[string]string, len(fs))
	for _, name := range slices.Sorted(maps.Keys(fs)) {
		f := fs[name]
		at := join(path, name)
		switch {
		case !validLabelName(name):
			d.errorf(f.key, at, "not a label name: letters, digits and _, not starting with a digit or __")
			continue
		case isReservedLabel(name):
			d.errorf(f.key, at, "reserved: every alert sets %s", strings.Join(reservedLabels, ", "))
			continue
		}
		if v, ok := d.str(f.val, at); ok {
			out[name] = v
		}
	}
	return out
}

// annotations decodes and compiles a rule's annotation templates.
func (d *decoder) annotations(n *yaml.Node, path string, labels map[string]string) (map[string]string, map[string]*template.Template) {
	fs := d.mapping(n, path, annotationNames...)
	src := map[string]string{}
	tmpls := map[string]*template.Template{}
	for _, name := range annotationNames {
		f, ok := fs[name]
		if !ok {
			continue
		}
		at := join(path, name)
		s, ok := d.str(f.val, at)
		if !ok {
			continue
		}
		t, err := compileTemplate(name, s, labels)
		if err != nil {
			d.errorf(f.val, at, "%v", err)
			continue
		}
		src[name], tmpls[name] = s, t
	}
	return src, tmpls
}
