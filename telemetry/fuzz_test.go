package telemetry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode checks that no input makes a decoder panic and that every failure
// is a *RejectError with a known reason and a detail.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"prediction_id":"p","event_time":-1,"model":{"id":"m"},"features":{"numeric":{"a":-0}}}`))
	f.Add([]byte(`{"event_time":"\u0032026-11-26T14:00:00Z"}`))
	known := map[string]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	d := newTestDecoder()
	var e Event
	var l Label
	var fb Feedback
	f.Fuzz(func(t *testing.T, b []byte) {
		stuck := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("decoding took over 3s: %q", b)) })
		defer stuck.Stop()
		for i, err := range []error{d.Decode(b, &e), d.DecodeLabel(b, &l), d.DecodeFeedback(b, &fb)} {
			if err == nil {
				continue
			}
			var rj *RejectError
			if !errors.As(err, &rj) {
				t.Fatalf("decoder %d: got %T %v, want *RejectError", i, err, err)
			}
			if !known[rj.Reason] || rj.Detail == "" {
				t.Fatalf("decoder %d: reason %q detail %q", i, rj.Reason, rj.Detail)
			}
		}
		if err := d.Decode(b, &e); err == nil {
			for _, n := range e.Features.Numeric {
				if k, v := n.Name, n.Value; !finite(v) {
					t.Fatalf("accepted non-finite feature %q = %v", k, v)
				}
			}
			if e.PredictionID == "" || e.Model.ID == "" || e.EventTime.IsZero() {
				t.Fatalf("accepted event without required fields: %+v", e)
			}
			// The character policy holds for whatever is accepted.
			if !ValidIdentifier(e.PredictionID) || !ValidIdentifier(e.Model.ID) || !ValidIdentifier(e.Model.Version) {
				t.Fatalf("accepted ids breaking the policy: %q %q %q", e.PredictionID, e.Model.ID, e.Model.Version)
			}
			for _, c := range e.Features.Categorical {
				if k, v := c.Name, c.Value; !ValidIdentifier(k) || !ValidValue(v) {
					t.Fatalf("accepted categorical feature %q = %q breaking the policy", k, v)
				}
			}
		}
	})
}
