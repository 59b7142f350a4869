package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/driftwatch/driftwatch/analysis/verdict"
	"github.com/driftwatch/driftwatch/compare"
	"github.com/driftwatch/driftwatch/dataset"
)

const compareExamples = `  driftwatch compare --reference train.csv --current last_week.parquet
  driftwatch compare --reference ref.jsonl --current cur.jsonl --format json > drift.json
  driftwatch compare --reference ref.csv --current cur.csv --format markdown --fail-on warning
  driftwatch compare --reference ref.csv --current cur.csv --numeric zip_code_income --categorical store_id
`

const compareSummary = `Compare a current data set with a reference, column by column and jointly, and print a
drift report: every applicable test, the decision and its severity (docs/compare.md).
Files are CSV with a header, JSON Lines or flat Parquet, by extension or --*-format.

Exit status: 0 report printed (with or without drift), 3 the --fail-on level was reached,
1 unreadable input or other runtime error, 2 bad command line.`

// Exit code of a run that reached its --fail-on level. It differs from the
// generic error code 1 so that CI can tell drift from broken input.
const exitDrift = 3

// errDrift marks a compare run that reached its --fail-on level.
var errDrift = errors.New("drift at the --fail-on level")

// compareFlags are the parsed flags of the compare command.
type compareFlags struct {
	reference, current             string
	referenceFormat, currentFormat string
	format, failOn                 string
	numeric, categorical           []string
	opt                            compare.Options
	progress                       bool
}

// validate checks the flags that the flag package cannot.
func (f *compareFlags) validate() error {
	switch {
	case f.reference == "":
		return errors.New("--reference is required")
	case f.current == "":
		return errors.New("--current is required")
	case !slices.Contains([]string{"table", "json", "markdown"}, f.format):
		return fmt.Errorf("--format %q: want table, json or markdown", f.format)
	case !slices.Contains([]string{"", "warning", "critical"}, f.failOn):
		return fmt.Errorf("--fail-on %q: want warning or critical", f.failOn)
	}
	if err := f.opt.Validate(); err != nil {
		return err
	}
	return nil
}

// cmdCompare compares two data sets and prints a drift report.
func cmdCompare(_ context.Context, args []string, stdout, stderr io.Writer, _ []string) error {
	fs := newFlagSet("compare", compareSummary, compareExamples, stdout, stderr)
	var f compareFlags
	fs.StringVar(&f.reference, "reference", "", "reference data set (.csv, .jsonl, .ndjson or .parquet)")
	fs.StringVar(&f.current, "current", "", "current data set to compare with the reference")
	fs.StringVar(&f.referenceFormat, "reference-format", "", "format of --reference when its extension does not say: csv, jsonl, parquet")
	fs.StringVar(&f.currentFormat, "current-format", "", "format of --current when its extension does not say: csv, jsonl, parquet")
	fs.StringVar(&f.format, "format", "table", "report format: table, json or markdown")
	fs.StringVar(&f.failOn, "fail-on", "", "exit 3 when a column drifts at this severity or worse: warning or critical")
	fs.Func("numeric", "comma-separated columns to treat as numeric (a non-number is then an error)", listFlag(&f.numeric))
	fs.Func("categorical", "comma-separated columns to treat as categorical", listFlag(&f.categorical))
	fs.Float64Var(&f.opt.FDR, "fdr", 0.05, "Benjamini–Hochberg false discovery rate across columns")
	fs.IntVar(&f.opt.MinCount, "min-count", 100, "values both sides need before a column can drift")
	fs.Uint64Var(&f.opt.Seed, "seed", 1, "seed of the MMD subsample and permutations")
	fs.BoolVar(&f.progress, "progress", false, "report reading progress on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		fmt.Fprintf(stderr, "driftwatch compare: %v\n", err)
		return errUsage
	}
	rep, err := f.run(stderr)
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stderr, "driftwatch compare: note: %s\n", n)
	}
	switch f.format {
	case "json":
		err = writeCompareJSON(stdout, rep)
	case "markdown":
		err = writeCompareMarkdown(stdout, rep)
	default:
		err = writeCompareTable(stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if f.failOn != "" {
		at := verdict.Severity(f.failOn)
		var hit []string
		for _, ft := range rep.Features {
			if ft.Drift && ft.Severity.Rank() >= at.Rank() {
				hit = append(hit, ft.Name)
			}
		}
		if len(hit) > 0 {
			return fmt.Errorf("%w (%s): %s", errDrift, f.failOn, strings.Join(hit, ", "))
		}
	}
	return nil
}

// listFlag returns a flag.Func that appends comma-separated names to dst.
func listFlag(dst *[]string) func(string) error {
	return func(s string) error {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				*dst = append(*dst, n)
			}
		}
		return nil
	}
}

// run reads both data sets and compares them. A column inferred numeric on one
// side and categorical on the other is read again as categorical on the
// numeric side, so both sides agree.
func (f *compareFlags) run(stderr io.Writer) (*compare.Report, error) {
	opts := func(format string, extra []string) dataset.Options {
		o := dataset.Options{Format: format, Numeric: f.numeric, Categorical: append(slices.Clone(f.categorical), extra...)}
		if f.progress {
			o.Progress = stderr
		}
		return o
	}
	ref, err := dataset.Read(f.reference, opts(f.referenceFormat, nil))
	if err != nil {
		return nil, err
	}
	cur, err := dataset.Read(f.current, opts(f.currentFormat, nil))
	if err != nil {
		return nil, err
	}
	var refCat, curCat []string
	for i := range ref.Columns {
		rc := &ref.Columns[i]
		if cc := cur.Column(rc.Name); cc != nil && cc.Kind != rc.Kind {
			if rc.Kind == dataset.Numeric {
				refCat = append(refCat, rc.Name)
			} else {
				curCat = append(curCat, rc.Name)
			}
		}
	}
	if len(refCat) > 0 {
		if ref, err = dataset.Read(f.reference, opts(f.referenceFormat, refCat)); err != nil {
			return nil, err
		}
	}
	if len(curCat) > 0 {
		if cur, err = dataset.Read(f.current, opts(f.currentFormat, curCat)); err != nil {
			return nil, err
		}
	}
	return compare.Compare(ref, cur, f.opt)
}

// writeCompareJSON writes the report's JSON contract, indented.
func writeCompareJSON(w io.Writer, rep *compare.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// compareColumns are the headings of the table and markdown formats.
var compareColumns = []string{"feature", "type", "n_ref", "n_cur", "ks", "ks_p", "ad_p", "w1_norm", "energy",
	"psi", "js", "hellinger", "kl", "chi2_p", "linf", "unseen", "drift", "severity"}

// compareRow returns the cells of one feature: the main value of each test,
// "-" where a test does not apply and "n/a" where it is undefined.
func compareRow(f *compare.FeatureReport) []string {
	t := &f.Tests
	stat := func(s *compare.StatReport) string {
		if s == nil {
			return "-"
		}
		return num(s.Statistic)
	}
	row := []string{f.Name, f.Type, strconv.Itoa(f.NReference), strconv.Itoa(f.NCurrent)}
	if t.KS != nil {
		row = append(row, num(t.KS.Statistic), num(t.KS.PValue))
	} else {
		row = append(row, "-", "-")
	}
	if t.AndersonDarling != nil {
		row = append(row, num(t.AndersonDarling.PValue))
	} else {
		row = append(row, "-")
	}
	if t.Wasserstein != nil {
		row = append(row, num(t.Wasserstein.Normalized))
	} else {
		row = append(row, "-")
	}
	row = append(row, stat(t.Energy), stat(t.PSI), stat(t.JS), stat(t.Hellinger), stat(t.KL))
	if t.Chi2 != nil {
		row = append(row, num(t.Chi2.PValue))
	} else {
		row = append(row, "-")
	}
	drift := "no"
	if f.Drift {
		drift = "yes"
	}
	return append(row, stat(t.LInf), stat(t.Unseen), drift, string(f.Severity))
}

// num formats a statistic with four significant digits.
func num(v compare.Float) string {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// multivariateLine describes the joint tests in one line.
func multivariateLine(rep *compare.Report) string {
	m := &rep.Multivariate
	if m.MMD == nil && m.Mahalanobis == nil {
		return "multivariate: not computed"
	}
	var parts []string
	if m.MMD != nil {
		parts = append(parts, fmt.Sprintf("MMD² %s (p %s)", num(m.MMD.Statistic), num(m.MMD.PValue)))
	}
	if m.Mahalanobis != nil {
		parts = append(parts, "Mahalanobis distance of the mean "+num(m.Mahalanobis.Statistic))
	}
	return fmt.Sprintf("multivariate over %s: %s", strings.Join(m.Columns, ", "), strings.Join(parts, ", "))
}

// summaryLine counts drifted columns.
func summaryLine(rep *compare.Report) string {
	n, w := 0, verdict.SeverityOK
	for _, f := range rep.Features {
		if f.Drift {
			n++
			if f.Severity.Rank() > w.Rank() {
				w = f.Severity
			}
		}
	}
	if n == 0 {
		return fmt.Sprintf("no drift in %d columns", len(rep.Features))
	}
	return fmt.Sprintf("drift in %d of %d columns, worst severity %s", n, len(rep.Features), w)
}

// writeCompareTable writes an aligned text table.
func writeCompareTable(w io.Writer, rep *compare.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(compareColumns, "\t")))
	for i := range rep.Features {
		fmt.Fprintln(tw, strings.Join(compareRow(&rep.Features[i]), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n%s\n", multivariateLine(rep), summaryLine(rep))
	return err
}

// writeCompareMarkdown writes a GitHub-flavoured markdown table.
func writeCompareMarkdown(w io.Writer, rep *compare.Report) error {
	var b strings.Builder
	b.WriteString("## Drift report\n\n")
	b.WriteString("| " + strings.Join(compareColumns, " | ") + " |\n|")
	for range compareColumns {
		b.WriteString("---|")
	}
	b.WriteByte('\n')
	for i := range rep.Features {
		row := compareRow(&rep.Features[i])
		for j, c := range row {
			row[j] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	fmt.Fprintf(&b, "\n%s.\n\n**%s.**\n", multivariateLine(rep), summaryLine(rep))
	_, err := io.WriteString(w, b.String())
	return err
}
