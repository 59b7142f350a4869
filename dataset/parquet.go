package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// readParquet reads a Parquet file with a flat schema: every top-level field
// a required or optional leaf. Booleans become the categories "true" and
// "false", byte arrays (strings) are inferred like CSV fields, and numbers
// are numeric unless a column is declared categorical (then their shortest
// decimal text is the category). Nulls are missing.
func readParquet(path string, kinds map[string]string, progress io.Writer) ([]*builder, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, 0, fmt.Errorf("opening parquet: %w", err)
	}
	fields := pf.Schema().Fields()
	cols := make([]*builder, len(fields))
	for i, fd := range fields {
		if !fd.Leaf() || fd.Repeated() {
			return nil, 0, fmt.Errorf("column %q: nested and repeated columns are not supported", fd.Name())
		}
		cols[i] = newBuilder(fd.Name(), kinds, 0)
	}
	buf := make([]parquet.Value, 4096)
	rows := 0
	for g, rg := range pf.RowGroups() {
		for i, chunk := range rg.ColumnChunks() {
			if err := readParquetChunk(chunk, cols[i], rows, buf); err != nil {
				return nil, 0, fmt.Errorf("row group %d, %w", g, err)
			}
		}
		next := rows + int(rg.NumRows())
		if progress != nil && next/progressEvery > rows/progressEvery {
			fmt.Fprintf(progress, "%s: %d rows\n", path, next)
		}
		rows = next
	}
	return cols, rows, nil
}

// readParquetChunk appends one column chunk whose first row is row first.
func readParquetChunk(chunk parquet.ColumnChunk, b *builder, first int, buf []parquet.Value) error {
	pages := chunk.Pages()
	defer pages.Close()
	row := first
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("column %q: reading page: %w", b.name, err)
		}
		values := page.Values()
		for {
			n, err := values.ReadValues(buf)
			for _, v := range buf[:n] {
				row++
				if err := addParquetValue(b, v); err != nil {
					parquet.Release(page)
					return fmt.Errorf("row %d, column %q: %w", row, b.name, err)
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(page)
				return fmt.Errorf("column %q: reading values: %w", b.name, err)
			}
		}
		parquet.Release(page)
	}
}

// addParquetValue appends one typed value.
func addParquetValue(b *builder, v parquet.Value) error {
	if v.IsNull() {
		b.missing++
		return nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return b.add(strconv.FormatBool(v.Boolean()))
	case parquet.Int32:
		if b.kind == Categorical {
			return b.add(strconv.FormatInt(int64(v.Int32()), 10))
		}
		return b.addFloat(float64(v.Int32()))
	case parquet.Int64:
		if b.kind == Categorical {
			return b.add(strconv.FormatInt(v.Int64(), 10))
		}
		return b.addFloat(float64(v.Int64()))
	case parquet.Float:
		return b.addFloat(float64(v.Float()))
	case parquet.Double:
		return b.addFloat(v.Double())
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return b.add(string(v.ByteArray()))
	}
	return fmt.Errorf("unsupported parquet type %s", v.Kind())
}
