package telemetry

import (
	stdjson "encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSchemaMatchesDecoder checks that each JSON Schema file is a draft
// 2020-12 schema whose top-level properties are exactly the fields the
// decoder reads and whose required list is what the decoder requires.
func TestSchemaMatchesDecoder(t *testing.T) {
	tests := []struct {
		file     string
		wire     any
		required []string
		ceType   string
	}{
		{"schema/inference.v1.json", inferenceWire{}, []string{"prediction_id", "event_time", "model"}, TypeInference},
		{"schema/label.v1.json", labelWire{}, []string{"prediction_id", "model_id", "label", "label_time"}, TypeLabel},
		{"schema/training_feedback.v1.json", feedbackWire{}, []string{"feedback_id", "event_time", "model_id", "kind"}, TypeFeedback},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Schema      string                        `json:"$schema"`
				Description string                        `json:"description"`
				Type        string                        `json:"type"`
				Required    []string                      `json:"required"`
				Properties  map[string]stdjson.RawMessage `json:"properties"`
			}
			if err := stdjson.Unmarshal(b, &s); err != nil {
				t.Fatalf("parsing schema: %v", err)
			}
			if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Type != "object" {
				t.Errorf("$schema %q type %q", s.Schema, s.Type)
			}
			if !strings.Contains(s.Description, tt.ceType) {
				t.Errorf("description does not name the CloudEvents type %s", tt.ceType)
			}
			if !slices.Equal(s.Required, tt.required) {
				t.Errorf("required = %v, want %v", s.Required, tt.required)
			}
			var fields []string
			rt := reflect.TypeOf(tt.wire)
			for i := 0; i < rt.NumField(); i++ {
				fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
			}
			var props []string
			for k := range s.Properties {
				props = append(props, k)
			}
			slices.Sort(fields)
			slices.Sort(props)
			if !slices.Equal(fields, props) {
				t.Errorf("schema properties %v, decoder fields %v", props, fields)
			}
		})
	}
}
