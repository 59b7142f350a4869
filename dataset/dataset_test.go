package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// writeFile writes content to name in a temporary directory and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sampleRow is the Parquet form of the sample data set.
type sampleRow struct {
	Amount  *float64 `parquet:"amount,optional"`
	Age     int64    `parquet:"age"`
	Country *string  `parquet:"country,optional"`
	Zip     string   `parquet:"zip"`
	Fraud   bool     `parquet:"fraud"`
}

// writeParquet writes rows to name in a temporary directory.
func writeParquet[T any](t testing.TB, name string, rows []T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func ptr[T any](v T) *T { return &v }

// sample is the same data set in three formats: a numeric column with a
// missing value, an integer column, a categorical column with a missing
// value, a column that looks numeric until its last row, and booleans.
func sample(t *testing.T) (csvPath, jsonlPath, parquetPath string) {
	csvPath = writeFile(t, "s.csv", "\xef\xbb\xbfamount,age,country,zip,fraud\n"+
		"1.5,30,DE,01000,false\n"+
		",41,\"FR\",02000,true\n"+
		"-2e3,52,,03000,false\n"+
		"0.25,63,DE,N/A,false\n")
	jsonlPath = writeFile(t, "s.jsonl", `{"amount":1.5,"age":30,"country":"DE","zip":"01000","fraud":false}
{"amount":null,"age":41,"country":"FR","zip":"02000","fraud":true}

{"amount":-2e3,"age":52,"zip":"03000","fraud":false}
{"amount":0.25,"age":63,"country":"DE","zip":"N/A","fraud":false}
`)
	parquetPath = writeParquet(t, "s.parquet", []sampleRow{
		{Amount: ptr(1.5), Age: 30, Country: ptr("DE"), Zip: "01000"},
		{Age: 41, Country: ptr("FR"), Zip: "02000", Fraud: true},
		{Amount: ptr(-2e3), Age: 52, Zip: "03000"},
		{Amount: ptr(0.25), Age: 63, Country: ptr("DE"), Zip: "N/A"},
	})
	return
}

func TestReadInfersKindsInEveryFormat(t *testing.T) {
	want := &Table{Rows: 4, Columns: []Column{
		{Name: "amount", Kind: Numeric, Numeric: []float64{1.5, -2000, 0.25}, Missing: 1},
		{Name: "age", Kind: Numeric, Numeric: []float64{30, 41, 52, 63}},
		{Name: "country", Kind: Categorical, Categorical: []string{"DE", "FR", "DE"}, Missing: 1},
		// Numeric until "N/A": read again, so the leading zeros survive.
		{Name: "zip", Kind: Categorical, Categorical: []string{"01000", "02000", "03000", "N/A"}},
		{Name: "fraud", Kind: Categorical, Categorical: []string{"false", "true", "false", "false"}},
	}}
	c, j, p := sample(t)
	for _, path := range []string{c, j, p} {
		got, err := Read(path, Options{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", filepath.Base(path), got, want)
		}
	}
}

func TestReadOverridesKinds(t *testing.T) {
	c, j, p := sample(t)
	for _, path := range []string{c, j, p} {
		got, err := Read(path, Options{Categorical: []string{"age"}, Numeric: []string{"amount"}})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		age := got.Column("age")
		if age.Kind != Categorical || !reflect.DeepEqual(age.Categorical, []string{"30", "41", "52", "63"}) {
			t.Errorf("%s: age = %+v, want categorical 30 41 52 63", filepath.Base(path), age)
		}
		if got.Column("amount").Kind != Numeric {
			t.Errorf("%s: amount is %s", filepath.Base(path), got.Column("amount").Kind)
		}
		if got.Column("nope") != nil {
			t.Errorf("Column of an absent name is not nil")
		}
	}
	// Categories share one string per distinct value.
	got, err := Read(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cc := got.Column("country").Categorical
	if unsafe.StringData(cc[0]) != unsafe.StringData(cc[2]) {
		t.Error("equal categories do not share one string")
	}
}

func TestReadExplicitFormat(t *testing.T) {
	path := writeFile(t, "data.txt", "{\"x\":1}\n{\"x\":2}\n")
	got, err := Read(path, Options{Format: FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Column("x").Numeric, []float64{1, 2}) {
		t.Errorf("x = %v", got.Column("x").Numeric)
	}
}

func TestReadJSONLFlattensAndUnescapes(t *testing.T) {
	path := writeFile(t, "n.ndjson", `{"features":{"numeric":{"amount":1},"categorical":{"country":"D\u00e9"}},"s":"a\"b"}
{"features":{"numeric":{"amount":2.5}},"late":"x"}
`)
	got, err := Read(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Table{Rows: 2, Columns: []Column{
		{Name: "features.numeric.amount", Kind: Numeric, Numeric: []float64{1, 2.5}},
		{Name: "features.categorical.country", Kind: Categorical, Categorical: []string{"Dé"}, Missing: 1},
		{Name: "s", Kind: Categorical, Categorical: []string{`a"b`}, Missing: 1},
		{Name: "late", Kind: Categorical, Categorical: []string{"x"}, Missing: 1},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestReadProgress(t *testing.T) {
	c, _, _ := sample(t)
	var buf bytes.Buffer
	if _, err := Read(c, Options{Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "4 rows, 5 columns") {
		t.Errorf("progress = %q", buf.String())
	}
}

func TestReadErrorsNameFileLineAndColumn(t *testing.T) {
	badParquet := writeParquet(t, "bad.parquet", []sampleRow{{Zip: "1"}, {Zip: "x"}})
	cases := []struct {
		name, file, content string
		path                string
		opt                 Options
		says                []string
	}{
		{name: "field count", file: "a.csv", content: "a,b\n1,2\n3\n", says: []string{"a.csv", "line 3", "wrong number of fields"}},
		{name: "bare quote", file: "a.csv", content: "a,b\n1,2\n3,x\"y\n", says: []string{"a.csv", "line 3", "column 4", "bare"}},
		{name: "declared numeric", file: "a.csv", content: "a,b\n1,2\n3,x\n", opt: Options{Numeric: []string{"b"}},
			says: []string{"a.csv", "line 3", `column "b"`, `"x"`, "not a finite number"}},
		{name: "empty header", file: "a.csv", content: "a,\n1,2\n", says: []string{"line 1", "header field 2 is empty"}},
		{name: "duplicate header", file: "a.csv", content: "a,a\n1,2\n", says: []string{`column "a" appears twice`}},
		{name: "no header", file: "a.csv", content: "", says: []string{"a.csv", "no header"}},
		{name: "unknown option column", file: "a.csv", content: "a\n1\n", opt: Options{Categorical: []string{"z"}}, says: []string{`column "z"`, "not in the file"}},
		{name: "both kinds", file: "a.csv", content: "a\n1\n", opt: Options{Categorical: []string{"a"}, Numeric: []string{"a"}}, says: []string{`"a"`, "both numeric and categorical"}},
		{name: "extension", file: "a.xlsx", content: "", says: []string{"a.xlsx", `".xlsx"`}},
		{name: "format", file: "a.csv", content: "", opt: Options{Format: "tsv"}, says: []string{`format "tsv"`}},
		{name: "invalid json", file: "a.jsonl", content: "{\"a\":1}\n{\"a\":2,}\n", says: []string{"a.jsonl", "line 2", "invalid JSON"}},
		{name: "json not object", file: "a.jsonl", content: "{\"a\":1}\n[1]\n", says: []string{"line 2", "want a JSON object"}},
		{name: "json array", file: "a.jsonl", content: "{\"a\":1}\n\n{\"a\":2,\"b\":[1]}\n", says: []string{"line 3", `column "b"`, "arrays"}},
		{name: "json duplicate", file: "a.jsonl", content: "{\"a\":1,\"a\":2}\n", says: []string{"line 1", `column "a"`, "twice"}},
		{name: "json declared numeric", file: "a.jsonl", content: "{\"a\":1}\n{\"a\":\"NaN\"}\n", opt: Options{Numeric: []string{"a"}},
			says: []string{"line 2", `column "a"`, `"NaN"`}},
		{name: "parquet declared numeric", path: badParquet, opt: Options{Numeric: []string{"zip"}},
			says: []string{"bad.parquet", "row 2", `column "zip"`, `"x"`}},
		{name: "missing file", path: filepath.Join(t.TempDir(), "none.csv"), says: []string{"none.csv", "no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if path == "" {
				path = writeFile(t, c.file, c.content)
			}
			_, err := Read(path, c.opt)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}
