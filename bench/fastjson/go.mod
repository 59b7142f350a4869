module github.com/driftwatch/driftwatch/bench/fastjson

go 1.26.8

require (
	github.com/driftwatch/driftwatch v0.0.0
	github.com/valyala/fastjson v1.6.10
)

require github.com/goccy/go-json v0.12.0 // indirect

replace github.com/driftwatch/driftwatch => ../..
