package policy

import (
	"fmt"
	"math"

	"go.yaml.in/yaml/v3"
)

// Direction says which side of a threshold is the bad one.
type Direction string

// The directions.
const (
	// Above: higher values are worse (drift statistics, effect sizes, error rates).
	Above Direction = "above"
	// Below: lower values are worse (p-values, accuracy, coverage).
	Below Direction = "below"
)

// Level is one severity's thresholds, with hysteresis: a window enters the
// level when its value reaches Enter, and a key at the level stays there
// while the value has not crossed back past Exit. Exit is on the safe side
// of Enter (≤ Enter for Above, ≥ Enter for Below); equal means no hysteresis.
type Level struct {
	Enter, Exit float64
}

// Thresholds turn a window's value into a severity with hysteresis.
type Thresholds struct {
	// Direction is Above (default) or Below.
	Direction Direction
	// Warning and Critical are the levels; either may be nil, not both.
	Warning, Critical *Level
	// RequireVerdict gates the levels by the analysis: a window whose
	// proposed severity is ok is clean whatever its value, so that an alert
	// needs a change that is both detectable (the analysis's test) and
	// material (the value). Default: false.
	RequireVerdict bool
}

// worse reports whether x is at or beyond level on the bad side.
func (t *Thresholds) worse(x, level float64) bool {
	if t.Direction == Below {
		return x <= level
	}
	return x >= level
}

// Level returns the severity of value x for a key whose previous level was
// prev: critical when x reaches Critical.Enter, or prev was critical and x
// has not crossed Critical.Exit; else warning likewise (a critical key
// falling below Critical.Exit but not Warning.Exit is warning); else ok.
// proposed is the analysis's severity, used when RequireVerdict is set.
func (t *Thresholds) Level(prev Severity, x float64, proposed Severity) Severity {
	if t.RequireVerdict && proposed.Rank() == 0 {
		return SeverityOK
	}
	if c := t.Critical; c != nil && (t.worse(x, c.Enter) || prev == SeverityCritical && t.worse(x, c.Exit)) {
		return SeverityCritical
	}
	if w := t.Warning; w != nil && (t.worse(x, w.Enter) || prev.Rank() >= 1 && t.worse(x, w.Exit)) {
		return SeverityWarning
	}
	return SeverityOK
}

// Enter returns the enter level of severity s, NaN when s has none.
func (t *Thresholds) Enter(s Severity) float64 {
	switch {
	case s == SeverityCritical && t.Critical != nil:
		return t.Critical.Enter
	case s == SeverityWarning && t.Warning != nil:
		return t.Warning.Enter
	}
	return math.NaN()
}

// String writes the thresholds, e.g. "warning ≥0.1 (exit <0.08), critical ≥0.25 (exit <0.2)".
func (t *Thresholds) String() string {
	enter, exit := "≥", "<"
	if t.Direction == Below {
		enter, exit = "≤", ">"
	}
	var s string
	for _, l := range []struct {
		name string
		l    *Level
	}{{"warning", t.Warning}, {"critical", t.Critical}} {
		if l.l == nil {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %s%s", l.name, enter, humanize(l.l.Enter))
		if l.l.Exit != l.l.Enter {
			s += fmt.Sprintf(" (exit %s%s)", exit, humanize(l.l.Exit))
		}
	}
	if t.RequireVerdict {
		s += ", only when the analysis flags the window"
	}
	return s
}

// thresholds decodes a rule's thresholds.
func (d *decoder) thresholds(n *yaml.Node, path string) *Thresholds {
	fs := d.mapping(n, path, "direction", "warning", "critical", "require_verdict")
	if fs == nil {
		return nil
	}
	t := &Thresholds{Direction: Above}
	bad := len(d.errs)
	if f, ok := fs["direction"]; ok {
		if s, ok := d.scalar(f.val, join(path, "direction")); ok {
			switch Direction(s) {
			case Above, Below:
				t.Direction = Direction(s)
			default:
				d.errorf(f.val, join(path, "direction"), "must be above or below, got %q", s)
			}
		}
	}
	if f, ok := fs["require_verdict"]; ok {
		t.RequireVerdict, _ = d.boolean(f.val, join(path, "require_verdict"))
	}
	level := func(name string) *Level {
		f, ok := fs[name]
		if !ok {
			return nil
		}
		at := join(path, name)
		if resolve(f.val).Kind == yaml.ScalarNode {
			v, ok := d.number(f.val, at)
			if !ok {
				return nil
			}
			return &Level{Enter: v, Exit: v}
		}
		lf := d.mapping(f.val, at, "enter", "exit")
		if lf == nil {
			return nil
		}
		e, ok := lf["enter"]
		if !ok {
			d.errorf(f.val, join(at, "enter"), "required")
			return nil
		}
		enter, ok := d.number(e.val, join(at, "enter"))
		if !ok {
			return nil
		}
		l := &Level{Enter: enter, Exit: enter}
		if x, ok := lf["exit"]; ok {
			exit, ok := d.number(x.val, join(at, "exit"))
			if !ok {
				return nil
			}
			l.Exit = exit
			if t.worse(exit, enter) && exit != enter {
				side := "above"
				if t.Direction == Below {
					side = "below"
				}
				d.errorf(x.val, join(at, "exit"), "%s is %s enter %s: exit must be on the safe side of enter (direction %s)",
					humanizeExact(exit), side, humanizeExact(enter), t.Direction)
				return nil
			}
		}
		return l
	}
	t.Warning, t.Critical = level("warning"), level("critical")
	if len(d.errs) > bad {
		return nil
	}
	if t.Warning == nil && t.Critical == nil {
		d.errorf(n, path, "needs warning, critical or both (leave thresholds out to take the analysis's severity)")
		return nil
	}
	if w, c := t.Warning, t.Critical; w != nil && c != nil {
		if t.worse(w.Enter, c.Enter) && w.Enter != c.Enter {
			d.errorf(fs["critical"].val, join(path, "critical.enter"), "%s is less severe than warning.enter %s (direction %s)",
				humanizeExact(c.Enter), humanizeExact(w.Enter), t.Direction)
			return nil
		}
		if t.worse(w.Exit, c.Exit) && w.Exit != c.Exit {
			d.errorf(fs["critical"].val, join(path, "critical.exit"), "%s is less severe than warning.exit %s (direction %s)",
				humanizeExact(c.Exit), humanizeExact(w.Exit), t.Direction)
			return nil
		}
	}
	return t
}

// humanizeExact writes a number as the file would, without rounding.
func humanizeExact(v float64) string { return fmt.Sprintf("%g", v) }
