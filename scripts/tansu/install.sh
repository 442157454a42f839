#!/usr/bin/env bash
# Builds Tansu (the Kafka-protocol broker the tests and benchmarks run against) from its
# published crates with the fixes in patches/<crate>/, and installs its binary as
# <root>/bin/tansu. The crate's own Cargo.lock pins every other dependency (as
# `cargo install --locked` would).
#
# The fixes (found by Hookline's tests; each patch file says what and why):
# - tansu-storage 01: the object-store engine (memory://, s3://) answered a fetch at an offset
#   inside a record batch with the batches *after* it, so a consumer that restarted from a
#   committed offset, sought, or resumed a paused partition in the middle of a multi-record
#   batch never saw the rest of it. Kafka returns the batch holding the offset and the client
#   skips what precedes it; the patch does the same. Found by tests/tests/pump.rs.
# - tansu-storage 02, tansu-broker 01: Tansu implements committing and aborting a transaction
#   in its storage but routes no EndTxn request, so no transactional producer could finish a
#   transaction. The patches add the route. Needed by the revoke-click batcher
#   (services/enrich/src/revocations.rs), which commits its output and input offsets atomically.
# - tansu-storage 03: a fetch slept out the client's whole `fetch.wait.max.ms` even when it had
#   records, and did not see records produced while it slept, so every hop through the broker
#   cost about one and a half waits. A fetch now answers as soon as it has data and otherwise
#   waits for a produce to one of its topics (Kafka's contract), then reads again only the
#   topics produced to. Found by benchmarks/ (e2e).
# - tansu-storage 04: every fetch listed every stored batch of the partition, so the broker's
#   cost per record grew as a partition filled. A fetch now reads batches by key and lists only
#   when a key is missing. Found by profiling the broker under benchmarks/ (e2e).
# - tansu-storage 05: every offset lookup built (and parsed the path of) a partition's
#   watermark handle even when it had one; ~9 % of the broker's CPU. Found the same way.
#
# Usage: scripts/tansu/install.sh <root>     (cargo's target directory: $TANSU_TARGET_DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:?usage: install.sh <install root>}"
version=0.6.0
work="${TANSU_BUILD_DIR:-$root/build}"
target="${TANSU_TARGET_DIR:-$root/target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# The published crates, as cargo downloads them (through whatever registry mirror cargo is
# configured with).
mkdir -p "$work/fetch/src"
patched=(tansu-storage tansu-broker)
{
  printf '[package]\nname = "tansu-sources"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
  printf '[dependencies]\ntansu = { version = "=%s", default-features = false }\n' "$version"
  for c in "${patched[@]}"; do
    printf '%s = { version = "=%s", default-features = false }\n' "$c" "$version"
  done
} >"$work/fetch/Cargo.toml"
touch "$work/fetch/src/lib.rs"
cargo fetch --manifest-path "$work/fetch/Cargo.toml" >/dev/null
crate_file() {
  find "$cargo_home/registry/cache" -name "$1-$version.crate" -print -quit
}

rm -rf "$work/src"
mkdir -p "$work/src"
for c in tansu "${patched[@]}"; do
  f="$(crate_file "$c")"
  [ -n "$f" ] || { echo "cargo fetch did not download $c $version" >&2; exit 1; }
  tar -xzf "$f" -C "$work/src"
done
printf '\n[patch.crates-io]\n' >>"$work/src/tansu-$version/Cargo.toml"
for c in "${patched[@]}"; do
  for p in "$here/patches/$c"/*.patch; do
    patch --quiet -d "$work/src/$c-$version" -p1 <"$p"
  done
  printf '%s = { path = "../%s-%s" }\n' "$c" "$c" "$version" >>"$work/src/tansu-$version/Cargo.toml"
done

CARGO_TARGET_DIR="$target" cargo build --release --manifest-path "$work/src/tansu-$version/Cargo.toml" \
  --features dynostore --bin tansu
install -D -m 0755 "$target/release/tansu" "$root/bin/tansu"
