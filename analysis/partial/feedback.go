package partial

import (
	"fmt"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/signal/poisoning"
)

// Feedback windows travel as inference windows do: a partition of the
// feedback topic seals the poisoning partials of each (model, window) when
// its watermark passes the window's end plus the allowed lateness, and
// publishes them in KindFeedback chunks keyed by model id, followed by its
// progress (a KindProgress record naming the feedback topic). The model's
// decider merges them in a FeedbackMerger of its own, so that feedback and
// inference windows never wait for each other. A feedback window is keyed
// by the model id alone (feedback names no version): its ModelKey has an
// empty Version.

// FeedbackMerger merges feedback windows (the partials of the feedback topic).
type FeedbackMerger = MergerOf[*poisoning.Window]

// FeedbackComplete is a merged feedback window ready to be decided; its
// MixedReferences says that partials over other features were merged in
// part (poisoning.Window.Mixed).
type FeedbackComplete = CompleteOf[*poisoning.Window]

// feedbackOps are the Ops of feedback windows.
var feedbackOps = Ops[*poisoning.Window]{
	Key: func(w *poisoning.Window) (analysis.ModelKey, int64, int64) {
		return analysis.ModelKey{ID: w.Model}, w.Start.UnixMilli(), w.End.UnixMilli()
	},
	Merge: func(acc, w *poisoning.Window) bool { return acc.Merge(w) },
}

// NewFeedbackMerger returns an empty merger of feedback windows.
func NewFeedbackMerger(cfg Config) *FeedbackMerger { return NewMergerOf(cfg, feedbackOps) }

// EncodeFeedback serialises the feedback window w of source src into
// KindFeedback records of at most maxChunk payload bytes each
// (DefaultChunkBytes when 0), under a fresh nonce.
func EncodeFeedback(src Source, w *poisoning.Window, maxChunk int) [][]byte {
	if maxChunk <= 0 {
		maxChunk = DefaultChunkBytes
	}
	payload := appendSource(nil, src)
	payload = w.AppendBinary(payload)
	return chunks(KindFeedback, identity(src, analysis.ModelKey{ID: w.Model}, w.Start.UnixMilli()), payload, maxChunk)
}

// DecodeFeedback reads an assembled feedback payload: its source and
// window, with the poisoning signals of cfg.
func DecodeFeedback(cfg poisoning.Config, payload []byte) (Source, *poisoning.Window, error) {
	src, rest, err := readSource(payload)
	if err != nil {
		return Source{}, nil, err
	}
	w, err := poisoning.DecodeWindow(cfg, rest)
	if err != nil {
		return src, nil, fmt.Errorf("%w: feedback partial from %s: %w", ErrCorrupt, src, err)
	}
	return src, w, nil
}
