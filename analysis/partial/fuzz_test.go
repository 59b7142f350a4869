package partial

import (
	"testing"

	"github.com/driftwatch/driftwatch/analysis"
)

// FuzzPartialRecords feeds arbitrary records, as a hostile or broken
// producer of the partials topic could, through what a decider does with
// them: parse, assemble (bounded), decode and merge. Nothing may panic, and
// the assembler stays within its byte bound.
func FuzzPartialRecords(f *testing.F) {
	cfg := analysis.DefaultConfig()
	cfg.SampleSize, cfg.ReferenceSampleSize = 50, 100
	m := analysis.ModelKey{ID: "fraud", Version: "3"}
	for _, c := range EncodePartial(Source{"telemetry", 1}, filled(&cfg, m, t0, 20, 1), 64) {
		f.Add(c)
	}
	f.Add(EncodePartial(Source{"telemetry", 0}, filled(&cfg, m, t0, 3, 2), 0)[0])
	f.Add(EncodeProgress(Source{"telemetry", 2}, 12345, true))
	f.Add(EncodeLabels(m, 60000))
	const bound = 1 << 16
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if r.Kind != KindChunk {
			return
		}
		asm := NewAssembler(bound)
		payload, _, err := asm.Add(r, 0)
		if err != nil || payload == nil {
			return
		}
		_, w, err := DecodePartial(&cfg, payload, noRefs)
		if err != nil {
			return
		}
		merger := NewMerger(Config{Lateness: cfg.AllowedLateness, Timeout: cfg.MergeTimeout, IdleWait: cfg.IdleWait, MaxModels: 10, MaxWindows: 4})
		merger.Expect("telemetry", 4)
		merger.Add(Source{"telemetry", 0}, w, 0, t0)
		w.Merge(w)
	})
}
