// Package access holds the signals about who calls a model: per-caller
// request patterns that model extraction, scraping and probing leave:
// caller_volume (callers whose volume in a window stands out from the
// population of callers), caller_probing (callers whose calls crowd the
// decision boundary), caller_diversity (callers whose inputs are far more
// often new than the median caller's), caller_ood (callers whose inputs
// leave the reference's central range more often than the population's)
// and caller_harvest (callers whose predicted classes are spread more
// evenly than the other calls'), each with memory bounded by a
// Space-Saving summary of the heaviest callers whatever their number (two
// summaries shared by the five in a window, see table.go), and per-caller
// state (a HyperLogLog sketch, a bottom-k sample, class counts) that
// follows a caller's counter and is reset when another caller takes it
// over.
//
// Volume alone is a warning at most, and so is diversity by default: a
// benign batch service is heavy, and may send every input once. Critical
// needs an abnormal pattern in what a caller sends (caller_ood) or gets
// (caller_probing, caller_harvest). It does not keep a caller's history
// across windows (analysis/evaluate does: caller_volume_history,
// caller_probing_history, caller_diversity_history, caller_ood_history,
// caller_harvest_history and caller_new_heavy), nor judge callers it does
// not track: the heaviest are tracked, the rest only counted in the
// population.
package access

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/telemetry"
)

// Principal fields a caller can be named by, most specific first.
const (
	FieldEndUser = "enduser.id"
	FieldClient  = "client.address"
	FieldService = "service"
	FieldTenant  = "tenant"
)

// Config configures the access signals.
type Config struct {
	// CallerFields name the caller: the first of these principal fields an
	// event has. Default: enduser.id, client.address, service, tenant.
	CallerFields []string `yaml:"caller_fields"`
	// MaxCallers bounds the callers counted per window and partition (a
	// filtered Space-Saving summary: about 90 bytes per caller plus its
	// name, and 32 to 64 bytes of filter cells); the others are counted in
	// the cells, take the smallest counters over when they call more, with
	// their overcount recorded, and are counted in caller_volume's 1 KiB
	// sketch of the callers' names. Default: 1000.
	MaxCallers int `yaml:"max_callers"`
	// MaxSubjects bounds the callers named in a window's verdicts, the
	// most outstanding first. Default: 16.
	MaxSubjects int `yaml:"max_subjects"`
	// MinCount is the fewest calls of a caller in a window before its
	// volume is judged. Default: 100.
	MinCount int `yaml:"min_count"`
	// VolumeLevel is the robust z of a caller's volume against the
	// window's callers (median and median absolute deviation of their
	// counts) at which it is a warning. Volume alone is never critical: a
	// batch service is heavy and benign. Default: 5.
	VolumeLevel float64 `yaml:"volume_level"`
	// ProbeMargin is the distance of a score from its threshold that
	// counts as a probe of the decision boundary. Default: 0.05.
	ProbeMargin float64 `yaml:"probe_margin"`
	// Probing levels the excess of a caller's share of probes over the
	// other callers' (0.1: ten more in a hundred calls). Default: 0.1 / 0.3.
	Probing outputs.Levels `yaml:"probing"`
	// InputCallers bounds the callers whose inputs and outputs are
	// sketched per window and partition, the heaviest kept (filtered
	// Space-Saving, as MaxCallers):
	// caller_diversity keeps 1 KiB per caller, caller_ood OODSample
	// inputs of 8 + 2·OODFeatures bytes, caller_harvest 8 bytes per class
	// (MaxClasses + 1) and 136 bytes of distinct inputs. Default: 256.
	InputCallers int `yaml:"input_callers"`
	// Diversity levels the excess of a caller's share of distinct
	// quantized inputs over the median caller's. Diversity alone is a
	// warning at most: the default critical level, 1, is above any excess.
	// Default: 0.5 / 1.
	Diversity outputs.Levels `yaml:"diversity"`
	// MaxClasses bounds the predicted classes counted per caller by
	// caller_harvest; further classes are counted together as one.
	// Default: 32.
	MaxClasses int `yaml:"max_classes"`
	// Harvest levels the excess of the normalised entropy of a caller's
	// predicted classes over the other callers' (0: as even; 1: uniform
	// where the others always get one class). Default: 0.15 / 0.3.
	Harvest outputs.Levels `yaml:"harvest"`
	// OODQuantile sets the reference's central range of each numeric
	// feature, [q, 1 − q], outside which an input is out of distribution.
	// Default: 0.005.
	OODQuantile float64 `yaml:"ood_quantile"`
	// OODSample is the calls of each caller sampled (bottom-k by the hash
	// of their prediction id) to estimate its share of inputs out of
	// distribution. Default: 32.
	OODSample int `yaml:"ood_sample"`
	// OODFeatures bounds the numeric features caller_ood reads, the first
	// seen. Default: 16.
	OODFeatures int `yaml:"ood_features"`
	// OOD levels the excess of a caller's share of inputs out of
	// distribution over the population's (0.1: ten more in a hundred
	// calls). Default: 0.1 / 0.3.
	OOD outputs.Levels `yaml:"ood"`
	// StoreCallers bounds the rows a window writes to caller_windows: every
	// tracked caller a verdict of the window names and every one with at
	// least MinCount calls of a kind counted under its own counter (calls,
	// scored calls, calls with inputs or with a class: the callers the
	// signals and the callers' history judge; the monitor takes the smaller
	// of MinCount and analysis.sequential.caller_history.min_calls) is
	// stored, then the heaviest
	// of the others (most calls of their own, then most calls, then by
	// name) while the window has fewer rows. The rest, the light callers of
	// a long tail whose counts are mostly overcount, have their calls and
	// overcount stored in the window's model_windows row instead (what the
	// callers' history needs of them; driftwatch_analysis_callers_unstored_total
	// counts them). MaxCallers + InputCallers or more stores every tracked
	// caller. Default: 100.
	StoreCallers int `yaml:"store_callers"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{CallerFields: []string{FieldEndUser, FieldClient, FieldService, FieldTenant}, MaxCallers: 1000, MaxSubjects: 16,
		MinCount: 100, VolumeLevel: 5, ProbeMargin: 0.05, Probing: outputs.Levels{Warning: 0.1, Critical: 0.3},
		InputCallers: 256, Diversity: outputs.Levels{Warning: 0.5, Critical: 1}, MaxClasses: 32,
		Harvest: outputs.Levels{Warning: 0.15, Critical: 0.3}, OODQuantile: 0.005, OODSample: 32, OODFeatures: 16,
		OOD: outputs.Levels{Warning: 0.1, Critical: 0.3}, StoreCallers: 100}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	if len(c.CallerFields) == 0 {
		return fmt.Errorf("caller_fields: name at least one of %s, %s, %s, %s", FieldEndUser, FieldClient, FieldService, FieldTenant)
	}
	for _, f := range c.CallerFields {
		if !slices.Contains([]string{FieldEndUser, FieldClient, FieldService, FieldTenant}, f) {
			return fmt.Errorf("caller_fields: %q is not one of %s, %s, %s, %s", f, FieldEndUser, FieldClient, FieldService, FieldTenant)
		}
	}
	switch {
	case c.MaxCallers < 1 || c.MaxCallers > 1_000_000:
		return fmt.Errorf("max_callers: must be in [1, 1000000], got %d", c.MaxCallers)
	case c.MaxSubjects < 1 || c.MaxSubjects > 1000:
		return fmt.Errorf("max_subjects: must be in [1, 1000], got %d", c.MaxSubjects)
	case c.MinCount < 1:
		return fmt.Errorf("min_count: must be positive, got %d", c.MinCount)
	case c.StoreCallers < 0:
		return fmt.Errorf("store_callers: must not be negative, got %d", c.StoreCallers)
	case !(c.VolumeLevel > 0) || math.IsInf(c.VolumeLevel, 0):
		return fmt.Errorf("volume_level: must be positive, got %g", c.VolumeLevel)
	case !(c.ProbeMargin > 0 && c.ProbeMargin < 1):
		return fmt.Errorf("probe_margin: must be in (0, 1), got %g", c.ProbeMargin)
	}
	if err := c.Probing.Validate(); err != nil {
		return fmt.Errorf("probing: %w", err)
	}
	switch {
	case c.InputCallers < 1 || c.InputCallers > 100_000:
		return fmt.Errorf("input_callers: must be in [1, 100000], got %d", c.InputCallers)
	case c.MaxClasses < 2 || c.MaxClasses > 1000:
		return fmt.Errorf("max_classes: must be in [2, 1000], got %d", c.MaxClasses)
	case !(c.OODQuantile > 0 && c.OODQuantile < 0.25):
		return fmt.Errorf("ood_quantile: must be in (0, 0.25), got %g", c.OODQuantile)
	case c.OODSample < 1 || c.OODSample > 1024:
		return fmt.Errorf("ood_sample: must be in [1, 1024], got %d", c.OODSample)
	case c.OODFeatures < 1 || c.OODFeatures > 256:
		return fmt.Errorf("ood_features: must be in [1, 256], got %d", c.OODFeatures)
	}
	for _, l := range []struct {
		name string
		l    outputs.Levels
	}{{"diversity", c.Diversity}, {"harvest", c.Harvest}, {"ood", c.OOD}} {
		if err := l.l.Validate(); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

// Caller returns the caller of e: its first non-empty principal field of
// fields, "" when it has none.
func Caller(e *telemetry.Event, fields []string) string { return CallerOf(&e.Principal, fields) }

// principalFields is caller fields resolved once, for the per-event path:
// the fields by position in the Principal (fieldEndUser, ...), unknown
// names dropped.
type principalFields []uint8

const (
	fieldEndUser = iota
	fieldClient
	fieldService
	fieldTenant
)

// resolveFields returns fields resolved.
func resolveFields(fields []string) principalFields {
	var out principalFields
	for _, f := range fields {
		if c, ok := fieldCode(f); ok {
			out = append(out, c)
		}
	}
	return out
}

// fieldCode returns the position in the Principal of the field named name.
func fieldCode(name string) (uint8, bool) {
	switch name {
	case FieldEndUser:
		return fieldEndUser, true
	case FieldClient:
		return fieldClient, true
	case FieldService:
		return fieldService, true
	case FieldTenant:
		return fieldTenant, true
	}
	return 0, false
}

// principalField returns the field of p at position code.
func principalField(p *telemetry.Principal, code uint8) string {
	switch code {
	case fieldEndUser:
		return p.EndUserID
	case fieldClient:
		return p.ClientAddress
	case fieldService:
		return p.Service
	case fieldTenant:
		return p.Tenant
	}
	return ""
}

// of returns the caller of e, as Caller does, without comparing names.
func (fs principalFields) of(e *telemetry.Event) string {
	for _, c := range fs {
		if v := principalField(&e.Principal, c); v != "" {
			return v
		}
	}
	return ""
}

// CallerOf returns the first non-empty field of p among fields, "" when
// it has none: the caller of an inference, the source of a feedback.
func CallerOf(p *telemetry.Principal, fields []string) string {
	for _, f := range fields {
		if c, ok := fieldCode(f); ok {
			if v := principalField(p, c); v != "" {
				return v
			}
		}
	}
	return ""
}

// Volume is caller_volume: per window, the calls of each caller counted
// in a Space-Saving summary of MaxCallers counters (exact while the
// window's callers are fewer; a caller whose calls exceed 1/MaxCallers of
// the window's always has a counter).
//
// Verdicts: "*" informs (statistic: the callers counted; evidence: the
// heaviest caller's share and the anonymous calls); then, for at most
// MaxSubjects callers with at least MinCount calls, the most outstanding
// first, one per caller whose robust z against the window's callers,
// z = (count − median)/(1.4826·MAD) (the scale at least √median, the
// Poisson spread, so that a population of equal callers does not make every
// difference infinite), reaches VolumeLevel: a
// warning, never critical (volume alone does not say abuse; a benign batch
// service is heavy too), its evidence saying whether the caller was among
// the reference period's callers. Verdicts carry no p-value: the robust z
// is an outlier rule, not a calibrated test.
//
// The median and MAD are those of the window's real callers, not of the
// counters: every tracked caller by its exact calls (Count − Err), and the
// callers the summary does not track in aggregate, their number estimated
// by a HyperLogLog sketch of the callers' names (1 KiB) and each given the
// mean of the calls the tracked callers' exact counts leave over (see
// population). A median over the counters would include their overcount:
// with 10,000 callers of about 2 calls and 1,000 counters it was 17, and
// only callers far above that were outstanding.
type Volume struct{ Config Config }

// Name returns "caller_volume".
func (Volume) Name() string { return "caller_volume" }

// NewPartial returns an empty partial.
func (s Volume) NewPartial() signal.Partial {
	f := resolveFields(s.Config.CallerFields)
	return &callers{ref: tableRef{col: &callerSlots, capacity: s.Config.MaxCallers, fields: f}, fields: f}
}

type callers struct {
	// h is the partial's own summary once it is settled (decoded, merged
	// or scored); nil while it observes, the calls counted in ref's
	// summary, which it shares with caller_probing.
	h         *sketch.HeavyHitters
	ref       tableRef
	anonymous uint64 // calls without a caller
	// distinct sketches every caller's name (xxHash64), for the number of
	// callers the summary does not track; unknown when a partial encoded
	// before it was kept has been merged or decoded in.
	distinct        sketch.HLL
	distinctUnknown bool
	fields          principalFields
	own             signal.Batch // for Observe
}

func (p *callers) Observe(events []*telemetry.Event) { observeOwn(p, &p.own, events) }

func (p *callers) ObserveBatch(b *signal.Batch) {
	for i, v := range p.ref.observing(&p.h, nil, b, &p.own) {
		_, taken, _, ok := slotOf(v)
		if v == noCaller {
			p.anonymous++
			continue
		}
		// A caller's first call takes a counter or is counted without one
		// (uncounted): adding those callers adds every caller, and a
		// sketch of names holds the same registers however often a name
		// is added.
		if taken || !ok {
			p.distinct.Add(xxhash.Sum64String(p.fields.of(b.Events[i])))
		}
	}
}

// summary returns the summary of p's calls: its own once settled, else
// the shared one.
func (p *callers) summary() *sketch.HeavyHitters {
	if p.h != nil {
		return p.h
	}
	if p.ref.t == nil {
		p.ref.t = &callerTable{h: sketch.NewFilteredHeavyHitters(p.ref.capacity), fields: p.ref.fields}
	}
	return p.ref.t.h
}

// settle makes p's summary its own.
func (p *callers) settle() {
	if p.h == nil {
		*p = *settle(p, &callers{ref: p.ref, fields: p.fields})
	}
}

func (p *callers) Merge(o signal.Partial) {
	q := o.(*callers)
	p.settle()
	q.settle()
	p.h.Merge(q.h)
	p.anonymous += q.anonymous
	p.distinct.Merge(&q.distinct)
	p.distinctUnknown = p.distinctUnknown || q.distinctUnknown
}

// callersSketched marks an encoding that carries the callers' sketch after
// the summary (one byte); an encoding that ends with the summary was written
// before the sketch was kept, and decodes with the callers' number unknown.
const callersSketched = 1

func (p *callers) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, p.anonymous)
	b = p.summary().AppendBinary(b)
	if p.distinctUnknown {
		return b
	}
	b = append(b, callersSketched)
	return p.distinct.AppendBinary(b)
}

// Reset empties p for the next window, keeping its memory.
func (p *callers) Reset() {
	p.h = nil
	p.ref.reset()
	p.anonymous = 0
	p.distinct.Reset()
	p.distinctUnknown = false
}

func (p *callers) Decode(d *sketch.Decoder) {
	p.anonymous = d.Uvarint()
	p.h = sketch.NewHeavyHitters(p.ref.capacity)
	p.h.Decode(d)
	if d.Err() != nil {
		return
	}
	if d.Remaining() == 0 {
		p.distinctUnknown = true // encoded by an earlier version
		return
	}
	if v := d.Byte(); d.Err() == nil && v != callersSketched {
		d.Fail(fmt.Sprintf("caller_volume trailer %d (want %d: the callers' sketch)", v, callersSketched))
		return
	}
	p.distinct.Decode(d)
}

// population returns the median and the median absolute deviation of the
// calls of the window's callers, and the number of callers they are taken
// over.
//
// The Space-Saving counters overcount: once every counter is taken, a
// caller that takes one over inherits the smallest count, so with 10,000
// callers of about 2 calls each and 1,000 counters, the counters' counts
// are around 17, and a median over them would make every caller look
// ordinary. So the population is the callers' exact calls: each tracked
// caller's calls under its own counter (Count − Err, a lower bound of its
// calls), and the callers the summary does not track in aggregate: about
// U = D̂ − tracked of them (D̂ the callers' HyperLogLog estimate, at most
// the calls left over so that each has one), each with the mean of the
// calls left over, R/U (R = the callers' calls less the tracked callers'
// exact calls: the untracked callers' calls, and those the tracked ones
// made before they had a counter), spread as the geometric distribution of
// that mean on 1, 2, ... calls (the least informative one: nothing is known
// of them but their number and calls, and each called at least once). A
// heavy-tailed population's median sits in the untracked mass, so their
// spread matters: placed all at their mean, the heavier untracked callers
// would pull the median up (2.6 for a true 2 in the test). With fewer callers than counters every
// count is exact and R = 0: the median is the exact one. Without the
// callers' sketch (a partial of an earlier version merged in), the tracked
// callers' exact calls only.
func (p *callers) population() (med, mad, n float64) {
	top := ranked(p.h)
	vals := make([]weighted, 0, len(top)+1)
	var exact uint64
	for _, r := range top {
		h := r.Hitter
		vals = append(vals, weighted{float64(exactCalls(h)), 1})
		exact += exactCalls(h)
	}
	if rest := p.h.N - min(exact, p.h.N); rest > 0 && !p.distinctUnknown {
		u := math.Round(p.distinct.Estimate()) - float64(len(top))
		if u = math.Min(u, float64(rest)); u >= 1 {
			vals = appendGeometric(vals, float64(rest)/u, u)
		}
	}
	return weightedMedianMAD(vals)
}

// appendGeometric appends u callers whose calls follow the geometric
// distribution on 1, 2, ... of mean m ≥ 1 (P(k) = (1 − q)·q^(k−1),
// q = 1 − 1/m): the least informative distribution of counts of at least
// one call with that mean (the largest entropy). Its tail beyond 10⁻⁴ of the
// callers stands at its last value.
func appendGeometric(vs []weighted, m, u float64) []weighted {
	q := 1 - 1/m
	left := u
	for k := 1.0; left > 1e-4*u && k < 1e4; k++ {
		w := u * (1 - q) * math.Pow(q, k-1)
		vs = append(vs, weighted{k, w})
		left -= w
	}
	if left > 0 {
		vs[len(vs)-1].w += left
	}
	return vs
}

// weighted is a value standing for w callers.
type weighted struct{ x, w float64 }

// weightedMedianMAD returns the median of vs, each value counted w times
// (the mean of the two middle values of an even total, as stat.MedianMAD),
// the median of the absolute deviations from it, and the total weight.
func weightedMedianMAD(vs []weighted) (med, mad, n float64) {
	for _, v := range vs {
		n += v.w
	}
	if n == 0 {
		return math.NaN(), math.NaN(), 0
	}
	middle := func(vs []weighted) float64 {
		slices.SortFunc(vs, func(a, b weighted) int { return cmp.Compare(a.x, b.x) })
		// The values at ranks ⌊(n−1)/2⌋ and ⌈(n−1)/2⌉ (from 0).
		lo, hi := math.Floor((n-1)/2), math.Ceil((n-1)/2)
		var at, xlo, xhi float64
		found := 0
		for _, v := range vs {
			next := at + v.w
			if found == 0 && lo < next {
				xlo, found = v.x, 1
			}
			if found == 1 && hi < next {
				xhi, found = v.x, 2
				break
			}
			at = next
		}
		return (xlo + xhi) / 2
	}
	med = middle(vs)
	dev := make([]weighted, len(vs))
	for i, v := range vs {
		dev[i] = weighted{math.Abs(v.x - med), v.w}
	}
	return med, middle(dev), n
}

// Score returns the window's caller verdicts.
func (s Volume) Score(cur, ref signal.Partial) []signal.Verdict {
	c := cur.(*callers)
	c.settle()
	total := c.h.N + c.anonymous
	if total == 0 {
		return nil
	}
	nan := math.NaN()
	top := ranked(c.h)
	summary := fmt.Sprintf("%d callers counted, %d anonymous calls", len(top), c.anonymous)
	if len(top) > 0 {
		summary = fmt.Sprintf("%d callers counted; heaviest %q with %d of %d calls; %d anonymous calls", len(top), top[0].Key, top[0].Count, total, c.anonymous)
	}
	med, mad, pop := c.population()
	if len(top) > 0 {
		summary += fmt.Sprintf("; median caller %.1f calls of about %.0f callers", med, pop)
	}
	out := []signal.Verdict{signal.Info("*", float64(len(top)), nan, total, summary)}
	if len(top) < 3 {
		return out
	}
	scale := math.Max(stat.MADScale*mad, math.Sqrt(med))
	var refCallers *sketch.HeavyHitters
	if ref != nil {
		r := ref.(*callers)
		r.settle()
		refCallers = r.h
	}
	named := 0
	for _, x := range top { // the largest count first: the largest z first
		h := x.Hitter
		if named == s.Config.MaxSubjects || h.Count < uint64(s.Config.MinCount) {
			break
		}
		z := (float64(h.Count) - med) / scale
		if z < s.Config.VolumeLevel {
			break
		}
		named++
		seen := "no reference period to compare with"
		if refCallers != nil {
			if rc, _ := refCallers.Count(h.Key); rc > 0 {
				seen = fmt.Sprintf("%d calls in the reference period", rc)
			} else {
				seen = "not among the reference period's callers"
			}
		}
		v := signal.Info(strings.Clone(h.Key), float64(h.Count), z, h.Count,
			fmt.Sprintf("%d calls (%.1f%% of %d; up to %d overcounted) against a median caller's %.1f; %s", h.Count,
				100*float64(h.Count)/float64(total), total, h.Err, med, seen))
		v.Threshold, v.Severity = s.Config.VolumeLevel, verdict.SeverityWarning
		out = append(out, v)
	}
	return out
}

// CallerSummary is what one tracked caller did in a merged window, for the
// callers' history and the caller_windows table (a light caller's calls
// and overcount only, in model_windows: Config.Stored).
type CallerSummary struct {
	Caller string
	// Calls and their possible overcount (caller_volume's counter).
	Calls, CallsOvercount uint64
	// ScoredCalls (a score and a threshold), their overcount, and the
	// probes among those counted under the caller's own counter
	// (caller_probing's counter).
	ScoredCalls, ScoredOvercount, Probes uint64
	// InputCalls (with inputs) and their overcount (caller_diversity's
	// counter), and DistinctInputs, the estimated distinct quantized inputs
	// of those counted under the caller's own counter (at most them).
	InputCalls, InputOvercount uint64
	DistinctInputs             float64
	// OODSampled is the distinct inputs caller_ood sampled of the caller,
	// OODOutside those of them outside the central range of the window's
	// own calls (the verdicts in signals compare with the reference's).
	OODSampled, OODOutside uint64
	// ClassCalls is the calls with a predicted class counted under the
	// caller's own caller_harvest counter, Classes the classes among them,
	// and ClassEntropy their normalised entropy over the classes the window
	// predicted (0: one class; 1: as even as can be), caller_harvest's
	// statistic.
	ClassCalls   uint64
	Classes      uint32
	ClassEntropy float64
}

// Summaries returns the tracked callers of a window's merged partials (those
// of the access signals among ps), by caller name. A caller tracked by some
// of the signals has zeros for the others' figures.
func Summaries(ps []signal.Partial) []CallerSummary {
	n, most := 0, 0
	for _, p := range ps {
		if h := settledSummary(p); h != nil {
			n, most = n+h.Len(), max(most, h.Len())
		}
	}
	// At most n callers: all never grows.
	by, all := make(map[string]int, most), make([]CallerSummary, 0, n)
	// get returns k's summary, valid until the next get.
	get := func(k string) *CallerSummary {
		i, ok := by[k]
		if !ok {
			i = len(all)
			all = append(all, CallerSummary{Caller: strings.Clone(k)})
			by[all[i].Caller] = i
		}
		return &all[i]
	}
	for _, p := range ps {
		switch p := p.(type) {
		case *callers:
			for slot := range p.h.Len() {
				h := p.h.AtSlot(slot)
				s := get(h.Key)
				s.Calls, s.CallsOvercount = h.Count, h.Err
			}
		case *probes:
			for slot := range p.h.Len() {
				h := p.h.AtSlot(slot)
				s := get(h.Key)
				s.ScoredCalls, s.ScoredOvercount, s.Probes = h.Count, h.Err, h.Aux
			}
		case *diversity:
			for slot := range p.h.Len() {
				h := p.h.AtSlot(slot)
				s := get(h.Key)
				s.InputCalls, s.InputOvercount = h.Count, h.Err
				s.DistinctInputs = math.Min(p.sk[slot].Estimate(), float64(exactCalls(h)))
			}
		case *ood:
			lo, hi, ok := centralRanges(&p.pop, p.names, p.d, p.names, p.q)
			per := make([]int, len(ok))
			for slot := range p.h.Len() {
				s := get(p.h.AtSlot(slot).Key)
				smp := &p.callers[slot]
				s.OODSampled, s.OODOutside = uint64(len(smp.keys)), uint64(outside(smp, p.d, lo, hi, ok, per))
			}
		case *harvest:
			cols := p.order()
			w := p.max + 1
			k := 0
			for _, j := range cols {
				if p.pop[j] > 0 {
					k++
				}
			}
			row := make([]float64, len(cols))
			for slot := range p.h.Len() {
				h := p.h.AtSlot(slot)
				s := get(h.Key)
				s.ClassCalls, s.Classes = exactCalls(h), 0
				for i, j := range cols {
					row[i] = float64(p.counts[slot*w+j])
					if row[i] > 0 {
						s.Classes++
					}
				}
				s.ClassEntropy = normEntropy(row, k)
			}
		}
	}
	// Sorted by name, not as structs (moving a summary is moving 160
	// bytes), then put in that order in place, each cycle of the
	// permutation followed once.
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(all[a].Caller, all[b].Caller) })
	for i := range order {
		if order[i] < 0 {
			continue
		}
		first := all[i]
		j := i
		for order[j] != i {
			all[j], order[j], j = all[order[j]], -1, order[j]
		}
		all[j], order[j] = first, -1
	}
	return all
}

// Stored splits the callers of cs (a window's Summaries) into those its
// caller_windows rows hold (StoreCallers) and the others, each in cs's
// order: stored are those that named, the sorted subjects of the window's
// verdicts, holds, those with at least MinCount calls of a kind under
// their own counter (Judged), and the heaviest others while fewer than
// StoreCallers are kept. Both are new slices.
func (c Config) Stored(cs []CallerSummary, named []string) (stored, others []CallerSummary) {
	keep := make([]bool, len(cs))
	var rest []int // the others, by index
	kept := 0
	for i := range cs {
		_, isNamed := slices.BinarySearch(named, cs[i].Caller)
		if isNamed || cs[i].Judged(uint64(c.MinCount)) {
			keep[i] = true
			kept++
			continue
		}
		rest = append(rest, i)
	}
	if kept < c.StoreCallers {
		slices.SortFunc(rest, func(a, b int) int {
			x, y := &cs[a], &cs[b]
			return cmp.Or(cmp.Compare(y.OwnCalls(), x.OwnCalls()), cmp.Compare(y.Calls, x.Calls), strings.Compare(x.Caller, y.Caller))
		})
		for _, i := range rest[:min(len(rest), c.StoreCallers-kept)] {
			keep[i] = true
		}
	}
	stored = make([]CallerSummary, 0, max(kept, min(len(cs), c.StoreCallers)))
	others = make([]CallerSummary, 0, len(cs)-cap(stored))
	for i := range cs {
		if keep[i] {
			stored = append(stored, cs[i])
		} else {
			others = append(others, cs[i])
		}
	}
	return stored, others
}

// OwnCalls returns the calls of s counted under its own counter (Calls −
// CallsOvercount).
func (s *CallerSummary) OwnCalls() uint64 { return s.Calls - min(s.CallsOvercount, s.Calls) }

// Judged reports whether s has at least n calls of a kind under its own
// counter (calls, scored calls, calls with inputs, calls with a class): the
// least the signals and the callers' history judge a figure of a caller on.
func (s *CallerSummary) Judged(n uint64) bool {
	return s.OwnCalls() >= n || s.ScoredCalls-min(s.ScoredOvercount, s.ScoredCalls) >= n ||
		s.InputCalls-min(s.InputOvercount, s.InputCalls) >= n || s.ClassCalls >= n
}

// settledSummary settles an access partial onto a summary of its own and
// returns it, nil for another partial.
func settledSummary(p signal.Partial) *sketch.HeavyHitters {
	if s, ok := p.(interface{ settle() }); ok {
		s.settle()
	}
	return summaryOf(p)
}

// summaryOf returns the callers' summary of a settled access partial, nil
// for another partial or one that observes.
func summaryOf(p signal.Partial) *sketch.HeavyHitters {
	switch p := p.(type) {
	case *callers:
		return p.h
	case *probes:
		return p.h
	case *diversity:
		return p.h
	case *ood:
		return p.h
	case *harvest:
		return p.h
	}
	return nil
}
