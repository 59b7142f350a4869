// Package partial carries window state from the source partition that
// counted it to the one decider of its model, and merges it there.
//
// A source partition seals the partial state of each (model, version,
// window) when its watermark passes the window's end plus the allowed
// lateness, and publishes it, followed by its progress (how far its
// watermark has come), on an internal topic keyed by model id. The decider
// that owns the model's partition of that topic merges the partials of a
// window and emits it once every source partition has reported progress past
// it (or, after a bounded wait, without the silent ones).
//
// This package holds the record and its wire format (chunked so that a
// partial of any size fits Kafka's message limit) and the Merger. It does no
// I/O: ingest publishes and consumes, monitor wires.
package partial

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/reference"
	"github.com/driftwatch/driftwatch/analysis/window"
)

// Source is a partition of a telemetry topic.
type Source struct {
	Topic     string
	Partition int32
}

func (s Source) String() string { return fmt.Sprintf("%s/%d", s.Topic, s.Partition) }

// Kinds of record on the partials topic.
const (
	// KindChunk is one chunk of an encoded partial.
	KindChunk byte = 'C'
	// KindProgress is a source partition's progress.
	KindProgress byte = 'P'
	// KindLabels says that labels landed for the predictions of a model
	// version's window: its decider computes the window's realized
	// performance again.
	KindLabels byte = 'L'
	// KindFeedback is one chunk of an encoded feedback window (the
	// poisoning signals' partials of a model's training feedback), laid
	// out as KindChunk.
	KindFeedback byte = 'F'
)

// wireVersion is the second byte of every record.
const wireVersion = 1

// DefaultChunkBytes is the largest chunk payload: well under the 1 MiB
// message limit that Kafka brokers and clients apply by default.
const DefaultChunkBytes = 256 << 10

// ErrCorrupt is wrapped by every error about a record's bytes.
var ErrCorrupt = errors.New("corrupt partial record")

// Record is a parsed record of the partials topic: a chunk, a progress or
// labels news.
type Record struct {
	// Kind is KindChunk, KindProgress, KindLabels or KindFeedback.
	Kind byte
	// Chunk fields: Identity names the partial (source, model version,
	// window); Nonce identifies one publication of it; Index counts from 0
	// to Count-1; Data is a slice of the record's bytes.
	Identity     string
	Nonce        uint64
	Index, Count int
	Data         []byte
	// Progress fields: the source, its progress in Unix milliseconds, and
	// whether it is idle (has read nothing for a while): an idle source is
	// not waited for until it reports progress again.
	Source   Source
	Progress int64
	Idle     bool
	// Labels fields: the model version and the start of the window
	// (Unix milliseconds) whose predictions received labels.
	Model       analysis.ModelKey
	WindowStart int64
}

// EncodePartial serialises the partial state w of source src into records
// of at most maxChunk payload bytes each (DefaultChunkBytes when 0). Every
// publication draws a fresh nonce, so that the chunks of two publications of
// the same partial (a replay) are never mixed.
func EncodePartial(src Source, w *window.Window, maxChunk int) [][]byte {
	var e Encoder
	return e.Encode(src, w, maxChunk)
}

// Encoder is EncodePartial for a caller that encodes window after window: it
// keeps the buffer a window is serialised into (allocated, and zeroed, at an
// upper bound of the encoding's size) for the next one, up to
// maxEncoderBuffer bytes, so that only the records are allocated. The
// records never share its buffer. The zero Encoder is ready to use; it is
// not safe for concurrent use.
type Encoder struct {
	buf []byte
}

// maxEncoderBuffer bounds the buffer an Encoder keeps between calls: a
// window whose encoding needs more is serialised into a buffer of its own.
const maxEncoderBuffer = 16 * DefaultChunkBytes

// Encode is EncodePartial, serialising w into e's buffer.
func (e *Encoder) Encode(src Source, w *window.Window, maxChunk int) [][]byte {
	if maxChunk <= 0 {
		maxChunk = DefaultChunkBytes
	}
	payload := appendSource(e.buf[:0], src)
	payload = w.AppendBinary(payload)
	if cap(payload) <= maxEncoderBuffer {
		e.buf = payload[:0]
	}
	return chunks(KindChunk, identity(src, w.Model, w.Start.UnixMilli()), payload, maxChunk)
}

// chunks cuts payload into records of kind (KindChunk or KindFeedback) of
// at most maxChunk payload bytes, under a fresh nonce. The records share
// nothing with payload.
func chunks(kind byte, id string, payload []byte, maxChunk int) [][]byte {
	nonce := rand.Uint64()
	count := (len(payload) + maxChunk - 1) / maxChunk
	out := make([][]byte, 0, count)
	for i := range count {
		part := payload[i*maxChunk : min(len(payload), (i+1)*maxChunk)]
		b := make([]byte, 0, len(part)+len(id)+24)
		b = append(b, kind, wireVersion)
		b = binary.LittleEndian.AppendUint64(b, nonce)
		b = binary.AppendUvarint(b, uint64(i))
		b = binary.AppendUvarint(b, uint64(count))
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		out = append(out, append(b, part...))
	}
	return out
}

// identity names a partial: its source, model version and window start,
// each length-prefixed so that no two distinct partials share a name.
func identity(src Source, mv analysis.ModelKey, startMs int64) string {
	var b []byte
	for _, s := range []string{src.Topic, mv.ID, mv.Version} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, int64(src.Partition))
	b = binary.AppendVarint(b, startMs)
	return string(b)
}

// parseIdentity reads what identity wrote.
func parseIdentity(id string) (src Source, m analysis.ModelKey, startMs int64, ok bool) {
	b := []byte(id)
	var parts [3]string
	for i := range parts {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return Source{}, analysis.ModelKey{}, 0, false
		}
		parts[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	p, k := binary.Varint(b)
	if k <= 0 {
		return Source{}, analysis.ModelKey{}, 0, false
	}
	start, k2 := binary.Varint(b[k:])
	if k2 <= 0 || k+k2 != len(b) {
		return Source{}, analysis.ModelKey{}, 0, false
	}
	return Source{parts[0], int32(p)}, analysis.ModelKey{ID: parts[1], Version: parts[2]}, start, true
}

// EncodeProgress serialises the progress of source src: every window of
// every model whose end plus the allowed lateness is at or before atMs
// (Unix milliseconds) has been sealed and published by src. idle says that
// src has read nothing for analysis.idle_flush and sealed what it had.
func EncodeProgress(src Source, atMs int64, idle bool) []byte {
	b := []byte{KindProgress, wireVersion}
	b = binary.AppendUvarint(b, uint64(len(src.Topic)))
	b = append(b, src.Topic...)
	b = binary.AppendVarint(b, int64(src.Partition))
	b = binary.AppendVarint(b, atMs)
	if idle {
		return append(b, 1)
	}
	return append(b, 0)
}

// EncodeLabels serialises the news that labels landed for the predictions
// of model version m's window starting at startMs (Unix milliseconds).
func EncodeLabels(m analysis.ModelKey, startMs int64) []byte {
	b := []byte{KindLabels, wireVersion}
	b = binary.AppendUvarint(b, uint64(len(m.ID)))
	b = append(b, m.ID...)
	b = binary.AppendUvarint(b, uint64(len(m.Version)))
	b = append(b, m.Version...)
	return binary.AppendVarint(b, startMs)
}

// maxChunks bounds the chunks of one partial (a partial of up to 1 GiB at
// the default chunk size).
const maxChunks = 4096

// Parse reads one record. Data aliases b.
func Parse(b []byte) (Record, error) {
	if len(b) < 2 {
		return Record{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	if b[1] != wireVersion {
		return Record{}, fmt.Errorf("%w: wire version %d, this release reads %d", ErrCorrupt, b[1], wireVersion)
	}
	r := Record{Kind: b[0]}
	rest := b[2:]
	switch r.Kind {
	case KindChunk, KindFeedback:
		if len(rest) < 8 {
			return Record{}, fmt.Errorf("%w: truncated chunk", ErrCorrupt)
		}
		r.Nonce = binary.LittleEndian.Uint64(rest)
		rest = rest[8:]
		idx, n := binary.Uvarint(rest)
		if n <= 0 {
			return Record{}, fmt.Errorf("%w: chunk index", ErrCorrupt)
		}
		rest = rest[n:]
		count, n := binary.Uvarint(rest)
		if n <= 0 || count == 0 || count > maxChunks || idx >= count {
			return Record{}, fmt.Errorf("%w: chunk %d of %d", ErrCorrupt, idx, count)
		}
		rest = rest[n:]
		l, n := binary.Uvarint(rest)
		if n <= 0 || l == 0 || l > maxIdentity || l > uint64(len(rest)-n) {
			return Record{}, fmt.Errorf("%w: chunk identity", ErrCorrupt)
		}
		r.Identity = string(rest[n : n+int(l)])
		r.Index, r.Count, r.Data = int(idx), int(count), rest[n+int(l):]
	case KindProgress:
		src, rest, err := readSource(rest)
		if err != nil {
			return Record{}, err
		}
		at, n := binary.Varint(rest)
		if n <= 0 || len(rest) != n+1 || rest[n] > 1 {
			return Record{}, fmt.Errorf("%w: progress", ErrCorrupt)
		}
		r.Source, r.Progress, r.Idle = src, at, rest[n] == 1
	case KindLabels:
		var names [2]string
		for i := range names {
			l, n := binary.Uvarint(rest)
			if n <= 0 || l > maxEncodedName || l > uint64(len(rest)-n) {
				return Record{}, fmt.Errorf("%w: labels: model name", ErrCorrupt)
			}
			names[i], rest = string(rest[n:n+int(l)]), rest[n+int(l):]
		}
		start, n := binary.Varint(rest)
		if n <= 0 || len(rest) != n || names[0] == "" {
			return Record{}, fmt.Errorf("%w: labels", ErrCorrupt)
		}
		r.Model, r.WindowStart = analysis.ModelKey{ID: names[0], Version: names[1]}, start
	default:
		return Record{}, fmt.Errorf("%w: unknown kind %q", ErrCorrupt, r.Kind)
	}
	return r, nil
}

// maxIdentity bounds a chunk's identity (two ids, a topic and two numbers).
const maxIdentity = 2*maxEncodedName + maxTopic + 32

// maxEncodedName bounds a model id or version in an identity.
const maxEncodedName = 64 << 10

// maxTopic bounds a topic name (Kafka allows 249 characters).
const maxTopic = 255

// appendSource appends src as readSource reads it.
func appendSource(b []byte, src Source) []byte {
	b = binary.AppendUvarint(b, uint64(len(src.Topic)))
	b = append(b, src.Topic...)
	return binary.AppendVarint(b, int64(src.Partition))
}

func readSource(b []byte) (Source, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > maxTopic || l > uint64(len(b)-n) {
		return Source{}, nil, fmt.Errorf("%w: topic name", ErrCorrupt)
	}
	topic := string(b[n : n+int(l)])
	b = b[n+int(l):]
	p, n := binary.Varint(b)
	if n <= 0 || p < 0 || p > 1<<31-1 {
		return Source{}, nil, fmt.Errorf("%w: partition", ErrCorrupt)
	}
	return Source{Topic: topic, Partition: int32(p)}, b[n:], nil
}

// DecodePartial reads an assembled partial payload: its source and window
// state (see window.DecodeWindow for lookup).
func DecodePartial(cfg *analysis.Config, payload []byte, lookup func(analysis.ModelKey, string) *reference.Reference) (Source, *window.Window, error) {
	src, rest, err := readSource(payload)
	if err != nil {
		return Source{}, nil, err
	}
	w, err := window.DecodeWindow(cfg, rest, lookup)
	if err != nil {
		return src, nil, fmt.Errorf("partial from %s: %w", src, err)
	}
	return src, w, nil
}
