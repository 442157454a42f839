#!/usr/bin/env bash
# Builds Tansu (the Kafka-protocol broker the tests and benchmarks run against) with one fix,
# and installs its binary as <root>/bin/tansu.
#
# The fix (fetch-from-mid-batch.patch): Tansu 0.6.0's object-store engine (memory://, s3://)
# answers a fetch at an offset inside a record batch with the batches *after* that batch, so a
# consumer that restarts from a committed offset, seeks, or resumes a paused partition in the
# middle of a multi-record batch never sees the rest of that batch. Apache Kafka returns the
# batch holding the offset and the client skips what precedes it; the patch does the same.
# Found by tests/tests/pump.rs (the hold-queue pause/seek/resume path of the consume loop).
#
# Usage: scripts/tansu/install.sh <root>     (cargo's target directory: $TANSU_TARGET_DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:?usage: install.sh <install root>}"
version=0.6.0
work="${TANSU_BUILD_DIR:-$root/build}"
target="${TANSU_TARGET_DIR:-$root/target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# The two published crates, as cargo downloads them (through whatever registry mirror cargo is
# configured with).
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<EOF
[package]
name = "tansu-sources"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tansu = { version = "=$version", default-features = false }
tansu-storage = { version = "=$version", default-features = false }
EOF
touch "$work/fetch/src/lib.rs"
cargo fetch --manifest-path "$work/fetch/Cargo.toml" >/dev/null
crate_file() {
  find "$cargo_home/registry/cache" -name "$1-$version.crate" -print -quit
}

rm -rf "$work/src"
mkdir -p "$work/src"
for c in tansu tansu-storage; do
  f="$(crate_file "$c")"
  [ -n "$f" ] || { echo "cargo fetch did not download $c $version" >&2; exit 1; }
  tar -xzf "$f" -C "$work/src"
done
patch --quiet -d "$work/src/tansu-storage-$version" -p1 <"$here/fetch-from-mid-batch.patch"
cat >>"$work/src/tansu-$version/Cargo.toml" <<EOF

[patch.crates-io]
tansu-storage = { path = "../tansu-storage-$version" }
EOF

# The crate's own Cargo.lock pins every other dependency (as `cargo install --locked` would).
CARGO_TARGET_DIR="$target" cargo build --release --manifest-path "$work/src/tansu-$version/Cargo.toml" \
  --features dynostore --bin tansu
install -D -m 0755 "$target/release/tansu" "$root/bin/tansu"
