package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxJSONLine bounds one JSON Lines record.
const maxJSONLine = 64 << 20

// readJSONL reads one JSON object per line; blank lines are skipped.
//
// Values are taken as text and inferred like CSV fields: a JSON number or a
// string holding a number is numeric, true and false are the categories
// "true" and "false", null and an absent key are missing. Nested objects are
// flattened with dots ({"a":{"b":1}} is column "a.b"). Arrays are an error, as
// is a key repeated within one object.
func readJSONL(path string, kinds map[string]string, progress io.Writer) ([]*builder, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), maxJSONLine)
	p := jsonlParser{kinds: kinds, index: make(map[string]int)}
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !json.Valid(b) {
			var v any
			err := json.Unmarshal(b, &v)
			return nil, 0, fmt.Errorf("line %d: invalid JSON: %w", line, err)
		}
		s := string(b)
		i := skipSpace(s, 0)
		if s[i] != '{' {
			return nil, 0, fmt.Errorf("line %d: want a JSON object, got %.20q", line, s[i:])
		}
		if _, err := p.object(s, i, ""); err != nil {
			return nil, 0, fmt.Errorf("line %d, %w", line, err)
		}
		for _, c := range p.cols {
			if c.lastRow != p.rows {
				c.missing++
			}
		}
		p.rows++
		reportProgress(progress, path, p.rows)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("after line %d: %w", line, err)
	}
	return p.cols, p.rows, nil
}

// jsonlParser walks objects already checked by json.Valid.
type jsonlParser struct {
	kinds map[string]string
	cols  []*builder
	index map[string]int
	rows  int
}

// object parses the object starting at s[i] == '{' with keys prefixed by
// prefix and returns the index after it.
func (p *jsonlParser) object(s string, i int, prefix string) (int, error) {
	i = skipSpace(s, i+1)
	if s[i] == '}' {
		return i + 1, nil
	}
	for {
		key, j := jsonString(s, i)
		name := prefix + key
		i = skipSpace(s, skipSpace(s, j)+1) // past ':'
		var err error
		switch c := s[i]; {
		case c == '{':
			i, err = p.object(s, i, name+".")
			if err != nil {
				return 0, err
			}
		case c == '[':
			return 0, fmt.Errorf("column %q: arrays are not supported", name)
		case c == 'n': // null
			i += 4
		case c == '"':
			var v string
			v, i = jsonString(s, i)
			err = p.set(name, v)
		case c == 't':
			err = p.set(name, "true")
			i += 4
		case c == 'f':
			err = p.set(name, "false")
			i += 5
		default: // number
			j := i
			for j < len(s) && strings.IndexByte("+-.0123456789eE", s[j]) >= 0 {
				j++
			}
			err = p.set(name, s[i:j])
			i = j
		}
		if err != nil {
			return 0, err
		}
		i = skipSpace(s, i)
		if s[i] == '}' {
			return i + 1, nil
		}
		i = skipSpace(s, i+1) // past ','
	}
}

// set stores the value of column name for the current row.
func (p *jsonlParser) set(name, v string) error {
	k, ok := p.index[name]
	if !ok {
		k = len(p.cols)
		p.index[strings.Clone(name)] = k
		p.cols = append(p.cols, newBuilder(name, p.kinds, p.rows))
	}
	c := p.cols[k]
	if c.lastRow == p.rows {
		return fmt.Errorf("column %q: key appears twice in the object", name)
	}
	c.lastRow = p.rows
	// An empty string is missing, as an empty CSV field.
	if err := c.add(v); err != nil {
		return fmt.Errorf("column %q: %w", name, err)
	}
	return nil
}

// jsonString decodes the valid JSON string starting at s[i] == '"' and returns
// it and the index after the closing quote. Strings without escapes are
// substrings of s.
func jsonString(s string, i int) (string, int) {
	j := i + 1
	escaped := false
	for ; s[j] != '"'; j++ {
		if s[j] == '\\' {
			escaped = true
			j++
		}
	}
	if !escaped {
		return s[i+1 : j], j + 1
	}
	var v string
	if err := json.Unmarshal([]byte(s[i:j+1]), &v); err != nil {
		panic("dataset: invalid JSON string after json.Valid: " + err.Error())
	}
	return v, j + 1
}

// skipSpace returns the index of the first non-space byte of s at or after i.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}
