package fastjson

import (
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/driftwatch/driftwatch/telemetry"
)

// event is telemetry's BenchmarkDecode event: 12 numeric and 4 categorical
// features, a score, a class and a latency (478 bytes).
var event = []byte(`{"prediction_id":"5f0c2a4e-9b1d-4e7a-8c3f-2b6d1e0a9f47","event_time":"2026-11-26T14:03:11.123Z",` +
	`"model":{"id":"fraud-scorer","version":"7"},"features":{"numeric":{"amount":129.9,"age_days":412,` +
	`"txn_24h":3,"basket":57.31,"dist_km":12.8,"session_s":311.5,"items":4,"fails_7d":0,"card_days":1210,` +
	`"ip_risk":0.0713,"vel_1h":2,"m_risk":0.4152},"categorical":{"country":"DE","device":"ios","channel":"web",` +
	`"pay":"card"}},"prediction":{"score":0.8312,"class":"fraud"},"latency_ms":12.4}`)

// now is a clock after the event's time, for the decoder's time window.
func now() time.Time { return time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) }

// extractor takes an event's fields out of fastjson's tree into an Event,
// reusing its parser, the Event's slices and the strings of names and
// values seen before (a map lookup by bytes allocates nothing), as the
// scanner reuses them.
type extractor struct {
	p       fastjson.Parser
	strings map[string]string
	score   float64
	latency float64
}

func (x *extractor) str(b []byte) string {
	if s, ok := x.strings[string(b)]; ok {
		return s
	}
	s := string(b)
	x.strings[s] = s
	return s
}

func (x *extractor) extract(b []byte, e *telemetry.Event) error {
	v, err := x.p.ParseBytes(b)
	if err != nil {
		return err
	}
	e.PredictionID = x.str(v.GetStringBytes("prediction_id"))
	if e.EventTime, err = time.Parse(time.RFC3339Nano, string(v.GetStringBytes("event_time"))); err != nil {
		return err
	}
	e.Model.ID = x.str(v.GetStringBytes("model", "id"))
	e.Model.Version = x.str(v.GetStringBytes("model", "version"))
	e.Features.Numeric = e.Features.Numeric[:0]
	if o := v.GetObject("features", "numeric"); o != nil {
		o.Visit(func(k []byte, n *fastjson.Value) {
			f, _ := n.Float64()
			e.Features.Numeric = append(e.Features.Numeric, telemetry.Number{Name: x.str(k), Value: f})
		})
	}
	e.Features.Categorical = e.Features.Categorical[:0]
	if o := v.GetObject("features", "categorical"); o != nil {
		o.Visit(func(k []byte, c *fastjson.Value) {
			e.Features.Categorical = append(e.Features.Categorical, telemetry.Category{Name: x.str(k), Value: x.str(c.GetStringBytes())})
		})
	}
	x.score = v.GetFloat64("prediction", "score")
	e.Prediction.Score = &x.score
	e.Prediction.Class = x.str(v.GetStringBytes("prediction", "class"))
	x.latency = v.GetFloat64("latency_ms")
	e.LatencyMS = &x.latency
	return nil
}

// TestSameFields: the extraction reads what the decoder decodes, so that
// the two benchmarks do the same work.
func TestSameFields(t *testing.T) {
	var want, got telemetry.Event
	if err := telemetry.NewDecoder(telemetry.DefaultLimits(), now).Decode(event, &want); err != nil {
		t.Fatal(err)
	}
	x := &extractor{strings: map[string]string{}}
	if err := x.extract(event, &got); err != nil {
		t.Fatal(err)
	}
	if got.PredictionID != want.PredictionID || !got.EventTime.Equal(want.EventTime) || got.Model != want.Model ||
		len(got.Features.Numeric) != len(want.Features.Numeric) || len(got.Features.Categorical) != len(want.Features.Categorical) ||
		*got.Prediction.Score != *want.Prediction.Score || got.Prediction.Class != want.Prediction.Class || *got.LatencyMS != *want.LatencyMS {
		t.Fatalf("fastjson extracted %+v, the decoder %+v", got, want)
	}
	for i, n := range want.Features.Numeric {
		if got.Features.Numeric[i] != n {
			t.Errorf("numeric %d: %+v, want %+v", i, got.Features.Numeric[i], n)
		}
	}
	for i, c := range want.Features.Categorical {
		if got.Features.Categorical[i] != c {
			t.Errorf("categorical %d: %+v, want %+v", i, got.Features.Categorical[i], c)
		}
	}
}

// BenchmarkDecoder is telemetry.Decoder on the event: its fast path, with
// the contract's checks (character policy, limits, time window).
func BenchmarkDecoder(b *testing.B) {
	d := telemetry.NewDecoder(telemetry.DefaultLimits(), now)
	var e telemetry.Event
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(event, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastjson is fastjson's parse of the event into its tree, then the
// walk that takes the same fields out, without any of the contract's checks.
func BenchmarkFastjson(b *testing.B) {
	x := &extractor{strings: map[string]string{}}
	var e telemetry.Event
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if err := x.extract(event, &e); err != nil {
			b.Fatal(err)
		}
	}
}
