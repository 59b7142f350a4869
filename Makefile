# driftwatch — the two commands: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
CLICKHOUSE_PORT ?= 19000
export DRIFTWATCH_TEST_CLICKHOUSE ?= 127.0.0.1:$(CLICKHOUSE_PORT)

.PHONY: all build deps clickhouse clickhouse-stop demo test lint bench bench-fastjson bench-rss stationary fuzz chdb-check clean

all: build

build:
	$(GO) build -o bin/driftwatch ./cmd/driftwatch

deps:
	@scripts/deps.sh

clickhouse: deps
	@DRIFTWATCH_CLICKHOUSE_PORT=$(CLICKHOUSE_PORT) scripts/clickhouse.sh start

clickhouse-stop:
	@scripts/clickhouse.sh stop

## demo: embedded broker, local ClickHouse, generator with injected drift, monitor, printed alerts (~2 min).
demo: clickhouse build
	./bin/driftwatch demo --clickhouse-addr 127.0.0.1:$(CLICKHOUSE_PORT)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: lint, then every test with the race detector against the real ClickHouse, Kafka protocol,
## promtool and Alertmanager.
test: clickhouse lint
	$(GO) test -race -count=1 -timeout 14m ./...

## fuzz: every decoder of untrusted bytes, FUZZTIME each (default 30s). A short -fuzzminimizetime keeps
## the fuzzer exploring instead of spending its time minimizing each new input (the default is 60s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./telemetry/
	$(GO) test -run '^$$' -fuzz '^FuzzFastPathAgrees$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./telemetry/
	$(GO) test -run '^$$' -fuzz '^FuzzFeedbackFastPathAgrees$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./telemetry/
	$(GO) test -run '^$$' -fuzz '^FuzzParseUTC$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./telemetry/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeWindow$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/window/
	$(GO) test -run '^$$' -fuzz '^FuzzPartialRecords$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/partial/
	$(GO) test -run '^$$' -fuzz '^FuzzLatencyDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/signal/outputs/
	$(GO) test -run '^$$' -fuzz '^FuzzHeavyHittersDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/sketch/
	$(GO) test -run '^$$' -fuzz '^FuzzHLLDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/sketch/
	$(GO) test -run '^$$' -fuzz '^FuzzCallerPartialsDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/signal/access/
	$(GO) test -run '^$$' -fuzz '^FuzzPoisoningDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/signal/poisoning/
	$(GO) test -run '^$$' -fuzz '^FuzzFeedbackWindow$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./analysis/signal/poisoning/

## bench: the full pipeline over 1,000,000 events (after 300,000 unmeasured) through the embedded broker, run in a process of its own
## (BENCH_PIPELINE_BROKER=embedded puts it in the benchmark's process), four times: the default signals, the caller signals twice,
## the default ones again (BENCH_PIPELINE_SIGNALS=compare, BENCH_PIPELINE_ROUNDS pairs, default 2; default, access or off runs one), plus micro-benchmarks.
bench: clickhouse
	BENCH_PIPELINE_SIGNALS=$${BENCH_PIPELINE_SIGNALS:-compare} $(GO) test -run '^$$' -bench '^BenchmarkPipeline$$' -benchtime 1x -timeout 30m ./monitor/
	$(GO) test -run '^$$' -bench . -benchmem ./analysis/... ./compare/ ./telemetry/

## stationary: pages of the default configuration on 30 days of stationary telemetry through Kafka, the monitor
## and ClickHouse (BENCH_STATIONARY_SIZES, default 10m,1m; BENCH_STATIONARY_SEEDS, default 1,2,3)
stationary: clickhouse
	$(GO) test -run '^$$' -bench '^BenchmarkStationaryPages$$' -benchtime 1x -timeout 180m ./monitor/

## bench-fastjson: the telemetry decoder against valyala/fastjson extracting the same fields of the same event, in one run
## (bench/fastjson, a module of its own: fastjson is a dependency of this measurement only)
bench-fastjson:
	cd bench/fastjson && $(GO) test -run . -bench . -benchmem -count 3 .

## bench-rss: the monitor's resident memory after each million of 10,000,000 events (BENCH_RSS_EVENTS)
bench-rss: clickhouse
	$(GO) test -run '^$$' -bench '^BenchmarkPipelineRSS$$' -benchtime 1x -timeout 30m ./monitor/

clean:
	rm -rf bin

## chdb-check: run the modern-ClickHouse schema and the docs' example queries on current ClickHouse (chdb, npm).
chdb-check:
	@mkdir -p /tmp/driftwatch-chdb && cd /tmp/driftwatch-chdb && (test -d node_modules/chdb || npm install --no-audit --no-fund chdb@3.4.0 >/dev/null)
	NODE_PATH=/tmp/driftwatch-chdb/node_modules node storage/testdata/chdb_check.js
