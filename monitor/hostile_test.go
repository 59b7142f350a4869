package monitor

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/driftwatch/driftwatch/ingest"
	"github.com/driftwatch/driftwatch/telemetry"
)

// The hostile suite replays, against the real pipeline (embedded broker over
// TCP, ClickHouse), what a hostile or careless producer does to blind,
// exhaust or mislead the monitor; each test shows the attack fails.

// hostileBroker starts an embedded broker with a one-partition telemetry
// topic and its dead-letter topic, and returns it with a fresh database.
func hostileBroker(t *testing.T) (e *ingest.Embedded, addr, db string) {
	t.Helper()
	addr, db = testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, addr, db
}

// hostileConfig is a monitor configuration for the hostile tests: telemetry
// on brokers, 2 s windows, a fast group protocol.
func hostileConfig(brokers []string, addr, db string) Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Consumer.Topic, cfg.Kafka.Consumer.Brokers = "telemetry", brokers
	cfg.Kafka.Consumer.HeartbeatInterval, cfg.Kafka.Consumer.JoinGroupBackoff = 200*time.Millisecond, 200*time.Millisecond
	cfg.Kafka.Consumer.MaxWait = 100 * time.Millisecond
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	cfg.Analysis.WindowSize, cfg.Analysis.AllowedLateness, cfg.Analysis.IdleFlush = 2*time.Second, time.Second, time.Second
	return cfg
}

// pipelineTest starts an embedded broker of 3 partitions with the
// telemetry and dead-letter topics (and, with labels, the labels topic, set
// as kafka.labels_topic) and returns it, the test configuration over it
// (hostileConfig, a warm-up of 2 windows) and a context that ends after
// timeout or with the test.
func pipelineTest(t *testing.T, timeout time.Duration, labels bool) (*ingest.Embedded, Config, context.Context) {
	t.Helper()
	addr, db := testClickHouse(t)
	topics := []string{"telemetry", "telemetry.dlq"}
	if labels {
		topics = append(topics, "labels")
	}
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: topics, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Analysis.WarmupWindows = 2
	if labels {
		cfg.Kafka.LabelsTopic = "labels"
	}
	return e, cfg, ctx
}

// writeMessages writes msgs to topic, keyed by their keys (murmur2, as
// Java producers), acknowledged by every replica.
func writeMessages(t *testing.T, ctx context.Context, brokers []string, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		BatchSize: 1000, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 2000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

// runHostile starts a monitor on cfg and stops it when the test ends.
func runHostile(t *testing.T, ctx context.Context, cfg Config) *Monitor {
	t.Helper()
	m, stop := startMonitor(t, ctx, cfg)
	t.Cleanup(func() { _ = stop() })
	return m
}

// startMonitor runs a monitor of cfg until stop, which waits for its Run
// to return, closes it and returns Run's error.
func startMonitor(t *testing.T, ctx context.Context, cfg Config) (m *Monitor, stop func() error) {
	t.Helper()
	m, err := New(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	return m, func() error {
		cancel()
		err := <-done
		m.Close(context.Background())
		return err
	}
}

// hostileEvent is a valid inference event of model id at time at.
func hostileEvent(t *testing.T, i int, id string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"prediction_id": fmt.Sprintf("p-%d", i), "event_time": at.Format(time.RFC3339Nano),
		"model": map[string]any{"id": id, "version": "1"}, "features": map[string]any{"numeric": map[string]any{"x": float64(i % 7)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileMissingDeadLetterTopicStopsStartup: without its dead-letter
// topic every partition would stop at its first bad message while /healthz
// said ok; driftwatch refuses to start instead, naming the topic.
func TestHostileMissingDeadLetterTopicStopsStartup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Consumer.Topic, cfg.Kafka.Consumer.Brokers = "telemetry", e.Brokers()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	m, err := New(ctx, cfg, Options{})
	if err == nil {
		m.Close(ctx)
		t.Fatal("started without a dead-letter topic")
	}
	if !strings.Contains(err.Error(), `dead-letter topic "telemetry.dlq"`) {
		t.Fatalf("error does not name the dead-letter topic: %v", err)
	}
}

// TestHostileUnwritableDeadLetterTopicStopsStartup: a dead-letter topic that
// exists but that driftwatch's principal may not write would stop every
// partition at its first bad message all the same; driftwatch refuses to
// start instead, naming the topic and the principal.
func TestHostileUnwritableDeadLetterTopicStopsStartup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, db := testClickHouse(t)
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 1,
		Users: []ingest.EmbeddedUser{{Mechanism: "SCRAM-SHA-256", Username: "driftwatch", Password: "s3cret", DenyWrite: []string{"telemetry.dlq"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Consumer.Topic, cfg.Kafka.Consumer.Brokers = "telemetry", e.Brokers()
	cfg.Kafka.Consumer.Security.SASL = ingest.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "driftwatch", PasswordFile: pw}
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	m, err := New(ctx, cfg, Options{})
	if err == nil {
		m.Close(ctx)
		t.Fatal("started with a dead-letter topic it may not write")
	}
	if !errors.Is(err, ingest.ErrNotWritable) {
		t.Fatalf("error is not ingest.ErrNotWritable: %v", err)
	}
	for _, want := range []string{`dead-letter topic "telemetry.dlq" does not accept writes`, "User:driftwatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestHostileOversizedMessageAndNamesDoNotStopOrMislead: a message just
// under 1 MiB (the source topic accepts it, the decoder refuses it as too
// large, and a whole copy with dead-letter headers would exceed the brokers'
// limit, stopping the partition at every restart)
// and events whose ids and names would escape SQL literals, Grafana's
// formatting, alert keys or log lines are dead-lettered with their reason;
// the dead letter of the big one is cut to fit; the partition goes on and
// counts every valid event after them; nothing of them reaches ClickHouse.
func TestHostileOversizedMessageAndNamesDoNotStopOrMislead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, addr, db := hostileBroker(t)
	brokers := e.Brokers()
	m := runHostile(t, ctx, hostileConfig(brokers, addr, db))

	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	var msgs []kafka.Message
	// Just under the brokers' default message.max.bytes (1048588) with its
	// batch: the dead letter's headers would push a whole copy over it.
	huge := append([]byte(`{"prediction_id":"big","padding":"`), bytes.Repeat([]byte{'x'}, 1048400-36)...)
	huge = append(huge, `"}`...)
	msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: huge})
	attacks := []string{`x\' OR 1=1 --`, "fraud\nlevel=ERROR msg=forged", "a\x00b", "org\u202Egpj", `'); DROP TABLE inference_windows; --`}
	for i, id := range attacks {
		msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: hostileEvent(t, 1000+i, id, at)})
	}
	// A feature name and a category value that would do the same.
	bad, _ := json.Marshal(map[string]any{"prediction_id": "f1", "event_time": at.Format(time.RFC3339),
		"model": map[string]any{"id": "fraud", "version": "1"}, "features": map[string]any{"numeric": map[string]any{`x\'`: 1}}})
	msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: bad})
	bad, _ = json.Marshal(map[string]any{"prediction_id": "f2", "event_time": at.Format(time.RFC3339),
		"model": map[string]any{"id": "fraud", "version": "1"}, "features": map[string]any{"categorical": map[string]any{"c": "a\nb"}}})
	msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: bad})
	const good = 300
	for i := range good {
		msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: hostileEvent(t, i, "fraud", at.Add(time.Duration(i)*10*time.Millisecond))})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "telemetry", BatchBytes: 2 << 20, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for _, msg := range msgs { // one at a time: the big one alone in its batch
		if err := w.WriteMessages(ctx, msg); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}

	s := m.Store()
	deadline := time.Now().Add(90 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL WHERE model_id = 'fraud'") != good {
		if time.Now().After(deadline) {
			t.Fatalf("the partition stopped: %d of %d valid events stored after the hostile ones",
				queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL WHERE model_id = 'fraud'"), good)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := queryUint(t, s, "SELECT count() FROM inference_windows WHERE model_id != 'fraud'"); n != 0 {
		t.Errorf("%d inference_windows rows of hostile model ids", n)
	}
	if n := queryUint(t, s, "SELECT count() FROM feature_windows WHERE feature != 'x'"); n != 0 {
		t.Errorf("%d feature_windows rows of other features than x", n)
	}

	// Every hostile message is dead-lettered once, with its reason.
	reasons := map[string]int{}
	var bigLetter kafka.Message
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "telemetry.dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for range len(attacks) + 3 {
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		msg, err := r.ReadMessage(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("reading dead letters (%v so far): %v", reasons, err)
		}
		for _, h := range msg.Headers {
			if h.Key == ingest.HeaderErrorReason {
				reasons[string(h.Value)]++
				if string(h.Value) == telemetry.ReasonTooLarge {
					bigLetter = msg
				}
			}
		}
	}
	if reasons[telemetry.ReasonTooLarge] != 1 || reasons[telemetry.ReasonInvalidCharacter] != len(attacks)+2 {
		t.Errorf("dead-letter reasons %v, want 1 too_large and %d invalid_character", reasons, len(attacks)+2)
	}
	if len(bigLetter.Value) != ingest.MaxDeadLetterValue {
		t.Errorf("the big message's dead letter carries %d bytes, want the first %d", len(bigLetter.Value), ingest.MaxDeadLetterValue)
	}
}

// TestHostileDecompressionBombIsDeadLettered replays a decompression bomb
// on the telemetry topic: between batches of valid events compressed with
// gzip, one batch of 256 values of 1 MiB of one byte (256 MiB, which gzip
// takes to about 256 KiB). The monitor neither decompresses it whole nor
// stops at it: its offsets are dead-lettered as one letter with reason
// batch_too_large naming the range, and every valid event before and after
// it is counted.
func TestHostileDecompressionBombIsDeadLettered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, addr, db := hostileBroker(t)
	brokers := e.Brokers()
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	write := func(msgs ...kafka.Message) {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "telemetry", Compression: kafka.Gzip, RequiredAcks: kafka.RequireAll,
			BatchSize: len(msgs), BatchBytes: 1 << 30, BatchTimeout: time.Second}
		defer w.Close()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	events := func(from, to int) []kafka.Message {
		var out []kafka.Message
		for i := from; i < to; i++ {
			out = append(out, kafka.Message{Key: []byte("fraud"), Value: hostileEvent(t, i, "fraud", at.Add(time.Duration(i)*10*time.Millisecond))})
		}
		return out
	}
	write(events(0, 100)...)
	mib := bytes.Repeat([]byte{'{'}, 1<<20)
	bomb := make([]kafka.Message, 256)
	for i := range bomb {
		bomb[i] = kafka.Message{Key: []byte("fraud"), Value: mib}
	}
	write(bomb...)
	write(events(100, 200)...)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := runHostile(t, ctx, hostileConfig(brokers, addr, db))
	s := m.Store()
	deadline := time.Now().Add(90 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL WHERE model_id = 'fraud'") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the partition stopped at the bomb: %d of 200 valid events stored",
				queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL WHERE model_id = 'fraud'"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("the monitor allocated %d MiB: the 256 MiB bomb was decompressed", alloc>>20)
	}
	letters := readDeadLetters(t, ctx, brokers)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1 for the bomb", len(letters))
	}
	l := letters[0]
	if header(l, ingest.HeaderErrorReason) != ingest.ReasonBatchTooLarge || header(l, ingest.HeaderOrigOffset) != "355" ||
		!strings.Contains(header(l, ingest.HeaderError), "offsets 100 to 355 of telemetry/0") || len(l.Value) != 0 {
		t.Errorf("dead letter %q at offset %s: %s (%d value bytes), want reason %s, offsets 100 to 355",
			header(l, ingest.HeaderErrorReason), header(l, ingest.HeaderOrigOffset), header(l, ingest.HeaderError), len(l.Value), ingest.ReasonBatchTooLarge)
	}
}

// TestHostileReplayDoesNotDeadLetterTwice: bad messages dead-lettered by a
// run that died before committing are re-read by the next one; it does not
// write their dead letters again (they were 10 for 9 after a SIGKILL), but
// does write the ones the first run did not reach.
func TestHostileReplayDoesNotDeadLetterTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, addr, db := hostileBroker(t)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	var msgs []kafka.Message
	bad := map[int]bool{3: true, 7: true, 11: true}
	for i := range 20 {
		v := hostileEvent(t, i, "fraud", at.Add(time.Duration(i)*time.Millisecond))
		if bad[i] {
			v = []byte(`{"prediction_id": "broken`)
		}
		msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: v})
	}
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// What the run that died wrote before its offsets were committed.
	prev := ingest.NewDeadLetterWriter(ingest.Plaintext(e.Brokers()), "telemetry.dlq", "driftwatch", nil, nil)
	defer prev.Close()
	for _, off := range []int64{3, 7} {
		if err := prev.Write(ctx, []ingest.DeadLetter{{Msg: ingest.Message{Topic: "telemetry", Partition: 0, Offset: off, Key: []byte("fraud"), Value: msgs[off].Value},
			Reason: telemetry.ReasonInvalidJSON, Detail: "before the crash"}}); err != nil {
			t.Fatal(err)
		}
	}

	m := runHostile(t, ctx, hostileConfig(e.Brokers(), addr, db))
	s := m.Store()
	deadline := time.Now().Add(60 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL") != 17 {
		if time.Now().After(deadline) {
			t.Fatal("the good events were not stored")
		}
		time.Sleep(200 * time.Millisecond)
	}
	var offsets []string
	for _, msg := range readDeadLetters(t, ctx, e.Brokers()) {
		offsets = append(offsets, header(msg, ingest.HeaderOrigOffset))
	}
	if strings.Join(offsets, ",") != "3,7,11" {
		t.Fatalf("dead letters of offsets %v, want 3, 7 (the first run's) and 11, once each", offsets)
	}
}

// TestHostileVersionFloodKeepsMemoryBoundedAndReferencesStable: a producer
// sends many model versions; the instance keeps at most analysis.max_versions
// references and warm-ups in memory, and a version whose reference was
// evicted gets its stored reference back when its events return, instead of
// a second warm-up that would change what it is compared with.
func TestHostileVersionFloodKeepsMemoryBoundedAndReferencesStable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, addr, db := hostileBroker(t)
	cfg := hostileConfig(e.Brokers(), addr, db)
	// One version held: the flood's first warm-up can only make room by
	// evicting v1's reference (warm-ups are evicted before references, so
	// with room for two the flood would evict its own warm-ups instead).
	cfg.Analysis.WarmupWindows, cfg.Analysis.MaxVersions = 2, 1
	m := runHostile(t, ctx, cfg)

	event := func(i int, version string, at time.Time) kafka.Message {
		b, _ := json.Marshal(map[string]any{"prediction_id": fmt.Sprintf("p-%d", i), "event_time": at.Format(time.RFC3339Nano),
			"model": map[string]any{"id": "fraud", "version": version}, "features": map[string]any{"numeric": map[string]any{"x": float64(i % 11)}}})
		return kafka.Message{Key: []byte("fraud"), Value: b}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var msgs []kafka.Message
	i := 0
	phase := func(from, to time.Duration, versions ...string) {
		for at := from; at < to; at += 20 * time.Millisecond {
			msgs = append(msgs, event(i, versions[i%len(versions)], t0.Add(at)))
			i++
		}
	}
	phase(0, 8*time.Second, "v1")                                      // v1 warms up and pins
	phase(8*time.Second, 16*time.Second, "f1", "f2", "f3", "f4", "f5") // a flood of versions evicts it
	phase(16*time.Second, 24*time.Second, "v1")                        // v1 comes back
	phase(24*time.Second, 30*time.Second, "x")                         // moves the watermark on
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for k := 0; k < len(msgs); k += 100 { // in batches, so that windows close between them
		if err := w.WriteMessages(ctx, msgs[k:min(k+100, len(msgs))]...); err != nil {
			t.Fatal(err)
		}
	}
	s := m.Store()
	v1Back := t0.Add(18 * time.Second).Unix()
	deadline := time.Now().Add(90 * time.Second)
	for queryUint(t, s, "SELECT count() FROM model_windows FINAL WHERE model_version = 'v1' AND toUInt32(window_start) >= ?", v1Back) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the windows of v1's return were not decided")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := queryUint(t, s, "SELECT uniqExact(reference_id) FROM references WHERE model_version = 'v1'"); n != 1 {
		t.Errorf("v1 has %d stored references, want its one warm-up reference", n)
	}
	if n := queryUint(t, s, `SELECT count() FROM model_windows FINAL WHERE model_version = 'v1' AND toUInt32(window_start) >= ?
		AND reference_id != (SELECT any(reference_id) FROM references WHERE model_version = 'v1')`, v1Back); n != 0 {
		t.Errorf("%d windows of v1's return were decided against another reference than v1's own", n)
	}
	refs, warm, evictedRefs, evictedWarm := m.refs.Held()
	if refs+warm > 1 || evictedRefs == 0 {
		t.Errorf("holding %d references and %d warm-ups (bound 1), evicted %d and %d", refs, warm, evictedRefs, evictedWarm)
	}
	if got := metricSum(t, m.Addr(), "driftwatch_analysis_references_reloaded_total", ""); got < 1 {
		t.Errorf("no stored reference was read again (driftwatch_analysis_references_reloaded_total = %v)", got)
	}
}

// TestHostileReplayDeadLettersWhatTheStateRefusesNow: the run that died
// counted the events of version v3 (in a window it never stored) and
// dead-lettered a broken message after them; the run that replays has
// room for two versions only, so it refuses v3's events as too_many_models.
// They lie below the partition's dead-letter mark, yet were never
// dead-lettered: they must be now, or they would be neither counted nor
// dead-lettered. The broken message is not written twice.
func TestHostileReplayDeadLettersWhatTheStateRefusesNow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, addr, db := hostileBroker(t)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	versions := []string{"v1", "v2", "v3", "v1", "v2", "v3", "v1", "", "v3", "v1"}
	var msgs []kafka.Message
	for i, v := range versions {
		b, err := json.Marshal(map[string]any{"prediction_id": fmt.Sprintf("p-%d", i), "event_time": at.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"model": map[string]any{"id": "fraud", "version": v}, "features": map[string]any{"numeric": map[string]any{"x": float64(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		if v == "" {
			b = []byte(`{"prediction_id": "broken`)
		}
		msgs = append(msgs, kafka.Message{Key: []byte("fraud"), Value: b})
	}
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	prev := ingest.NewDeadLetterWriter(ingest.Plaintext(e.Brokers()), "telemetry.dlq", "driftwatch", nil, nil)
	defer prev.Close()
	if err := prev.Write(ctx, []ingest.DeadLetter{{Msg: ingest.Message{Topic: "telemetry", Partition: 0, Offset: 7, Key: []byte("fraud"), Value: msgs[7].Value},
		Reason: telemetry.ReasonInvalidJSON, Detail: "before the crash"}}); err != nil {
		t.Fatal(err)
	}
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Analysis.MaxModels = 2
	m := runHostile(t, ctx, cfg)
	s := m.Store()
	deadline := time.Now().Add(60 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL") != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events of v1 and v2 stored, want 6", queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got []string
	for _, msg := range readDeadLetters(t, ctx, e.Brokers()) {
		got = append(got, header(msg, ingest.HeaderOrigOffset)+"/"+header(msg, ingest.HeaderErrorReason))
	}
	if want := "7/invalid_json,2/too_many_models,5/too_many_models,8/too_many_models"; strings.Join(got, ",") != want {
		t.Fatalf("dead letters %v, want %s", got, want)
	}
}

// readDeadLetters reads partition 0 of telemetry.dlq until it stays empty
// for 2 s.
func readDeadLetters(t *testing.T, ctx context.Context, brokers []string) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "telemetry.dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := r.ReadMessage(rctx)
		rcancel()
		if err != nil {
			return out
		}
		out = append(out, msg)
	}
}

// header returns the value of msg's header key, or "".
func header(msg kafka.Message, key string) string {
	for _, h := range msg.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestHostileSecuredClusterEndToEnd runs the whole pipeline against a broker
// that accepts only TLS connections authenticated with SCRAM-SHA-512: the
// consumer groups (telemetry and deciders), the partials publisher and its
// topic check, the dead-letter writer and its start-up checks all speak TLS
// and SASL, so the good events are counted and decided and the bad one is
// dead-lettered.
func TestHostileSecuredClusterEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, db := testClickHouse(t)
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"telemetry", "telemetry.dlq"}, Partitions: 2,
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Users: []ingest.EmbeddedUser{{Mechanism: "SCRAM-SHA-512", Username: "driftwatch", Password: "s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sec := ingest.Security{
		TLS:  ingest.TLSConfig{Enabled: true, CAFile: certFile},
		SASL: ingest.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "driftwatch", PasswordFile: writeFile(t, dir, "password", "s3cret\n")},
	}
	cluster, err := ingest.NewCluster(e.Brokers(), sec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := hostileConfig(e.Brokers(), addr, db)
	cfg.Kafka.Consumer.Security = sec
	m := runHostile(t, ctx, cfg)

	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	var msgs []kafka.Message
	for i := range 200 {
		v := hostileEvent(t, i, "fraud", at.Add(time.Duration(i)*10*time.Millisecond))
		if i == 50 {
			v = []byte(`{"prediction_id": "broken`)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: v})
	}
	// Past the last window's end plus the lateness, so that it closes.
	msgs = append(msgs, kafka.Message{Key: []byte("last"), Value: hostileEvent(t, 999, "fraud", at.Add(10*time.Second))})
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers()...), Topic: "telemetry", Transport: cluster.Transport(), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	s := m.Store()
	deadline := time.Now().Add(60 * time.Second)
	for queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL WHERE toUInt32(window_start) < ?", uint64(at.Add(5*time.Second).Unix())) != 199 ||
		queryUint(t, s, "SELECT count() FROM model_windows FINAL") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("over TLS and SCRAM: %d of 199 good events counted, %d model windows decided",
				queryUint(t, s, "SELECT sum(events) FROM inference_windows FINAL"), queryUint(t, s, "SELECT count() FROM model_windows FINAL"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for m.Stats().Rejected != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages dead-lettered, want the broken one", m.Stats().Rejected)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
