#!/usr/bin/env bash
# The documented fuzz run (tests/fuzz): every parser that takes outside bytes under Hookline's
# own deterministic mutational fuzzer, in release, HOOKLINE_FUZZ_EXECS executions per target
# (1,000,000 unless set; the workspace's `cargo test` runs 20,000 per target in debug). Prints
# one line per target, `FIGURES fuzz <target>: N executions, P panics, T s`. A panicking input
# (or one that breaks a target's property) is minimised, written under
# $HOOKLINE_FUZZ_ARTIFACTS (default <tmp>/hookline-fuzz) and printed as a byte-string literal
# for a regression test; the run then fails.
#
#   scripts/fuzz.sh               every target
#   scripts/fuzz.sh smpp url      the targets whose name contains a word
#
# HOOKLINE_FUZZ_SEED changes the RNG seed (the default is fixed, so runs are reproducible);
# HOOKLINE_FUZZ_THREADS runs targets in parallel (default 1: figures per target undisturbed).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export HOOKLINE_FUZZ_EXECS="${HOOKLINE_FUZZ_EXECS:-1000000}"
mkdir -p "$CACHE"
cargo test -p hookline-fuzz --release --locked --test targets --no-run
out="$CACHE/fuzz-output.log"
echo "fuzz: $HOOKLINE_FUZZ_EXECS executions per target (log: $out)"
set +e
cargo test -p hookline-fuzz --release --locked --test targets -- \
  --nocapture --test-threads="${HOOKLINE_FUZZ_THREADS:-1}" "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
echo
grep '^FIGURES' "$out" || true
exit "$status"
