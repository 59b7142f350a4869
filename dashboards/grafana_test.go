package dashboards

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// What Grafana and the ClickHouse plugin do to a query before ClickHouse sees it, re-implemented
// after their sources: the plugin's applyTemplateVariables (grafana/clickhouse-datasource
// src/data/CHDatasource.ts: applyConditionalAll with getMacroArgs, then templateSrv.replace with the
// plugin's own format for variables without one), Grafana's format registry (grafana/scenes
// packages/scenes/src/variables/interpolation/formatRegistry.ts) and the backend macros
// (pkg/macros/macros.go). Only what the dashboards and these tests use is implemented; anything
// else fails the test rather than being guessed.

// selection is what the dashboard's variables are set to: the values (not the texts) of the chosen
// options, as Grafana holds them.
type selection struct {
	values   map[string][]string // variable → values; a single-valued variable has exactly one
	multi    map[string]bool     // multi-valued variables: formats see a list, even of one value
	all      map[string]bool     // All is selected (values then holds every option's value)
	from, to time.Time
}

// with returns a copy of s with variable name set.
func (s selection) with(name string, values []string, multi, all bool) selection {
	c := s
	c.values, c.multi, c.all = map[string][]string{}, map[string]bool{}, map[string]bool{}
	for k, v := range s.values {
		c.values[k] = v
	}
	for k, v := range s.multi {
		c.multi[k] = v
	}
	for k, v := range s.all {
		c.all[k] = v
	}
	c.values[name], c.multi[name], c.all[name] = values, multi, all
	return c
}

// templateVariable is Grafana's variable syntax: $name, [[name]], [[name:format]], ${name},
// ${name.fieldPath} and ${name:format}.
var templateVariable = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// knownMacros are the plugin macros the dashboards may use (18.16-safe, see checkClickHouseTarget).
var knownMacros = []string{"$__timeFilter(", "$__interval_s", "$__conditionalAll("}

// expand returns q as ClickHouse receives it under sel: $__conditionalAll resolved, variables
// interpolated with their formats, $__timeFilter(c) as c >= toDateTime(from) AND c <= toDateTime(to),
// and $__interval_s as 60.
func expand(t *testing.T, q string, sel selection) string {
	t.Helper()
	q = applyConditionalAll(t, q, sel)
	// Every $ of the template must be a variable or a known macro: a stray one would reach ClickHouse.
	rest := templateVariable.ReplaceAllStringFunc(q, func(m string) string {
		if strings.HasPrefix(variableName(templateVariable.FindStringSubmatch(m)), "__") {
			return m
		}
		return ""
	})
	for _, m := range knownMacros {
		rest = strings.ReplaceAll(rest, m, "")
	}
	if strings.Contains(rest, "$") {
		t.Fatalf("unknown macro or variable syntax in:\n%s", q)
	}

	q = templateVariable.ReplaceAllStringFunc(q, func(m string) string {
		sub := templateVariable.FindStringSubmatch(m)
		name := variableName(sub)
		if strings.HasPrefix(name, "__") {
			return m // Grafana's and the plugin's own names, left for the backend macros
		}
		vals, ok := sel.values[name]
		if !ok {
			t.Fatalf("no value for variable %s in:\n%s", name, q)
		}
		if !sel.multi[name] && len(vals) != 1 {
			t.Fatalf("single-valued variable %s has %d values", name, len(vals))
		}
		if sub[5] != "" {
			t.Fatalf("field path %s of %s is not emulated", sub[5], m)
		}
		return formatValue(t, sub[3]+sub[6], vals, sel.multi[name])
	})

	timeFilter := regexp.MustCompile(`\$__timeFilter\(\s*(\w+)\s*\)`)
	q = timeFilter.ReplaceAllString(q, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", sel.from.Unix(), sel.to.Unix()))
	return strings.ReplaceAll(q, "$__interval_s", "60")
}

func variableName(sub []string) string { return sub[1] + sub[2] + sub[4] }

// formatValue formats a variable's value as Grafana's format registry does; format "" is the
// ClickHouse plugin's own format (lists quoted and comma-separated, unescaped; single values raw).
func formatValue(t *testing.T, format string, vals []string, multi bool) string {
	t.Helper()
	quoteEach := func(quote func(string) string) string {
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = "'" + quote(v) + "'"
		}
		return strings.Join(out, ",")
	}
	switch format {
	case "":
		if multi {
			return "'" + strings.Join(vals, "','") + "'"
		}
		return vals[0]
	case "raw", "csv":
		return strings.Join(vals, ",") // String([a, b]) in JavaScript is "a,b" too
	case "percentencode":
		if multi {
			return percentEncode("{" + strings.Join(vals, ",") + "}")
		}
		return percentEncode(vals[0])
	case "singlequote":
		return quoteEach(func(v string) string { return strings.ReplaceAll(v, "'", `\'`) })
	case "sqlstring":
		return quoteEach(strings.NewReplacer("'", "''", `"`, `\"`).Replace)
	}
	t.Fatalf("variable format %q is not emulated", format)
	return ""
}

// percentEncode is Grafana's encodeURIComponentStrict: JavaScript's encodeURIComponent, which
// percent-encodes the UTF-8 bytes of every character but A-Z a-z 0-9 - _ . ! ~ * ' ( ), and then
// also ! ' ( ) *. A JavaScript string holds no invalid UTF-8: the browser decoded it with
// replacement characters, so this does too.
func percentEncode(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', strings.IndexByte("-_.~", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// applyConditionalAll is the plugin's applyConditionalAll: from the last $__conditionalAll(cond,
// $var) to the first, the call becomes 1=1 when var's value is All or empty and cond otherwise. The
// plugin splits the arguments without regard to string literals and substitutes with
// String.replace, whose replacement string gives $$, $&, $` and $' special meanings.
func applyConditionalAll(t *testing.T, q string, sel selection) string {
	t.Helper()
	const macro = "$__conditionalAll("
	varName := regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)
	for i := strings.LastIndex(q, macro); i >= 0; i = strings.LastIndex(q, macro) {
		args, _ := macroArgs(q, i+len(macro)-1)
		if len(args) != 2 {
			t.Fatalf("$__conditionalAll needs 2 arguments, got %q in:\n%s", args, q)
		}
		phrase := args[0]
		if m := varName.FindStringSubmatch(strings.TrimSpace(args[1])); m != nil {
			name := m[1] + m[2]
			vals, ok := sel.values[name]
			if !ok {
				t.Fatalf("$__conditionalAll: no value for variable %s", name)
			}
			if sel.all[name] || strings.Join(vals, ",") == "" {
				phrase = "1=1"
			}
		}
		for _, special := range []string{"$$", "$&", "$`", "$'"} {
			if strings.Contains(phrase, special) {
				t.Fatalf("$__conditionalAll condition %q holds %s, which String.replace would rewrite", phrase, special)
			}
		}
		q = strings.Replace(q, macro+args[0]+","+args[1]+")", phrase, 1)
	}
	return q
}

// macroArgs is the plugin's getMacroArgs: q[open] is the "(" of a macro call; it returns the
// arguments, split at commas outside nested parentheses (string literals are not recognised), and
// the index after the closing parenthesis, or nil when the call is not closed.
func macroArgs(q string, open int) ([]string, int) {
	depth, start := 0, open+1
	var args []string
	for i := open; i < len(q); i++ {
		switch q[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 1 {
				args = append(args, q[start:i])
				start = i + 1
			}
		}
		if depth == 0 {
			return append(args, q[start:i]), i + 1
		}
	}
	return nil, len(q)
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"AZaz09-_.~":                 "AZaz09-_.~",
		`!'()*`:                      "%21%27%28%29%2A",
		`x\' OR 1=1 --`:              "x%5C%27%20OR%201%3D1%20--",
		"{a,b}$[[c]]%":               "%7Ba%2Cb%7D%24%5B%5Bc%5D%5D%25",
		"ü🚀\t\n":                     "%C3%BC%F0%9F%9A%80%09%0A",
		"\xff":                       "%EF%BF%BD",
		"'); DROP TABLE t; --\u202e": "%27%29%3B%20DROP%20TABLE%20t%3B%20--%E2%80%AE",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExpand(t *testing.T) {
	from, to := time.Unix(1000, 0), time.Unix(2000, 0)
	sel := selection{from: from, to: to}.
		with("model_id", []string{`fr\'aud`}, false, false).
		with("model_version", []string{"v1"}, false, false).
		with("feature", []string{"a,b", "c"}, true, false)
	for _, c := range []struct{ in, want string }{
		{"SELECT $__interval_s FROM x WHERE $__timeFilter(window_start)",
			"SELECT 60 FROM x WHERE window_start >= toDateTime(1000) AND window_start <= toDateTime(2000)"},
		{"m = unhex('${model_id:percentencode}') AND v = '$model_version' AND [[model_version]]",
			`m = unhex('fr%5C%27aud') AND v = 'v1' AND v1`},
		{"f = '${feature:percentencode}'", "f = '%7Ba%2Cb%2Cc%7D'"},
		{"m = ${model_id:singlequote} AND m = ${model_id:sqlstring} AND f IN (${feature:singlequote})",
			`m = 'fr\\'aud' AND m = 'fr\''aud' AND f IN ('a,b','c')`},
		{"f IN ($feature) AND f = ${feature:csv}", "f IN ('a,b','c') AND f = a,b,c"},
		{"WHERE $__conditionalAll(has(f(x, (y)), feature), $feature) AND $__conditionalAll(a = 1, ${feature})",
			"WHERE has(f(x, (y)), feature) AND a = 1"},
	} {
		if got := expand(t, c.in, sel); got != c.want {
			t.Errorf("expand(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	all := sel.with("feature", []string{"a,b", "c"}, true, true)
	if got, want := expand(t, "WHERE $__conditionalAll(f(x, (y)), ${feature}) AND 1", all), "WHERE 1=1 AND 1"; got != want {
		t.Errorf("with All: got %q, want %q", got, want)
	}
	none := sel.with("feature", nil, true, false)
	if got, want := expand(t, "WHERE $__conditionalAll(f(x), $feature)", none), "WHERE 1=1"; got != want {
		t.Errorf("with nothing selected: got %q, want %q", got, want)
	}
}

// safeReference is the one way a ClickHouse query may take a variable's value: percent-encoded, as
// the whole content of a string literal. Percent encoding leaves only A-Z a-z 0-9 - _ . ~ and %,
// which can neither end a ClickHouse literal (' or \) nor start a macro or variable ($).
var safeReference = regexp.MustCompile(`^\$\{\w+:percentencode\}$`)

// unsafeInterpolations returns how the ClickHouse query q lets a variable value reach the SQL other
// than through safeReference; the only other $ allowed are the 18.16-safe macros and the variable
// argument of $__conditionalAll, which the plugin consumes before interpolating. It reads q as
// ClickHouse does: in a string literal '...', \ escapes the next character and a doubled quote is
// one quote.
func unsafeInterpolations(q string) []string {
	var problems []string
	// Blank out the variable argument of each $__conditionalAll, split as the plugin splits it.
	const cond = "$__conditionalAll("
	for i := strings.Index(q, cond); i >= 0; {
		args, end := macroArgs(q, i+len(cond)-1)
		if len(args) != 2 || !regexp.MustCompile(`^\s*(\$\w+|\$\{\w+\})\s*$`).MatchString(args[1]) {
			problems = append(problems, fmt.Sprintf("$__conditionalAll at %d: want (condition, $variable), got %q", i, args))
			break
		}
		q = q[:end-1-len(args[1])] + strings.Repeat(" ", len(args[1])) + q[end-1:]
		if j := strings.Index(q[i+1:], cond); j >= 0 {
			i += 1 + j
		} else {
			i = -1
		}
	}
	for i := 0; i < len(q); i++ {
		switch {
		case q[i] == '\'':
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '\\' {
					j++
				} else if q[j] == '\'' && j+1 < len(q) && q[j+1] == '\'' {
					j++
				} else if q[j] == '\'' {
					break
				}
			}
			lit := q[i+1 : min(j, len(q))]
			if (strings.Contains(lit, "$") || strings.Contains(lit, "[[")) && !safeReference.MatchString(lit) {
				problems = append(problems, fmt.Sprintf("string literal '%s' takes a variable other than as '${name:percentencode}'", lit))
			}
			i = j
		case strings.HasPrefix(q[i:], "[["):
			problems = append(problems, fmt.Sprintf("variable outside a string literal at %q", q[i:min(i+30, len(q))]))
		case q[i] == '$':
			if !slices.ContainsFunc(knownMacros, func(m string) bool { return strings.HasPrefix(q[i:], m) }) {
				problems = append(problems, fmt.Sprintf("variable outside a string literal at %q", q[i:min(i+30, len(q))]))
			}
		}
	}
	return problems
}

func TestUnsafeInterpolations(t *testing.T) {
	for q, want := range map[string]int{
		"m = unhex('${model_id:percentencode}') AND $__timeFilter(t) AND x = $__interval_s":            0,
		"$__conditionalAll(has(f(decodeURLComponent('${feature:percentencode}')), feature), $feature)": 0,
		"x = 'it''s \\' m' AND m = unhex('${model_id:percentencode}')":                                 0,
		"x = 'a\\' AND m = ${model_id:sqlstring} AND y = 'b'":                                          1,
		"m = ${model_id:singlequote}":                                                                  1,
		"m = ${model_id:sqlstring}":                                                                    1,
		"m = '${model_id}'":                                                                            1,
		"m = '$model_id'":                                                                              1,
		"m = 'x${model_id:percentencode}'":                                                             1,
		"m = 'a'${model_id:percentencode}'b'":                                                          1,
		"m = 'a\\'${model_id:percentencode}'":                                                          1,
		"m = [[model_id]] AND n = '[[model_id]]'":                                                      2,
		"m = ${model_id:percentencode}":                                                                1,
		"$__conditionalAll(f IN (${feature:percentencode}), $feature)":                                 1,
		"$__conditionalAll(f = 1, ${feature:csv})":                                                     2,
		"$__timeGroup(t, 1m)":                                                                          1,
	} {
		if got := unsafeInterpolations(q); len(got) != want {
			t.Errorf("unsafeInterpolations(%q) = %q, want %d problems", q, got, want)
		}
	}
}
