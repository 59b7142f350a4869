package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Error is one problem in a policy or cases file, located by file, line and
// key path.
type Error struct {
	// File is the name the file was parsed under.
	File string
	// Line and Column locate the offending node, 1-based; 0 when unknown.
	Line, Column int
	// Path is the key path of the offending node, e.g.
	// "rules[0].thresholds.warning.exit"; empty for the file as a whole.
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error returns "FILE:LINE: PATH: MSG", e.g.
// "policy.yml:12: rules[0].thresholds.warning.exit: 0.12 is above enter 0.1 ...".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in the order they were found
// (file order, then the checks that span several keys).
type Errors []*Error

// Error returns the errors one a line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// decoder walks a yaml.Node tree, collecting errors that name the file,
// the line and the key path, so that one run reports every problem.
type decoder struct {
	file string
	errs Errors
}

// errorf records an error at n (nil: the file) under path.
func (d *decoder) errorf(n *yaml.Node, path, format string, a ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// errorAt records an error at a line under path.
func (d *decoder) errorAt(line int, path, format string, a ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, a...)})
}

// err returns the collected errors, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data as one YAML document and returns its root node, nil
// for an empty document. Syntax errors are recorded with their line.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "a second YAML document: the file must hold one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil
	}
	return root
}

// yamlParserProblems are the messages of yaml's parser (not its scanner),
// whose "line N" counts from 0: the line of the collection being parsed,
// or of the offending token.
var yamlParserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"did not find expected node content", "did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle", "found duplicate %TAG directive",
}

// syntax records a YAML syntax error, moving yaml's "line N" into the
// position (1-based: yaml counts its parser's lines from 0).
func (d *decoder) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			line++
		}
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: "parsing YAML: " + m[2]})
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Msg: "parsing YAML: " + strings.TrimPrefix(msg, "yaml: ")})
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a YAML document"
}

// field is one key of a mapping: its key node (for the position of the key)
// and its value.
type field struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping whose keys are all in allowed, each
// once, and returns its fields by key. Unknown and duplicate keys are
// errors at the key's line. A nil result means n was not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, allowed ...string) map[string]field {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return nil
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		at := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, path, "keys must be plain strings")
		case k.Value == "<<" && k.ShortTag() == "!!merge":
			d.errorf(k, path, "merge keys (<<) are not supported: write the keys out")
		case allowed != nil && !slices.Contains(allowed, k.Value):
			d.errorf(k, at, "unknown key (allowed: %s)", strings.Join(allowed, ", "))
		default:
			if prev, dup := out[k.Value]; dup {
				d.errorf(k, at, "duplicate key (first at line %d)", prev.key.Line)
				continue
			}
			out[k.Value] = field{key: k, val: v}
		}
	}
	return out
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// list checks that n is a list and returns its items.
func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, got %s", kindName(n))
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out, true
}

// scalar checks that n is a non-empty scalar and returns its text.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, path, "must be a value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// str decodes a non-empty string.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path)
	if ok && s == "" {
		d.errorf(n, path, "must not be empty")
		return "", false
	}
	return s, ok
}

// text decodes a string that may be empty.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be a string, got %s", kindName(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return n.Value, true
}

// integer decodes a whole number no smaller than lo.
func (d *decoder) integer(n *yaml.Node, path string, lo int) (int, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || resolve(n).ShortTag() != "!!int" {
		d.errorf(n, path, "must be a whole number, got %q", s)
		return 0, false
	}
	if v < lo {
		d.errorf(n, path, "must be at least %d, got %d", lo, v)
		return 0, false
	}
	return v, true
}

// number decodes a finite number.
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	tag := resolve(n).ShortTag()
	v, err := strconv.ParseFloat(s, 64)
	if (tag != "!!int" && tag != "!!float") || err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, path, "must be a finite number, got %q", s)
		return 0, false
	}
	return v, true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return false, false
	}
	if resolve(n).ShortTag() != "!!bool" {
		d.errorf(n, path, "must be true or false, got %q", s)
		return false, false
	}
	return s == "true" || s == "True" || s == "TRUE", true
}

// duration decodes a positive Prometheus duration: "90s", "5m", "1h30m",
// "3d", "4w" (units y, w, d, h, m, s, ms; a day is 24h).
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := model.ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "must be a duration such as 5m, 6h or 3d, got %q", s)
		return 0, false
	}
	if v <= 0 {
		d.errorf(n, path, "must be positive, got %q", s)
		return 0, false
	}
	return time.Duration(v), true
}

// share decodes a share strictly between 0 and 1, written as a fraction
// (0.02) or a percentage ("2%").
func (d *decoder) share(n *yaml.Node, path string) (float64, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := parseShare(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

// parseShare parses "2%" or "0.02" into 0.02, refusing values outside (0, 1).
func parseShare(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(p), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("must be a share such as 2%% or 0.02, got %q", s)
	}
	v /= scale
	if v <= 0 || v >= 1 {
		return 0, fmt.Errorf("must be strictly between 0 and 100%%, got %q", s)
	}
	return v, nil
}

// names decodes a non-empty list of non-empty strings.
func (d *decoder) names(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.list(n, path)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errorf(n, path, "must not be empty (leave the key out instead)")
		return nil, false
	}
	out := make([]string, 0, len(items))
	good := true
	for i, it := range items {
		s, ok := d.str(it, index(path, i))
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

// formatDuration writes d as a Prometheus duration ("30d", "1h", "5m").
func formatDuration(d time.Duration) string { return model.Duration(d).String() }
