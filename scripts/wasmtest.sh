#!/usr/bin/env bash
# wasmtest.sh is a `go test -exec` wrapper for js/wasm tests:
#
#   GOOS=js GOARCH=wasm go test -exec "$PWD/scripts/wasmtest.sh" ./jsbridge/...
#
# For each test binary it
#   1. starts the real server (bin/stageserver) on 127.0.0.1 with a free port,
#      a temporary data dir and a random admin key, and waits for /healthz;
#   2. exports STAGEKIT_URL and STAGEKIT_API_KEY (the test reads them with
#      os.Getenv: wasmbrowsertest hands the host environment to the page);
#   3. runs wasmbrowsertest with its arguments, in headless Chromium, with
#      scripts/chromium-wrapper first on PATH (fake camera/mic, no background
#      networking);
#   4. stops the server on exit and returns wasmbrowsertest's exit code.
#
# Environment:
#   STAGEKIT_NO_SERVER=1     do not start a server (tests that need none).
#   STAGEKIT_SERVER_BIN=path use this server binary as is (`make test` builds
#                            it once); otherwise ./cmd/stageserver is built
#                            into bin/stageserver (under a lock) first.
#   STAGEKIT_SERVER_ARGS     extra flags for the server (word-split).
#   STAGEKIT_SERVER_LOG=1    copy the server's log to stderr at the end
#                            (it is always shown when the test fails).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[wasmtest] %s\n' "$*" >&2; }

WBT="$ROOT/bin/wasmbrowsertest"
if ! [ -x "$WBT" ]; then
	WBT=$(command -v wasmbrowsertest || true)
	if [ -z "$WBT" ]; then
		log "wasmbrowsertest not found: run 'make setup' (scripts/setup.sh)"
		exit 127
	fi
fi
export PATH="$ROOT/scripts/chromium-wrapper:$ROOT/bin:$PATH"

tmp=""
server_pid=""
watchdog_pid=""
child_pid=""
server_log=""

cleanup() {
	if [ -n "$child_pid" ] && kill -0 "$child_pid" 2>/dev/null; then
		kill -TERM "$child_pid" 2>/dev/null
	fi
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [ -n "$watchdog_pid" ]; then
		kill "$watchdog_pid" 2>/dev/null
		wait "$watchdog_pid" 2>/dev/null
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 131' QUIT

# healthy PORT: true when GET /healthz on 127.0.0.1:PORT answers 200.
healthy() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz" 2>/dev/null
		return
	fi
	local line
	exec 9<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
	printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&9
	IFS= read -r -t 2 line <&9
	exec 9<&- 9>&-
	[[ "$line" == HTTP/1.?" 200"* ]]
}

# port_in_use PORT: something accepts connections there.
port_in_use() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() {
	local bin=${STAGEKIT_SERVER_BIN:-}
	if [ -z "$bin" ]; then
		bin="$ROOT/bin/stageserver"
		mkdir -p "$ROOT/bin"
		# Concurrent test binaries (go test -p) share one build.
		if ! (cd "$ROOT" && flock "$ROOT/bin/.stageserver.lock" go build -o "$bin" ./cmd/stageserver) >&2; then
			log "building ./cmd/stageserver failed"
			return 1
		fi
	fi
	if ! [ -x "$bin" ]; then
		log "server binary $bin not found (make build, or STAGEKIT_NO_SERVER=1)"
		return 1
	fi

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/stagekit-wasmtest.XXXXXX")
	server_log="$tmp/server.log"
	local key
	key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

	local attempt port
	for attempt in 1 2 3 4 5; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$port" && continue
		mkdir -p "$tmp/data"
		# shellcheck disable=SC2086
		"$bin" -addr "127.0.0.1:$port" -api-key "$key" -data "$tmp/data" \
			-allowed-origins 'localhost:*,127.0.0.1:*' \
			${STAGEKIT_SERVER_ARGS:-} >>"$server_log" 2>&1 &
		server_pid=$!
		local i
		for i in $(seq 200); do # up to ~20 s
			if ! kill -0 "$server_pid" 2>/dev/null; then
				break
			fi
			if healthy "$port"; then
				export STAGEKIT_URL="http://127.0.0.1:$port"
				export STAGEKIT_API_KEY="$key"
				# If this script is killed hard (SIGKILL), take the server down too.
				local me=$$ spid=$server_pid
				( while kill -0 "$me" 2>/dev/null; do sleep 1; done; kill -TERM "$spid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
				watchdog_pid=$!
				return 0
			fi
			sleep 0.1
		done
		if kill -0 "$server_pid" 2>/dev/null; then
			log "server on port $port not healthy after 20 s"
			kill -KILL "$server_pid" 2>/dev/null
			wait "$server_pid" 2>/dev/null
			server_pid=""
			break
		fi
		wait "$server_pid" 2>/dev/null
		server_pid=""
		log "server exited early (attempt $attempt, port $port); retrying"
	done
	log "could not start the server; its log:"
	tail -n 50 "$server_log" >&2
	return 1
}

if [ "${STAGEKIT_NO_SERVER:-}" != 1 ]; then
	start_server || exit 1
	# Tokens for the browser tests, which cannot call the admin API (no CORS):
	# three meetings' worth of a host, viewers and a NOT_ALLOWED watcher.
	for n in 1 2 3; do
		seed=$(node "$ROOT/scripts/seed-meeting.mjs" "$STAGEKIT_URL" "$STAGEKIT_API_KEY" \
			Host=webinar_host Viewer=webinar_viewer Viewer2=webinar_viewer Watcher=livestream_viewer) || {
			log "seeding a meeting failed"
			exit 1
		}
		export "STAGEKIT_SEED$n=$seed"
	done
fi

# Run wasmbrowsertest as a child so that signals reach the traps above.
# wasmbrowsertest v0.11.0 with Chromium >= 156 logs a harmless
# "could not unmarshal event: unknown IPAddressSpace value: Loopback" line per
# request; drop those from its stderr (STAGEKIT_WASMTEST_NOISE=1 keeps them).
if [ "${STAGEKIT_WASMTEST_NOISE:-}" = 1 ]; then
	"$WBT" "$@" &
else
	"$WBT" "$@" 2> >(grep --line-buffered -v 'unknown IPAddressSpace value' >&2) &
fi
child_pid=$!
wait "$child_pid"
rc=$?
child_pid=""

if [ -n "$server_log" ] && { [ "$rc" -ne 0 ] || [ "${STAGEKIT_SERVER_LOG:-}" = 1 ]; }; then
	log "server log ($STAGEKIT_URL):"
	tail -n 100 "$server_log" >&2
fi
exit "$rc"
