#!/usr/bin/env bash
# API contract fuzzing: schemathesis (PyPI) against the OpenAPI documents that the api and ingest
# serve at /openapi.json, with valid credentials, and the checks not_a_server_error,
# status_code_conformance, response_schema_conformance and content_type_conformance. Any
# failure fails the script: a 5xx, a status an operation does not document, a body that breaks
# its documented schema, or a content type it does not document.
#
#   scripts/schemathesis.sh            builds (if needed) and runs $CARGO_TARGET_DIR/debug/hookline
#   scripts/schemathesis.sh BINARY     runs that hookline binary (debug or release) as it is
#
# It installs schemathesis (pinned below) into ~/.cache/hookline/venv-schemathesis when missing,
# starts `BINARY embedded` on free loopback ports (port 0) with an admin token of its own, reads
# the API key and the ingest credential it prints, and runs three passes, each bounded to
# HOOKLINE_SCHEMATHESIS_EXAMPLES cases per operation and phase (default 50; seed
# HOOKLINE_SCHEMATHESIS_SEED, default 1, `random` for a new one each run):
#   1. the api document's X-API-Key operations (23 Telecom, SMSEdge, named subscriptions, logs);
#   2. the ingest document, with `Authorization: Bearer hki_…`;
#   3. the api document's operator operations (/admin/v1/*), with the admin token: last, since
#      it may revoke the printed key and credential (it lists their ids).
# A pass whose operations all answered 401/403 (a credential that did not work) fails too.
# It stops only the process it started (by PID) and prints
#   FIGURES schemathesis: api N cases, ingest M cases, F failures
# Output, JUnit reports and the process's log: ~/.cache/hookline/schemathesis/<run>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# shellcheck source=local-services.sh
. scripts/local-services.sh

SCHEMATHESIS_VERSION=4.32.5
VENV="$CACHE/venv-schemathesis"
ST="$VENV/bin/schemathesis"
EXAMPLES="${HOOKLINE_SCHEMATHESIS_EXAMPLES:-50}"
SEED="${HOOKLINE_SCHEMATHESIS_SEED:-1}"
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance

# --- schemathesis -----------------------------------------------------------------------
if ! "$ST" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- hookline embedded ------------------------------------------------------------------
if [ $# -ge 1 ]; then
  BIN="$1"
else
  BIN="$CARGO_TARGET_DIR/debug/hookline"
  log "cargo build (hookline)"
  cargo build --locked -p hookline --bin hookline
fi
[ -x "$BIN" ] || { echo "no hookline binary at $BIN" >&2; exit 1; }

RUN="$CACHE/schemathesis/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUN"
ADMIN_TOKEN="adm_$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
started=$(date +%s)
log "starting $BIN embedded (output: $RUN/hookline.out, .log)"
# Test sends wait for their attempt up to the subscription's timeout plus this grace; the
# fuzzer's webhook URLs mostly do not resolve, so keep the waits short.
HOOKLINE_ADMIN_TOKEN="$ADMIN_TOKEN" HOOKLINE_TEST_SEND_GRACE_SECS=2 RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" embedded --api-http-addr 127.0.0.1:0 --ingest-http-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  </dev/null >"$RUN/hookline.out" 2>"$RUN/hookline.log" &
PID=$!
stop() {
  if kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  wait "$PID" 2>/dev/null || true
}
trap stop EXIT

printed() { sed -n "s/^$1 *\([^ ]*\).*/\1/p" "$RUN/hookline.out"; }
for _ in $(seq 1 300); do
  grep -q '^Ingest credential:' "$RUN/hookline.out" && break
  kill -0 "$PID" 2>/dev/null || { cat "$RUN/hookline.out" "$RUN/hookline.log" >&2; exit 1; }
  sleep 0.2
done
API=$(printed 'API:')
INGEST=$(printed 'Ingest:')
METRICS=$(printed 'Metrics:')
KEY=$(printed 'API key:')
INGEST_KEY=$(printed 'Ingest credential:')
case "$API|$INGEST|$KEY|$INGEST_KEY" in
  http://127.0.0.1:*\|http://127.0.0.1:*\|hk_*\|hki_*) ;;
  *) echo "hookline embedded did not print its addresses and credentials:" >&2; cat "$RUN/hookline.out" >&2; exit 1 ;;
esac
# Ready: the config (with the printed key and credential) is replayed and the servers serve.
READY="${METRICS%/metrics}/readyz"
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$READY" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$RUN/hookline.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$READY" || { echo "hookline embedded is not ready: $READY" >&2; exit 1; }
log "api $API, ingest $INGEST"

# A pass whose every case was refused by the credential tested nothing: fail it.
cat >"$RUN/schemathesis.toml" <<'EOF'
[warnings]
fail-on = ["missing_auth"]
EOF

FAILURES=0
STATUS=0
# pass NAME DOCUMENT_URL SCHEMATHESIS_ARGS...: runs one pass; sets CASES.
pass() {
  local name="$1" url="$2"
  shift 2
  local seed=(--seed "$SEED")
  [ "$SEED" != random ] || seed=()
  log "schemathesis: $name"
  local rc=0
  (cd "$RUN" && "$ST" --config-file "$RUN/schemathesis.toml" run "$url" \
    --checks "$CHECKS" --max-examples "$EXAMPLES" "${seed[@]}" --workers 2 --request-timeout 30 \
    --generation-database none --no-color --report junit --report-junit-path "$RUN/$name.junit.xml" \
    "$@") >"$RUN/$name.txt" 2>&1 || rc=$?
  # "Test cases:" is followed by "N generated, ..." ("..., K found F unique failures").
  CASES=$(sed -n '/^Test cases:/{n;s/^ *\([0-9]*\) generated.*/\1/p}' "$RUN/$name.txt")
  local failed
  failed=$(sed -n '/^Test cases:/{n;s/.* found \([0-9]*\) unique failure.*/\1/p}' "$RUN/$name.txt")
  failed=${failed:-0}
  if [ "$rc" -ne 0 ]; then
    STATUS=1
    # An error, or a failing warning, without a counted failure still counts as one.
    [ "$failed" -gt 0 ] || failed=1
    if grep -q '^=* FAILURES =*$' "$RUN/$name.txt"; then
      sed -n '/^=* FAILURES =*$/,$p' "$RUN/$name.txt"
    else
      tail -n 40 "$RUN/$name.txt"
    fi
  fi
  FAILURES=$((FAILURES + failed))
  echo "$name: ${CASES:-0} cases, $failed failures (exit $rc; $RUN/$name.txt)"
}

pass api "$API/openapi.json" -H "X-API-Key: $KEY" --exclude-path-regex '^/admin/'
API_CASES=${CASES:-0}
pass ingest "$INGEST/openapi.json" -H "Authorization: Bearer $INGEST_KEY"
INGEST_CASES=${CASES:-0}
pass admin "$API/openapi.json" -H "Authorization: Bearer $ADMIN_TOKEN" --include-path-regex '^/admin/'
API_CASES=$((API_CASES + ${CASES:-0}))

# A crash of the process under test is a failure even if every response was fine.
if ! kill -0 "$PID" 2>/dev/null; then
  echo "hookline embedded exited during the run:" >&2
  tail -n 50 "$RUN/hookline.log" >&2
  STATUS=1
  FAILURES=$((FAILURES + 1))
fi
stop
trap - EXIT
if grep -q 'panicked at' "$RUN/hookline.out" "$RUN/hookline.log"; then
  echo "hookline embedded panicked:" >&2
  grep -h -A5 'panicked at' "$RUN/hookline.out" "$RUN/hookline.log" | head -n 40 >&2
  STATUS=1
  FAILURES=$((FAILURES + 1))
fi
cd "$ROOT"
# Keep a day of runs.
find "$CACHE/schemathesis" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
log "schemathesis $SCHEMATHESIS_VERSION, $EXAMPLES examples per operation and phase, seed $SEED: $(($(date +%s) - started)) s (output: $RUN)"
echo "FIGURES schemathesis: api $API_CASES cases, ingest $INGEST_CASES cases, $FAILURES failures"
exit "$STATUS"
