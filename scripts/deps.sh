#!/usr/bin/env bash
# deps.sh installs what driftwatch's demo and tests need on a Debian machine, only what is missing:
# ClickHouse (server + client), Prometheus' promtool, Alertmanager, kcat, python3-scipy (for
# regenerating statistical reference values), and the Go modules. Idempotent; run as root.
set -euo pipefail

log() { printf 'deps.sh: %s\n' "$*" >&2; }

need=()
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || need+=(clickhouse-client)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
/usr/bin/python3 -c 'import scipy' >/dev/null 2>&1 || need+=(python3-scipy)

if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	log "installing ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		log "go is at /usr/local/go/bin: add it to PATH"
	else
		log "Go is missing: install Go >= 1.26 (https://go.dev/doc/install)"
		exit 1
	fi
fi
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/local/go/bin" go mod download
