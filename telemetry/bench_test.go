package telemetry

import (
	"bytes"
	"strconv"
	"testing"
)

// benchEvent is a realistic inference event: 12 numeric and 4 categorical
// features, a score, a class and a latency.
var benchEvent = []byte(`{"prediction_id":"5f0c2a4e-9b1d-4e7a-8c3f-2b6d1e0a9f47","event_time":"2026-11-26T14:03:11.123Z",` +
	`"model":{"id":"fraud-scorer","version":"7"},"features":{"numeric":{"amount":129.9,"age_days":412,` +
	`"txn_24h":3,"basket":57.31,"dist_km":12.8,"session_s":311.5,"items":4,"fails_7d":0,"card_days":1210,` +
	`"ip_risk":0.0713,"vel_1h":2,"m_risk":0.4152},"categorical":{"country":"DE","device":"ios","channel":"web",` +
	`"pay":"card"}},"prediction":{"score":0.8312,"class":"fraud"},"latency_ms":12.4}`)

// benchGenAI is a GenAI call: usage, time to first chunk and a finish reason.
var benchGenAI = []byte(`{"prediction_id":"5f0c2a4e-9b1d-4e7a-8c3f-2b6d1e0a9f47","event_time":"2026-11-26T14:03:11.123Z",` +
	`"model":{"id":"assistant","version":"2026-11-20"},"operation":"chat","features":{"numeric":{"prompt_chars":512}},` +
	`"prediction":{"class":"answer"},"latency_ms":812.5,"llm":{"gen_ai.usage.input_tokens":431,` +
	`"gen_ai.usage.output_tokens":187,"gen_ai.response.finish_reasons":["stop"],"gen_ai.response.time_to_first_chunk":0.21}}`)

func BenchmarkDecode(b *testing.B) {
	d := newTestDecoder()
	var e Event
	if err := d.Decode(benchEvent, &e); err != nil {
		b.Fatal(err)
	}
	if len(e.Features.Numeric) != 12 || len(e.Features.Categorical) != 4 {
		b.Fatalf("bench event has %d numeric and %d categorical features", len(e.Features.Numeric), len(e.Features.Categorical))
	}
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(benchEvent, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSchemas decodes the events of six models with their own
// feature names, interleaved as on a partition they share.
func BenchmarkDecodeSchemas(b *testing.B) {
	var msgs [][]byte
	for i := range 6 {
		s := strconv.Itoa(i)
		m := bytes.Replace(benchEvent, []byte(`{"amount"`), []byte(`{"amount_`+s+`"`), 1)
		m = bytes.Replace(m, []byte(`"country"`), []byte(`"country_`+s+`"`), 1)
		m = bytes.Replace(m, []byte(`"fraud-scorer"`), []byte(`"fraud-scorer-`+s+`"`), 1)
		msgs = append(msgs, m)
	}
	d := newTestDecoder()
	var e Event
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := d.Decode(msgs[i%len(msgs)], &e); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDecodeRejectNaN(b *testing.B) {
	bad := []byte(`{"prediction_id":"p","event_time":"2026-11-26T14:03:11.123Z","model":{"id":"m"},"features":{"numeric":{"amount":"NaN"}}}`)
	d := newTestDecoder()
	var e Event
	b.SetBytes(int64(len(bad)))
	b.ReportAllocs()
	for b.Loop() {
		if d.Decode(bad, &e) == nil {
			b.Fatal("accepted NaN")
		}
	}
}

// BenchmarkDecodeGenAI decodes a GenAI call: usage, time to first chunk and
// a finish reason, whose field is named only when the reason is refused.
func BenchmarkDecodeGenAI(b *testing.B) {
	ev := benchGenAI
	d := newTestDecoder()
	var e Event
	if err := d.Decode(ev, &e); err != nil {
		b.Fatal(err)
	}
	if e.LLM == nil || len(e.LLM.FinishReasons) != 1 {
		b.Fatalf("bench event decoded as %+v", e.LLM)
	}
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(ev, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastScan measures the fast path's scan alone, without the
// contract's checks, to compare with other JSON scanners doing the same
// extraction.
func BenchmarkFastScan(b *testing.B) {
	var s fastScanner
	var e Event
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	for b.Loop() {
		if !s.scan(benchEvent, &e, DefaultMaxFeatures) {
			b.Fatal("left to the slow path")
		}
	}
}

// benchFeedback is a training-feedback event as the generator writes a new
// example: 6 numeric and 2 categorical features, a content hash.
var benchFeedback = []byte(`{"schema_version":"1","feedback_id":"fb-1","event_time":"2026-11-26T14:00:00Z","model_id":"fraud-scorer",` +
	`"kind":"new_example","proposed_label":"positive","content_sha256":"b2bc6236d24013e0af2bb76f7766fc934ad7ac7e98e046e0cc8a26ce0565d296",` +
	`"principal":{"enduser.id":"annotator-7"},"features":{"numeric":{"account_age_days":751.7783,"amount":39.8691,"avg_basket":81.2895,` +
	`"credit_score":789.0689,"distance_km":4.2738,"txn_count_24h":1},"categorical":{"country":"DE","device":"ios"}}}`)

func BenchmarkDecodeFeedback(b *testing.B) {
	d := newTestDecoder()
	var f Feedback
	if err := d.DecodeFeedback(benchFeedback, &f); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchFeedback)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.DecodeFeedback(benchFeedback, &f); err != nil {
			b.Fatal(err)
		}
	}
}
