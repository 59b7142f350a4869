package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/dataset"
	"github.com/driftwatch/driftwatch/monitor"
	"github.com/driftwatch/driftwatch/storage"
)

const baselineUsage = `Usage: driftwatch baseline <subcommand> [flags]

Manage the references (baselines) that drift is scored against, in ClickHouse's references
table (docs/baselines.md). The newest reference of a model version is its active one; the
monitor loads the active references when it starts, so restart it after an import or a pin.

Subcommands:
  import   build a reference from a data set (CSV, JSON Lines, Parquet) and store it
  pin      merge stored windows of a time range into a reference and store it
  list     one line per stored reference, the active ones marked
  show     a reference's features: n, mean, std, min, max, bin edges and counts, categories

Exit status: 0 done, 1 runtime error (unreadable input, ClickHouse, unknown model, a
reference whose content no longer matches its id), 2 bad command line.

Run 'driftwatch baseline <subcommand> --help' for its flags and examples.
`

// cmdBaseline dispatches the baseline subcommands.
func cmdBaseline(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	return dispatch(ctx, "baseline", baselineUsage, map[string]command{
		"import": baselineImport,
		"pin":    baselinePin,
		"list":   baselineList,
		"show":   baselineShow,
	}, args, stdout, stderr, env)
}

// storeFlags are the flags of every subcommand that talks to ClickHouse.
type storeFlags struct {
	config, addr string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML configuration file (its clickhouse and analysis sections are used)")
	fs.StringVar(&f.addr, "clickhouse-addr", "", "ClickHouse native address host:port (overrides clickhouse.addr)")
}

// open loads the configuration, connects and migrates. It returns the store
// and the analysis configuration (bins, sample size and category bound of
// new references).
func (f *storeFlags) open(ctx context.Context, env []string, stderr io.Writer) (*storage.Store, analysis.Config, error) {
	cfg, err := monitor.LoadConfig(f.config, env)
	if err != nil {
		return nil, analysis.Config{}, err
	}
	if f.addr != "" {
		cfg.ClickHouse.Addr = f.addr
	}
	if err := cfg.ClickHouse.Validate(); err != nil {
		return nil, analysis.Config{}, fmt.Errorf("clickhouse: %w", err)
	}
	if err := cfg.Analysis.Validate(); err != nil {
		return nil, analysis.Config{}, fmt.Errorf("analysis: %w", err)
	}
	log, _ := newLogger(stderr, "warn")
	s, err := storage.Open(ctx, cfg.ClickHouse, nil, log)
	if err != nil {
		return nil, analysis.Config{}, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, analysis.Config{}, err
	}
	return s, cfg.Analysis, nil
}

// usageError reports a bad command line of subcommand sub.
func usageError(stderr io.Writer, sub, format string, a ...any) error {
	fmt.Fprintf(stderr, "driftwatch baseline %s: %s\n", sub, fmt.Sprintf(format, a...))
	return errUsage
}

const importExamples = `  driftwatch baseline import --model fraud --version v7 --file train.parquet
  driftwatch baseline import --model fraud --version v7 --file train.csv --exclude row_id,label --progress
  driftwatch baseline import --model fraud --version v7 --file ref.jsonl --categorical zip_code --clickhouse-addr ch:9000
`

// baselineImport builds a reference from a data set and stores it.
func baselineImport(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("baseline import", "Build the reference of a model version from a data set (every column a feature, all\n"+
		"rows counted) and store it as the model version's active reference. Importing the same\n"+
		"data again gives the same id and is reported as unchanged.", importExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	var model, version, file, format string
	var numeric, categorical, exclude []string
	var progress bool
	fs.StringVar(&model, "model", "", "model id (required)")
	fs.StringVar(&version, "version", "", "model version (required)")
	fs.StringVar(&file, "file", "", "data set: .csv (with a header), .jsonl/.ndjson or .parquet (required)")
	fs.StringVar(&format, "format", "", "format of --file when its extension does not say: csv, jsonl, parquet")
	fs.Func("numeric", "comma-separated columns to treat as numeric (a non-number is then an error)", listFlag(&numeric))
	fs.Func("categorical", "comma-separated columns to treat as categorical", listFlag(&categorical))
	fs.Func("exclude", "comma-separated columns that are not features (ids, labels, timestamps)", listFlag(&exclude))
	fs.BoolVar(&progress, "progress", false, "report reading progress on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case model == "":
		return usageError(stderr, "import", "--model is required")
	case version == "":
		return usageError(stderr, "import", "--version is required")
	case file == "":
		return usageError(stderr, "import", "--file is required")
	}
	for _, n := range exclude {
		if slices.Contains(numeric, n) || slices.Contains(categorical, n) {
			return usageError(stderr, "import", "column %q is both excluded and declared a feature", n)
		}
	}

	opt := dataset.Options{Format: format, Numeric: numeric, Categorical: categorical}
	if progress {
		opt.Progress = stderr
	}
	t, err := dataset.Read(file, opt)
	if err != nil {
		return err
	}
	for _, n := range exclude {
		if t.Column(n) == nil {
			return fmt.Errorf("--exclude: column %q is not in %s", n, file)
		}
	}
	t.Columns = slices.DeleteFunc(t.Columns, func(c dataset.Column) bool { return slices.Contains(exclude, c.Name) })

	s, acfg, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	m := analysis.ModelKey{ID: model, Version: version}
	cols := make([]reference.Column, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = reference.Column{Name: c.Name, Kind: c.Kind, Numeric: c.Numeric, Categorical: c.Categorical, Missing: c.Missing}
	}
	ref, err := reference.FromColumns(cols, m, acfg, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	outcome, err := storeReference(ctx, s, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reference %s of model %s version %s %s: %s from %d rows of %s\n",
		ref.ID, model, version, outcome, featureSummary(ref), t.Rows, file)
	return nil
}

// storeReference saves ref unless it is already the active reference of its
// model version and says which: "stored", "unchanged" or "reactivated" (an
// older reference with the same content made active again). A stored
// reference's created_at is at least a second after the model version's
// newest, so that it becomes the active one even within the same second.
func storeReference(ctx context.Context, s *storage.Store, ref *reference.Reference) (string, error) {
	refs, err := listReferences(ctx, s, ref.Model.ID)
	if err != nil {
		return "", err
	}
	outcome := "stored"
	var newest time.Time
	for _, r := range refs {
		if r.version != ref.Model.Version {
			continue
		}
		if r.id == ref.ID {
			if r.active {
				return "unchanged", nil
			}
			outcome = "reactivated"
		}
		if r.created.After(newest) {
			newest = r.created
		}
	}
	if !ref.CreatedAt.After(newest) {
		ref.CreatedAt = newest.Add(time.Second)
	}
	if err := s.SaveReference(ctx, monitor.ReferenceRows(ref, nil)); err != nil {
		return "", fmt.Errorf("storing reference %s: %w", ref.ID, err)
	}
	return outcome, nil
}

// featureSummary says how many features of each kind ref has.
func featureSummary(ref *reference.Reference) string {
	return fmt.Sprintf("%d features (%d numeric, %d categorical)",
		len(ref.Numeric)+len(ref.Categorical), len(ref.Numeric), len(ref.Categorical))
}

const pinExamples = `  driftwatch baseline pin --model fraud --version v7 --from 2026-11-02T00:00:00Z --to 2026-11-09T00:00:00Z
  driftwatch baseline pin --model fraud --from 2026-11-02T00:00:00+01:00 --to 2026-11-03T00:00:00+01:00 --config driftwatch.yaml
`

// baselinePin merges stored windows into a reference and stores it.
func baselinePin(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("baseline pin", "Merge the windows of a model version stored in feature_windows with window_start in\n"+
		"[--from, --to) into a reference and store it as the active one. The windows must have been\n"+
		"counted against one reference (same bin edges). Windows keep no sample, so the pinned\n"+
		"reference carries none: no KS or Wasserstein against it (docs/baselines.md).", pinExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	var model, version, fromS, toS string
	fs.StringVar(&model, "model", "", "model id (required)")
	fs.StringVar(&version, "version", "", "model version (default: the only version with windows in the range)")
	fs.StringVar(&fromS, "from", "", "start of the range, RFC 3339, inclusive (required)")
	fs.StringVar(&toS, "to", "", "end of the range, RFC 3339, exclusive (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if model == "" {
		return usageError(stderr, "pin", "--model is required")
	}
	from, err := time.Parse(time.RFC3339, fromS)
	if err != nil {
		return usageError(stderr, "pin", "--from %q: want an RFC 3339 time such as 2026-11-02T00:00:00Z", fromS)
	}
	to, err := time.Parse(time.RFC3339, toS)
	if err != nil {
		return usageError(stderr, "pin", "--to %q: want an RFC 3339 time such as 2026-11-09T00:00:00Z", toS)
	}
	if !to.After(from) {
		return usageError(stderr, "pin", "--to (%s) must be after --from (%s)", toS, fromS)
	}
	s, acfg, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	span := fmt.Sprintf("between %s and %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	if version == "" {
		versions, err := queryStrings(ctx, s, `SELECT DISTINCT model_version FROM feature_windows
WHERE model_id = ? AND window_start >= toDateTime(?) AND window_start < toDateTime(?) ORDER BY model_version`,
			model, from.Unix(), to.Unix())
		if err != nil {
			return fmt.Errorf("reading the versions of model %s: %w", model, err)
		}
		switch len(versions) {
		case 0:
			return fmt.Errorf("no windows of model %s %s", model, span)
		case 1:
			version = versions[0]
		default:
			return fmt.Errorf("model %s has windows of versions %s %s: choose one with --version",
				model, strings.Join(versions, ", "), span)
		}
	}
	m := analysis.ModelKey{ID: model, Version: version}
	ref, n, err := monitor.ReferenceFromStore(ctx, s, m, from, to, acfg)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no windows of model %s version %s %s", model, version, span)
	}
	outcome, err := storeReference(ctx, s, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reference %s of model %s version %s %s: %s from %d windows %s (no sample: PSI and chi-square only)\n",
		ref.ID, model, version, outcome, featureSummary(ref), ref.Windows, span)
	return nil
}

// queryStrings runs a query whose rows are one string.
func queryStrings(ctx context.Context, s *storage.Store, sql string, args ...any) ([]string, error) {
	rows, err := s.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// storedReference is one reference in the references table, without its
// feature contents.
type storedReference struct {
	model, version, id, source string
	created                    time.Time
	windows                    uint32
	features, numeric          uint64
	active                     bool
}

// listQuery summarises every stored reference (of one model when the
// parameter is not empty). created_at of a reference is its newest row's.
const listQuery = `SELECT model_id, model_version, reference_id, max(created_at) AS created,
    argMax(source, created_at), argMax(windows, created_at), count(), countIf(kind = 'numeric')
FROM references FINAL
WHERE ? = '' OR model_id = ?
GROUP BY model_id, model_version, reference_id
ORDER BY model_id, model_version, created, reference_id`

// listReferences returns the stored references of model (all when ""),
// oldest first per model version, the newest (by created_at, then id, as
// the monitor picks it) marked active.
func listReferences(ctx context.Context, s *storage.Store, model string) ([]storedReference, error) {
	rows, err := s.Query(ctx, listQuery, model, model)
	if err != nil {
		return nil, fmt.Errorf("listing references: %w", err)
	}
	defer rows.Close()
	var out []storedReference
	for rows.Next() {
		var r storedReference
		if err := rows.Scan(&r.model, &r.version, &r.id, &r.created, &r.source, &r.windows, &r.features, &r.numeric); err != nil {
			return nil, fmt.Errorf("listing references: %w", err)
		}
		r.created = r.created.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing references: %w", err)
	}
	// Rows are ordered by (created, id) within a model version: the last is active.
	for i := range out {
		if i == len(out)-1 || out[i+1].model != out[i].model || out[i+1].version != out[i].version {
			out[i].active = true
		}
	}
	return out, nil
}

const listExamples = `  driftwatch baseline list
  driftwatch baseline list --model fraud --clickhouse-addr ch:9000
`

// baselineList prints one line per stored reference.
func baselineList(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("baseline list", "List the stored references, oldest first per model version. ACTIVE marks the newest\n"+
		"of each model version: the one the monitor loads at start.", listExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	var model string
	fs.StringVar(&model, "model", "", "only this model's references")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	refs, err := listReferences(ctx, s, model)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		if model != "" {
			return fmt.Errorf("no reference for model %s", model)
		}
		fmt.Fprintln(stdout, "no references stored")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSION\tID\tSOURCE\tCREATED_AT\tFEATURES\tACTIVE")
	for _, r := range refs {
		active := "no"
		if r.active {
			active = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d (%d numeric, %d categorical)\t%s\n", r.model, r.version, r.id, r.source,
			r.created.Format(time.RFC3339), r.features, r.numeric, r.features-r.numeric, active)
	}
	return tw.Flush()
}

const showExamples = `  driftwatch baseline show --model fraud
  driftwatch baseline show --model fraud --version v7 --format json
  driftwatch baseline show --model fraud --id 3f2a9c0d1b7e4a55
`

// baselineShow prints the features of references and checks their content hash.
func baselineShow(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("baseline show", "Print a model's active reference (of every version, or of --version), or the reference\n"+
		"--id: per feature n, mean, std, min, max, bin edges and counts, or categories and counts.\n"+
		"It recomputes the content hash: a reference whose stored rows no longer hash to its id is\n"+
		"reported as modified and the command exits 1.", showExamples, stdout, stderr)
	var sf storeFlags
	sf.register(fs)
	var model, version, id, format string
	fs.StringVar(&model, "model", "", "model id (required)")
	fs.StringVar(&version, "version", "", "model version (default: every version of the model)")
	fs.StringVar(&id, "id", "", "reference id (default: the active reference)")
	fs.StringVar(&format, "format", "table", "output format: table or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if model == "" {
		return usageError(stderr, "show", "--model is required")
	}
	if format != "table" && format != "json" {
		return usageError(stderr, "show", "--format %q: want table or json", format)
	}
	s, _, err := sf.open(ctx, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	list, err := listReferences(ctx, s, model)
	if err != nil {
		return err
	}
	var picked []storedReference
	for _, r := range list {
		if (version == "" || r.version == version) && (r.id == id || id == "" && r.active) {
			picked = append(picked, r)
		}
	}
	if len(picked) == 0 {
		switch {
		case len(list) == 0:
			return fmt.Errorf("no reference for model %s", model)
		case id != "":
			return fmt.Errorf("no reference %s for model %s", id, model)
		default:
			return fmt.Errorf("no reference for model %s version %s", model, version)
		}
	}
	refs, err := loadReferences(ctx, s, model)
	if err != nil {
		return err
	}
	var shown []shownReference
	var modified []string
	for _, r := range picked {
		ref := refs[r.id]
		sh := newShownReference(r, ref)
		if sh.Modified {
			modified = append(modified, fmt.Sprintf("%s (version %s) now hashes to %s", r.id, r.version, sh.ContentHash))
		}
		shown = append(shown, sh)
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(shown)
	} else {
		err = writeShownTable(stdout, shown)
	}
	if err != nil {
		return fmt.Errorf("writing the reference: %w", err)
	}
	if len(modified) > 0 {
		return fmt.Errorf("stored reference content modified since it was stored: %s", strings.Join(modified, "; "))
	}
	return nil
}

// loadReferences reads every reference of model, by id.
func loadReferences(ctx context.Context, s *storage.Store, model string) (map[string]*reference.Reference, error) {
	rs, err := s.ModelReferences(ctx, model)
	if err != nil {
		return nil, err
	}
	out := map[string]*reference.Reference{}
	for _, ref := range monitor.ReferencesFromRows(rs, nil) {
		out[ref.ID] = ref
	}
	return out, nil
}

// shownReference is what show prints of one reference (its JSON contract).
type shownReference struct {
	Model       string         `json:"model"`
	Version     string         `json:"version"`
	ID          string         `json:"id"`
	ContentHash string         `json:"content_hash"`
	Modified    bool           `json:"modified"`
	Active      bool           `json:"active"`
	Source      string         `json:"source"`
	CreatedAt   time.Time      `json:"created_at"`
	Windows     uint32         `json:"windows"`
	Features    []shownFeature `json:"features"`
}

// shownFeature is one feature of a shown reference.
type shownFeature struct {
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	N          uint64    `json:"n"`
	Mean       *float64  `json:"mean,omitempty"`
	Std        *float64  `json:"std,omitempty"`
	Min        *float64  `json:"min,omitempty"`
	Max        *float64  `json:"max,omitempty"`
	Edges      []float64 `json:"edges,omitempty"`
	Counts     []uint64  `json:"counts"`
	SampleSize *int      `json:"sample_size,omitempty"`
	Categories []string  `json:"categories,omitempty"`
	Other      *uint64   `json:"other,omitempty"`
	Complete   *bool     `json:"complete,omitempty"`
}

// finitePtr returns &v, or nil for NaN and ±Inf (JSON has no such numbers).
func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// exact formats v with the fewest digits that read back as v.
func exact(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func newShownReference(r storedReference, ref *reference.Reference) shownReference {
	h := ref.Hash()
	sh := shownReference{Model: r.model, Version: r.version, ID: r.id, ContentHash: h, Modified: h != r.id,
		Active: r.active, Source: r.source, CreatedAt: r.created, Windows: r.windows}
	names := make([]string, 0, len(ref.Numeric)+len(ref.Categorical))
	for n := range ref.Numeric {
		names = append(names, n)
	}
	for n := range ref.Categorical {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if nr := ref.Numeric[name]; nr != nil {
			k := len(nr.Sample)
			f := shownFeature{Name: name, Kind: analysis.KindNumeric, N: nr.N, Mean: finitePtr(nr.Mean),
				Std: finitePtr(math.Sqrt(nr.Variance)), Min: finitePtr(nr.Min), Max: finitePtr(nr.Max),
				Counts: nr.Counts, SampleSize: &k}
			f.Edges = nr.Edges
			sh.Features = append(sh.Features, f)
			continue
		}
		cr := ref.Categorical[name]
		sh.Features = append(sh.Features, shownFeature{Name: name, Kind: analysis.KindCategorical, N: cr.N,
			Categories: cr.Categories, Counts: cr.Counts, Other: &cr.Other, Complete: &cr.Complete})
	}
	return sh
}

// writeShownTable writes references as text: a header per reference, a
// table of the features' moments, then each feature's bins or categories.
func writeShownTable(w io.Writer, refs []shownReference) error {
	for i, r := range refs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		active := "not active"
		if r.Active {
			active = "active"
		}
		fmt.Fprintf(w, "reference %s  model %s  version %s  (%s)\n", r.ID, r.Model, r.Version, active)
		fmt.Fprintf(w, "source %s, created %s, %d windows, %d features\n", r.Source, r.CreatedAt.Format(time.RFC3339), r.Windows, len(r.Features))
		if r.Modified {
			fmt.Fprintf(w, "content: MODIFIED: the stored rows hash to %s, not to the id %s\n", r.ContentHash, r.ID)
		} else {
			fmt.Fprintln(w, "content: ok (the stored rows hash to the id)")
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FEATURE\tKIND\tN\tMEAN\tSTD\tMIN\tMAX\tBINS\tSAMPLE")
		opt := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return strconv.FormatFloat(*v, 'g', 6, 64)
		}
		for _, f := range r.Features {
			if f.Kind == analysis.KindNumeric {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\n", f.Name, f.Kind, f.N, opt(f.Mean), opt(f.Std),
					opt(f.Min), opt(f.Max), len(f.Counts), *f.SampleSize)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t%d\t-\n", f.Name, f.Kind, f.N, len(f.Counts)+1)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, f := range r.Features {
			fmt.Fprintln(w)
			if f.Kind == analysis.KindNumeric {
				edges := make([]string, len(f.Edges))
				for j, e := range f.Edges {
					edges[j] = exact(e)
				}
				fmt.Fprintf(w, "%s edges:  %s\n", f.Name, strings.Join(edges, " "))
				fmt.Fprintf(w, "%s counts: %s\n", f.Name, joinUints(f.Counts))
				continue
			}
			parts := make([]string, 0, len(f.Categories)+1)
			for j, c := range f.Categories {
				parts = append(parts, fmt.Sprintf("%s=%d", strconv.Quote(c), f.Counts[j]))
			}
			parts = append(parts, fmt.Sprintf("other=%d", *f.Other))
			complete := "incomplete: values beyond the categories were counted in other"
			if *f.Complete {
				complete = "complete: any other value is new"
			}
			fmt.Fprintf(w, "%s categories (%s): %s\n", f.Name, complete, strings.Join(parts, " "))
		}
	}
	return nil
}

// joinUints joins counts with spaces.
func joinUints(v []uint64) string {
	s := make([]string, len(v))
	for i, c := range v {
		s[i] = strconv.FormatUint(c, 10)
	}
	return strings.Join(s, " ")
}
