package compare

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/dataset"
)

// Options controls Compare. The zero value means the defaults.
type Options struct {
	// FDR is the Benjamini–Hochberg false discovery rate across columns.
	// Default: 0.05.
	FDR float64
	// MinCount is the number of values both sides need before a column can
	// drift. Default: 100.
	MinCount int
	// MMDRows is the most rows per side the MMD test uses; larger sets are
	// subsampled. Default: 500.
	MMDRows int
	// Permutations is the number of MMD permutations. Default: 100.
	Permutations int
	// Seed seeds the MMD subsample and permutations. Default: 1.
	Seed uint64
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.FDR == 0 {
		o.FDR = 0.05
	}
	if o.MinCount == 0 {
		o.MinCount = 100
	}
	if o.MMDRows == 0 {
		o.MMDRows = 500
	}
	if o.Permutations == 0 {
		o.Permutations = 100
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Validate names the first field out of range. Zero fields are valid: they
// take the defaults.
func (o Options) Validate() error {
	switch {
	case !(o.FDR >= 0 && o.FDR < 1):
		return fmt.Errorf("fdr %v: want a rate in (0, 1)", o.FDR)
	case o.MinCount < 0:
		return fmt.Errorf("min count %d: want ≥ 1", o.MinCount)
	case o.MMDRows < 0 || o.MMDRows == 1:
		return fmt.Errorf("mmd rows %d: want ≥ 2", o.MMDRows)
	case o.Permutations < 0:
		return fmt.Errorf("permutations %d: want ≥ 1", o.Permutations)
	}
	return nil
}

// Effect-size levels (warning, critical) of Compare's decision. PSI, JS and
// normalised Wasserstein are the monitor's defaults (analysis.DefaultConfig); L∞ is
// NannyML's 0.1 with a critical level twice that.
var (
	comparePSI   = analysis.Threshold{Warning: 0.1, Critical: 0.25}
	compareJS    = analysis.Threshold{Warning: 0.1, Critical: 0.2}
	compareWNorm = analysis.Threshold{Warning: 0.1, Critical: 0.2}
	compareLInf  = analysis.Threshold{Warning: 0.1, Critical: 0.2}
)

// psiNullLevel is the quantile of PSI's null distribution below which PSI
// never counts as an effect.
const psiNullLevel = 0.99

// Report is the drift report of a current data set against a
// reference. Its JSON form is the contract documented in docs/compare.md.
type Report struct {
	// Features has one entry per column present in both data sets, in the
	// reference's order.
	Features []FeatureReport `json:"features"`
	// Multivariate compares the numeric columns without missing values
	// jointly.
	Multivariate MultivariateReport `json:"multivariate"`
	// Notes say what was not compared and why (columns in one data set only,
	// no multivariate test). They are not part of the JSON report.
	Notes []string `json:"-"`
}

// FeatureReport is one column's tests and decision.
type FeatureReport struct {
	// Name is the column name.
	Name string `json:"name"`
	// Type is analysis.KindNumeric or analysis.KindCategorical.
	Type string `json:"type"`
	// NReference and NCurrent count the non-missing values.
	NReference int `json:"n_reference"`
	NCurrent   int `json:"n_current"`
	// Drift is the decision (docs/compare.md).
	Drift bool `json:"drift"`
	// Severity is verdict.SeverityOK unless Drift.
	Severity verdict.Severity `json:"severity"`
	// Tests holds the tests that apply to the column's type.
	Tests FeatureTests `json:"tests"`
}

// FeatureTests holds every test of one column; those that do not apply to its
// type are nil and absent from the JSON.
type FeatureTests struct {
	// KS is the two-sample Kolmogorov–Smirnov test (numeric).
	KS *KSReport `json:"ks,omitempty"`
	// AndersonDarling is the k-sample Anderson–Darling test (numeric).
	AndersonDarling *PValueReport `json:"anderson_darling,omitempty"`
	// Wasserstein is Wasserstein-1 (numeric).
	Wasserstein *WassersteinReport `json:"wasserstein,omitempty"`
	// Energy is the energy distance (numeric).
	Energy *StatReport `json:"energy,omitempty"`
	// PSI is on reference deciles (numeric) or categories (categorical).
	PSI *StatReport `json:"psi,omitempty"`
	// JS is the Jensen–Shannon distance, base 2, on the same bins.
	JS *StatReport `json:"js,omitempty"`
	// Hellinger is the Hellinger distance on the same bins.
	Hellinger *StatReport `json:"hellinger,omitempty"`
	// KL is KL(current‖reference) on the same bins (numeric).
	KL *StatReport `json:"kl,omitempty"`
	// Chi2 is the chi-square test of homogeneity (categorical).
	Chi2 *Chi2Report `json:"chi2,omitempty"`
	// LInf is the largest change of one category's share (categorical).
	LInf *StatReport `json:"linf,omitempty"`
	// Unseen is the share of current values whose category the reference
	// does not have (categorical).
	Unseen *StatReport `json:"unseen,omitempty"`
}

// MultivariateReport holds the joint tests; each is nil when it could not be
// computed (see Report.Notes).
type MultivariateReport struct {
	// MMD is the RBF-kernel maximum mean discrepancy permutation test.
	MMD *PValueReport `json:"mmd,omitempty"`
	// Mahalanobis is the Mahalanobis distance of the current mean from the
	// reference mean.
	Mahalanobis *StatReport `json:"mahalanobis,omitempty"`
	// Columns names the columns the joint tests used. It is not part of the
	// JSON report.
	Columns []string `json:"-"`
}

// Float is a float64 that marshals NaN and ±Inf as JSON null.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

var _ json.Marshaler = Float(0)

// StatReport is a test with a statistic only.
type StatReport struct {
	// Statistic is the test's value.
	Statistic Float `json:"statistic"`
}

// PValueReport is a test with a statistic and a p-value.
type PValueReport struct {
	// Statistic is the test statistic.
	Statistic Float `json:"statistic"`
	// PValue is its p-value.
	PValue Float `json:"p_value"`
}

// KSReport is a Kolmogorov–Smirnov result.
type KSReport struct {
	// Statistic is D.
	Statistic Float `json:"statistic"`
	// PValue is the two-sided p-value.
	PValue Float `json:"p_value"`
	// Method is stat.KSExact or stat.KSAsymp.
	Method string `json:"method"`
}

// WassersteinReport is Wasserstein-1 raw and over the reference standard
// deviation.
type WassersteinReport struct {
	// Statistic is in the feature's units.
	Statistic Float `json:"statistic"`
	// Normalized is Statistic / max(σ_ref, 0.001), σ with ddof 0.
	Normalized Float `json:"normalized"`
}

// Chi2Report is a chi-square test result.
type Chi2Report struct {
	// Statistic is X².
	Statistic Float `json:"statistic"`
	// PValue is its upper-tail probability.
	PValue Float `json:"p_value"`
	// DoF is the degrees of freedom.
	DoF int `json:"dof"`
}

// Compare tests every column of current against the same column of
// reference and the numeric columns jointly, and decides drift per column.
//
// A column drifts when both sides have at least MinCount values, its
// significance test (KS for numeric, chi-square for categorical) is rejected
// by Benjamini–Hochberg at FDR across the compared columns, and an effect size
// reaches its warning level: PSI, JS or normalised Wasserstein for numeric
// columns, JS or L∞ for categorical. PSI's levels are raised to its null
// distribution's 99th percentile (1/n_ref + 1/n_cur)·χ²_{B−1, 0.99} when that
// is larger. The severity is the worst level reached. See docs/compare.md.
//
// Columns must have the same kind in both tables. Tables are not modified.
// Columns are scored in parallel, one goroutine per CPU.
func Compare(reference, current *dataset.Table, opt Options) (*Report, error) {
	opt = opt.withDefaults()
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("comparing data sets: %w", err)
	}
	rep := &Report{Features: []FeatureReport{}}
	type pair struct{ ref, cur *dataset.Column }
	var pairs []pair
	for i := range reference.Columns {
		rc := &reference.Columns[i]
		cc := current.Column(rc.Name)
		if cc == nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("column %q is only in the reference; not compared", rc.Name))
			continue
		}
		if rc.Kind != cc.Kind {
			return nil, fmt.Errorf("comparing column %q: %s in the reference, %s in the current data; declare its type", rc.Name, rc.Kind, cc.Kind)
		}
		pairs = append(pairs, pair{rc, cc})
	}
	for i := range current.Columns {
		if reference.Column(current.Columns[i].Name) == nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("column %q is only in the current data; not compared", current.Columns[i].Name))
		}
	}

	rep.Features = make([]FeatureReport, len(pairs))
	effects := make([]verdict.Severity, len(pairs))
	pvalues := make([]float64, len(pairs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				p := pairs[i]
				if p.ref.Kind == dataset.Numeric {
					rep.Features[i], effects[i], pvalues[i] = compareNumeric(p.ref, p.cur)
				} else {
					rep.Features[i], effects[i], pvalues[i] = compareCategorical(p.ref, p.cur)
				}
			}
		})
	}
	for i := range pairs {
		next <- i
	}
	close(next)
	wg.Wait()

	rejected, _ := stat.BenjaminiHochberg(pvalues, opt.FDR)
	for i := range rep.Features {
		f := &rep.Features[i]
		enough := f.NReference >= opt.MinCount && f.NCurrent >= opt.MinCount
		f.Drift = enough && rejected[i] && effects[i] != verdict.SeverityOK
		f.Severity = verdict.SeverityOK
		if f.Drift {
			f.Severity = effects[i]
		}
	}
	rep.Multivariate, rep.Notes = compareJoint(reference, current, opt, rep.Notes)
	return rep, nil
}

// level returns the severity v reaches against th (NaN reaches nothing).
func level(v float64, th analysis.Threshold) verdict.Severity {
	switch {
	case v >= th.Critical:
		return verdict.SeverityCritical
	case v >= th.Warning:
		return verdict.SeverityWarning
	}
	return verdict.SeverityOK
}

// worst returns the highest of severities.
func worst(s ...verdict.Severity) verdict.Severity {
	w := verdict.SeverityOK
	for _, v := range s {
		if v.Rank() > w.Rank() {
			w = v
		}
	}
	return w
}

// compareNumeric runs the numeric tests and returns the report (decision
// not yet taken), the severity the effect sizes reach and the KS p-value.
func compareNumeric(rc, cc *dataset.Column) (FeatureReport, verdict.Severity, float64) {
	x, y := slices.Clone(rc.Numeric), slices.Clone(cc.Numeric)
	slices.Sort(x)
	slices.Sort(y)
	f := FeatureReport{Name: rc.Name, Type: analysis.KindNumeric, NReference: len(x), NCurrent: len(y)}
	if len(x) == 0 || len(y) == 0 {
		return f, verdict.SeverityOK, math.NaN()
	}
	ks := stat.KolmogorovSmirnov(x, y)
	ad := stat.AndersonDarling(x, y)
	w1 := stat.Wasserstein1(x, y)
	wn := w1 / math.Max(stdDev(x), evaluate.MinStdDev)
	edges := stat.DecileEdges(x)
	ref, cur := sortedBinCounts(x, edges), sortedBinCounts(y, edges)
	psi, js := stat.PSI(ref, cur), stat.JensenShannon(ref, cur)
	f.Tests = FeatureTests{
		KS:              &KSReport{Statistic: Float(ks.Statistic), PValue: Float(ks.PValue), Method: ks.Method},
		AndersonDarling: &PValueReport{Statistic: Float(ad.Statistic), PValue: Float(ad.PValue)},
		Wasserstein:     &WassersteinReport{Statistic: Float(w1), Normalized: Float(wn)},
		Energy:          &StatReport{Float(stat.EnergyDistance(x, y))},
		PSI:             &StatReport{Float(psi)},
		JS:              &StatReport{Float(js)},
		Hellinger:       &StatReport{Float(stat.Hellinger(ref, cur))},
		KL:              &StatReport{Float(stat.KullbackLeibler(ref, cur))},
	}
	null := stat.PSINullQuantile(len(x), len(y), len(ref), psiNullLevel)
	psiTh := analysis.Threshold{Warning: math.Max(comparePSI.Warning, null), Critical: math.Max(comparePSI.Critical, null)}
	return f, worst(level(psi, psiTh), level(js, compareJS), level(wn, compareWNorm)), ks.PValue
}

// sortedBinCounts counts sorted values in the right-closed bins of edges,
// as BinIndex would one value at a time.
func sortedBinCounts(sorted, edges []float64) []float64 {
	counts := make([]float64, len(edges)+1)
	prev := 0
	for j, e := range edges {
		k := sort.Search(len(sorted), func(i int) bool { return sorted[i] > e })
		counts[j] = float64(k - prev)
		prev = k
	}
	counts[len(edges)] = float64(len(sorted) - prev)
	return counts
}

// stdDev returns the population (ddof 0) standard deviation.
func stdDev(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// compareCategorical runs the categorical tests on the union of categories
// and returns the report (decision not yet taken), the severity the effect
// sizes reach and the chi-square p-value.
func compareCategorical(rc, cc *dataset.Column) (FeatureReport, verdict.Severity, float64) {
	f := FeatureReport{Name: rc.Name, Type: analysis.KindCategorical, NReference: len(rc.Categorical), NCurrent: len(cc.Categorical)}
	if f.NReference == 0 || f.NCurrent == 0 {
		return f, verdict.SeverityOK, math.NaN()
	}
	index := make(map[string]int)
	var ref, cur []float64
	count := func(values []string, counts *[]float64) {
		for _, v := range values {
			k, ok := index[v]
			if !ok {
				k = len(index)
				index[v] = k
				ref, cur = append(ref, 0), append(cur, 0)
			}
			(*counts)[k]++
		}
	}
	count(rc.Categorical, &ref)
	count(cc.Categorical, &cur)
	var unseen float64
	for k := range ref {
		if ref[k] == 0 {
			unseen += cur[k]
		}
	}
	chi := stat.ChiSquare(ref, cur)
	js, linf := stat.JensenShannon(ref, cur), stat.LInfinity(ref, cur)
	f.Tests = FeatureTests{
		Chi2:      &Chi2Report{Statistic: Float(chi.Statistic), PValue: Float(chi.PValue), DoF: chi.DoF},
		PSI:       &StatReport{Float(stat.PSI(ref, cur))},
		JS:        &StatReport{Float(js)},
		Hellinger: &StatReport{Float(stat.Hellinger(ref, cur))},
		LInf:      &StatReport{Float(linf)},
		Unseen:    &StatReport{Float(unseen / float64(f.NCurrent))},
	}
	return f, worst(level(js, compareJS), level(linf, compareLInf)), chi.PValue
}

// compareJoint runs MMD and the Mahalanobis distance of the mean on the
// numeric columns without missing values on either side, in name order.
// Columns are standardised by the reference mean and (ddof 0) standard
// deviation before MMD; a column constant in the reference is only centred.
func compareJoint(reference, current *dataset.Table, opt Options, notes []string) (MultivariateReport, []string) {
	var names []string
	for i := range reference.Columns {
		rc := &reference.Columns[i]
		cc := current.Column(rc.Name)
		if rc.Kind == dataset.Numeric && cc != nil && cc.Kind == dataset.Numeric && rc.Missing == 0 && cc.Missing == 0 && len(rc.Numeric) > 0 && len(cc.Numeric) > 0 {
			names = append(names, rc.Name)
		}
	}
	// In name order, so that the result does not depend on the files'
	// column order, not even in the last bit.
	slices.Sort(names)
	var rcols, ccols [][]float64
	for _, n := range names {
		rcols, ccols = append(rcols, reference.Column(n).Numeric), append(ccols, current.Column(n).Numeric)
	}
	out := MultivariateReport{Columns: names}
	if len(rcols) == 0 {
		return out, append(notes, "no numeric column without missing values in both data sets; no multivariate test")
	}
	rrows, crows := rows(rcols), rows(ccols)
	mean := make([]float64, len(ccols))
	for j, c := range ccols {
		for _, v := range c {
			mean[j] += v
		}
		mean[j] /= float64(len(c))
	}
	if d, err := stat.MahalanobisMean(rrows, mean); err != nil {
		notes = append(notes, err.Error())
	} else {
		out.Mahalanobis = &StatReport{Float(d)}
	}

	rng := rand.New(rand.NewPCG(opt.Seed, 0x6d6d64))
	scale := make([]float64, len(rcols))
	shift := make([]float64, len(rcols))
	for j, c := range rcols {
		shift[j] = 0
		for _, v := range c {
			shift[j] += v
		}
		shift[j] /= float64(len(c))
		if scale[j] = stdDev(c); scale[j] == 0 {
			scale[j] = 1
		}
	}
	pick := func(all [][]float64) [][]float64 {
		n := len(all)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		if n > opt.MMDRows {
			// Partial Fisher–Yates: the first MMDRows of a random permutation.
			for i := range opt.MMDRows {
				j := i + rng.IntN(n-i)
				idx[i], idx[j] = idx[j], idx[i]
			}
			idx = idx[:opt.MMDRows]
		}
		out := make([][]float64, len(idx))
		for k, i := range idx {
			r := make([]float64, len(scale))
			for j := range r {
				r[j] = (all[i][j] - shift[j]) / scale[j]
			}
			out[k] = r
		}
		return out
	}
	x, y := pick(rrows), pick(crows)
	mmd := stat.MMD(x, y, opt.Permutations, opt.Seed)
	out.MMD = &PValueReport{Statistic: Float(mmd.Statistic), PValue: Float(mmd.PValue)}
	return out, notes
}

// rows turns columns of equal length into rows sharing one backing array.
func rows(cols [][]float64) [][]float64 {
	n, p := len(cols[0]), len(cols)
	flat := make([]float64, n*p)
	out := make([][]float64, n)
	for i := range out {
		r := flat[i*p : (i+1)*p : (i+1)*p]
		for j, c := range cols {
			r[j] = c[i]
		}
		out[i] = r
	}
	return out
}
