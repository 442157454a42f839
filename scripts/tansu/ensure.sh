#!/usr/bin/env bash
# Prints the path of the patched Tansu binary, building it first (once per machine, about ten
# minutes) when ~/.cache/hookline has none. One place for its install directory: bump the
# suffix when a patch in scripts/tansu/patches changes, so every machine rebuilds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
root="$cache/tansu-0.6.0-p7"
if [ ! -x "$root/bin/tansu" ]; then
  echo "==> building Tansu (once; about 10 minutes)" >&2
  TANSU_TARGET_DIR="$cache/tansu-target" "$here/install.sh" "$root" >&2
fi
echo "$root/bin/tansu"
