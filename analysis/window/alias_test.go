package window_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/signal"
	"github.com/driftwatch/driftwatch/analysis/signal/access"
	"github.com/driftwatch/driftwatch/analysis/signal/llm"
	"github.com/driftwatch/driftwatch/analysis/signal/outputs"
	"github.com/driftwatch/driftwatch/analysis/signal/performance"
	"github.com/driftwatch/driftwatch/analysis/window"
	"github.com/driftwatch/driftwatch/analysis/window/windowtest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// aliasMessages returns n inference events as JSON: features, classes,
// callers (more than the access signals track), error types and GenAI
// usage, with new names and values throughout.
func aliasMessages(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"prediction_id":"p-%d","event_time":%d,"model":{"id":"model-%d","version":"v%d"},`+
			`"principal":{"enduser.id":"caller-%d"},"features":{"numeric":{"x%d":%d.5,"shared":%d},"categorical":{"c%d":"value-%d","country":"c-%d"}},`+
			`"prediction":{"score":0.%02d,"threshold":0.5,"class":"class-%d","probabilities":{"class-%d":0.%02d,"other-%d":0.%02d}},`+
			`"error.type":"error-%d","llm":{"gen_ai.usage.input_tokens":%d,"gen_ai.response.finish_reasons":["reason-%d"]}}`,
			i, windowtest.T0.UnixMilli()+int64(i)*50, i%2, i%2, i%50, i%7, i, i, i%5, i%40, i%30, i%99, i%9, i%9, i%99, i%9, 99-i%99,
			i%4, 100+i, i%6)
	}
	return out
}

// TestKeptStateSharesNothingWithMessages checks what the decoder's
// aliasing requires: whatever a window and its signals keep of an event
// (model keys, feature names, categories, classes, callers, error types,
// finish reasons) is a copy, not the message's bytes. The same events go
// through the decoder into windows twice, once with the messages
// overwritten after each batch; the windows must encode to the same bytes.
func TestKeptStateSharesNothingWithMessages(t *testing.T) {
	run := func(scribble bool) [][]byte {
		cfg := windowtest.Config(t)
		acc := access.DefaultConfig()
		acc.MaxCallers = 20 // fewer than the callers: counters change hands
		set, err := signal.NewSet(append(append(outputs.Signals(outputs.DefaultConfig()), llm.Signals(llm.DefaultConfig())...),
			performance.Estimated{Config: performance.DefaultConfig()}, access.Volume{Config: acc}, access.Probing{Config: acc})...)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Signals = set
		w := window.NewWindower(cfg, reference.NewStore(cfg, nil), nil)
		d := telemetry.NewDecoder(telemetry.DefaultLimits(), func() time.Time { return windowtest.T0 })
		msgs := aliasMessages(600)
		events := make([]telemetry.Event, 64)
		for start := 0; start < len(msgs); start += len(events) {
			batch := msgs[start:min(start+len(events), len(msgs))]
			for i, m := range batch {
				if err := d.Decode(m, &events[i]); err != nil {
					t.Fatalf("message %d: %v", start+i, err)
				}
				if w.Observe(&events[i], int64(start+i)) != window.Counted {
					t.Fatalf("message %d not counted", start+i)
				}
			}
			w.EndBatch()
			if scribble {
				for _, m := range batch {
					for i := range m {
						m[i] = 'Z'
					}
				}
			}
		}
		if d.SlowPath() != 0 {
			t.Fatalf("%d events took the slow path: the test would not exercise the fast path's aliasing", d.SlowPath())
		}
		// An event long after closes every window.
		last := telemetry.Event{PredictionID: "last", EventTime: windowtest.T0.Add(time.Hour), Model: telemetry.Model{ID: "model-0", Version: "v0"}}
		w.Observe(&last, int64(len(msgs)))
		w.EndBatch()
		var out [][]byte
		for _, win := range w.TakeClosed() {
			out = append(out, win.AppendBinary(nil))
		}
		if len(out) < 4 {
			t.Fatalf("%d windows closed, want at least 4", len(out))
		}
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	want, got := run(false), run(true)
	if len(got) != len(want) {
		t.Fatalf("%d windows after overwriting the messages, %d without", len(got), len(want))
	}
	for i := range got {
		if bytes.Contains(got[i], []byte("ZZZZ")) {
			j := bytes.Index(got[i], []byte("ZZZZ"))
			t.Errorf("window %d holds bytes of the overwritten messages: %q", i, got[i][max(0, j-60):min(len(got[i]), j+20)])
		}
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("window %d differs after overwriting the messages", i)
		}
	}
}
