package alerting

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/alerting/policy"
)

// The annotations a policy rule may set, as notifications carry them.
const (
	AnnotationSummary      = alert.AnnotationSummary
	AnnotationDescription  = alert.AnnotationDescription
	AnnotationRunbookURL   = alert.AnnotationRunbookURL
	AnnotationDashboardURL = alert.AnnotationDashboardURL
)

// MaxAnnotation bounds, in characters, a rendered summary or description
// annotation; a longer one is cut, ending in "…". Receivers cut further to
// their own limits.
const MaxAnnotation = 2000

// loadPolicy reads and checks the policy file of c (an empty policy
// without one): its syntax and rules, the receivers it names (known says
// which exist) and its budgets for c.WindowSize. The policy's fallback is
// the built-in rule with c's pending_windows and resolve_windows.
func (c Config) loadPolicy(known func(name string) bool) (*policy.Policy, error) {
	p := &policy.Policy{}
	if c.PolicyFile != "" {
		b, err := os.ReadFile(c.PolicyFile)
		if err != nil {
			return nil, fmt.Errorf("reading alert policy: %w", err)
		}
		if p, err = policy.Parse(c.PolicyFile, b); err != nil {
			return nil, err
		}
		if err := checkReceivers(p, known); err != nil {
			return nil, err
		}
		if len(p.Budgets) > 0 {
			if c.WindowSize <= 0 {
				return nil, fmt.Errorf("%s: %d risk budgets, but the analysis window length (alerting.Config.WindowSize, set from analysis.window_size) is unknown", c.PolicyFile, len(p.Budgets))
			}
			if _, err := p.Plans(c.WindowSize); err != nil {
				return nil, err
			}
		}
	}
	p.Default = policy.NewDefaultRule(c.PendingWindows-1, c.ResolveWindows-1)
	return p, nil
}

// checkReceivers reports, with its file, line and key, every receiver name
// of p that known does not accept.
func checkReceivers(p *policy.Policy, known func(name string) bool) error {
	var errs policy.Errors
	for _, ref := range p.ReceiverRefs() {
		if known(ref.Name) {
			continue
		}
		errs = append(errs, &policy.Error{File: ref.File, Line: ref.Line, Path: ref.Path,
			Msg: fmt.Sprintf("unknown receiver %q: not a name of alerting.slack, pagerduty, webhook or alertmanager", ref.Name)})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ReloadPolicy reads the policy file (Config.PolicyFile) again and, when it
// is valid (the checks of start-up: syntax, rules, receivers, budgets),
// puts it in place of the current one, keeping the state of every alert
// and budget: each alert is decided by its new matching rule from its next
// window, which also routes it anew (a receiver it no longer routes to
// gets it resolved); every model's breach history is counted under its
// new budget, and burn alerts the new budgets do not have are resolved.
// On error the current policy stays, and the error (naming the file, line
// and key of every problem) is returned for the caller to log. Without a
// policy file it does nothing. It is safe for concurrent use.
func (m *Manager) ReloadPolicy() error {
	if m.cfg.PolicyFile == "" {
		return nil
	}
	p, err := m.cfg.loadPolicy(func(name string) bool { _, ok := m.laneIdx[name]; return ok })
	if err != nil {
		m.met.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading alert policy: %w", err)
	}
	now := m.now()
	m.mu.Lock()
	if m.bud != nil {
		if err := m.bud.tr.SetPolicy(p); err != nil {
			m.mu.Unlock()
			m.met.reloads.WithLabelValues("failure").Inc()
			return fmt.Errorf("reloading alert policy: %w", err)
		}
	}
	m.pol = p
	m.ev.SetPolicy(p)
	recs := m.reconcileBudgets(now, nil)
	m.mu.Unlock()
	m.record(recs...)
	m.met.reloads.WithLabelValues("success").Inc()
	m.log.Info("alert policy reloaded", "file", m.cfg.PolicyFile, "rules", len(p.Rules), "budgets", len(p.Budgets))
	return nil
}

// series is one policy key's share of an observation: a signal verdict; a
// drift test that a rule of the policy file decides alone; or a feature's
// other tests together, under the policy's fallback rule (the alert a
// feature has had since before policies).
type series struct {
	// obs is the observation restricted to the series' tests.
	obs Observation
	// pkey is the policy key; key the alert's de-duplication key.
	pkey policy.Key
	key  string
	// test is the drift test of a test decided alone.
	test string
	// fallback says the series is decided by the policy's fallback rule.
	fallback bool
	v        policy.Verdict
}

// split appends the series of o to out. A signal verdict is one series,
// keyed (model, version, signal, subject). A drift verdict is one series
// per deciding test (one whose threshold is not NaN or whose severity is
// not ok) that a rule of the file matches under the key (model, version,
// test, feature), and one for the feature with its other tests, decided by
// the fallback rule whatever the rules match: without a policy file, or
// with rules that match none of its tests, that is the feature's alert as
// it has always been.
func (m *Manager) split(o *Observation, out []series) []series {
	if o.Signal != "" {
		return append(out, series{obs: *o, pkey: policy.Key{Model: o.ModelID, Version: o.ModelVersion, Signal: o.Signal, Subject: o.Subject},
			key: o.key(), v: verdictOf(o)})
	}
	fi := len(out)
	out = append(out, series{obs: *o, pkey: policy.Key{Model: o.ModelID, Version: o.ModelVersion, Subject: o.Feature},
		key: o.key(), fallback: true})
	var own uint64 // the tests a rule of the file decides alone
	if len(m.pol.Rules) > 0 {
		for i := range min(len(o.Tests), 64) {
			t := &o.Tests[i]
			if !informs(t) && !m.pol.Match(policy.Key{Model: o.ModelID, Version: o.ModelVersion, Signal: t.Test, Subject: o.Feature}).IsDefault() {
				own |= 1 << i
			}
		}
	}
	if own != 0 {
		out[fi].obs.Tests, out[fi].obs.Severity = make([]TestResult, 0, len(o.Tests)), SeverityOK
		for i := range o.Tests {
			t := &o.Tests[i]
			if i < 64 && own&(1<<i) != 0 {
				so := *o
				so.Tests, so.Severity = o.Tests[i:i+1:i+1], t.Severity
				out = append(out, series{obs: so, pkey: policy.Key{Model: o.ModelID, Version: o.ModelVersion, Signal: t.Test, Subject: o.Feature},
					key: SignalKey(o.ModelID, o.ModelVersion, t.Test, o.Feature), test: t.Test, v: verdictOf(&so)})
				continue
			}
			f := &out[fi].obs
			f.Tests = append(f.Tests, *t)
			if t.Severity.Rank() > f.Severity.Rank() {
				f.Severity = t.Severity
			}
		}
	}
	out[fi].v = verdictOf(&out[fi].obs)
	return out
}

// informs reports whether t is an informational drift test (js,
// wasserstein): no threshold and never a verdict. It is no policy key.
func informs(t *TestResult) bool {
	return math.IsNaN(t.Threshold) && t.Severity.Rank() == 0
}

// verdictOf returns what the policy sees of o: its window, severity, the
// statistic of its worst test (NaN without tests) and the largest sample
// size of its tests (-1, unknown, when none gives one).
func verdictOf(o *Observation) policy.Verdict {
	v := policy.Verdict{WindowStart: o.WindowStart, WindowEnd: o.WindowEnd, Value: math.NaN(), Severity: o.Severity, Samples: -1}
	if i := alert.Worst(o.Tests); i >= 0 {
		v.Value = o.Tests[i].Statistic
	}
	for _, t := range o.Tests {
		if t.Samples > 0 {
			v.Samples = max(v.Samples, t.Samples)
		}
	}
	return v
}

// ruleName is the name an alert carries for its rule: empty for the
// built-in default.
func ruleName(r *policy.Rule) string {
	if r == nil || r.IsDefault() {
		return ""
	}
	return r.Name
}

// route returns, per lane, whether the receivers names (or every receiver,
// with all) include it.
func (m *Manager) route(names []string, all bool) []bool {
	r := make([]bool, len(m.lanes))
	for i := range r {
		r[i] = all
	}
	for _, n := range names {
		if i, ok := m.laneIdx[n]; ok {
			r[i] = true
		}
	}
	return r
}

// reroute routes a firing alert anew when its rule (after a reload) routes
// its severity elsewhere: a receiver it now routes to gets the firing
// notification, one it no longer routes to gets it resolved.
func (m *Manager) reroute(st *state, r *policy.Rule, now time.Time) {
	names, all := r.Receivers.For(string(st.alert.Severity))
	same := true
	for i, l := range m.lanes {
		if st.routed[i] != (all || slices.Contains(names, l.name)) {
			same = false
			break
		}
	}
	if same || st.notice == nil {
		return
	}
	st.routed = m.route(names, all)
	m.notify(st, st.notice, now)
}

// annotations bounds a rule's rendered annotations: texts are cut to
// MaxAnnotation characters, and a URL that is not an absolute http(s) URL
// fit for every receiver's link syntax (telemetry values rendered into it
// without escaping can break it) is left out and logged.
func (m *Manager) annotations(key string, a map[string]string) map[string]string {
	for name, v := range a {
		if name == AnnotationRunbookURL || name == AnnotationDashboardURL {
			if !linkable(v) {
				m.log.Warn("alert annotation left out: not an absolute http(s) URL without spaces, quotes, <, > or |",
					"key", key, "annotation", name)
				delete(a, name)
			}
			continue
		}
		a[name] = alert.Truncate(v, MaxAnnotation)
	}
	return a
}

// linkable reports whether s is an absolute http(s) URL of printable ASCII
// without space, '"', '<', '>', '|' or '`', at most 2000 bytes.
func linkable(s string) bool {
	if len(s) > 2000 || strings.ContainsAny(s, " \"<>|`") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
