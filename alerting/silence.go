package alerting

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/alerting/policy"
)

// Silences and maintenance windows, as Alertmanager's silence/ has them:
// a silence is a set of matchers on an alert's labels with a start and an
// end. While a silence matches it, an alert's lifecycle goes on as before
// and every transition is recorded (state records say Outcome
// OutcomeSilenced), but no notification is queued to any receiver; each
// one left out is recorded as a delivery record with Outcome
// OutcomeSilenced and counted. When the silence ends (it expires, or is
// expired early) while the alert still fires, its firing notification is
// sent then. A resolve goes only to a receiver that was sent the firing:
// an alert whose firing was never delivered resolves without a message.
// The Manager reads the silences from a Silencer (Manager.UseSilences) at
// Run's start and every Config.SilenceRefresh.

// Silence is one silence as its source stores it.
type Silence struct {
	// ID identifies the silence.
	ID string
	// Matchers are the silence's matchers as they were written, e.g.
	// "model_id=fraud-*" (ParseMatcher); all must match an alert.
	Matchers []string
	// StartsAt and EndsAt bound the silence: it silences from StartsAt
	// (inclusive) to EndsAt (exclusive), in wall-clock time.
	StartsAt, EndsAt time.Time
	// CreatedBy and Comment say who created it and why.
	CreatedBy, Comment string
}

// Silencer returns the silences that have not ended: active ones and ones
// that start later. The storage-backed source reads ClickHouse's silences
// table.
type Silencer interface {
	Silences(ctx context.Context) ([]Silence, error)
}

// SilencerFunc adapts a function to Silencer.
type SilencerFunc func(ctx context.Context) ([]Silence, error)

// Silences calls f.
func (f SilencerFunc) Silences(ctx context.Context) ([]Silence, error) { return f(ctx) }

// OutcomeSilenced is the Outcome of the state records of a silenced alert,
// and of the delivery records of the notifications a silence kept from a
// receiver (Attempt 0).
const OutcomeSilenced = "silenced"

// SilenceLabels are the label names an alert carries besides the labels
// its policy rule sets. A matcher may name any label: an alert without it
// has the empty value there.
var SilenceLabels = []string{"model_id", "model_version", "feature", "test", "signal", "subject", "rule", "severity"}

// Matcher matches one label of an alert: its value must (Equal) or must not
// (!Equal) match Pattern, a glob with path.Match semantics ("*" any run of
// characters, "?" one character, "[a-z]" a class, "\\*" a literal star), as
// the policy's model patterns are. Silences and the policy's inhibit rules
// share it.
type Matcher = policy.Matcher

// ParseMatcher reads one matcher: name=pattern or name!=pattern, where name
// is a label name ([a-zA-Z_][a-zA-Z0-9_]*, e.g. model_id or a rule label)
// and pattern a glob, optionally in double quotes (Go syntax), e.g.
// model_id=fraud-*, severity!=warning, team="ml platform". Spaces around
// the name and the pattern are ignored. Regular expressions (=~, !~) are
// refused: use a glob.
func ParseMatcher(s string) (Matcher, error) {
	m, err := policy.ParseMatcher(s)
	if err != nil {
		return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
	}
	return m, nil
}

// ParseMatchers reads the matchers of one silence. It refuses an empty list,
// and, as Alertmanager does, a list every matcher of which matches the
// empty value (e.g. model_id=* alone): such a silence would silence every
// alert by accident. To silence every model on purpose, write model_id=?*.
func ParseMatchers(ss []string) ([]Matcher, error) {
	if len(ss) == 0 {
		return nil, fmt.Errorf("no matcher: a silence needs at least one, e.g. model_id=fraud-*")
	}
	out := make([]Matcher, 0, len(ss))
	narrow := false
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		if !m.Matches("") {
			narrow = true
		}
		out = append(out, m)
	}
	if !narrow {
		return nil, fmt.Errorf("matchers %s all match an alert without those labels, so they would silence every alert: "+
			"add one that needs a value, e.g. model_id=fraud-* (model_id=?* silences every model)", strings.Join(ss, ", "))
	}
	return out, nil
}

// silence is a parsed Silence.
type silence struct {
	id         string
	matchers   []Matcher
	start, end time.Time
}

func (s *silence) activeAt(now time.Time) bool { return !now.Before(s.start) && now.Before(s.end) }

// label returns the value of the label name of the alert of st: one of
// SilenceLabels, or a label its policy rule sets.
func (st *state) label(name string) string {
	a := &st.alert
	switch name {
	case "model_id":
		return a.ModelID
	case "model_version":
		return a.ModelVersion
	case "feature":
		return a.Feature
	case "test":
		return a.Test
	case "signal":
		return a.Signal
	case "subject":
		return a.Subject
	case "rule":
		return a.Rule
	case "severity":
		return string(a.Severity)
	}
	if st.labels != nil {
		return st.labels[name]
	}
	if st.notice != nil {
		return st.notice.Labels[name]
	}
	return ""
}

// silencedBy returns the id of the first silence active at now that matches
// the alert of st, or ""; m.mu is held.
func (m *Manager) silencedBy(st *state, now time.Time) string {
	for i := range m.silences {
		s := &m.silences[i]
		if !s.activeAt(now) {
			continue
		}
		if !slices.ContainsFunc(s.matchers, func(mt Matcher) bool { return !mt.Matches(st.label(mt.Name)) }) {
			return s.id
		}
	}
	return ""
}

// UseSilences makes the manager read its silences from src, at Run's start
// and every Config.SilenceRefresh. Call it before Run.
func (m *Manager) UseSilences(src Silencer) { m.silencer = src }

// watchSilences reads the silences at once, then every SilenceRefresh and
// when a loaded silence starts or ends, until ctx ends.
func (m *Manager) watchSilences(ctx context.Context) {
	every := m.cfg.silenceRefresh()
	for {
		m.refreshSilences(ctx)
		wait := every
		m.mu.Lock()
		now := m.now()
		for _, s := range m.silences {
			for _, t := range []time.Time{s.start, s.end} {
				if d := t.Sub(now); d > 0 && d < wait {
					wait = d
				}
			}
		}
		m.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refreshSilences reads the silences from the Silencer and applies them: a
// firing alert no silence holds any more gets its firing notification. On
// a read error the silences read before stay in force.
func (m *Manager) refreshSilences(ctx context.Context) {
	if m.silencer == nil {
		return
	}
	list, err := m.silencer.Silences(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.met.silenceErrors.Inc()
			m.log.Warn("reading silences; the silences read before stay in force", "err", err)
		}
		return
	}
	parsed := make([]silence, 0, len(list))
	for _, s := range list {
		ms, err := ParseMatchers(s.Matchers)
		if err != nil {
			m.met.silenceErrors.Inc()
			m.log.Warn("silence ignored: bad matchers", "silence", s.ID, "err", err)
			continue
		}
		parsed = append(parsed, silence{id: s.ID, matchers: ms, start: s.StartsAt, end: s.EndsAt})
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.silences = parsed
	m.applySilences(m.now())
	m.updateActive()
	m.mu.Unlock()
}

// applySilences sends the firing notification of every firing alert that a
// silence kept from a receiver and that no silence holds now; m.mu is held.
func (m *Manager) applySilences(now time.Time) {
	for _, alerts := range []map[string]*state{m.alerts, m.burns} {
		for _, st := range alerts {
			if st.muted && st.alert.State == StateFiring && st.notice != nil && m.silencedBy(st, now) == "" {
				m.notify(st, st.notice, now)
			}
		}
	}
}
