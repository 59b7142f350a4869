package reference

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/sketch"
	"github.com/driftwatch/driftwatch/analysis/stat"
)

// Reference sources.
const (
	// SourceWarmup marks a reference built from a model version's first
	// windows by Store.Contribute.
	SourceWarmup = "warmup"
	// SourceImport marks a reference built from a data set by FromColumns.
	SourceImport = "import"
	// SourcePinPrefix starts the source of a reference merged from stored
	// windows by FromWindows: "pin:<from>..<to>" (RFC 3339).
	SourcePinPrefix = "pin:"
)

// Column is one column of a data set imported as a reference.
type Column struct {
	// Name is the feature's name.
	Name string
	// Kind is analysis.KindNumeric or analysis.KindCategorical.
	Kind string
	// Numeric holds a numeric column's values, Categorical a categorical
	// one's, in data set order, without the missing ones.
	Numeric     []float64
	Categorical []string
	// Missing is the number of rows without a value.
	Missing int
}

func (c *Column) len() int {
	if c.Kind == analysis.KindNumeric {
		return len(c.Numeric)
	}
	return len(c.Categorical)
}

// FromColumns builds the reference of model version m from a whole
// data set (every column is a feature; reading files is dataset's business).
//
// A numeric column's inner edges are the cfg.Bins quantiles of all its values
// (QuantileEdges, numpy's default rule, duplicates removed) and its counts,
// moments (population variance) and extremes cover all its values. Its sample
// is the bottom-cfg.ReferenceSampleSize sample keyed by SampleKey of the
// value's position among the column's values ("0", "1", ...), in key order,
// so the same data read from any format gives the same sample. A categorical
// column keeps its cfg.MaxCategories most frequent values (ties by name) and
// counts the rest in Other. The ID is the content hash, so identical data
// gives the same ID whatever now is. A column without values is an error
// naming it.
func FromColumns(cols []Column, m analysis.ModelKey, cfg analysis.Config, now time.Time) (*Reference, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("building the reference: %w", err)
	}
	if len(cols) == 0 {
		return nil, errors.New("building the reference: the data set has no columns")
	}
	ref := &Reference{
		Model:       m,
		CreatedAt:   now.UTC().Truncate(time.Second),
		Source:      SourceImport,
		Numeric:     make(map[string]*Numeric),
		Categorical: make(map[string]*Categorical),
	}
	for i := range cols {
		c := &cols[i]
		if c.len() == 0 {
			return nil, fmt.Errorf("building the reference: column %q has no values (%d missing)", c.Name, c.Missing)
		}
		if c.Kind == analysis.KindNumeric {
			ref.Numeric[c.Name] = numericFromValues(c.Numeric, cfg.Bins, cfg.ReferenceSampleSize)
			continue
		}
		counts := make(map[string]uint64)
		for _, v := range c.Categorical {
			counts[v]++
		}
		ref.Categorical[c.Name] = categoricalFromCounts(counts, 0, cfg.MaxCategories)
	}
	ref.Joint = jointFromColumns(cols, ref)
	ref.ID = ref.Hash()
	return ref, nil
}

// jointFromColumns estimates the joint reference of the numeric columns from
// their samples. With no missing value in any numeric column, every column
// sampled the same rows (keys are row positions), so the samples, in key
// order, line up row by row; otherwise there is no joint reference.
func jointFromColumns(cols []Column, ref *Reference) *stat.Joint {
	var names []string
	for i := range cols {
		c := &cols[i]
		if c.Kind != analysis.KindNumeric {
			continue
		}
		if c.Missing > 0 {
			return nil
		}
		names = append(names, c.Name)
	}
	if len(names) < 2 {
		return nil
	}
	slices.Sort(names)
	rows := make([][]float64, len(ref.Numeric[names[0]].Sample))
	for r := range rows {
		rows[r] = make([]float64, len(names))
		for f, name := range names {
			rows[r][f] = ref.Numeric[name].Sample[r]
		}
	}
	j, err := stat.NewJoint(names, rows)
	if err != nil {
		return nil
	}
	return j
}

// numericFromValues summarises all values (not empty) with bins quantile
// bins and a bottom-k sample of k values.
func numericFromValues(values []float64, bins, k int) *Numeric {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	nr := &Numeric{N: uint64(len(values)), Min: sorted[0], Max: sorted[len(sorted)-1]}
	nr.Edges = stat.QuantileEdges(sorted, bins)
	nr.Counts = make([]uint64, len(nr.Edges)+1)
	// Values are sorted, so each bin is a run: walk the edges once.
	j := 0
	for _, v := range sorted {
		for j < len(nr.Edges) && v > nr.Edges[j] {
			j++
		}
		nr.Counts[j]++
	}
	// Two passes over the values in file order: the mean, then the squared
	// deviations from it.
	var sum float64
	for _, v := range values {
		sum += v
	}
	nr.Mean = sum / float64(len(values))
	var ss float64
	for _, v := range values {
		d := v - nr.Mean
		ss += d * d
	}
	nr.Variance = ss / float64(len(values))
	s := sketch.NewSample(min(k, len(values)))
	for i, v := range values {
		s.Add(sketch.SampleKey(strconv.Itoa(i)), v)
	}
	nr.Sample = s.InKeyOrder()
	return nr
}

// categoricalFromCounts keeps the maxCategories most frequent values (ties by
// name) and counts the rest, plus other, in Other.
func categoricalFromCounts(counts map[string]uint64, other uint64, maxCategories int) *Categorical {
	names := make([]string, 0, len(counts))
	for v := range counts {
		names = append(names, v)
	}
	sort.Slice(names, func(a, b int) bool {
		ca, cb := counts[names[a]], counts[names[b]]
		if ca != cb {
			return ca > cb
		}
		return names[a] < names[b]
	})
	cr := &Categorical{Other: other}
	for i, v := range names {
		c := counts[v]
		cr.N += c
		if i >= maxCategories {
			cr.Other += c
			continue
		}
		cr.Categories = append(cr.Categories, v)
		cr.Counts = append(cr.Counts, c)
	}
	cr.N += other
	cr.Complete = cr.Other == 0
	cr.Index()
	return cr
}

// FeatureWindow is the stored summary of one feature over one window read
// from one partition (a row of the feature_windows table): the input of
// FromWindows.
type FeatureWindow struct {
	// Start is the window's start.
	Start time.Time
	// Feature is the feature's name and Kind analysis.KindNumeric or analysis.KindCategorical.
	Feature, Kind string
	// Count is the number of values.
	Count uint64
	// Mean, Variance (population), Min and Max summarise numeric values.
	Mean, Variance, Min, Max float64
	// Edges are the inner bin edges the window was counted with and
	// BinCounts the values per bin (numeric).
	Edges     []float64
	BinCounts []uint64
	// Categories and CategoryCounts are parallel (categorical); Other counts
	// values outside Categories.
	Categories     []string
	CategoryCounts []uint64
	Other          uint64
}

// FromWindows merges stored window summaries of model version m into
// a reference, source "pin:<from>..<to>".
//
// Per numeric feature it adds the bin counts, which needs every window to
// carry the same non-empty bin edges (windows counted against one pinned
// reference); otherwise it returns an error naming the feature. Moments are
// merged with Chan et al.'s parallel formulas, extremes by min and max.
// Category counts are added by name, then cut to cfg.MaxCategories like
// FromColumns. Rows without values are ignored; a feature without
// any is left out. The reference has no sample: windows store none.
func FromWindows(rows []FeatureWindow, m analysis.ModelKey, from, to time.Time, cfg analysis.Config, now time.Time) (*Reference, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pinning the reference: %w", err)
	}
	type numAcc struct {
		first      time.Time
		edges      []float64
		counts     []uint64
		n          uint64
		mean, m2   float64
		minV, maxV float64
	}
	type catAcc struct {
		counts map[string]uint64
		other  uint64
	}
	nums := map[string]*numAcc{}
	cats := map[string]*catAcc{}
	kinds := map[string]string{}
	starts := map[time.Time]bool{}
	for i := range rows {
		r := &rows[i]
		if k, ok := kinds[r.Feature]; ok && k != r.Kind {
			return nil, fmt.Errorf("pinning the reference: feature %q is %s in some windows and %s in others", r.Feature, k, r.Kind)
		}
		kinds[r.Feature] = r.Kind
		if r.Count == 0 {
			continue
		}
		starts[r.Start] = true
		switch r.Kind {
		case analysis.KindNumeric:
			if len(r.Edges) == 0 {
				return nil, fmt.Errorf("pinning the reference: feature %q: the window at %s has no bin edges (written before a reference was pinned); pin a range of windows scored against one reference",
					r.Feature, r.Start.UTC().Format(time.RFC3339))
			}
			if len(r.BinCounts) != len(r.Edges)+1 {
				return nil, fmt.Errorf("pinning the reference: feature %q: the window at %s has %d bin counts for %d edges",
					r.Feature, r.Start.UTC().Format(time.RFC3339), len(r.BinCounts), len(r.Edges))
			}
			a := nums[r.Feature]
			if a == nil {
				nums[r.Feature] = &numAcc{first: r.Start, edges: r.Edges, counts: slices.Clone(r.BinCounts),
					n: r.Count, mean: r.Mean, m2: r.Variance * float64(r.Count), minV: r.Min, maxV: r.Max}
				continue
			}
			if !slices.Equal(a.edges, r.Edges) {
				return nil, fmt.Errorf("pinning the reference: feature %q: windows have different bin edges (%v at %s, %v at %s); pin a range of windows scored against one reference",
					r.Feature, a.edges, a.first.UTC().Format(time.RFC3339), r.Edges, r.Start.UTC().Format(time.RFC3339))
			}
			for j, c := range r.BinCounts {
				a.counts[j] += c
			}
			n := float64(a.n + r.Count)
			d := r.Mean - a.mean
			a.m2 += r.Variance*float64(r.Count) + d*d*float64(a.n)*float64(r.Count)/n
			a.mean += d * float64(r.Count) / n
			a.n += r.Count
			a.minV = math.Min(a.minV, r.Min)
			a.maxV = math.Max(a.maxV, r.Max)
		case analysis.KindCategorical:
			if len(r.Categories) != len(r.CategoryCounts) {
				return nil, fmt.Errorf("pinning the reference: feature %q: the window at %s has %d categories and %d counts",
					r.Feature, r.Start.UTC().Format(time.RFC3339), len(r.Categories), len(r.CategoryCounts))
			}
			a := cats[r.Feature]
			if a == nil {
				a = &catAcc{counts: map[string]uint64{}}
				cats[r.Feature] = a
			}
			for j, v := range r.Categories {
				a.counts[v] += r.CategoryCounts[j]
			}
			a.other += r.Other
		default:
			return nil, fmt.Errorf("pinning the reference: feature %q has unknown kind %q", r.Feature, r.Kind)
		}
	}
	if len(nums)+len(cats) == 0 {
		return nil, errors.New("pinning the reference: the windows hold no values")
	}
	ref := &Reference{
		Model:       m,
		CreatedAt:   now.UTC().Truncate(time.Second),
		Source:      SourcePinPrefix + from.UTC().Format(time.RFC3339) + ".." + to.UTC().Format(time.RFC3339),
		Windows:     len(starts),
		Numeric:     make(map[string]*Numeric, len(nums)),
		Categorical: make(map[string]*Categorical, len(cats)),
	}
	for name, a := range nums {
		ref.Numeric[name] = &Numeric{Edges: slices.Clone(a.edges), Counts: a.counts, N: a.n,
			Mean: a.mean, Variance: a.m2 / float64(a.n), Min: a.minV, Max: a.maxV}
	}
	for name, a := range cats {
		ref.Categorical[name] = categoricalFromCounts(a.counts, a.other, cfg.MaxCategories)
	}
	ref.ID = ref.Hash()
	return ref, nil
}
