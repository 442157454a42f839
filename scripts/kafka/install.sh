#!/usr/bin/env bash
# Resolves the pinned Apache Kafka broker (pom.xml beside this script) from Maven Central with
# Maven's own resolver into ~/.cache/hookline/kafka-<version>/libs, once, and prints that
# directory. Nothing is built: the broker runs from the published jars (see node.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${HOOKLINE_CACHE:-$HOME/.cache/hookline}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
home="$CACHE/kafka-$version"
# The marker is written last, so an interrupted download is resumed, never half-used.
if [ ! -f "$home/.complete" ]; then
  command -v mvn >/dev/null || { echo "install.sh: Maven (mvn) is required to fetch Apache Kafka" >&2; exit 1; }
  echo "==> resolving Apache Kafka $version from Maven Central into $home" >&2
  rm -rf "$home/libs"
  mkdir -p "$home"
  mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$home/libs" >&2
  ls "$home/libs/kafka_2.13-$version.jar" >/dev/null
  touch "$home/.complete"
fi
echo "$home"
