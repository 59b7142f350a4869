package telemetry

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/good/*.golden from the decoder's output")

// testNow is the decoder's clock in tests; the golden events are from shortly before.
var testNow = time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)

func newTestDecoder() *Decoder {
	return NewDecoder(DefaultLimits(), func() time.Time { return testNow })
}

// decodeFile decodes b as the kind its file name starts with and returns the
// result in a form that shows every decoded field, times included.
func decodeFile(d *Decoder, name string, b []byte) (any, error) {
	switch {
	case strings.HasPrefix(name, "label_"):
		var l Label
		err := d.DecodeLabel(b, &l)
		return struct {
			LabelTime string
			Label     Label
		}{l.LabelTime.Format(time.RFC3339Nano), l}, err
	case strings.HasPrefix(name, "feedback_"):
		var f Feedback
		err := d.DecodeFeedback(b, &f)
		return struct {
			EventTime string
			Feedback  Feedback
		}{f.EventTime.Format(time.RFC3339Nano), f}, err
	default:
		var e Event
		err := d.Decode(b, &e)
		return struct {
			EventTime string
			Event     Event
		}{e.EventTime.Format(time.RFC3339Nano), e}, err
	}
}

func TestDecodeGood(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing good files: %v (%d files)", err, len(files))
	}
	d := newTestDecoder()
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeFile(d, name, b)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			out, err := stdjson.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create): %v", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("decoded %s differs from %s:\n got: %s\nwant: %s", path, golden, out, want)
			}
		})
	}
}

// TestDecodeBad maps every file in testdata/bad to the reason it must be
// rejected with and a fragment of the detail, which must name the field.
func TestDecodeBad(t *testing.T) {
	tests := map[string]struct{ reason, detail string }{
		"invalid_json_truncated":     {ReasonInvalidJSON, "body: "},
		"invalid_json_array":         {ReasonInvalidJSON, "body: not a JSON object"},
		"invalid_json_trailing":      {ReasonInvalidJSON, "body: "},
		"missing_prediction_id":      {ReasonMissingField, "prediction_id: required"},
		"empty_prediction_id":        {ReasonMissingField, "prediction_id: required"},
		"missing_event_time":         {ReasonMissingField, "event_time: required"},
		"missing_model_id":           {ReasonMissingField, "model.id: required"},
		"nan_string_feature":         {ReasonInvalidValue, `features.numeric["amount"]: not a finite number`},
		"overflow_feature":           {ReasonInvalidValue, `features.numeric["amount"]: not a finite number`},
		"negative_overflow_feature":  {ReasonInvalidValue, `features.numeric["amount"]: not a finite number`},
		"bool_feature":               {ReasonInvalidValue, `features.numeric["is_new"]: not a finite number`},
		"numeric_categorical":        {ReasonInvalidValue, `features.categorical["country"]: expected string`},
		"prediction_id_number":       {ReasonInvalidValue, "prediction_id: expected string"},
		"score_overflow":             {ReasonInvalidValue, "prediction.score: not a finite number"},
		"score_nan_string":           {ReasonInvalidValue, "prediction.score: not a finite number"},
		"probability_out_of_range":   {ReasonInvalidValue, `prediction.probabilities["fraud"]: not a probability`},
		"negative_latency":           {ReasonInvalidValue, "latency_ms: "},
		"negative_tokens":            {ReasonInvalidValue, "llm.gen_ai.usage.input_tokens: negative"},
		"reserved_feature":           {ReasonInvalidValue, `features.numeric["prediction.score"]: reserved`},
		"reserved_all_numeric":       {ReasonInvalidValue, `features.numeric["*"]: reserved`},
		"duplicate_feature":          {ReasonInvalidValue, `features.categorical["country"]: also a numeric feature`},
		"empty_feature_name":         {ReasonInvalidValue, `features.numeric[""]: empty feature name`},
		"schema_version_2":           {ReasonInvalidValue, "schema_version: unsupported"},
		"time_not_rfc3339":           {ReasonBadTimestamp, "event_time: not an RFC 3339 time"},
		"time_fractional_millis":     {ReasonBadTimestamp, "event_time: not an RFC 3339 string or an integer"},
		"time_too_old":               {ReasonBadTimestamp, "event_time: 2026-11-01T00:00:00Z is more than 168h0m0s old"},
		"time_in_future":             {ReasonBadTimestamp, "event_time: 2026-11-26T17:00:00Z is more than 1h0m0s ahead"},
		"time_epoch_seconds":         {ReasonBadTimestamp, "event_time: 1970-01-21"},
		"too_many_features":          {ReasonTooManyFeatures, "features: 257 features, limit 256"},
		"prediction_id_too_long":     {ReasonTooLong, "prediction_id: 257 bytes, limit 256"},
		"feature_name_too_long":      {ReasonTooLong, `features.numeric["nnnn`},
		"categorical_value_too_long": {ReasonTooLong, `features.categorical["country"]: 257 bytes, limit 256`},
		"too_large":                  {ReasonTooLarge, "body: 66125 bytes, limit 65536"},
		"label_missing_model_id":     {ReasonMissingField, "model_id: required"},
		"label_missing_truth":        {ReasonMissingField, "label: class or value required"},
		"label_missing_time":         {ReasonMissingField, "label_time: required"},
		"label_negative_revision":    {ReasonInvalidValue, "revision: expected non-negative integer"},
		"feedback_unknown_kind":      {ReasonInvalidValue, "kind: must be one of"},
		"feedback_missing_id":        {ReasonMissingField, "feedback_id: required"},
		"feedback_bad_sha":           {ReasonInvalidValue, "content_sha256: must be 64"},
		"feedback_nan_feature":       {ReasonInvalidValue, `features.numeric["amount"]: not a finite number`},
	}
	files, err := filepath.Glob("testdata/bad/*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	d := newTestDecoder()
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			tt, ok := tests[name]
			if !ok {
				t.Fatalf("%s has no expected reason in the table", path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Decode twice with the same decoder: the second run must not be
			// influenced by state left from the first.
			for i := 0; i < 2; i++ {
				_, err = decodeFile(d, name, b)
				var rj *RejectError
				if !errors.As(err, &rj) {
					t.Fatalf("got %v (%T), want a *RejectError", err, err)
				}
				if rj.Reason != tt.reason || !strings.Contains(rj.Detail, tt.detail) {
					t.Errorf("got reason %q detail %q, want reason %q detail containing %q", rj.Reason, rj.Detail, tt.reason, tt.detail)
				}
			}
		})
	}
	var missing []string
	for name := range tests {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("table names files that do not exist in testdata/bad: %v", missing)
	}
}

// TestDecodeReusesSlices checks that a second decode forgets the features
// of the first (no stale ones) and refills the same slices.
func TestDecodeReusesSlices(t *testing.T) {
	d := newTestDecoder()
	var e Event
	first := `{"prediction_id":"a","event_time":"2026-11-26T14:00:00Z","model":{"id":"m"},"features":{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}},"attributes":{"k":"v"}}`
	second := `{"prediction_id":"b","event_time":1795701600000,"model":{"id":"m"},"features":{"numeric":{"z":3}}}`
	if err := d.Decode([]byte(first), &e); err != nil {
		t.Fatal(err)
	}
	num := e.Features.Numeric
	if err := d.Decode([]byte(second), &e); err != nil {
		t.Fatal(err)
	}
	if v, ok := e.Features.NumericValue("z"); len(e.Features.Numeric) != 1 || !ok || v != 3 {
		t.Errorf("numeric = %v, want [{z 3}]", e.Features.Numeric)
	}
	if len(e.Features.Categorical) != 0 || len(e.Attributes) != 0 {
		t.Errorf("stale features: categorical %v attributes %v", e.Features.Categorical, e.Attributes)
	}
	if &num[0] != &e.Features.Numeric[0] {
		t.Error("decoder allocated a new numeric slice instead of reusing the event's")
	}
	if e.PredictionID != "b" || !e.EventTime.Equal(time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)) || e.SchemaVersion != "1" {
		t.Errorf("got id %q time %v schema %q", e.PredictionID, e.EventTime, e.SchemaVersion)
	}
	if d.SlowPath() != 0 {
		t.Errorf("%d plain events took the slow path", d.SlowPath())
	}
}

func TestDecodeTimeFormats(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2026-11-26T14:00:00Z"`, time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)},
		{`"2026-11-26T14:00:00.123456789Z"`, time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.UTC)},
		{`"2026-11-26T15:30:00.5+01:30"`, time.Date(2026, 11, 26, 14, 0, 0, 500000000, time.UTC)},
		{`"2026-11-26T09:00:00-05:00"`, time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)},
		{`1795701600000`, time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)},
		{`1795701600999`, time.Date(2026, 11, 26, 14, 0, 0, 999000000, time.UTC)},
	}
	d := newTestDecoder()
	for _, tt := range tests {
		var e Event
		b := `{"prediction_id":"p","event_time":` + tt.in + `,"model":{"id":"m"}}`
		if err := d.Decode([]byte(b), &e); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if !e.EventTime.Equal(tt.want) || e.EventTime.Location() != time.UTC {
			t.Errorf("%s: got %v, want %v in UTC", tt.in, e.EventTime, tt.want)
		}
	}
}

func TestLimitsApplied(t *testing.T) {
	lim := Limits{MaxBytes: 200, MaxFeatures: 2, MaxNameLength: 4, MaxValueLength: 5, MaxFuture: time.Minute, MaxAge: time.Hour}
	d := NewDecoder(lim, func() time.Time { return testNow })
	tests := []struct {
		name, body, reason string
	}{
		{"fits", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"m"},"features":{"numeric":{"abcd":1},"categorical":{"c":"vvvvv"}}}`, ""},
		{"three features", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"m"},"features":{"numeric":{"a":1,"b":2},"categorical":{"c":"v"}}}`, ReasonTooManyFeatures},
		{"long name", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"m"},"features":{"numeric":{"abcde":1}}}`, ReasonTooLong},
		{"long value", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"m"},"features":{"categorical":{"c":"vvvvvv"}}}`, ReasonTooLong},
		{"long model id", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"mmmmmm"}}`, ReasonTooLong},
		{"two minutes ahead", `{"prediction_id":"p","event_time":"2026-11-26T15:02:00Z","model":{"id":"m"}}`, ReasonBadTimestamp},
		{"two hours old", `{"prediction_id":"p","event_time":"2026-11-26T13:00:00Z","model":{"id":"m"}}`, ReasonBadTimestamp},
		{"too large", `{"prediction_id":"p","event_time":"2026-11-26T14:30:00Z","model":{"id":"m"},"attributes":{"a":"` + strings.Repeat("x", 150) + `"}}`, ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			err := d.Decode([]byte(tt.body), &e)
			var rj *RejectError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.reason != "" && !errors.As(err, &rj):
				t.Fatalf("got %v, want reason %s", err, tt.reason)
			case tt.reason != "" && rj.Reason != tt.reason:
				t.Fatalf("got %v, want reason %s", rj, tt.reason)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	with := func(f func(*Limits)) Limits {
		l := DefaultLimits()
		f(&l)
		return l
	}
	tests := []struct {
		name  string
		l     Limits
		field string // "" when valid
	}{
		{"defaults", DefaultLimits(), ""},
		{"explicit values", with(func(l *Limits) { l.MaxFeatures = 10; l.MaxFuture = 0 }), ""},
		{"zero max_bytes", with(func(l *Limits) { l.MaxBytes = 0 }), "max_bytes"},
		{"negative max_bytes", with(func(l *Limits) { l.MaxBytes = -1 }), "max_bytes"},
		{"zero max_features", with(func(l *Limits) { l.MaxFeatures = 0 }), "max_features"},
		{"negative max_name_length", with(func(l *Limits) { l.MaxNameLength = -1 }), "max_name_length"},
		{"zero max_value_length", with(func(l *Limits) { l.MaxValueLength = 0 }), "max_value_length"},
		{"negative max_future", with(func(l *Limits) { l.MaxFuture = -time.Second }), "max_future"},
		{"zero max_age", with(func(l *Limits) { l.MaxAge = 0 }), "max_age"},
		{"zero value", Limits{}, "max_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.l
			err := tt.l.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.field != "" && (err == nil || !strings.Contains(err.Error(), tt.field)):
				t.Errorf("got %v, want an error naming %s", err, tt.field)
			}
			if tt.l != before {
				t.Errorf("Validate changed %+v to %+v", before, tt.l)
			}
		})
	}
	want := Limits{MaxBytes: 65536, MaxFeatures: 256, MaxNameLength: 128, MaxValueLength: 256, MaxFuture: time.Hour, MaxAge: 168 * time.Hour}
	if l := DefaultLimits(); l != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", l, want)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		ceType string
		want   Kind
		err    bool
	}{
		{"", KindInference, false},
		{TypeInference, KindInference, false},
		{TypeLabel, KindLabel, false},
		{TypeFeedback, KindFeedback, false},
		{"org.kubeflow.serving.inference.request", 0, true},
		{"ai.driftwatch.inference.v2", 0, true},
	}
	for _, tt := range tests {
		got, err := KindOf(tt.ceType)
		if tt.err {
			var rj *RejectError
			if !errors.As(err, &rj) || rj.Reason != ReasonUnknownType || !strings.Contains(rj.Detail, tt.ceType) {
				t.Errorf("KindOf(%q) = %v, %v; want unknown_type naming it", tt.ceType, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("KindOf(%q) = %v, %v; want %v", tt.ceType, got, err, tt.want)
		}
	}
	if KindLabel.String() != "label" || KindFeedback.String() != "feedback" || KindInference.String() != "inference" {
		t.Error("Kind.String names are wrong")
	}
}

// TestPinnedClock checks that a pinned decoder judges timestamps against the
// time it was pinned at, and an unpinned one against its clock at each
// event.
func TestPinnedClock(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	now := t0
	d := NewDecoder(DefaultLimits(), func() time.Time { return now }) // max_future 1h
	ev := []byte(`{"prediction_id":"p","event_time":"2026-11-26T15:30:00Z","model":{"id":"m"}}`)
	var e Event
	d.Pin()
	now = t0.Add(2 * time.Hour)
	err := d.Decode(ev, &e)
	var rj *RejectError
	if !errors.As(err, &rj) || rj.Reason != ReasonBadTimestamp {
		t.Fatalf("pinned at 14:00, an event at 15:30: %v, want %s", err, ReasonBadTimestamp)
	}
	d.Unpin()
	if err := d.Decode(ev, &e); err != nil {
		t.Fatalf("unpinned at 16:00, an event at 15:30: %v", err)
	}
	d.Pin()
	if err := d.Decode(ev, &e); err != nil {
		t.Fatalf("pinned again at 16:00, an event at 15:30: %v", err)
	}
}
