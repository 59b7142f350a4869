package policy

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Inhibition, as Alertmanager's inhibit_rules have it: while an alert the
// source matchers of a rule match fires, the alerts its target matchers
// match that agree with it on every label of equal are inhibited (the
// alerting manager records them and delivers nothing). The labels are
// those of the alerting package's alerts (InhibitLabels), the names
// silences use, so that a rule reads like a silence:
//
//	inhibit_rules:
//	  - name: multivariate-mutes-features
//	    source_matchers: ['feature=\*', severity=critical]
//	    target_matchers: ['feature=?*', 'feature!=\*']
//	    equal: [model_id, model_version]

// Bounds of the inhibit rules of one policy file. Every firing
// notification of an alert that a target matches is checked against the
// sources of every rule, so their number is bounded; a file beyond a
// bound is refused.
const (
	MaxInhibitRules    = 128
	MaxInhibitMatchers = 16 // per side of a rule
	MaxInhibitEqual    = 16
)

// InhibitLabels are the label names of an alert that inhibit rules may
// name besides the labels its policy rule sets: model_id, model_version,
// feature (empty for a signal alert), test (the drift test of an alert a
// rule decides on that test alone), signal and subject (empty for a drift
// alert; a burn alert has signal BurnSignal and subject
// "<budget>/<burn alert>", and the labels budget and burn_alert), rule
// (empty for the built-in default rule) and severity. They are the
// alerting package's SilenceLabels.
var InhibitLabels = []string{"model_id", "model_version", "feature", "test", "signal", "subject", "rule", "severity"}

// BurnSignal is the signal label of a risk budget's burn alerts, the
// alerting package's BurnSignal.
const BurnSignal = "risk_budget"

// Matcher matches one label of an alert: its value must (Equal) or must
// not (!Equal) match Pattern, a glob with path.Match semantics.
type Matcher struct {
	Name    string
	Equal   bool
	Pattern string
}

// String writes the matcher as ParseMatcher reads it.
func (m Matcher) String() string {
	op := "="
	if !m.Equal {
		op = "!="
	}
	v := m.Pattern
	if v == "" || strings.ContainsAny(v, " \t\"'=!") {
		v = strconv.Quote(v)
	}
	return m.Name + op + v
}

// Matches reports whether value satisfies the matcher.
func (m Matcher) Matches(value string) bool {
	ok, _ := path.Match(m.Pattern, value) // the pattern was checked when parsed
	return ok == m.Equal
}

// ParseMatcher reads one matcher, name=glob or name!=glob, with the syntax
// of the alerting package's silences: name is a label name, the glob may
// be double-quoted (Go syntax), spaces around both are ignored, and
// regular expressions (=~, !~) are refused.
func ParseMatcher(s string) (Matcher, error) {
	i := strings.IndexAny(s, "=!")
	if i < 0 {
		return Matcher{}, fmt.Errorf("want name=pattern or name!=pattern, e.g. model_id=fraud-*")
	}
	m := Matcher{Name: strings.TrimSpace(s[:i]), Equal: true}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "=~"), strings.HasPrefix(rest, "!~"):
		return Matcher{}, fmt.Errorf("regular expressions (=~, !~) are not supported: use a glob, e.g. model_id=fraud-*")
	case strings.HasPrefix(rest, "!="):
		m.Equal, rest = false, rest[2:]
	case strings.HasPrefix(rest, "="):
		rest = rest[1:]
	default:
		return Matcher{}, fmt.Errorf("want name=pattern or name!=pattern, e.g. model_id=fraud-*")
	}
	if !validLabelName(m.Name) {
		return Matcher{}, fmt.Errorf("%q is not a label name (one of %s, or a rule label: [a-zA-Z_][a-zA-Z0-9_]*)", m.Name, strings.Join(InhibitLabels, ", "))
	}
	v := strings.TrimSpace(rest)
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return Matcher{}, fmt.Errorf("pattern %s is not a valid quoted string", v)
		}
		v = u
	}
	if _, err := path.Match(v, ""); err != nil {
		return Matcher{}, fmt.Errorf("pattern %q is not a valid glob: %w", v, err)
	}
	m.Pattern = v
	return m, nil
}

// LabelFunc returns the value of an alert's label, "" when it has none.
type LabelFunc func(name string) string

// Matchers are ANDed: all must match.
type Matchers []Matcher

// Matches reports whether every matcher matches its label of the alert.
func (ms Matchers) Matches(label LabelFunc) bool {
	for _, m := range ms {
		if !m.Matches(label(m.Name)) {
			return false
		}
	}
	return true
}

// String writes the matchers, comma-separated.
func (ms Matchers) String() string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// InhibitRule mutes the alerts Target matches while an alert Source
// matches fires with the same values of the labels in Equal.
type InhibitRule struct {
	// Name identifies the rule in records, logs and `policy check`.
	Name string
	// File, Line and Path locate the rule in its policy file.
	File string
	Line int
	Path string
	// Source and Target select the inhibiting and the inhibited alerts.
	Source, Target Matchers
	// Equal are the labels a source and a target must agree on (an alert
	// without a label has the empty value there, as in Alertmanager).
	Equal []string
}

// Inhibits reports whether source, a firing alert other than target,
// inhibits target under r. As in Alertmanager, an alert that both sides
// match is not inhibited by a source that both sides match, so that two
// such alerts do not mute each other.
func (r *InhibitRule) Inhibits(source, target LabelFunc) bool {
	if !r.Target.Matches(target) || !r.Source.Matches(source) {
		return false
	}
	if r.Source.Matches(target) && r.Target.Matches(source) {
		return false
	}
	for _, name := range r.Equal {
		if source(name) != target(name) {
			return false
		}
	}
	return true
}

// EqualKey returns the values of the labels of Equal of an alert, as one
// string that differs whenever one of the values does.
func (r *InhibitRule) EqualKey(label LabelFunc) string {
	var b strings.Builder
	for _, name := range r.Equal {
		v := label(name)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// String summarises the rule on one line.
func (r *InhibitRule) String() string {
	s := fmt.Sprintf("%s: while %s fires, mute %s", r.Name, r.Source, r.Target)
	if len(r.Equal) > 0 {
		s += " with the same " + strings.Join(r.Equal, ", ")
	}
	return s
}

// inhibitRules decodes the inhibit_rules list.
func (d *decoder) inhibitRules(n *yaml.Node, path string) []*InhibitRule {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	if len(items) > MaxInhibitRules {
		d.errorf(n, path, "%d inhibit rules, at most %d: every firing notification is checked against each of them", len(items), MaxInhibitRules)
		return nil
	}
	var out []*InhibitRule
	seen := map[string]int{}
	for i, it := range items {
		r := d.inhibitRule(it, index(path, i))
		if r == nil {
			continue
		}
		if line, dup := seen[r.Name]; dup {
			d.errorAt(r.Line, r.Path+".name", "inhibit rule %q is already defined at line %d", r.Name, line)
			continue
		}
		seen[r.Name] = r.Line
		out = append(out, r)
	}
	return out
}

// inhibitRule decodes one inhibit rule.
func (d *decoder) inhibitRule(n *yaml.Node, path string) *InhibitRule {
	fs := d.mapping(n, path, "name", "source_matchers", "target_matchers", "equal")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	r := &InhibitRule{File: d.file, Line: resolve(n).Line, Path: path}
	if f, ok := fs["name"]; !ok {
		d.errorf(n, join(path, "name"), "required")
	} else {
		r.Name, _ = d.str(f.val, join(path, "name"))
	}
	for _, side := range []struct {
		key  string
		into *Matchers
	}{{"source_matchers", &r.Source}, {"target_matchers", &r.Target}} {
		f, ok := fs[side.key]
		if !ok {
			d.errorf(n, join(path, side.key), "required: a list of matchers such as model_id=fraud-* or feature!=\\*")
			continue
		}
		*side.into = d.matchers(f.val, join(path, side.key))
	}
	if f, ok := fs["equal"]; ok {
		at := join(path, "equal")
		if names, ok := d.names(f.val, at); ok {
			items, _ := d.list(f.val, at)
			switch {
			case len(names) > MaxInhibitEqual:
				d.errorf(f.val, at, "%d labels, at most %d", len(names), MaxInhibitEqual)
			default:
				for i, name := range names {
					switch {
					case !validLabelName(name):
						d.errorf(items[i], index(at, i), "%q is not a label name (one of %s, or a rule label)", name, strings.Join(InhibitLabels, ", "))
					case slices.Contains(names[:i], name):
						d.errorf(items[i], index(at, i), "label %q is listed twice", name)
					}
				}
				r.Equal = names
			}
		}
	}
	if len(d.errs) > bad {
		return nil
	}
	return r
}

// matchers decodes one side of an inhibit rule: a non-empty list of
// matchers, one of which at least needs a value (a side all of whose
// matchers match an alert without those labels would select every alert,
// as Alertmanager refuses for silences).
func (d *decoder) matchers(n *yaml.Node, path string) Matchers {
	ss, ok := d.names(n, path)
	if !ok {
		return nil
	}
	items, _ := d.list(n, path)
	if len(ss) > MaxInhibitMatchers {
		d.errorf(n, path, "%d matchers, at most %d", len(ss), MaxInhibitMatchers)
		return nil
	}
	var out Matchers
	narrow := false
	for i, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			d.errorf(items[i], index(path, i), "matcher %q: %v", s, err)
			continue
		}
		narrow = narrow || !m.Matches("")
		out = append(out, m)
	}
	if len(out) == len(ss) && !narrow {
		d.errorf(n, path, "matchers %s all match an alert without those labels, so they would select every alert: "+
			"add one that needs a value, e.g. feature=?*", out)
		return nil
	}
	return out
}

// InhibitedBy returns the first rule of p by which one of sources (firing
// alerts other than target) inhibits target, or nil.
func (p *Policy) InhibitedBy(target LabelFunc, sources []LabelFunc) *InhibitRule {
	for _, r := range p.Inhibit {
		if !r.Target.Matches(target) {
			continue
		}
		for _, s := range sources {
			if r.Inhibits(s, target) {
				return r
			}
		}
	}
	return nil
}

// driftTests are the drift tests that decide a feature's drift: a key
// with one of them as its signal is a feature's drift in `policy test`.
var driftTests = []string{"psi", "ks", "chi2", "mahalanobis"}

// inhibitLabels returns the labels inhibit rules see of the alert of key k
// under rule r with severity sev in `policy test`, as the alerting manager
// labels its alerts: a key whose signal is a deciding drift test is a
// feature's drift (feature the subject; test the signal when a rule of
// the file decides it, empty under the default rule, where the test is
// part of the feature's alert), any other a signal.
func inhibitLabels(k Key, r *Rule, sev Severity) LabelFunc {
	drift := slices.Contains(driftTests, k.Signal)
	return func(name string) string {
		switch name {
		case "model_id":
			return k.Model
		case "model_version":
			return k.Version
		case "feature":
			if drift {
				return k.Subject
			}
			return ""
		case "test":
			if drift && r != nil && !r.IsDefault() {
				return k.Signal
			}
			return ""
		case "signal":
			if drift {
				return ""
			}
			return k.Signal
		case "subject":
			if drift {
				return ""
			}
			return k.Subject
		case "rule":
			if r == nil || r.IsDefault() {
				return ""
			}
			return r.Name
		case "severity":
			return string(sev)
		}
		if r == nil {
			return ""
		}
		return r.Labels[name]
	}
}

// burnLabels returns the labels of the firing burn alerts of tr, as the
// alerting manager labels them: model_id, signal BurnSignal, subject
// "<budget>/<alert>", severity critical for a page and warning for a
// ticket, budget and burn_alert.
func burnLabels(tr *Tracker) []LabelFunc {
	var out []LabelFunc
	for _, m := range tr.Models() {
		s, _ := tr.Status(m)
		for _, b := range s.Burns {
			if !b.Firing {
				continue
			}
			labels := map[string]string{"model_id": m, "signal": BurnSignal, "subject": s.Budget + "/" + b.Name,
				"severity": string(SeverityWarning), "budget": s.Budget, "burn_alert": b.Name}
			if b.Severity == BurnPage {
				labels["severity"] = string(SeverityCritical)
			}
			out = append(out, func(name string) string { return labels[name] })
		}
	}
	return out
}
