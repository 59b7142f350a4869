package policy

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// BurnSeverity is what a burn-rate alert asks for: a page or a ticket.
type BurnSeverity string

// The burn severities.
const (
	BurnPage   BurnSeverity = "page"
	BurnTicket BurnSeverity = "ticket"
)

// MaxBudgetWindows bounds a budget's period in analysis windows (2^20,
// e.g. 30 days of 2.5-second windows), so that its state stays within
// 256 KiB per model.
const MaxBudgetWindows = 1 << 20

// Budget is a risk budget: the share of a model's windows allowed in
// breach over a period, with the burn-rate alerts that watch it.
type Budget struct {
	// Name identifies the budget.
	Name string
	// File, Line and Path locate the budget in its policy file.
	File string
	Line int
	Path string
	// Models are glob patterns of the model ids the budget applies to; empty
	// matches every model. A model takes the first budget that matches it.
	Models []string
	// Share is the share of windows allowed in breach, e.g. 0.02 for 2%.
	Share float64
	// Period is the budget's rolling period, e.g. 30 days.
	Period time.Duration
	// Alerts are the burn-rate alerts. Default: DefaultBurnAlerts.
	Alerts []BurnAlert
	// Receivers route burn alerts by severity ("page", "ticket").
	Receivers Receivers
}

// BurnAlert is a multi-window burn-rate alert: it fires when the budget
// burns at Rate or faster over both the long and the short window (the
// short one confirms that the burn is still going on, and resolves the
// alert soon after it stops).
type BurnAlert struct {
	// Name identifies the alert within its budget.
	Name string
	// Long and Short are the windows, before rounding to analysis windows.
	Long, Short time.Duration
	// Rate is the burn rate: the breach share over the window divided by
	// the budget's share; 1 spends the budget exactly over the period.
	Rate float64
	// Severity is page or ticket.
	Severity BurnSeverity
}

// DefaultBurnAlerts are the multi-window, multi-burn-rate alerts of the
// Google SRE Workbook ("Alerting on SLOs"), for a 30-day period: the page
// pairs spend 2% and 5% of the budget in their long window, the ticket 10%.
var DefaultBurnAlerts = []BurnAlert{
	{Name: "fast", Long: time.Hour, Short: 5 * time.Minute, Rate: 14.4, Severity: BurnPage},
	{Name: "slow", Long: 6 * time.Hour, Short: 30 * time.Minute, Rate: 6, Severity: BurnPage},
	{Name: "ticket", Long: 3 * 24 * time.Hour, Short: 6 * time.Hour, Rate: 1, Severity: BurnTicket},
}

// RateFor returns the burn rate at which a share consumed of a budget is
// spent in a long window over a period: consumed × period / long (the
// workbook's b* = f·T/w, e.g. 2% in 1h of 30 days is 14.4).
func RateFor(consumed float64, long, period time.Duration) float64 {
	return consumed * float64(period) / float64(long)
}

// Consumed returns the share of a budget that burning at rate for long
// spends over a period: rate × long / period (the workbook's b·w/T).
func Consumed(rate float64, long, period time.Duration) float64 {
	return rate * float64(long) / float64(period)
}

// Windows returns how many analysis windows of length window count for a
// duration d: ⌈d / window⌉, at least 1. Burn-rate windows and periods that
// are not a whole number of analysis windows round up, so a window never
// watches less than its nominal length.
func Windows(d, window time.Duration) int {
	n := int((d + window - 1) / window)
	return max(n, 1)
}

// Plan is a budget made concrete for one analysis window length: its
// period and burn windows counted in whole windows.
type Plan struct {
	// Budget is the planned budget.
	Budget *Budget
	// Window is the analysis window length.
	Window time.Duration
	// Windows is the period in analysis windows, ⌈Period / Window⌉.
	Windows int
	// Allowed is how many windows may be in breach over the period,
	// Share × Windows.
	Allowed float64
	// Alerts are the burn alerts' windows, in the budget's order.
	Alerts []PlannedAlert
}

// PlannedAlert is a burn alert with its windows in analysis windows.
type PlannedAlert struct {
	BurnAlert
	// LongWindows and ShortWindows are ⌈Long / Window⌉ and ⌈Short / Window⌉.
	LongWindows, ShortWindows int
	// Consumed is the share of the budget spent when the alert's rate is
	// held over its rounded long window: Rate × LongWindows / Windows (the
	// workbook's share for windows that need no rounding, more otherwise).
	Consumed float64
}

// need returns the breached windows among n that reach the alert's rate:
// Rate × Share × n, less a tolerance for the rounding of the product.
func (a *PlannedAlert) need(share float64, n int) float64 {
	return a.Rate*share*float64(n) - 1e-9
}

// Plan counts the budget in analysis windows of length window, and
// refuses a budget that cannot be evaluated at that length: a period of
// more than MaxBudgetWindows windows, or one in which a single breached
// window would spend more than the whole budget (Share × windows < 1).
// The short and long windows and the period are rounded up (Windows); the
// rates are kept, so a rounded-up long window makes its alert fire only
// once a little more budget is spent (PlannedAlert.Consumed).
func (b *Budget) Plan(window time.Duration) (*Plan, error) {
	if window <= 0 {
		return nil, fmt.Errorf("planning budget %q: window must be positive, got %s", b.Name, window)
	}
	if n := (b.Period + window - 1) / window; n > MaxBudgetWindows {
		return nil, fmt.Errorf("%s:%d: %s: period %s is more than %d windows of %s: use a longer window or a shorter period",
			b.File, b.Line, b.Path, formatDuration(b.Period), MaxBudgetWindows, window)
	}
	p := &Plan{Budget: b, Window: window, Windows: Windows(b.Period, window)}
	p.Allowed = b.Share * float64(p.Windows)
	if p.Allowed < 1 {
		return nil, fmt.Errorf("%s:%d: %s: %s of %d windows of %s is %.3g windows: one breached window would spend more than the whole budget; use a longer period or a larger share",
			b.File, b.Line, b.Path, formatShare(b.Share), p.Windows, window, p.Allowed)
	}
	for _, a := range b.Alerts {
		pa := PlannedAlert{BurnAlert: a, LongWindows: Windows(a.Long, window), ShortWindows: Windows(a.Short, window)}
		pa.Consumed = a.Rate * float64(pa.LongWindows) / float64(p.Windows)
		p.Alerts = append(p.Alerts, pa)
	}
	return p, nil
}

// Plans plans every budget of the policy for analysis windows of length
// window, reporting every budget that cannot be evaluated.
func (p *Policy) Plans(window time.Duration) ([]*Plan, error) {
	var out []*Plan
	var errs []string
	for _, b := range p.Budgets {
		pl, err := b.Plan(window)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, pl)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// burnRate writes a burn rate, e.g. "14.4×".
func burnRate(r float64) string { return fmt.Sprintf("%g×", r) }

// formatShare writes a share as a percentage, e.g. "2%".
func formatShare(s float64) string { return fmt.Sprintf("%.4g%%", s*100) }

// check returns why a cannot be an alert of b, or "".
func (a *BurnAlert) check(b *Budget) string {
	switch {
	case a.Short > a.Long:
		return fmt.Sprintf("short window %s is longer than long window %s", formatDuration(a.Short), formatDuration(a.Long))
	case a.Long > b.Period:
		return fmt.Sprintf("long window %s is longer than the budget's period %s", formatDuration(a.Long), formatDuration(b.Period))
	case a.Rate*b.Share > 1:
		return fmt.Sprintf("burn rate %g × budget %s needs %.4g%% of windows in breach: the alert can never fire",
			a.Rate, formatShare(b.Share), a.Rate*b.Share*100)
	}
	return ""
}

// String summarises a plan on several lines, as `policy check` prints it.
func (p *Plan) String() string {
	var b strings.Builder
	bu := p.Budget
	models := "every model"
	if len(bu.Models) > 0 {
		models = "models=" + strings.Join(bu.Models, ",")
	}
	fmt.Fprintf(&b, "%s: %s; %s of windows over %s = %d windows of %s, %.4g may be in breach; receivers %s\n",
		bu.Name, models, formatShare(bu.Share), formatDuration(bu.Period), p.Windows, p.Window, p.Allowed, bu.Receivers.String())
	for _, a := range p.Alerts {
		fmt.Fprintf(&b, "  %-8s %-6s burn ≥ %s over %s (%d windows) and %s (%d windows): fires once its long window spent %.3g%% of the budget",
			a.Name, a.Severity, burnRate(a.Rate), formatDuration(a.Long), a.LongWindows, formatDuration(a.Short), a.ShortWindows, a.Consumed*100)
		if a.ShortWindows == a.LongWindows {
			b.WriteString("; short window equals long window at this length: no confirmation")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// budget decodes one budget.
func (d *decoder) budget(n *yaml.Node, path string) *Budget {
	fs := d.mapping(n, path, "name", "models", "budget", "period", "burn_alerts", "receivers")
	if fs == nil {
		return nil
	}
	bad := len(d.errs)
	b := &Budget{File: d.file, Line: resolve(n).Line, Path: path, Receivers: Receivers{All: true}}
	if f, ok := fs["name"]; !ok {
		d.errorf(n, join(path, "name"), "required")
	} else {
		b.Name, _ = d.str(f.val, join(path, "name"))
	}
	if f, ok := fs["models"]; ok {
		b.Models = d.patterns(f.val, join(path, "models"))
	}
	if f, ok := fs["budget"]; !ok {
		d.errorf(n, join(path, "budget"), "required: the share of windows allowed in breach, e.g. 2%%")
	} else {
		b.Share, _ = d.share(f.val, join(path, "budget"))
	}
	if f, ok := fs["period"]; !ok {
		d.errorf(n, join(path, "period"), "required: the rolling period of the budget, e.g. 30d")
	} else {
		b.Period, _ = d.duration(f.val, join(path, "period"))
	}
	if f, ok := fs["receivers"]; ok {
		b.Receivers = d.receivers(f.val, join(path, "receivers"), string(BurnPage), string(BurnTicket))
	}
	if len(d.errs) > bad {
		return nil
	}
	b.Alerts = DefaultBurnAlerts
	if f, ok := fs["burn_alerts"]; ok {
		b.Alerts = d.burnAlerts(f.val, join(path, "burn_alerts"), b)
	}
	if len(d.errs) > bad {
		return nil
	}
	if _, ok := fs["burn_alerts"]; !ok {
		for _, a := range b.Alerts {
			if msg := a.check(b); msg != "" {
				key := "budget"
				if a.Long > b.Period {
					key = "period"
				}
				d.errorf(fs[key].val, join(path, key), "default burn alert %q (%s over %s and %s): %s; set burn_alerts",
					a.Name, burnRate(a.Rate), formatDuration(a.Long), formatDuration(a.Short), msg)
				return nil
			}
		}
	}
	return b
}

// burnAlerts decodes a budget's burn alerts.
func (d *decoder) burnAlerts(n *yaml.Node, path string, b *Budget) []BurnAlert {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(n, path, "must not be empty (leave it out for the SRE workbook's fast, slow and ticket alerts)")
		return nil
	}
	var out []BurnAlert
	names := map[string]int{}
	for i, it := range items {
		at := index(path, i)
		fs := d.mapping(it, at, "name", "long", "short", "burn_rate", "severity")
		if fs == nil {
			continue
		}
		bad := len(d.errs)
		var a BurnAlert
		req := func(key string) (field, bool) {
			f, ok := fs[key]
			if !ok {
				d.errorf(it, join(at, key), "required")
			}
			return f, ok
		}
		if f, ok := req("name"); ok {
			if a.Name, ok = d.str(f.val, join(at, "name")); ok {
				if line, dup := names[a.Name]; dup {
					d.errorf(f.val, join(at, "name"), "burn alert %q is already defined at line %d", a.Name, line)
				}
				names[a.Name] = f.val.Line
			}
		}
		if f, ok := req("long"); ok {
			a.Long, _ = d.duration(f.val, join(at, "long"))
		}
		if f, ok := req("short"); ok {
			a.Short, _ = d.duration(f.val, join(at, "short"))
		}
		if f, ok := req("burn_rate"); ok {
			if v, ok := d.number(f.val, join(at, "burn_rate")); ok {
				if v <= 0 {
					d.errorf(f.val, join(at, "burn_rate"), "must be positive, got %g", v)
				} else {
					a.Rate = v
				}
			}
		}
		if f, ok := req("severity"); ok {
			if s, ok := d.scalar(f.val, join(at, "severity")); ok {
				switch BurnSeverity(s) {
				case BurnPage, BurnTicket:
					a.Severity = BurnSeverity(s)
				default:
					d.errorf(f.val, join(at, "severity"), "must be page or ticket, got %q", s)
				}
			}
		}
		if len(d.errs) > bad {
			continue
		}
		if msg := a.check(b); msg != "" {
			key := "burn_rate"
			switch {
			case a.Short > a.Long:
				key = "short"
			case a.Long > b.Period:
				key = "long"
			}
			d.errorf(fs[key].val, join(at, key), "%s", msg)
			continue
		}
		out = append(out, a)
	}
	return out
}
