// Package dataset reads a reference or current data set from a tabular file
// into memory, one column at a time, for offline drift comparison.
//
// It reads CSV with a header row, JSON Lines (one object per line) and flat
// Parquet files, chosen by the file extension or Options.Format. Each column is
// numeric when every non-missing value parses as a finite float and
// categorical otherwise, unless Options says which. Missing values are empty
// CSV fields, JSON nulls, absent JSON keys and Parquet nulls; they are counted,
// not stored.
//
// It deliberately does not stream, sample, join or compute statistics: the
// whole file is loaded (about 8 bytes per numeric value, one shared string per
// distinct category), and package analysis does the comparing.
package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Column kinds.
const (
	Numeric     = "numeric"
	Categorical = "categorical"
)

// File formats accepted by Options.Format.
const (
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// Column is one column of a table.
type Column struct {
	// Name is the CSV header, the JSON key (nested objects joined with dots)
	// or the Parquet column name.
	Name string
	// Kind is Numeric or Categorical.
	Kind string
	// Numeric holds the non-missing values of a numeric column, in file order.
	Numeric []float64
	// Categorical holds the non-missing values of a categorical column, in
	// file order. Equal values share one string.
	Categorical []string
	// Missing is the number of rows without a value.
	Missing int
}

// Len returns the number of non-missing values.
func (c *Column) Len() int {
	if c.Kind == Numeric {
		return len(c.Numeric)
	}
	return len(c.Categorical)
}

// Table is a data set held column by column.
type Table struct {
	// Columns are in file order: the CSV header, the first appearance of each
	// JSON key, the Parquet schema.
	Columns []Column
	// Rows is the number of data rows (CSV lines after the header, JSON
	// objects, Parquet rows).
	Rows int
}

// Column returns the column called name, or nil when there is none.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Options controls Read. The zero value infers the format and every column's
// kind.
type Options struct {
	// Format is FormatCSV, FormatJSONL or FormatParquet. Default: from the
	// extension (.csv, .jsonl or .ndjson, .parquet).
	Format string
	// Numeric names columns that must be numeric: a value that is not a
	// finite number is an error.
	Numeric []string
	// Categorical names columns that are categorical whatever their values.
	Categorical []string
	// Progress, when not nil, receives a line every million rows and one
	// at the end.
	Progress io.Writer
}

// validate checks the options against path and returns the format to read.
func (o Options) validate(path string) (string, error) {
	format := o.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = FormatCSV
		case ".jsonl", ".ndjson":
			format = FormatJSONL
		case ".parquet":
			format = FormatParquet
		default:
			return "", fmt.Errorf("format: cannot tell from extension %q; use csv, jsonl or parquet", filepath.Ext(path))
		}
	}
	switch format {
	case FormatCSV, FormatJSONL, FormatParquet:
	default:
		return "", fmt.Errorf("format %q: want csv, jsonl or parquet", format)
	}
	for _, n := range o.Numeric {
		if n == "" {
			return "", errors.New("numeric: empty column name")
		}
		if slices.Contains(o.Categorical, n) {
			return "", fmt.Errorf("column %q is declared both numeric and categorical", n)
		}
	}
	if slices.Contains(o.Categorical, "") {
		return "", errors.New("categorical: empty column name")
	}
	return format, nil
}

// Read loads the data set at path.
//
// The error of a malformed file names the file, the line (CSV, JSONL) or row
// (Parquet) and the column. A column named in Options that the file does not
// have is an error. When a column first looks numeric and a later value is
// not a number, the file is read a second time with that column categorical,
// so that its earlier values keep their exact text.
func Read(path string, opt Options) (*Table, error) {
	format, err := opt.validate(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	kinds := make(map[string]string, len(opt.Numeric)+len(opt.Categorical))
	for _, n := range opt.Numeric {
		kinds[n] = Numeric
	}
	for _, n := range opt.Categorical {
		kinds[n] = Categorical
	}
	start := time.Now()
	t, reread, err := readFormat(path, format, kinds, opt.Progress)
	if err == nil && len(reread) > 0 {
		for _, n := range reread {
			kinds[n] = Categorical
		}
		t, _, err = readFormat(path, format, kinds, opt.Progress)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, n := range append(slices.Clone(opt.Numeric), opt.Categorical...) {
		if t.Column(n) == nil {
			return nil, fmt.Errorf("reading %s: column %q named in the options is not in the file", path, n)
		}
	}
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "%s: %d rows, %d columns in %s\n", path, t.Rows, len(t.Columns), time.Since(start).Round(time.Millisecond))
	}
	return t, nil
}

// readFormat reads path once. reread lists the columns that turned out
// categorical after numeric values had been stored.
func readFormat(path, format string, kinds map[string]string, progress io.Writer) (t *Table, reread []string, err error) {
	var cols []*builder
	var rows int
	switch format {
	case FormatCSV:
		cols, rows, err = readCSV(path, kinds, progress)
	case FormatJSONL:
		cols, rows, err = readJSONL(path, kinds, progress)
	case FormatParquet:
		cols, rows, err = readParquet(path, kinds, progress)
	}
	if err != nil {
		return nil, nil, err
	}
	t = &Table{Rows: rows, Columns: make([]Column, len(cols))}
	for i, b := range cols {
		if b.reread {
			reread = append(reread, b.name)
		}
		t.Columns[i] = b.column()
	}
	return t, reread, nil
}

// progressEvery is the number of rows between progress lines.
const progressEvery = 1_000_000

// reportProgress writes a progress line every progressEvery rows.
func reportProgress(w io.Writer, path string, rows int) {
	if w != nil && rows%progressEvery == 0 {
		fmt.Fprintf(w, "%s: %d rows\n", path, rows)
	}
}

// builder accumulates one column while a file is read.
type builder struct {
	name string
	// forced is the kind the options demand, or "".
	forced string
	kind   string
	num    []float64
	cat    []string
	intern map[string]string
	// missing counts rows without a value.
	missing int
	// reread is set when the column became categorical after numeric values
	// were stored; those values' text is lost, so the file must be read again.
	reread bool
	// lastRow is the last row that set a value (JSONL: absent keys, duplicate keys).
	lastRow int
}

// newBuilder returns a builder for column name that starts after rows rows,
// all of them missing.
func newBuilder(name string, kinds map[string]string, rows int) *builder {
	b := &builder{name: name, forced: kinds[name], kind: Numeric, missing: rows, lastRow: -1}
	if b.forced == Categorical {
		b.kind = Categorical
	}
	return b
}

// errNotNumber is the cause of a non-numeric value in a column declared numeric.
var errNotNumber = errors.New("not a finite number (the column is declared numeric)")

// add appends one value given as text; "" is missing. s may be a substring of
// a larger buffer: categorical values are copied once per distinct value.
func (b *builder) add(s string) error {
	if s == "" {
		b.missing++
		return nil
	}
	if b.kind == Numeric {
		if v, ok := parseFinite(s); ok {
			b.num = append(b.num, v)
			return nil
		}
		if b.forced == Numeric {
			return fmt.Errorf("value %q: %w", s, errNotNumber)
		}
		b.kind = Categorical
		if len(b.num) > 0 {
			b.reread = true
			b.num = nil
		}
	}
	if b.reread {
		return nil
	}
	if b.intern == nil {
		b.intern = make(map[string]string)
	}
	v, ok := b.intern[s]
	if !ok {
		v = strings.Clone(s)
		b.intern[v] = v
	}
	b.cat = append(b.cat, v)
	return nil
}

// addFloat appends a typed number (Parquet). Non-finite numbers and numbers in
// a categorical column go through add as their shortest text.
func (b *builder) addFloat(v float64) error {
	if b.kind == Numeric && !math.IsInf(v, 0) && !math.IsNaN(v) {
		b.num = append(b.num, v)
		return nil
	}
	return b.add(strconv.FormatFloat(v, 'g', -1, 64))
}

// column returns the finished column.
func (b *builder) column() Column {
	c := Column{Name: b.name, Kind: b.kind, Missing: b.missing}
	if b.kind == Numeric {
		c.Numeric = b.num
		if c.Numeric == nil {
			c.Numeric = []float64{}
		}
	} else {
		c.Categorical = b.cat
		if c.Categorical == nil {
			c.Categorical = []string{}
		}
	}
	return c
}

// parseFinite parses s, trimmed of spaces, as a finite float64.
func parseFinite(s string) (float64, bool) {
	if s[0] == ' ' || s[len(s)-1] == ' ' || s[0] == '\t' || s[len(s)-1] == '\t' {
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}
