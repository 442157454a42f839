#!/usr/bin/env bash
# The documented fuzz run (tests/fuzz): every parser that takes outside bytes under libFuzzer,
# coverage-guided, HOOKLINE_FUZZ_EXECS executions per target (1,000,000 unless set). The
# targets (seeds, dictionary, check) live in tests/fuzz/src/targets.rs; the libFuzzer project
# is tests/fuzz/libfuzzer (cargo-fuzz, not a member of the workspace). Needs the nightly
# toolchain and a C++ compiler, and fails if either is missing; installs cargo-fuzz under
# $HOOKLINE_CACHE/cargo-fuzz if it is not on PATH.
#
# Per target: the seed corpus, the hostile inputs derived from it and the dictionary are
# written to $HOOKLINE_CACHE/fuzz-corpus/<target>/ and <target>.dict (libFuzzer adds what it
# finds there, so later runs start from the grown corpus), then
# `cargo +nightly fuzz run <target>` runs -runs=HOOKLINE_FUZZ_EXECS inputs of at most 64 KiB,
# with a 2 GiB RSS limit, a 25 s limit per input and HOOKLINE_FUZZ_MAX_SECS (default 1200)
# per target. Built in release with debug assertions (overflow checks: an overflow is a
# panic) and no sanitizer (Hookline has no unsafe code; what is hunted is panics and
# violated properties, and ASan would halve the speed; HOOKLINE_FUZZ_SANITIZER=address
# overrides). Prints one line per target,
# `FIGURES fuzz <target>: N executions, C coverage (cov; F ft), P crashes, T s`, with cov and
# ft from libFuzzer's final stats. A crash (a panic, a violated property, a timeout, an OOM)
# stops that target; libFuzzer writes the input under tests/fuzz/libfuzzer/artifacts/<target>/,
# the script prints where, runs the other targets and exits non-zero. Logs:
# $HOOKLINE_CACHE/fuzz-logs/<target>.log.
#
#   scripts/fuzz.sh                    every target, coverage-guided (the documented run)
#   scripts/fuzz.sh smpp url           the targets whose name contains a word
#   scripts/fuzz.sh --stable [WORD...] Hookline's own deterministic mutational fuzzer instead
#                                      (stable Rust, what CI runs with 20,000 executions), in
#                                      release; prints `FIGURES fuzz <target>: N executions,
#                                      P panics, T s`; a failing input is minimised, written
#                                      under $HOOKLINE_FUZZ_ARTIFACTS (default
#                                      <tmp>/hookline-fuzz) and printed as a byte string.
#                                      HOOKLINE_FUZZ_SEED changes its RNG seed (fixed by
#                                      default), HOOKLINE_FUZZ_THREADS runs targets in parallel.
#
# Builds run under `flock /tmp/hookline-build.lock` (the machine is shared); the stable build
# uses $CARGO_TARGET_DIR (default $HOOKLINE_CACHE/target), the libFuzzer build
# $HOOKLINE_CACHE/fuzz-target.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
EXECS="${HOOKLINE_FUZZ_EXECS:-1000000}"
EXECS="${EXECS//_/}"
LOCK=/tmp/hookline-build.lock
STABLE_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
mkdir -p "$CACHE"

if [[ "${1:-}" == "--stable" ]]; then
  shift
  export CARGO_TARGET_DIR="$STABLE_TARGET_DIR" HOOKLINE_FUZZ_EXECS="$EXECS"
  flock "$LOCK" cargo test -p hookline-fuzz --release --locked --test targets --no-run
  out="$CACHE/fuzz-output.log"
  echo "fuzz (stable mutational fuzzer): $HOOKLINE_FUZZ_EXECS executions per target (log: $out)"
  set +e
  cargo test -p hookline-fuzz --release --locked --test targets -- \
    --nocapture --test-threads="${HOOKLINE_FUZZ_THREADS:-1}" "$@" 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
  set -e
  echo
  grep '^FIGURES' "$out" || true
  exit "$status"
fi

die() {
  echo "fuzz.sh: $*" >&2
  exit 1
}

# The documented run needs nightly (libFuzzer's instrumentation); never skip silently.
cargo +nightly --version >/dev/null 2>&1 \
  || die "the coverage-guided run needs the nightly toolchain: rustup toolchain install nightly (scripts/fuzz.sh --stable runs the stable fuzzer instead)"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
  || die "the coverage-guided run needs a C++ compiler (libFuzzer is built from source): install g++"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  export PATH="$CACHE/cargo-fuzz/bin:$PATH"
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz under $CACHE/cargo-fuzz"
    flock "$LOCK" cargo install cargo-fuzz --locked --root "$CACHE/cargo-fuzz"
  fi
fi

FUZZ_DIR=tests/fuzz/libfuzzer
CORPUS="$CACHE/fuzz-corpus"
LOGS="$CACHE/fuzz-logs"
SANITIZER="${HOOKLINE_FUZZ_SANITIZER:-none}"
MAX_SECS="${HOOKLINE_FUZZ_MAX_SECS:-1200}"
BUILD_FLAGS=(--fuzz-dir "$FUZZ_DIR" --sanitizer "$SANITIZER" --release --debug-assertions)
mkdir -p "$CORPUS" "$LOGS"

# The targets and their starting corpora, from the same table the stable runner uses.
CARGO_TARGET_DIR="$STABLE_TARGET_DIR" flock "$LOCK" cargo build -p hookline-fuzz --bin fuzz-seeds --locked
seeds_bin="$STABLE_TARGET_DIR/debug/fuzz-seeds"
targets=()
for t in $("$seeds_bin" --list); do
  if [[ $# -eq 0 ]]; then
    targets+=("$t")
  else
    for word in "$@"; do
      if [[ "$t" == *"$word"* ]]; then
        targets+=("$t")
        break
      fi
    done
  fi
done
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz target matches: $*"
"$seeds_bin" "$CORPUS" "${targets[@]}"

# The lock file is committed: refuse to change it. Each target is built (under the build
# lock) right before it runs, so `cargo fuzz run` finds its build up to date and the seconds
# are fuzzing, not compiling, even when the sources change during the run.
export CARGO_TARGET_DIR="$CACHE/fuzz-target"
cargo +nightly metadata --locked --format-version 1 --manifest-path "$FUZZ_DIR/Cargo.toml" >/dev/null

echo "fuzz (libFuzzer, coverage-guided): $EXECS executions per target, at most $MAX_SECS s each (logs: $LOGS)"
figures=()
failed=()
for t in "${targets[@]}"; do
  log="$LOGS/$t.log"
  flock "$LOCK" cargo +nightly fuzz build "${BUILD_FLAGS[@]}" "$t" >"$LOGS/$t.build.log" 2>&1 \
    || { cat "$LOGS/$t.build.log" >&2; die "building fuzz target $t failed"; }
  start=$(date +%s.%N)
  set +e
  cargo +nightly fuzz run "${BUILD_FLAGS[@]}" "$t" "$CORPUS/$t" -- \
    -runs="$EXECS" -max_len=65536 -rss_limit_mb=2048 -timeout=25 -max_total_time="$MAX_SECS" \
    -dict="$CORPUS/$t.dict" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  crashes=0
  if [[ $status -ne 0 || -n "$crash" ]]; then
    crashes=1
    failed+=("$t")
  fi
  note=""
  if [[ $crashes -eq 0 && "${runs:-0}" -lt "$EXECS" ]]; then
    note=" (stopped by the $MAX_SECS s cap)"
  fi
  line="FIGURES fuzz $t: ${runs:-?} executions, $(awk '{print $2}' <<<"${cov:-cov: ? ft: ?}") coverage (cov; $(awk '{print $4}' <<<"${cov:-cov: ? ft: ?}") ft), $crashes crashes, $secs s$note"
  echo "$line"
  figures+=("$line")
  if [[ $crashes -ne 0 ]]; then
    echo "  crash in $t (exit $status): input ${crash:-not written}; see $log"
    grep -m 5 -E 'panicked at|property violated|ERROR: libFuzzer' "$log" | sed 's/^/    /' || true
    echo "  reproduce: cargo +nightly fuzz run ${BUILD_FLAGS[*]} $t ${crash:-<input>}"
  fi
done

echo
printf '%s\n' "${figures[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  die "crashes in: ${failed[*]}"
fi
