package generator

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/telemetry"
)

// Append appends the JSON of e to dst and returns the extended slice. It is
// hand-written (no reflection); names are written in sorted order, so equal
// events give equal bytes. Non-finite numbers are written as the strings
// "NaN", "+Inf" and "-Inf", which telemetry.Decoder rejects; empty optional
// fields are left out.
func (g *Generator) Append(dst []byte, e *telemetry.Event) []byte {
	schema := e.SchemaVersion
	if schema == "" {
		schema = "1"
	}
	dst = append(dst, `{"schema_version":`...)
	dst = appendString(dst, schema)
	dst = append(dst, `,"prediction_id":`...)
	dst = appendString(dst, e.PredictionID)
	dst = append(dst, `,"event_time":"`...)
	dst = e.EventTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","model":{"id":`...)
	dst = appendString(dst, e.Model.ID)
	if e.Model.Version != "" {
		dst = append(dst, `,"version":`...)
		dst = appendString(dst, e.Model.Version)
	}
	dst = append(dst, '}')
	if e.Operation != "" {
		dst = append(dst, `,"operation":`...)
		dst = appendString(dst, e.Operation)
	}
	p := e.Principal
	if p != (telemetry.Principal{}) {
		dst = append(dst, `,"principal":{`...)
		n := 0
		dst, n = appendField(dst, n, "enduser.id", p.EndUserID)
		dst, n = appendField(dst, n, "service", p.Service)
		dst, n = appendField(dst, n, "tenant", p.Tenant)
		dst, _ = appendField(dst, n, "client.address", p.ClientAddress)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"features":{"numeric":`...)
	dst = appendPairs(dst, e.Features.Numeric, &g.nums, byNumberName, numberPair)
	dst = append(dst, `,"categorical":`...)
	dst = appendPairs(dst, e.Features.Categorical, &g.cats, byCategoryName, categoryPair)
	dst = append(dst, '}')
	pr := &e.Prediction
	dst = append(dst, `,"prediction":{`...)
	n := 0
	if pr.Score != nil {
		dst = append(dst, `"score":`...)
		dst = appendFloat(dst, *pr.Score)
		n++
	}
	dst, n = appendField(dst, n, "class", pr.Class)
	if len(pr.Probabilities) > 0 {
		dst = comma(dst, n)
		n++
		dst = append(dst, `"probabilities":`...)
		dst = appendPairs(dst, pr.Probabilities, &g.probs, byClass, probabilityPair)
	}
	if pr.Threshold != nil {
		dst = comma(dst, n)
		dst = append(dst, `"threshold":`...)
		dst = appendFloat(dst, *pr.Threshold)
	}
	dst = append(dst, '}')
	if e.LatencyMS != nil {
		dst = append(dst, `,"latency_ms":`...)
		dst = appendFloat(dst, *e.LatencyMS)
	}
	if e.ErrorType != "" {
		dst = append(dst, `,"error.type":`...)
		dst = appendString(dst, e.ErrorType)
	}
	if e.LLM != nil {
		dst = append(dst, `,"llm":`...)
		dst = appendLLM(dst, e.LLM)
	}
	if len(e.Attributes) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst = appendPairs(dst, e.Attributes, &g.attrs, byAttributeKey, attributePair)
	}
	return append(dst, '}')
}

func appendLLM(dst []byte, l *telemetry.LLM) []byte {
	dst = append(dst, '{')
	n := 0
	for _, f := range [...]struct {
		name string
		v    *int64
	}{
		{"gen_ai.usage.input_tokens", l.InputTokens},
		{"gen_ai.usage.output_tokens", l.OutputTokens},
		{"gen_ai.usage.cache_read.input_tokens", l.CacheReadInputTokens},
		{"gen_ai.usage.reasoning.output_tokens", l.ReasoningTokens},
	} {
		if f.v != nil {
			dst = comma(dst, n)
			n++
			dst = appendString(dst, f.name)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, *f.v, 10)
		}
	}
	if len(l.FinishReasons) > 0 {
		dst = comma(dst, n)
		n++
		dst = append(dst, `"gen_ai.response.finish_reasons":[`...)
		for i, r := range l.FinishReasons {
			dst = comma(dst, i)
			dst = appendString(dst, r)
		}
		dst = append(dst, ']')
	}
	if l.TimeToFirstChunk != nil {
		dst = comma(dst, n)
		n++
		dst = append(dst, `"gen_ai.response.time_to_first_chunk":`...)
		dst = appendFloat(dst, *l.TimeToFirstChunk)
	}
	if l.Refusal {
		dst = comma(dst, n)
		dst = append(dst, `"refusal":true`...)
	}
	return append(dst, '}')
}

// appendField appends "name":"v" when v is not empty; n counts the fields
// already written in the object, for commas.
func appendField(dst []byte, n int, name, v string) ([]byte, int) {
	if v == "" {
		return dst, n
	}
	dst = comma(dst, n)
	dst = appendString(dst, name)
	dst = append(dst, ':')
	return appendString(dst, v), n + 1
}

func comma(dst []byte, n int) []byte {
	if n > 0 {
		return append(dst, ',')
	}
	return dst
}

// sortedByName returns xs sorted by cmp: xs itself when it is, else a
// sorted copy in scratch. cmp is a plain function, so that nothing is
// allocated per call.
func sortedByName[S ~[]T, T any](xs S, scratch *S, cmp func(a, b T) int) S {
	if slices.IsSortedFunc(xs, cmp) {
		return xs
	}
	*scratch = append((*scratch)[:0], xs...)
	slices.SortFunc(*scratch, cmp)
	return *scratch
}

func byNumberName(a, b telemetry.Number) int      { return strings.Compare(a.Name, b.Name) }
func byCategoryName(a, b telemetry.Category) int  { return strings.Compare(a.Name, b.Name) }
func byClass(a, b telemetry.ClassProbability) int { return strings.Compare(a.Class, b.Class) }
func byAttributeKey(a, b telemetry.Attribute) int { return strings.Compare(a.Key, b.Key) }

// appendPairs writes xs as a JSON object, sorted by cmp, each element as
// pair writes it.
func appendPairs[S ~[]T, T any](dst []byte, xs S, scratch *S, cmp func(a, b T) int, pair func([]byte, T) []byte) []byte {
	dst = append(dst, '{')
	for i, x := range sortedByName(xs, scratch, cmp) {
		dst = comma(dst, i)
		dst = pair(dst, x)
	}
	return append(dst, '}')
}

func numberPair(dst []byte, x telemetry.Number) []byte {
	return appendFloat(append(appendString(dst, x.Name), ':'), x.Value)
}

func categoryPair(dst []byte, x telemetry.Category) []byte {
	return appendString(append(appendString(dst, x.Name), ':'), x.Value)
}

func probabilityPair(dst []byte, x telemetry.ClassProbability) []byte {
	return appendFloat(append(appendString(dst, x.Class), ':'), x.P)
}

func attributePair(dst []byte, x telemetry.Attribute) []byte {
	return appendString(append(appendString(dst, x.Key), ':'), x.Value)
}

// appendFloat writes v as the shortest JSON number that round-trips, or as a
// string for NaN and infinities (which are not JSON numbers).
func appendFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Inf"`...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaping quotes, backslashes and
// control characters, and replacing invalid UTF-8 with U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
