package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/driftwatch/driftwatch/dataset"
)

var update = flag.Bool("update", false, "rewrite the compare golden files in testdata/compare")

const compareData = "testdata/compare"

// runCompare runs driftwatch compare with args and returns the exit code,
// stdout and stderr.
func runCompare(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"compare"}, args...), &out, &errb, nil)
	return code, out.String(), errb.String()
}

func TestCompareGoldenFormats(t *testing.T) {
	for _, format := range []string{"table", "json", "markdown"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := runCompare(t, "--reference", compareData+"/ref.csv", "--current", compareData+"/cur.csv", "--format", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden := filepath.Join(compareData, "report."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (run go test -update to accept):\n%s", golden, out)
			}
		})
	}
}

// contract is the JSON report's shape: for every test, its keys and JSON
// types ("number", "string").
var contract = map[string]map[string]string{
	"ks":               {"statistic": "number", "p_value": "number", "method": "string"},
	"anderson_darling": {"statistic": "number", "p_value": "number"},
	"wasserstein":      {"statistic": "number", "normalized": "number"},
	"energy":           {"statistic": "number"},
	"psi":              {"statistic": "number"},
	"js":               {"statistic": "number"},
	"hellinger":        {"statistic": "number"},
	"kl":               {"statistic": "number"},
	"chi2":             {"statistic": "number", "p_value": "number", "dof": "number"},
	"linf":             {"statistic": "number"},
	"unseen":           {"statistic": "number"},
}

var testsOf = map[string][]string{
	"numeric":     {"anderson_darling", "energy", "hellinger", "js", "kl", "ks", "psi", "wasserstein"},
	"categorical": {"chi2", "hellinger", "js", "linf", "psi", "unseen"},
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// checkObject reports keys of obj that are missing, extra or of the wrong type.
func checkObject(t *testing.T, where string, obj map[string]any, want map[string]string) {
	t.Helper()
	for k, typ := range want {
		if got := jsonType(obj[k]); got != typ {
			t.Errorf("%s.%s is %s, want %s", where, k, got, typ)
		}
	}
	for k := range obj {
		if _, ok := want[k]; !ok {
			t.Errorf("%s has key %q outside the contract", where, k)
		}
	}
}

func TestCompareJSONContract(t *testing.T) {
	code, out, errs := runCompare(t, "--reference", compareData+"/ref.csv", "--current", compareData+"/cur.csv", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	checkObject(t, "report", doc, map[string]string{"features": "array", "multivariate": "object"})
	features, _ := doc["features"].([]any)
	if len(features) != 6 {
		t.Fatalf("%d features, want 6", len(features))
	}
	for _, fv := range features {
		f, _ := fv.(map[string]any)
		name, _ := f["name"].(string)
		checkObject(t, name, f, map[string]string{"name": "string", "type": "string", "n_reference": "number",
			"n_current": "number", "drift": "boolean", "severity": "string", "tests": "object"})
		tests, _ := f["tests"].(map[string]any)
		var keys []string
		for k, v := range tests {
			keys = append(keys, k)
			obj, _ := v.(map[string]any)
			checkObject(t, name+".tests."+k, obj, contract[k])
		}
		sort.Strings(keys)
		typ, _ := f["type"].(string)
		if strings.Join(keys, ",") != strings.Join(testsOf[typ], ",") {
			t.Errorf("%s (%s) has tests %v, want %v", name, typ, keys, testsOf[typ])
		}
		if s := f["severity"]; s != "ok" && s != "warning" && s != "critical" {
			t.Errorf("%s: severity %v", name, s)
		}
	}
	mv, _ := doc["multivariate"].(map[string]any)
	checkObject(t, "multivariate", mv, map[string]string{"mmd": "object", "mahalanobis": "object"})
	mmd, _ := mv["mmd"].(map[string]any)
	checkObject(t, "multivariate.mmd", mmd, map[string]string{"statistic": "number", "p_value": "number"})
	maha, _ := mv["mahalanobis"].(map[string]any)
	checkObject(t, "multivariate.mahalanobis", maha, map[string]string{"statistic": "number"})
}

// close reports whether got equals want to a relative 1e-9, or to an absolute
// 1e-12 for p-values.
func closeTo(key string, got, want float64) bool {
	d := math.Abs(got - want)
	return d <= 1e-9*math.Abs(want) || (strings.Contains(key, "p_value") && d <= 1e-12)
}

// compareValues walks want (from expected.json) and checks got has the same
// values: numbers to closeTo, everything else exactly.
func compareValues(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %v, want an object", path, got)
			return
		}
		for k, wv := range w {
			compareValues(t, path+"."+k, g[k], wv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %d elements", path, got, len(w))
			return
		}
		for i := range w {
			compareValues(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
	case float64:
		g, ok := got.(float64)
		if !ok || !closeTo(path, g, w) {
			t.Errorf("%s = %v, scipy %v", path, got, w)
		}
	default:
		if got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
}

func TestCompareMatchesScipy(t *testing.T) {
	raw, err := os.ReadFile(compareData + "/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCompare(t, "--reference", compareData+"/ref.csv", "--current", compareData+"/cur.csv", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// Statistics, sizes and decisions of every column.
	compareValues(t, "features", got["features"], want["features"])
	// The joint tests: both statistics; the permutation p-value is only
	// checked for range, as it depends on the random permutations.
	wm, _ := want["multivariate"].(map[string]any)
	gm, _ := got["multivariate"].(map[string]any)
	compareValues(t, "multivariate", gm, wm)
	mmd, _ := gm["mmd"].(map[string]any)
	if p, _ := mmd["p_value"].(float64); p < 1.0/101 || p > 1 {
		t.Errorf("MMD p-value %v outside [1/101, 1]", p)
	}
	// The script also names the columns of the joint tests; they are used in
	// name order.
	var cols []string
	for _, c := range want["multivariate_columns"].([]any) {
		cols = append(cols, c.(string))
	}
	sort.Strings(cols)
	if line := "multivariate over " + strings.Join(cols, ", ") + ":"; !strings.Contains(mustRun(t, "table"), line) {
		t.Errorf("table lacks %q", line)
	}
}

// mustRun returns the report of the committed inputs in format.
func mustRun(t *testing.T, format string, extra ...string) string {
	t.Helper()
	code, out, errs := runCompare(t, append([]string{"--reference", compareData + "/ref.csv", "--current", compareData + "/cur.csv", "--format", format}, extra...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	return out
}

// csvToParquet writes the CSV file src as a Parquet file with optional double
// columns for numeric columns and optional strings for categorical ones.
func csvToParquet(t *testing.T, src string) string {
	t.Helper()
	tab, err := dataset.Read(src, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	header := strings.Split(lines[0], ",")
	group := parquet.Group{}
	kinds := map[string]string{}
	for _, c := range tab.Columns {
		kinds[c.Name] = c.Kind
		if c.Kind == dataset.Numeric {
			group[c.Name] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		} else {
			group[c.Name] = parquet.Optional(parquet.String())
		}
	}
	schema := parquet.NewSchema("data", group)
	// Leaf columns are in the order of schema.Columns(), sorted by name.
	leaf := map[string]int{}
	for i, path := range schema.Columns() {
		leaf[path[0]] = i
	}
	dst := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".csv")+".parquet")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewWriter(f, schema)
	for _, line := range lines[1:] {
		fields := strings.Split(line, ",")
		row := make(parquet.Row, len(header))
		for j, name := range header {
			col := leaf[name]
			switch {
			case fields[j] == "":
				row[col] = parquet.NullValue().Level(0, 0, col)
			case kinds[name] == dataset.Numeric:
				v, err := strconv.ParseFloat(fields[j], 64)
				if err != nil {
					t.Fatal(err)
				}
				row[col] = parquet.DoubleValue(v).Level(0, 1, col)
			default:
				row[col] = parquet.ByteArrayValue([]byte(fields[j])).Level(0, 1, col)
			}
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCompareSameReportFromEveryFormat(t *testing.T) {
	want := mustRun(t, "json")
	refParquet, curParquet := csvToParquet(t, compareData+"/ref.csv"), csvToParquet(t, compareData+"/cur.csv")
	for _, pair := range [][2]string{
		{compareData + "/ref.jsonl", compareData + "/cur.jsonl"},
		{refParquet, curParquet},
		{compareData + "/ref.csv", curParquet},
		{refParquet, compareData + "/cur.jsonl"},
	} {
		code, out, errs := runCompare(t, "--reference", pair[0], "--current", pair[1], "--format", "json")
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", pair, code, errs)
		}
		// Parquet columns come in schema (name) order, so compare per feature.
		got, w := byFeature(t, out), byFeature(t, want)
		if len(got) != len(w) {
			t.Errorf("%s vs %s: %d features, CSV %d", filepath.Base(pair[0]), filepath.Base(pair[1]), len(got), len(w))
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s vs %s: %s is\n%s\nfrom CSV\n%s", filepath.Base(pair[0]), filepath.Base(pair[1]), k, got[k], v)
			}
		}
	}
}

// byFeature returns the JSON report's features by name and its multivariate
// part, each re-encoded.
func byFeature(t *testing.T, out string) map[string]string {
	t.Helper()
	var doc struct {
		Features     []map[string]any `json:"features"`
		Multivariate map[string]any   `json:"multivariate"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range doc.Features {
		b, _ := json.Marshal(f)
		m[f["name"].(string)] = string(b)
	}
	b, _ := json.Marshal(doc.Multivariate)
	m["(multivariate)"] = string(b)
	return m
}

// writeColumn writes a one-column CSV of values.
func writeColumn(t *testing.T, name string, values []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("x\n")
	for _, v := range values {
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompareFailOnExitCodes(t *testing.T) {
	ref, cur := compareData+"/ref.csv", compareData+"/cur.csv"
	// A warning-only shift: 20 000 evenly spread values and the same moved
	// by 0.04, a normalised Wasserstein of about 0.139 (warning), PSI 0.034
	// and a KS p-value far below 0.05.
	n := 20000
	u, v := make([]float64, n), make([]float64, n)
	for i := range u {
		u[i] = (float64(i) + 0.5) / float64(n)
		v[i] = u[i] + 0.04
	}
	wref, wcur := writeColumn(t, "u.csv", u), writeColumn(t, "v.csv", v)
	cases := []struct {
		name     string
		args     []string
		code     int
		stderrIs string
	}{
		{"drift without --fail-on", []string{"--reference", ref, "--current", cur}, 0, ""},
		{"critical drift, fail on critical", []string{"--reference", ref, "--current", cur, "--fail-on", "critical"}, 3, "amount, country"},
		{"critical drift, fail on warning", []string{"--reference", ref, "--current", cur, "--fail-on", "warning"}, 3, "amount, country"},
		{"no drift", []string{"--reference", ref, "--current", ref, "--fail-on", "warning"}, 0, ""},
		{"warning drift, fail on warning", []string{"--reference", wref, "--current", wcur, "--fail-on", "warning"}, 3, "(warning): x"},
		{"warning drift, fail on critical", []string{"--reference", wref, "--current", wcur, "--fail-on", "critical"}, 0, ""},
		{"unreadable input", []string{"--reference", ref, "--current", filepath.Join(t.TempDir(), "none.csv"), "--fail-on", "warning"}, 1, "none.csv"},
		{"bad --fail-on", []string{"--reference", ref, "--current", cur, "--fail-on", "major"}, 2, `--fail-on "major"`},
		{"bad --format", []string{"--reference", ref, "--current", cur, "--format", "html"}, 2, `--format "html"`},
		{"no --current", []string{"--reference", ref}, 2, "--current is required"},
		{"bad --fdr", []string{"--reference", ref, "--current", cur, "--fdr", "1.5"}, 2, "fdr 1.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCompare(t, c.args...)
			if code != c.code || !strings.Contains(errs, c.stderrIs) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q\n%s", code, errs, c.code, c.stderrIs, out)
			}
		})
	}
	// The warning case is a warning indeed.
	if out := mustRunPair(t, wref, wcur); !strings.Contains(out, "worst severity warning") {
		t.Errorf("shifted uniform sample is not a warning:\n%s", out)
	}
}

// mustRunPair returns the table report of ref against cur.
func mustRunPair(t *testing.T, ref, cur string, extra ...string) string {
	t.Helper()
	code, out, errs := runCompare(t, append([]string{"--reference", ref, "--current", cur}, extra...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	return out
}

func TestCompareTypeOverride(t *testing.T) {
	out := mustRun(t, "json", "--categorical", "age", "--numeric", "amount")
	feats := byFeature(t, out)
	if !strings.Contains(feats["age"], `"type":"categorical"`) || !strings.Contains(feats["age"], `"chi2"`) || strings.Contains(feats["age"], `"ks"`) {
		t.Errorf("age with --categorical: %s", feats["age"])
	}
	if !strings.Contains(feats["amount"], `"type":"numeric"`) {
		t.Errorf("amount with --numeric: %s", feats["amount"])
	}
	// A non-number in a column declared numeric names the file, line and column.
	code, _, errs := runCompare(t, "--reference", compareData+"/ref.csv", "--current", compareData+"/cur.csv", "--numeric", "country")
	if code != 1 || !strings.Contains(errs, "ref.csv: line 2, column \"country\"") {
		t.Errorf("--numeric country: exit %d, stderr %q", code, errs)
	}
}

func TestCompareReconcilesInferredKinds(t *testing.T) {
	// The reference's zip codes are all numbers, the current has "n/a": both
	// sides must be compared as categorical, with the reference's exact text.
	dir := t.TempDir()
	var ref, cur strings.Builder
	ref.WriteString("zip\n")
	cur.WriteString("zip\n")
	for i := range 150 {
		fmt.Fprintf(&ref, "0%d\n", 1000+i%3)
		fmt.Fprintf(&cur, "0%d\n", 1000+i%3)
	}
	cur.WriteString("n/a\n")
	rp, cp := filepath.Join(dir, "r.csv"), filepath.Join(dir, "c.csv")
	os.WriteFile(rp, []byte(ref.String()), 0o600)
	os.WriteFile(cp, []byte(cur.String()), 0o600)
	code, out, errs := runCompare(t, "--reference", rp, "--current", cp, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f := byFeature(t, out)["zip"]
	// Unseen is 1/151: only "n/a" is new, so "01000" matched "01000".
	if !strings.Contains(f, `"type":"categorical"`) || !strings.Contains(f, `"unseen":{"statistic":`+strconv.FormatFloat(1.0/151, 'g', -1, 64)+`}`) {
		t.Errorf("zip: %s", f)
	}
}

func TestCompareNotesColumnsInOneFileOnly(t *testing.T) {
	dir := t.TempDir()
	rp, cp := filepath.Join(dir, "r.csv"), filepath.Join(dir, "c.csv")
	os.WriteFile(rp, []byte("a,b\n1,2\n3,4\n"), 0o600)
	os.WriteFile(cp, []byte("a,c\n1,x\n3,y\n"), 0o600)
	code, _, errs := runCompare(t, "--reference", rp, "--current", cp)
	if code != 0 || !strings.Contains(errs, `"b" is only in the reference`) || !strings.Contains(errs, `"c" is only in the current`) {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestCompareHelp(t *testing.T) {
	code, out, _ := runCompare(t, "--help")
	for _, s := range []string{"Usage: driftwatch compare", "Examples:\n  driftwatch compare", "3 the --fail-on level", "--fail-on"} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("help (exit %d) lacks %q:\n%s", code, s, out)
		}
	}
}
