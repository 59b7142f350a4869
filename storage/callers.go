package storage

import "time"

// callerWindowsTable holds the window aggregates of the callers the access signals track.
var callerWindowsTable = table{
	name: "caller_windows",
	columns: concat(windowKey(), []column{
		col("caller", "String"),
		col("calls", "UInt64"),
		col("calls_overcount", "UInt64"),
		col("scored_calls", "UInt64"),
		col("scored_overcount", "UInt64"),
		col("probes", "UInt64"),
		// Added by migration 17 to databases created before it (rows written
		// before read 0).
		col("input_calls", "UInt64"),
		col("input_overcount", "UInt64"),
		col("distinct_inputs", "Float64"),
		col("ood_sampled", "UInt64"),
		col("ood_outside", "UInt64"),
		col("class_calls", "UInt64"),
		col("classes", "UInt32"),
		col("class_entropy", "Float64"),
		packed("decided_at", "DateTime", codecTime),
	}),
	engine:      "ReplacingMergeTree(decided_at)",
	partitionBy: "toYYYYMM(window_start)",
	orderBy:     "model_id, model_version, caller, window_start",
}

// CallerRow is one row of caller_windows: what one tracked caller did in one decided window of a
// model version. Counts come from Space-Saving summaries: a count may exceed the truth by at most its
// overcount (what the caller inherited when it took over a counter).
type CallerRow struct {
	ModelID         string
	ModelVersion    string
	WindowStart     time.Time
	WindowEnd       time.Time
	Caller          string
	Calls           uint64
	CallsOvercount  uint64
	ScoredCalls     uint64 // calls with a score and a threshold
	ScoredOvercount uint64
	Probes          uint64 // of the scored calls counted under the caller's own counter, those near the threshold
	// caller_diversity: calls with inputs, their overcount, and the estimated distinct quantized inputs
	// of those counted under the caller's own counter.
	InputCalls     uint64
	InputOvercount uint64
	DistinctInputs float64
	// caller_ood: the caller's sampled distinct inputs, and those outside the central range of the
	// window's own calls.
	OODSampled uint64
	OODOutside uint64
	// caller_harvest: calls with a predicted class counted under the caller's own counter, the classes
	// among them and their normalised entropy over the classes the window predicted.
	ClassCalls   uint64
	Classes      uint32
	ClassEntropy float64
	DecidedAt    time.Time // zero means the time of the write
}

var callerFields = []field[CallerRow]{
	fieldOf("model_id", func(r *CallerRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *CallerRow) string { return r.ModelVersion }),
	fieldOf("window_start", func(r *CallerRow) time.Time { return r.WindowStart }),
	fieldOf("window_end", func(r *CallerRow) time.Time { return r.WindowEnd }),
	fieldOf("caller", func(r *CallerRow) string { return r.Caller }),
	fieldOf("calls", func(r *CallerRow) uint64 { return r.Calls }),
	fieldOf("calls_overcount", func(r *CallerRow) uint64 { return r.CallsOvercount }),
	fieldOf("scored_calls", func(r *CallerRow) uint64 { return r.ScoredCalls }),
	fieldOf("scored_overcount", func(r *CallerRow) uint64 { return r.ScoredOvercount }),
	fieldOf("probes", func(r *CallerRow) uint64 { return r.Probes }),
	fieldOf("input_calls", func(r *CallerRow) uint64 { return r.InputCalls }),
	fieldOf("input_overcount", func(r *CallerRow) uint64 { return r.InputOvercount }),
	fieldOf("distinct_inputs", func(r *CallerRow) float64 { return r.DistinctInputs }),
	fieldOf("ood_sampled", func(r *CallerRow) uint64 { return r.OODSampled }),
	fieldOf("ood_outside", func(r *CallerRow) uint64 { return r.OODOutside }),
	fieldOf("class_calls", func(r *CallerRow) uint64 { return r.ClassCalls }),
	fieldOf("classes", func(r *CallerRow) uint32 { return r.Classes }),
	fieldOf("class_entropy", func(r *CallerRow) float64 { return r.ClassEntropy }),
	fieldOf("decided_at", func(r *CallerRow) time.Time { return r.DecidedAt }),
}
