#!/usr/bin/env bash
# clickhouse.sh runs a private, local ClickHouse server for driftwatch development and tests.
#
#   scripts/clickhouse.sh start    install (if needed), configure and start the server; wait for SELECT 1
#   scripts/clickhouse.sh stop     stop the server started by this script
#   scripts/clickhouse.sh status   print whether the server is running and answering (exit 0; 1 not answering; 3 not running)
#   scripts/clickhouse.sh client [args...]   run clickhouse-client against it
#
# It never touches the system service (/etc/clickhouse-server, /var/lib/clickhouse): all state lives in
# ${DRIFTWATCH_RUN_DIR:-/tmp/driftwatch}/clickhouse and the server listens on 127.0.0.1 only.
#
# Environment:
#   DRIFTWATCH_RUN_DIR               run directory root          (default /tmp/driftwatch)
#   DRIFTWATCH_CLICKHOUSE_PORT       native protocol port         (default 19000)
#   DRIFTWATCH_CLICKHOUSE_HTTP_PORT  HTTP port                    (default 18123)
#   DRIFTWATCH_CLICKHOUSE_INTERSERVER_PORT interserver HTTP port  (default 19009)
#   DRIFTWATCH_CLICKHOUSE_START_TIMEOUT seconds to wait for SELECT 1 (default 60)
set -euo pipefail

RUN_ROOT="${DRIFTWATCH_RUN_DIR:-/tmp/driftwatch}"
DIR="${RUN_ROOT}/clickhouse"
PORT="${DRIFTWATCH_CLICKHOUSE_PORT:-19000}"
HTTP_PORT="${DRIFTWATCH_CLICKHOUSE_HTTP_PORT:-18123}"
INTERSERVER_PORT="${DRIFTWATCH_CLICKHOUSE_INTERSERVER_PORT:-19009}"
START_TIMEOUT="${DRIFTWATCH_CLICKHOUSE_START_TIMEOUT:-60}"
PID_FILE="${DIR}/clickhouse-server.pid"
SERVER_BIN=""
CLIENT_BIN=""

log() { printf 'clickhouse.sh: %s\n' "$*" >&2; }

find_bins() {
	SERVER_BIN="$(command -v clickhouse-server || true)"
	[ -z "$SERVER_BIN" ] && [ -x /usr/sbin/clickhouse-server ] && SERVER_BIN=/usr/sbin/clickhouse-server
	CLIENT_BIN="$(command -v clickhouse-client || true)"
	[ -z "$CLIENT_BIN" ] && [ -x /usr/bin/clickhouse-client ] && CLIENT_BIN=/usr/bin/clickhouse-client
	return 0
}

ensure_installed() {
	find_bins
	if [ -n "$SERVER_BIN" ] && [ -n "$CLIENT_BIN" ]; then
		return 0
	fi
	log "clickhouse-server/clickhouse-client not found: installing them with apt-get"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends clickhouse-server clickhouse-client
	find_bins
	if [ -z "$SERVER_BIN" ] || [ -z "$CLIENT_BIN" ]; then
		log "installation finished but the binaries are still missing"
		exit 1
	fi
}

# run_user prints the user the server runs as: when we are root, the unprivileged "clickhouse" user
# that the Debian package creates (the run dir is chowned to it); otherwise ourselves.
run_user() {
	if [ "$(id -u)" -eq 0 ] && id clickhouse >/dev/null 2>&1; then
		echo clickhouse
	else
		id -un
	fi
}

alive() {
	[ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

answers() {
	[ -n "$CLIENT_BIN" ] || find_bins
	[ -n "$CLIENT_BIN" ] || return 1
	"$CLIENT_BIN" --host 127.0.0.1 --port "$PORT" --query 'SELECT 1' >/dev/null 2>&1
}

write_config() {
	mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/format_schemas" "$DIR/log"
	cat >"$DIR/config.xml" <<XML
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh; edits are overwritten at the next start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>${DIR}/log/clickhouse-server.log</log>
        <errorlog>${DIR}/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>${PORT}</tcp_port>
    <http_port>${HTTP_PORT}</http_port>
    <interserver_http_port>${INTERSERVER_PORT}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>${DIR}/data/</path>
    <tmp_path>${DIR}/tmp/</tmp_path>
    <user_files_path>${DIR}/user_files/</user_files_path>
    <format_schema_path>${DIR}/format_schemas/</format_schema_path>
    <users_config>${DIR}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <umask>022</umask>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
XML
	cat >"$DIR/users.xml" <<'XML'
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh: one passwordless "default" user reachable from localhost only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
}

print_address() {
	echo "ClickHouse running: native 127.0.0.1:${PORT}, http http://127.0.0.1:${HTTP_PORT}, run dir ${DIR}"
	echo "export DRIFTWATCH_TEST_CLICKHOUSE=127.0.0.1:${PORT}"
}

cmd_start() {
	ensure_installed
	if alive && answers; then
		print_address
		return 0
	fi
	if answers; then
		log "something else already answers on 127.0.0.1:${PORT}; not starting a second server"
		log "stop it or choose another port with DRIFTWATCH_CLICKHOUSE_PORT"
		exit 1
	fi
	if alive; then
		log "server process $(cat "$PID_FILE") exists but does not answer yet"
	else
		rm -f "$PID_FILE"
		write_config
		local user
		user="$(run_user)"
		if [ "$user" != "$(id -un)" ]; then
			chown -R "$user": "$DIR"
		fi
		log "starting $SERVER_BIN as user $user (logs in $DIR/log)"
		if [ "$user" != "$(id -un)" ]; then
			setsid nohup setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups \
				"$SERVER_BIN" --config-file="$DIR/config.xml" --pid-file="$PID_FILE" \
				>"$DIR/log/stdout.log" 2>&1 </dev/null &
		else
			setsid nohup "$SERVER_BIN" --config-file="$DIR/config.xml" --pid-file="$PID_FILE" \
				>"$DIR/log/stdout.log" 2>&1 </dev/null &
		fi
		local launcher=$!
		# The server writes its own pid file; until then record the launcher's pid (setpriv execs, so it is the same).
		[ -f "$PID_FILE" ] || echo "$launcher" >"$PID_FILE"
	fi
	local deadline=$((SECONDS + START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if answers; then
			print_address
			return 0
		fi
		if ! alive; then
			break
		fi
		sleep 0.5
	done
	log "ClickHouse did not answer SELECT 1 on 127.0.0.1:${PORT} within ${START_TIMEOUT}s"
	for f in "$DIR/log/clickhouse-server.err.log" "$DIR/log/stdout.log"; do
		if [ -s "$f" ]; then
			log "--- tail of $f ---"
			tail -n 40 "$f" >&2
		fi
	done
	exit 1
}

cmd_stop() {
	if ! alive; then
		rm -f "$PID_FILE"
		echo "ClickHouse (run dir ${DIR}) is not running"
		return 0
	fi
	local pid
	pid="$(cat "$PID_FILE")"
	kill -TERM "$pid"
	local deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "server $pid did not stop within 30s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$PID_FILE"
	echo "ClickHouse stopped"
}

cmd_status() {
	find_bins
	if alive && answers; then
		echo "running (pid $(cat "$PID_FILE"))"
		print_address
		return 0
	fi
	if alive; then
		echo "process $(cat "$PID_FILE") exists but does not answer on 127.0.0.1:${PORT}"
		return 1
	fi
	echo "not running (run dir ${DIR})"
	return 3
}

cmd_client() {
	ensure_installed
	exec "$CLIENT_BIN" --host 127.0.0.1 --port "$PORT" "$@"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
client)
	shift
	cmd_client "$@"
	;;
*)
	echo "usage: $0 start|stop|status|client [clickhouse-client args...]" >&2
	exit 2
	;;
esac
