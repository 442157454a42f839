#!/usr/bin/env bash
# Connection flood (security issue 13, finding 3): CONNECTIONS idle TCP connections (default
# 20,000, from PROCS processes over source addresses 127.0.0.2.., since one process may hold
# at most its `nofile` limit of sockets) to the API port of a `hookline embedded` started for
# the run. Prints the server's RSS and open descriptors before, during and after, whether a
# normal request to the API, ingest and admin ports is answered during the flood, what became
# of the flood's connections, and the server's hookline_http_* metrics. Loopback only; every
# step is bounded in time and the server is stopped at the end.
#
#   benchmarks/conn_flood.sh                               this tree's debug build
#   HOOKLINE_BIN=/tmp/hookline-old benchmarks/conn_flood.sh another build (say, before the fix)
#   CONNECTIONS=20000 PROCS=4 HOLD_SECS=20 PARTIAL=1 PORT_BASE=18080 NO_BUILD=1 ...
#   CONNECTIONS=1000 PROCS=1 DRIP=1 ...   a Slowloris: each connection sends its head a byte a second
#
# EXTRA_ARGS is passed to `hookline embedded` (e.g. --http-max-connections=8192).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
CONNECTIONS="${CONNECTIONS:-20000}"
PROCS="${PROCS:-4}"
HOLD_SECS="${HOLD_SECS:-20}"
PORT_BASE="${PORT_BASE:-18080}"
BIN="${HOOKLINE_BIN:-$CARGO_TARGET_DIR/debug/hookline}"
FLOOD="$CARGO_TARGET_DIR/debug/conn-flood"
[ -n "${NO_BUILD:-}" ] || cargo build --locked -p hookline --bin hookline -p hookline-benchmarks --bin conn-flood
ulimit -n "$(ulimit -Hn)"

API="127.0.0.1:$PORT_BASE" INGEST="127.0.0.1:$((PORT_BASE + 1))" ADMIN="127.0.0.1:$((PORT_BASE + 2))"
log="$(mktemp /tmp/conn-flood-server.XXXXXX.log)"
# shellcheck disable=SC2086
"$BIN" embedded --api-http-addr="$API" --ingest-http-addr="$INGEST" --admin-addr="$ADMIN" ${EXTRA_ARGS:-} >"$log" 2>&1 &
PID=$!
flood_pids=()
cleanup() {
  for p in "${flood_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 120); do
  curl -sf -m 1 "http://$ADMIN/readyz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { echo "server exited:"; cat "$log"; exit 1; }
  sleep 0.5
done
curl -sf -m 1 "http://$ADMIN/readyz" >/dev/null || { echo "server not ready in 60 s"; exit 1; }

rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
probe() { curl -s -o /dev/null -m 3 -w '%{http_code}/%{time_total}s' "$1" 2>/dev/null || true; }
sample() {
  printf '%-7s rss %7s MiB  fds %6s  api %-14s ingest %-14s admin %-14s\n' "$1" "$(rss_mib)" "$(fds)" \
    "$(probe "http://$API/api/v1/user/webhooks")" "$(probe "http://$INGEST/openapi.json")" "$(probe "http://$ADMIN/healthz")"
}

echo "server: $BIN (pid $PID), nofile $(ulimit -n); flood: $CONNECTIONS connections to $API, held up to $HOLD_SECS s, partial=${PARTIAL:-0}, drip=${DRIP:-0}"
echo "(probe columns: HTTP status/time; 000 = no answer within 3 s. API answers 401 without a key.)"
sample before
per=$((CONNECTIONS / PROCS))
t0=$(date +%s)
for i in $(seq 0 $((PROCS - 1))); do
  partial=()
  [ "${PARTIAL:-0}" = 1 ] && partial=(--partial)
  [ "${DRIP:-0}" = 1 ] && partial=(--drip)
  "$FLOOD" --target "$API" --connections "$per" --sources "127.0.0.$((i + 2))" --hold-secs "$HOLD_SECS" "${partial[@]}" &
  flood_pids+=("$!")
done
while [ $(( $(date +%s) - t0 )) -lt $((HOLD_SECS + 15)) ]; do
  alive=0
  for p in "${flood_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 1 ] || break
  sample "t+$(( $(date +%s) - t0 ))s"
  sleep 2
done
for p in "${flood_pids[@]}"; do wait "$p" || true; done
flood_pids=()
# The server closes its side once the clients are gone: wait (at most 15 s) for its
# descriptors to come back down.
for _ in $(seq 30); do [ "$(fds)" -lt 200 ] && break; sleep 0.5; done
sample after
echo "server metrics:"
curl -s -m 3 "http://$ADMIN/metrics" | grep -E '^hookline_http_' || echo "  (none: this build has no hookline_http_* metrics)"
echo "server log lines about accept/descriptors: $(grep -ciE 'accept|too many open files' "$log" || true)"
