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
	Probes          uint64    // of the scored calls counted under the caller's own counter, those near the threshold
	DecidedAt       time.Time // zero means the time of the write
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
	fieldOf("decided_at", func(r *CallerRow) time.Time { return r.DecidedAt }),
}
