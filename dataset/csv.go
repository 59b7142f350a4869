package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
)

// readCSV reads a comma-separated file whose first record is the header
// (RFC 4180 quoting; a leading UTF-8 byte order mark is skipped). Every record
// must have as many fields as the header; blank lines are skipped.
func readCSV(path string, kinds map[string]string, progress io.Writer) ([]*builder, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, 0, errors.New("line 1: no header row")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("header: %w", err)
	}
	cols := make([]*builder, len(header))
	seen := make(map[string]bool, len(header))
	for i, name := range header {
		if name == "" {
			return nil, 0, fmt.Errorf("line 1: header field %d is empty", i+1)
		}
		if seen[name] {
			return nil, 0, fmt.Errorf("line 1: column %q appears twice in the header", name)
		}
		seen[name] = true
		cols[i] = newBuilder(name, kinds, 0)
	}
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// csv.ParseError names the line and, for a wrong field count,
			// says how many fields it expected.
			return nil, 0, err
		}
		for i, v := range rec {
			if err := cols[i].add(v); err != nil {
				line, _ := r.FieldPos(i)
				return nil, 0, fmt.Errorf("line %d, column %q: %w", line, cols[i].name, err)
			}
		}
		rows++
		reportProgress(progress, path, rows)
	}
	return cols, rows, nil
}
