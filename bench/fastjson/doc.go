// Package fastjson holds the measurement behind telemetry's choice of a
// hand-written scanner over valyala/fastjson (docs/telemetry.md, "Why a
// hand-written scanner"): the same inference event decoded by
// telemetry.Decoder and extracted with fastjson into the same Event
// fields, in one run (make bench-fastjson). It is a module of its own, so
// that fastjson is a dependency of this measurement only, not of driftwatch.
package fastjson
