#!/usr/bin/env bash
# README's test command. On a fresh machine it installs and starts what the tests need, then
# runs the same checks CI runs:
#   - Apache Kafka (KRaft, one combined broker + controller), resolved once from Maven Central
#     by scripts/kafka/install.sh under ~/.cache/hookline, started fresh on 127.0.0.1:19092
#     (controller 19093) unless something already listens there, and stopped at the end;
#   - Redis on 127.0.0.1:6379 (started, or installed from Debian's packages, if absent), and a
#     Redis Cluster of six redis-server processes on 127.0.0.1:7101-7106 (three masters, a
#     replica each), started fresh and stopped at the end;
#   - the portal's browser test: npm playwright-core (under ~/.cache/hookline/node) and
#     Debian's chromium;
#   - the reference webhook receivers' runtimes: Flask, Express 4 (under
#     ~/.cache/hookline/node), the PHP CLI; the official Standard Webhooks verifiers: PyPI
#     standardwebhooks (in ~/.cache/hookline/venv-standardwebhooks) and npm standardwebhooks
#     (under ~/.cache/hookline/node);
#   - the deployment checks (scripts/check-deploy.sh: Helm chart lint/render/kubernetes-validate,
#     promtool on the alert rules; installs helm-python-sdk, kubernetes-validate and promtool
#     when missing);
#   - cargo fmt --check, cargo clippy -D warnings, cargo test for the whole workspace (the
#     metrics-name test runs `promtool check metrics` on a live scrape);
#   - scripts/schemathesis.sh: schemathesis (PyPI, in ~/.cache/hookline/venv-schemathesis)
#     against both OpenAPI documents of a `hookline embedded`, a bounded number of cases;
#   - scripts/faults.sh: the fault tests, each against Apache Kafka nodes of its own (broker
#     kill -9, broker away 60 s, leader failover, config compaction, rebalance, revoke
#     transactions, dynamic membership, every service kill -9'd and SIGTERM'd, Redis stopped
#     and restarted empty, a receiver down for the retry window), one at a time, printing their
#     figures.
# The cargo target directory lives in ~/.cache/hookline/target so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
KAFKA_PORT="${HOOKLINE_TEST_KAFKA_PORT:-19092}"
export HOOKLINE_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
export HOOKLINE_TEST_REDIS="${HOOKLINE_TEST_REDIS:-redis://127.0.0.1:6379}"
export HOOKLINE_TEST_NODE_PATH="$CACHE/node/node_modules"
mkdir -p "$CACHE"
# shellcheck source=local-services.sh
. scripts/local-services.sh

# --- Build dependencies -----------------------------------------------------------------
cargo fmt --version >/dev/null 2>&1 || { log "adding rustfmt"; rustup component add rustfmt; }
cargo clippy --version >/dev/null 2>&1 || { log "adding clippy"; rustup component add clippy; }
# librdkafka is built with OpenSSL (TLS, SASL/SCRAM): openssl-sys needs the headers.
if ! pkg-config --exists openssl 2>/dev/null; then
  log "installing libssl-dev and pkg-config"; apt_install libssl-dev pkg-config
fi

# --- Apache Kafka -----------------------------------------------------------------------
command -v java >/dev/null || { log "installing a Java runtime"; apt_install openjdk-17-jre-headless; }
command -v mvn >/dev/null || { log "installing Maven"; apt_install maven; }
STARTED_KAFKA=""
if listening "$KAFKA_PORT"; then
  log "a broker already listens on 127.0.0.1:$KAFKA_PORT"
else
  log "starting Apache Kafka on 127.0.0.1:$KAFKA_PORT"
  start_kafka "$KAFKA_PORT"
  STARTED_KAFKA=$KAFKA_PID
fi
cleanup() {
  if [ -n "$STARTED_KAFKA" ]; then stop_kafka "$STARTED_KAFKA"; fi
  stop_redis_cluster
}
trap cleanup EXIT

# --- Redis ------------------------------------------------------------------------------
ensure_redis
# A Redis Cluster (six processes: three masters, a replica each) for the store's tests on a
# cluster; HOOKLINE_TEST_REDIS_CLUSTER names another one instead.
if [ -z "${HOOKLINE_TEST_REDIS_CLUSTER:-}" ]; then
  CLUSTER_PORT="${HOOKLINE_TEST_REDIS_CLUSTER_PORT:-7101}"
  log "starting a Redis Cluster on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + 5))"
  start_redis_cluster "$CLUSTER_PORT"
  export HOOKLINE_TEST_REDIS_CLUSTER="$REDIS_CLUSTER_NODES"
fi

# --- Reference receivers' runtimes ------------------------------------------------------
python3 -c 'import flask' 2>/dev/null || { log "installing Flask"; python3 -m pip install -q flask; }
if [ ! -d "$HOOKLINE_TEST_NODE_PATH/express" ]; then
  command -v npm >/dev/null || { log "installing Node.js"; apt_install nodejs npm; }
  log "installing Express 4 under $CACHE/node"
  mkdir -p "$CACHE/node"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node" express@4 >/dev/null
fi
# The portal's browser test (tests/tests/portal_browser.rs): npm playwright-core, pinned,
# driving Debian's Chromium (the system browser: playwright downloads nothing).
PLAYWRIGHT_CORE_VERSION=1.65.1
if [ "$(node -p "require('$HOOKLINE_TEST_NODE_PATH/playwright-core/package.json').version" 2>/dev/null)" != "$PLAYWRIGHT_CORE_VERSION" ]; then
  command -v npm >/dev/null || { log "installing Node.js"; apt_install nodejs npm; }
  log "installing playwright-core $PLAYWRIGHT_CORE_VERSION under $CACHE/node"
  mkdir -p "$CACHE/node"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node" "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null
fi
[ -x /usr/bin/chromium ] || { log "installing Chromium"; apt_install chromium; }
command -v php >/dev/null || { log "installing the PHP CLI"; apt_install php-cli; }
# The official Standard Webhooks verifiers (tests/tests/standard_webhooks.rs), pinned.
STANDARDWEBHOOKS_VERSION=1.3.0
SW_VENV="$CACHE/venv-standardwebhooks"
export HOOKLINE_TEST_STANDARDWEBHOOKS_PYTHON="$SW_VENV/bin/python"
if ! "$SW_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('standardwebhooks') != '$STANDARDWEBHOOKS_VERSION')" 2>/dev/null; then
  log "installing standardwebhooks $STANDARDWEBHOOKS_VERSION (PyPI) into $SW_VENV"
  python3 -m venv "$SW_VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$SW_VENV"; }
  "$SW_VENV/bin/pip" install -q "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi
if ! grep -qs "\"version\": \"$STANDARDWEBHOOKS_VERSION\"" "$HOOKLINE_TEST_NODE_PATH/standardwebhooks/package.json"; then
  command -v npm >/dev/null || { log "installing Node.js"; apt_install nodejs npm; }
  log "installing standardwebhooks $STANDARDWEBHOOKS_VERSION (npm) under $CACHE/node"
  mkdir -p "$CACHE/node"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node" "standardwebhooks@$STANDARDWEBHOOKS_VERSION" >/dev/null
fi

# --- Checks -----------------------------------------------------------------------------
log "deployment checks"
scripts/check-deploy.sh
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The process-level tests (kill -9, SIGTERM drain) run the service binaries themselves.
log "cargo build (service binaries)"
cargo build --workspace --bins --locked
log "cargo test"
out="$CACHE/test-output.log"
set +e
cargo test --workspace --exclude hookline-faults --all-targets --locked --no-fail-fast 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
# API contract fuzzing of both OpenAPI documents against the binary built above.
log "API contract fuzzing (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh "$CARGO_TARGET_DIR/debug/hookline" 2>&1 | tee -a "$out"
schemathesis_status=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$schemathesis_status
# The fault tests against real Apache Kafka nodes of their own, one at a time.
log "fault tests (scripts/faults.sh)"
bash scripts/faults.sh 2>&1 | tee -a "$out"
fault_status=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$fault_status
set -e
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$out"
exit "$status"
