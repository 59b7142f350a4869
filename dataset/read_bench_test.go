package dataset

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// benchRows and benchNumeric, benchCategorical shape the benchmark data set:
// a million rows of 15 numeric and 5 categorical columns.
const (
	benchRows        = 1_000_000
	benchNumeric     = 15
	benchCategorical = 5
)

// benchRow is the Parquet form of one benchmark row.
type benchRow struct {
	N [benchNumeric]float64
	C [benchCategorical]string
}

// writeBenchFiles writes the benchmark data set as CSV, JSONL and Parquet.
func writeBenchFiles(b *testing.B) (csvPath, jsonlPath, parquetPath string) {
	b.Helper()
	dir := b.TempDir()
	csvPath, jsonlPath, parquetPath = filepath.Join(dir, "b.csv"), filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "b.parquet")
	cf, _ := os.Create(csvPath)
	jf, _ := os.Create(jsonlPath)
	cw, jw := bufio.NewWriter(cf), bufio.NewWriter(jf)
	for j := range benchNumeric + benchCategorical {
		if j > 0 {
			cw.WriteByte(',')
		}
		fmt.Fprintf(cw, "c%d", j)
	}
	cw.WriteByte('\n')
	rng := rand.New(rand.NewPCG(1, 2))
	pcols := make([]parquet.Row, 0, 1024)
	schema := parquet.NewSchema("bench", benchSchema())
	pfile, _ := os.Create(parquetPath)
	pw := parquet.NewWriter(pfile, schema)
	var row benchRow
	for range benchRows {
		jw.WriteByte('{')
		for j := range benchNumeric {
			row.N[j] = float64(int(rng.NormFloat64()*1e4)) / 100
			s := strconv.FormatFloat(row.N[j], 'f', -1, 64)
			if j > 0 {
				cw.WriteByte(',')
				jw.WriteByte(',')
			}
			cw.WriteString(s)
			fmt.Fprintf(jw, `"c%d":%s`, j, s)
		}
		for j := range benchCategorical {
			row.C[j] = "cat" + strconv.Itoa(rng.IntN(20))
			cw.WriteByte(',')
			cw.WriteString(row.C[j])
			fmt.Fprintf(jw, `,"c%d":"%s"`, benchNumeric+j, row.C[j])
		}
		cw.WriteByte('\n')
		jw.WriteString("}\n")
		pr := make(parquet.Row, 0, benchNumeric+benchCategorical)
		for j, v := range row.N {
			pr = append(pr, parquet.DoubleValue(v).Level(0, 0, j))
		}
		for j, v := range row.C {
			pr = append(pr, parquet.ByteArrayValue([]byte(v)).Level(0, 0, benchNumeric+j))
		}
		pcols = append(pcols, pr)
		if len(pcols) == cap(pcols) {
			if _, err := pw.WriteRows(pcols); err != nil {
				b.Fatal(err)
			}
			pcols = pcols[:0]
		}
	}
	if _, err := pw.WriteRows(pcols); err != nil {
		b.Fatal(err)
	}
	for _, err := range []error{cw.Flush(), jw.Flush(), cf.Close(), jf.Close(), pw.Close(), pfile.Close()} {
		if err != nil {
			b.Fatal(err)
		}
	}
	return
}

// benchSchema is the Parquet schema of benchRow, columns in CSV order.
func benchSchema() parquet.Group {
	g := parquet.Group{}
	for j := range benchNumeric {
		g[fmt.Sprintf("c%02d", j)] = parquet.Leaf(parquet.DoubleType)
	}
	for j := range benchCategorical {
		g[fmt.Sprintf("c%02d", benchNumeric+j)] = parquet.String()
	}
	return g
}

// BenchmarkRead reads a million rows × 20 columns in each format.
func BenchmarkRead(b *testing.B) {
	c, j, p := writeBenchFiles(b)
	for _, path := range []string{c, j, p} {
		b.Run(filepath.Ext(path)[1:], func(b *testing.B) {
			st, _ := os.Stat(path)
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				t, err := Read(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if t.Rows != benchRows || len(t.Columns) != benchNumeric+benchCategorical || t.Columns[0].Kind != Numeric || t.Columns[benchNumeric].Kind != Categorical {
					b.Fatalf("read %d rows, %d columns", t.Rows, len(t.Columns))
				}
			}
		})
	}
}
