// Package policy is the pure core of driftwatch's alerting policy as code:
// it parses and validates a policy file (rules that turn the verdicts of
// one alert key into an alert lifecycle, and risk budgets per model with
// multi-window burn-rate alerts), evaluates verdicts against the rules
// (Evaluator), tracks the budgets (Tracker) and runs `policy test` cases
// files (Cases). Rules are tried in file order and the first whose match
// fits a key decides it; keys no rule matches get DefaultRule, which
// reproduces the alerting package's behaviour before policies.
//
// It deliberately does no I/O, reads no clock and keeps no goroutines:
// files arrive as bytes, times arrive with the verdicts, and state is a
// plain struct the caller stores (Evaluator.Snapshot, Tracker.Snapshot).
// It does not deliver notifications, check that receivers exist (the
// caller knows them: Policy.ReceiverRefs), group, silence or inhibit
// alerts, export metrics, or decide drift: the analysis proposes a
// severity and a value per window, and the policy decides what that means
// for an alert. See docs/policy.md for the file format.
package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/analysis/verdict"
)

// Severity is the severity of a verdict or an alert: ok < warning < critical.
// It is verdict.Severity, the one severity type of driftwatch.
type Severity = verdict.Severity

// The severities, from least to most severe.
const (
	SeverityOK       = verdict.SeverityOK
	SeverityWarning  = verdict.SeverityWarning
	SeverityCritical = verdict.SeverityCritical
)

// Policy is a parsed, validated policy file.
type Policy struct {
	// File is the name the policy was parsed under.
	File string
	// Rules are the file's rules in file order; the first that matches a key
	// decides it, and DefaultRule decides keys none matches.
	Rules []*Rule
	// Budgets are the file's risk budgets in file order; the first whose
	// models match a model is that model's budget.
	Budgets []*Budget
	// Inhibit are the file's inhibit rules in file order (inhibit.go).
	Inhibit []*InhibitRule
	// Default decides the keys no rule matches; nil is DefaultRule(). The
	// alerting manager sets it to NewDefaultRule of its pending_windows and
	// resolve_windows, so that the fallback is its own behaviour.
	Default *Rule
}

// Key identifies one alert series, as the alerting package keys it: a
// feature's drift (Signal the drift test, e.g. "psi", "ks", "chi2",
// "mahalanobis"; Subject the feature) or a signal (Signal e.g.
// "error_rate", "caller_probing"; Subject what the verdict is about, "*"
// for the model itself).
type Key struct {
	// Model and Version identify the model version.
	Model   string `json:"model"`
	Version string `json:"version"`
	// Signal names the drift test or the signal.
	Signal string `json:"signal"`
	// Subject names the feature or the signal's subject.
	Subject string `json:"subject"`
}

// String returns the key as "model/version/signal/subject".
func (k Key) String() string {
	return k.Model + "/" + k.Version + "/" + k.Signal + "/" + k.Subject
}

// Match selects keys by glob patterns, with path.Match semantics ("*" any
// run of characters, "?" one character, "[a-z]" a class, "\\*" a literal
// star, so `subjects: ['\*']` matches only the model-itself subject). A
// key matches when each non-empty list has a pattern matching its field;
// an empty list matches every value.
type Match struct {
	// Models, Versions, Signals and Subjects are patterns of the key's fields.
	Models, Versions, Signals, Subjects []string
}

// Matches reports whether k is selected.
func (m *Match) Matches(k Key) bool {
	return globs(m.Models, k.Model) && globs(m.Versions, k.Version) &&
		globs(m.Signals, k.Signal) && globs(m.Subjects, k.Subject)
}

// catchAll reports whether m matches every key.
func (m *Match) catchAll() bool {
	return everything(m.Models) && everything(m.Versions) && everything(m.Signals) && everything(m.Subjects)
}

// String writes the non-empty pattern lists, e.g. "models=fraud-* signals=psi,ks".
func (m *Match) String() string {
	var parts []string
	for _, f := range []struct {
		name string
		pats []string
	}{{"models", m.Models}, {"versions", m.Versions}, {"signals", m.Signals}, {"subjects", m.Subjects}} {
		if len(f.pats) > 0 {
			parts = append(parts, f.name+"="+strings.Join(f.pats, ","))
		}
	}
	if len(parts) == 0 {
		return "every series"
	}
	return strings.Join(parts, " ")
}

// globs reports whether pats is empty or one of them matches s.
func globs(pats []string, s string) bool {
	if len(pats) == 0 {
		return true
	}
	for _, p := range pats {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// everything reports whether pats matches every string.
func everything(pats []string) bool { return len(pats) == 0 || slices.Contains(pats, "*") }

// Match returns the rule deciding k: the first rule whose match selects
// it, or Fallback.
func (p *Policy) Match(k Key) *Rule {
	for _, r := range p.Rules {
		if r.Match.Matches(k) {
			return r
		}
	}
	return p.Fallback()
}

// Fallback returns the rule of the keys no rule matches: Default, or
// DefaultRule() when Default is nil.
func (p *Policy) Fallback() *Rule {
	if p.Default != nil {
		return p.Default
	}
	return defaultRule
}

// MatchBudget returns the budget of a model: the first whose models match
// it, or nil when none does.
func (p *Policy) MatchBudget(model string) *Budget {
	for _, b := range p.Budgets {
		if globs(b.Models, model) {
			return b
		}
	}
	return nil
}

// ReceiverRef is one receiver name used in the policy, with where it is.
type ReceiverRef struct {
	// Name is the receiver's name, as the alerting configuration names it.
	Name string
	// File and Line locate the name in the policy file.
	File string
	Line int
	// Path is its key path, e.g. "rules[2].receivers.critical[0]".
	Path string
}

// ReceiverRefs returns every receiver name the policy uses, in file order,
// so that the caller can check them against its configured receivers.
func (p *Policy) ReceiverRefs() []ReceiverRef {
	var out []ReceiverRef
	for _, r := range p.Rules {
		out = append(out, r.Receivers.refs...)
	}
	for _, b := range p.Budgets {
		out = append(out, b.Receivers.refs...)
	}
	return out
}

// Receivers returns the distinct receiver names the policy uses, sorted.
func (p *Policy) Receivers() []string {
	var out []string
	for _, ref := range p.ReceiverRefs() {
		out = append(out, ref.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckReceivers returns an error naming the file, line and key of every
// receiver name that known does not accept, or nil.
func (p *Policy) CheckReceivers(known func(name string) bool) error {
	var errs Errors
	for _, ref := range p.ReceiverRefs() {
		if !known(ref.Name) {
			errs = append(errs, &Error{File: ref.File, Line: ref.Line, Path: ref.Path,
				Msg: fmt.Sprintf("unknown receiver %q", ref.Name)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Receivers routes alerts to receivers by severity.
type Receivers struct {
	// All is set when the policy does not name receivers: every receiver
	// configured in alerting gets the alerts (the behaviour before policies).
	All bool
	// By lists the receivers of each severity ("warning" and "critical" for
	// a rule, "page" and "ticket" for a budget). A severity without an entry
	// is recorded but delivered to no one.
	By map[string][]string
	// refs are the names with their positions.
	refs []ReceiverRef
}

// For returns the receivers of severity s, and whether that is every
// configured receiver.
func (r *Receivers) For(s string) (names []string, all bool) {
	if r.All {
		return nil, true
	}
	return r.By[s], false
}

// String writes the route, e.g. "all" or "warning=slack critical=slack,pagerduty".
func (r *Receivers) String() string {
	if r.All {
		return "all"
	}
	keys := make([]string, 0, len(r.By))
	for k := range r.By {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		names := r.By[k]
		if len(names) == 0 {
			names = []string{"(none)"}
		}
		parts = append(parts, k+"="+strings.Join(names, ","))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// receivers decodes a receivers value: a list (the same receivers for every
// severity in sevs) or a mapping from severity to list. An empty list
// routes to no one.
func (d *decoder) receivers(n *yaml.Node, path string, sevs ...string) Receivers {
	r := Receivers{By: map[string][]string{}}
	names := func(n *yaml.Node, path string) []string {
		items, ok := d.list(n, path)
		if !ok {
			return nil
		}
		var out []string
		for i, it := range items {
			at := index(path, i)
			s, ok := d.str(it, at)
			if !ok {
				continue
			}
			if slices.Contains(out, s) {
				d.errorf(it, at, "receiver %q is listed twice", s)
				continue
			}
			out = append(out, s)
			r.refs = append(r.refs, ReceiverRef{Name: s, File: d.file, Line: it.Line, Path: at})
		}
		return out
	}
	if resolve(n).Kind == yaml.MappingNode {
		fs := d.mapping(n, path, sevs...)
		for _, s := range sevs {
			if f, ok := fs[s]; ok {
				r.By[s] = names(f.val, join(path, s))
			}
		}
		return r
	}
	list := names(n, path)
	for _, s := range sevs {
		r.By[s] = list
	}
	return r
}

// Parse decodes and validates a policy file. file names it in errors. Every
// problem found is reported, each as an *Error naming the file, the line
// and the key path, in an Errors list.
func Parse(file string, data []byte) (*Policy, error) {
	d := &decoder{file: file}
	p := &Policy{File: file}
	root := d.document(data)
	if root != nil {
		fs := d.mapping(root, "", "rules", "budgets", "inhibit_rules")
		if f, ok := fs["rules"]; ok {
			if items, ok := d.list(f.val, "rules"); ok {
				for i, it := range items {
					if r := d.rule(it, index("rules", i)); r != nil {
						p.Rules = append(p.Rules, r)
					}
				}
			}
		}
		if f, ok := fs["budgets"]; ok {
			if items, ok := d.list(f.val, "budgets"); ok {
				for i, it := range items {
					if b := d.budget(it, index("budgets", i)); b != nil {
						p.Budgets = append(p.Budgets, b)
					}
				}
			}
		}
		if f, ok := fs["inhibit_rules"]; ok {
			p.Inhibit = d.inhibitRules(f.val, "inhibit_rules")
		}
	}
	d.checkRules(p.Rules)
	d.checkBudgets(p.Budgets)
	if err := d.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRules checks what spans rules: unique names and reachability.
func (d *decoder) checkRules(rules []*Rule) {
	seen := map[string]*Rule{}
	var all *Rule
	for _, r := range rules {
		if prev, dup := seen[r.Name]; dup {
			d.errorAt(r.Line, r.Path+".name", "rule %q is already defined at line %d", r.Name, prev.Line)
		}
		seen[r.Name] = r
		if all != nil {
			d.errorAt(r.Line, r.Path, "rule %q is unreachable: rule %q (line %d) matches every series and the first match wins", r.Name, all.Name, all.Line)
			continue
		}
		if r.Match.catchAll() {
			all = r
		}
	}
}

// checkBudgets checks what spans budgets: unique names and reachability.
func (d *decoder) checkBudgets(budgets []*Budget) {
	seen := map[string]*Budget{}
	var all *Budget
	for _, b := range budgets {
		if prev, dup := seen[b.Name]; dup {
			d.errorAt(b.Line, b.Path+".name", "budget %q is already defined at line %d", b.Name, prev.Line)
		}
		seen[b.Name] = b
		if all != nil {
			d.errorAt(b.Line, b.Path, "budget %q is unreachable: budget %q (line %d) matches every model and the first match wins", b.Name, all.Name, all.Line)
			continue
		}
		if everything(b.Models) {
			all = b
		}
	}
}

// patterns decodes a list of globs, checking their syntax.
func (d *decoder) patterns(n *yaml.Node, path string) []string {
	pats, ok := d.names(n, path)
	if !ok {
		return nil
	}
	items, _ := d.list(n, path)
	for i, p := range pats {
		if _, err := matchCheck(p); err != nil {
			d.errorf(items[i], index(path, i), "bad pattern %q: %v", p, err)
		}
	}
	return pats
}

// matchCheck validates a glob pattern.
func matchCheck(p string) (bool, error) {
	// path.Match reports a malformed pattern whatever the name.
	return path.Match(p, "")
}
