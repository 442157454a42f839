#!/usr/bin/env bash
# The fault tests (tests/faults, every test binary: tests/faults.rs and tests/receivers.rs):
# each starts its own Apache Kafka (one node, or a three-node KRaft cluster) on loopback ports
# under ~/.cache/hookline/faults/<run>/, the four services as separate processes, real
# receivers (or receivers that misbehave at the TCP level), and kills, stops or restarts what
# its fault needs, by PID. They need Redis (started here if absent) and Java + Maven for the
# broker; they run one at a time (each takes the machine's two cores) and print their figures
# (lines `FIGURES …`).
#
#   scripts/faults.sh                 every fault test
#   scripts/faults.sh broker_kill     the tests whose name contains a word (in every binary)
#
# scripts/test.sh runs it after the rest of the suite; run alone, it builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export HOOKLINE_TEST_REDIS="${HOOKLINE_TEST_REDIS:-redis://127.0.0.1:6379}"
mkdir -p "$CACHE"
# shellcheck source=local-services.sh
. scripts/local-services.sh
command -v java >/dev/null || { log "installing a Java runtime"; apt_install openjdk-17-jre-headless; }
command -v mvn >/dev/null || { log "installing Maven"; apt_install maven; }
scripts/kafka/install.sh >/dev/null
ensure_redis
log "building the services and the fault tests"
cargo build --workspace --bins --locked
cargo test -p hookline-faults --locked --no-run
log "fault tests (logs under $CACHE/faults/)"
out="$CACHE/faults-output.log"
set +e
cargo test -p hookline-faults --locked --tests -- --test-threads=1 --nocapture "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
grep '^FIGURES' "$out" || true
# The run directories of passed runs are not needed again: keep the latest failures only.
find "$CACHE/faults" -mindepth 1 -maxdepth 1 -mmin +120 -exec rm -rf {} + 2>/dev/null || true
exit "$status"
