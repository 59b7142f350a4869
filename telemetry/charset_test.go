package telemetry

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// attackStrings are what a hostile producer sends to escape a sink: SQL and
// Grafana literals (quotes, backslashes), log and header injection (NUL, CR,
// LF), alert keys ('/' is allowed: keys escape it), display tricks (bidi
// overrides, C1 controls, separators) and broken UTF-8.
var attackStrings = []struct {
	name  string
	s     string
	ident bool // refused as an identifier
	value bool // refused as a value
}{
	{"backslash quote", `x\' OR 1=1 --`, true, false},
	{"single quote", `o'brien`, true, false},
	{"double quote", `say "hi"`, true, false},
	{"space", "two words", true, false},
	{"NUL", "a\x00b", true, true},
	{"newline", "a\nb", true, true},
	{"carriage return", "a\rb", true, true},
	{"tab", "a\tb", true, true},
	{"DEL", "a\x7fb", true, true},
	{"C1 NEL", "a\u0085b", true, true},
	{"bidi override", "abc\u202Egpj.exe", true, true},
	{"bidi isolate", "a\u2066b", true, true},
	{"line separator", "a\u2028b", true, true},
	// The JSON decoder turns invalid UTF-8 in a string into U+FFFD, a
	// harmless character in a value; an identifier refuses it.
	{"invalid UTF-8", "a\xffb", true, false},
	{"slash", "org/model", false, false},
	{"plain", "fraud-scorer_v2.1:prod@eu+x", false, false},
	{"unicode letters", "größe", true, false},
	{"emoji", "ok 👍", true, false},
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCharacterPolicy feeds every attack string through every identifier and
// value field of the four contracts (inference, LLM, label, feedback): refused strings are rejected with
// invalid_character and a detail naming the field, never echoing the raw
// character; allowed ones decode.
func TestCharacterPolicy(t *testing.T) {
	d := newTestDecoder()
	at := testNow.Add(-5 * time.Minute).Format("2006-01-02T15:04:05Z")
	event := func(field, v string) []byte {
		e := map[string]any{"prediction_id": "p1", "event_time": at, "model": map[string]any{"id": "m", "version": "1"},
			"features": map[string]any{"numeric": map[string]any{"x": 1}, "categorical": map[string]any{"c": "DE"}}}
		switch field {
		case "prediction_id", "operation", "error.type":
			e[field] = v
		case "model.id", "model.version":
			e["model"].(map[string]any)[strings.TrimPrefix(field, "model.")] = v
		case "principal.service", "principal.tenant", "principal.enduser.id", "principal.client.address":
			e["principal"] = map[string]any{strings.TrimPrefix(field, "principal."): v}
		case "llm finish reason":
			e["llm"] = map[string]any{"gen_ai.response.finish_reasons": []string{"stop", v}}
		case "features.numeric name":
			e["features"].(map[string]any)["numeric"] = map[string]any{v: 1}
		case "features.categorical name":
			e["features"].(map[string]any)["categorical"] = map[string]any{v: "DE"}
		case "features.categorical value":
			e["features"].(map[string]any)["categorical"] = map[string]any{"c": v}
		case "prediction.class":
			e["prediction"] = map[string]any{"class": v}
		case "prediction.probabilities class":
			e["prediction"] = map[string]any{"probabilities": map[string]any{v: 0.5}}
		case "attributes key":
			e["attributes"] = map[string]any{v: "x"}
		case "attributes value":
			e["attributes"] = map[string]any{"k": v}
		}
		return encode(t, e)
	}
	label := func(field, v string) []byte {
		l := map[string]any{"prediction_id": "p1", "model_id": "m", "label": map[string]any{"class": "fraud"}, "label_time": at}
		switch field {
		case "label model_id":
			l["model_id"] = v
		case "label.class":
			l["label"] = map[string]any{"class": v}
		case "label prediction_id":
			l["prediction_id"] = v
		case "label_source":
			l["label_source"] = v
		}
		return encode(t, l)
	}
	feedback := func(field, v string) []byte {
		f := map[string]any{"schema_version": "1", "feedback_id": "fb-1", "event_time": at, "model_id": "m", "target_dataset": "train-1",
			"prediction_id": "p1", "kind": "label_override", "proposed_label": "ok", "previous_label": "fraud",
			"principal": map[string]any{"enduser.id": "ann", "service": "ui", "tenant": "acme", "client.address": "10.0.0.1"}}
		if p, ok := strings.CutPrefix(field, "principal."); ok {
			f["principal"].(map[string]any)[p] = v
		} else {
			f[field] = v
		}
		return encode(t, f)
	}
	decodeLabel := func(b []byte) error { var l Label; return d.DecodeLabel(b, &l) }
	decodeFeedback := func(b []byte) error { var f Feedback; return d.DecodeFeedback(b, &f) }
	type field struct {
		name  string // the field as the rejection detail starts with it
		ident bool
		make  func(string) []byte
		dec   func([]byte) error
	}
	fields := []field{
		{"prediction_id", true, func(v string) []byte { return event("prediction_id", v) }, nil},
		{"model.id", true, func(v string) []byte { return event("model.id", v) }, nil},
		{"model.version", true, func(v string) []byte { return event("model.version", v) }, nil},
		{"operation", true, func(v string) []byte { return event("operation", v) }, nil},
		{"principal.service", true, func(v string) []byte { return event("principal.service", v) }, nil},
		{"principal.tenant", true, func(v string) []byte { return event("principal.tenant", v) }, nil},
		{"features.numeric[", true, func(v string) []byte { return event("features.numeric name", v) }, nil},
		{"features.categorical[", true, func(v string) []byte { return event("features.categorical name", v) }, nil},
		{"attributes[", true, func(v string) []byte { return event("attributes key", v) }, nil},
		{"features.categorical[\"c\"]", false, func(v string) []byte { return event("features.categorical value", v) }, nil},
		{"prediction.class", false, func(v string) []byte { return event("prediction.class", v) }, nil},
		{"prediction.probabilities[", false, func(v string) []byte { return event("prediction.probabilities class", v) }, nil},
		{"attributes[\"k\"]", false, func(v string) []byte { return event("attributes value", v) }, nil},
		{"error.type", false, func(v string) []byte { return event("error.type", v) }, nil},
		{"principal.enduser.id", true, func(v string) []byte { return event("principal.enduser.id", v) }, nil},
		{"principal.client.address", false, func(v string) []byte { return event("principal.client.address", v) }, nil},
		{"llm.gen_ai.response.finish_reasons[1]", false, func(v string) []byte { return event("llm finish reason", v) }, nil},
		{"model_id", true, func(v string) []byte { return label("label model_id", v) }, decodeLabel},
		{"prediction_id", true, func(v string) []byte { return label("label prediction_id", v) }, decodeLabel},
		{"label.class", false, func(v string) []byte { return label("label.class", v) }, decodeLabel},
		{"label_source", false, func(v string) []byte { return label("label_source", v) }, decodeLabel},
	}
	for _, name := range []string{"feedback_id", "model_id", "target_dataset", "prediction_id", "principal.enduser.id", "principal.service", "principal.tenant",
		"principal.client.address", "proposed_label", "previous_label"} {
		ident := !slices.Contains([]string{"principal.client.address", "proposed_label", "previous_label"}, name)
		fields = append(fields, field{name, ident, func(v string) []byte { return feedback(name, v) }, decodeFeedback})
	}
	for _, f := range fields {
		for _, a := range attackStrings {
			body := f.make(a.s)
			var err error
			if f.dec != nil {
				err = f.dec(body)
			} else {
				var e Event
				err = d.Decode(body, &e)
			}
			refused := a.value || f.ident && a.ident
			if strings.Contains(a.s, "\xff") {
				// encoding/json writes invalid UTF-8 as U+FFFD: send the raw byte.
				body = []byte(strings.ReplaceAll(string(body), `\ufffd`, "\xff"))
				if f.dec != nil {
					err = f.dec(body)
				} else {
					var e Event
					err = d.Decode(body, &e)
				}
			}
			if !refused {
				if err != nil {
					t.Errorf("%s = %s: refused: %v", f.name, a.name, err)
				}
				continue
			}
			rj, ok := err.(*RejectError)
			if !ok || rj.Reason != ReasonInvalidCharacter {
				t.Errorf("%s = %s: %v, want %s", f.name, a.name, err, ReasonInvalidCharacter)
				continue
			}
			if !utf8.ValidString(rj.Detail) {
				t.Errorf("%s = %s: detail %q is not valid UTF-8", f.name, a.name, rj.Detail)
			}
			for _, r := range rj.Detail {
				if unicode.IsControl(r) || refusedRune(r) {
					t.Errorf("%s = %s: detail %q carries the raw character %U", f.name, a.name, rj.Detail, r)
				}
			}
			if !strings.HasPrefix(rj.Detail, f.name) {
				t.Errorf("%s = %s: detail %q does not name the field", f.name, a.name, rj.Detail)
			}
		}
	}
}

// BenchmarkCharacterPolicy measures the policy over what one typical event
// carries: 7 identifiers, 15 feature names, 3 category values, 2 classes and
// an attribute.
func BenchmarkCharacterPolicy(b *testing.B) {
	idents := []string{"8b87884c-a0fd-436d-b3a0-03c5e9e6e8e1", "credit-risk", "2026-11-03.3", "predict", "u-10025",
		"credit-risk-api", "umbrella", "age", "avg_basket", "credit_score", "distance_km", "income_k", "ip_risk",
		"items_in_cart", "monthly_spend", "session_seconds", "support_calls_30d", "tenure_months", "txn_count_24h",
		"channel", "payment_method", "plan", "deployment.environment.name"}
	values := []string{"web", "card", "pro", "negative", "positive", "negative", "prod"}
	n := 0
	for _, s := range idents {
		n += len(s)
	}
	for _, s := range values {
		n += len(s)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range idents {
			if !ValidIdentifier(s) {
				b.Fatal(s)
			}
		}
		for _, s := range values {
			if !ValidValue(s) {
				b.Fatal(s)
			}
		}
	}
}
