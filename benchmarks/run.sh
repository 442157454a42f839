#!/usr/bin/env bash
# The end-to-end benchmark's scenarios, each against a fresh single-node Apache Kafka (KRaft,
# started by start_kafka from scripts/local-services.sh on an empty log and stopped after the
# scenario, so one run's topics and partitions don't weigh on the next) and the local Redis.
#
#   benchmarks/run.sh                 every scenario: a, b, c, d
#   benchmarks/run.sh a b             some of them
#   RATE=3000 SECONDS_=20 benchmarks/run.sh a
#   RATE=20000 benchmarks/run.sh floor
#   RATE=1000 SECONDS_=20 WHALE=40 benchmarks/run.sh real
#
# Scenarios: a (all endpoints healthy, plus the bare minimum on the same broker), b (every 10th
# event to an endpoint that times out), c (a million events waiting in a retry tier), d (every
# event fanned out to 10 subscriptions), d-hosts (d with every subscription its own receiving
# host: a port of its own, so delivery pools connections per endpoint), d-named and d-batch (not in the default set: d with named
# subscriptions, without and with batching, BATCH=MAX_EVENTS:MAX_WAIT_MS, default 100:500),
# floor (not in the default set: the topology floor, the
# four hops with Hookline's consume loop and clients but none of its work; see
# benchmarks/src/e2e/floor.rs), real (not in the default set: realistic traffic, 1,000
# workspaces over the three dialects with Zipf shares, a whale workspace with WHALE percent of
# the events (default 40; 0: none) whose receiver answers in 50 ms, every endpoint its own
# 127.0.0.1 port with its own latency, 1 % slow and 1 % down, a production-like input mix; see
# benchmarks/src/e2e/real.rs; RATE and SECONDS_ as for a), replicas (not in the default set: a
# with two processes of each of the four services, the timed phase starting once every
# consumer group has both). Output: the tables, also appended to
# ~/.cache/hookline/bench-<date>.md. BENCH_KAFKA_PORT (default 19094; the controller takes the
# port after it, and the test broker holds 19092-19093) moves the broker, KAFKA_HEAP (default
# 512m) bounds its heap. E2E_ARGS adds flags to every scenario's timed run, e.g.
# E2E_ARGS="--kafka-options linger.ms=0,fetch.min.bytes=1" to measure a tuning without a rebuild;
# NO_BUILD=1 skips the build (binaries already built, e.g. under a shared cargo lock).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
mkdir -p "$CACHE"
# shellcheck source=../scripts/local-services.sh
. scripts/local-services.sh

PORT="${BENCH_KAFKA_PORT:-19094}"
RATE="${RATE:-2000}"
SECS="${SECONDS_:-20}"
FANOUT_RATE="${FANOUT_RATE:-$((RATE / 4))}"
read -r -a EXTRA <<<"${E2E_ARGS:-}"
BATCH="${BATCH:-100:500}"
WHALE="${WHALE:-40}"
WARMUP_RATE="${WARMUP_RATE:-2000}"
WARMUP_SECS="${WARMUP_SECS:-20}"
out="$CACHE/bench-$(date -u +%Y%m%d-%H%M%S).md"
# This broker port's runs' prefix (topics, Redis keys): the cleanup below deletes only these, so
# two benchmarks on different ports can share one Redis.
KEYS="bench${PORT}p"

command -v java >/dev/null || { log "installing a Java runtime"; apt_install openjdk-17-jre-headless; }
command -v mvn >/dev/null || { log "installing Maven"; apt_install maven; }
ensure_redis
if [ -z "${NO_BUILD:-}" ]; then
  log "building the services and the benchmark (release)"
  cargo build --release --locked --workspace --bins
fi

run() {
  local name="$1"; shift
  if listening "$PORT" || listening "$((PORT + 1))"; then
    echo "127.0.0.1:$PORT or :$((PORT + 1)) is taken; set BENCH_KAFKA_PORT" >&2; exit 1
  fi
  log "scenario $name: a fresh Apache Kafka on 127.0.0.1:$PORT"
  start_kafka "$PORT"
  trap 'stop_kafka "$KAFKA_PID"' EXIT
  # A fresh JVM compiles its hot paths during the first seconds of load: measured cold, the
  # pipeline did not keep up even at 1,000 events/s in its first run on a new broker (466/s
  # achieved) and did in the next. Warm the broker first with a short run of its own (output
  # and Redis keys discarded), as a production broker always is.
  log "scenario $name: warming the broker up (${WARMUP_SECS} s at ${WARMUP_RATE} events/s)"
  "$CARGO_TARGET_DIR/release/e2e" --brokers "127.0.0.1:$PORT" --rate "$WARMUP_RATE" --seconds "$WARMUP_SECS" \
    --baseline-records 0 --run-prefix "$KEYS" >/dev/null 2>&1 || true
  redis-cli --scan --pattern "$KEYS*:*" | xargs -r -n 1000 redis-cli del >/dev/null
  { printf '\n# Scenario %s — %s\n\n`e2e %s`\n' "$name" "$(date -u +%FT%TZ)" "$* ${E2E_ARGS:-}"
    "$CARGO_TARGET_DIR/release/e2e" --brokers "127.0.0.1:$PORT" --run-prefix "$KEYS" "$@" ${EXTRA[@]+"${EXTRA[@]}"}; } | tee -a "$out"
  stop_kafka "$KAFKA_PID"
  trap - EXIT
  # The run's Redis keys (message metadata, claims; every run has its own `$KEYS<hex>:` prefix).
  redis-cli --scan --pattern "$KEYS*:*" | xargs -r -n 1000 redis-cli del >/dev/null
}

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(a b c d)
for s in "${scenarios[@]}"; do
  case "$s" in
    a) run a --rate "$RATE" --seconds "$SECS" ;;
    b) run b --rate "$RATE" --seconds "$SECS" --slow-neighbour --baseline-records 0 ;;
    c) run c --rate "$RATE" --seconds "$SECS" --parked 1000000 --baseline-records 0 ;;
    d) run d --rate "$FANOUT_RATE" --seconds "$SECS" --fanout 10 --baseline-records 0 ;;
    d-hosts) run d-hosts --rate "$FANOUT_RATE" --seconds "$SECS" --fanout 10 --baseline-records 0 --own-hosts ;;
    d-named) run d-named --rate "$FANOUT_RATE" --seconds "$SECS" --fanout 10 --baseline-records 0 --named ;;
    d-batch) run d-batch --rate "$FANOUT_RATE" --seconds "$SECS" --fanout 10 --baseline-records 0 --batch "$BATCH" ;;
    floor) run floor --rate "$RATE" --seconds "$SECS" --floor --baseline-records 0 ;;
    replicas) run replicas --rate "$RATE" --seconds "$SECS" --replicas 2 ;;
    real) run real --rate "$RATE" --seconds "$SECS" --real --whale-percent "$WHALE" --baseline-records 0 ;;
    *) echo "unknown scenario $s (a, b, c, d, d-hosts, d-named, d-batch, floor, real or replicas)" >&2; exit 2 ;;
  esac
done
log "tables appended to $out"
