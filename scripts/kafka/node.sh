#!/usr/bin/env bash
# Runs one Apache Kafka node in KRaft mode (combined broker + controller) in the foreground:
# writes DIR/server.properties, formats DIR/data the first time (a restart on the same DIR keeps
# its log), then execs java, so the caller's PID is the broker's (kill -9 hits the JVM itself).
#
#   node.sh DIR NODE_ID PORT CONTROLLER_PORT VOTERS CLUSTER_ID [key=value ...]
#
# VOTERS is the controller quorum, e.g. `1@127.0.0.1:19093` or
# `1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097`; its size sets the replication
# factor of Kafka's internal topics. Extra key=value pairs are appended to the configuration
# (they win). KAFKA_HEAP (default 512m) bounds the heap. Logs go to DIR/server.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 6 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
dir="$1" id="$2" port="$3" cport="$4" voters="$5" cluster="$6"
shift 6
home="$("$here/install.sh")"
nodes="$(tr ',' '\n' <<<"$voters" | wc -l)"
rf=$(( nodes < 3 ? nodes : 3 ))
isr=$(( rf > 1 ? 2 : 1 ))
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
{
  cat <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
# Two cores are shared by the broker, Redis, four services, the load and the receivers.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
# Tests create thousands of small partitions: small index files, few internal partitions.
log.index.size.max.bytes=1048576
offsets.topic.num.partitions=8
transaction.state.log.num.partitions=8
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
default.replication.factor=$rf
# A group forms at once (tests start consumers one after another).
group.initial.rebalance.delay.ms=0
PROPS
  for kv in "$@"; do echo "$kv"; done
} >"$dir/server.properties"
cp=("$home/libs/*")
if [ ! -f "$dir/data/meta.properties" ]; then
  # `--cluster-id=ID`, not `--cluster-id ID`: a random id may begin with `-` (base64url), which
  # the tool's argument parser would take for an option (a failover fault test failed so).
  java -cp "${cp[*]}" -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$dir" \
    kafka.tools.StorageTool format --config "$dir/server.properties" --cluster-id="$cluster" \
    --ignore-formatted >>"$dir/format.log" 2>&1
fi
heap="${KAFKA_HEAP:-512m}"
exec java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$dir" \
  -cp "${cp[*]}" kafka.Kafka "$dir/server.properties" >>"$dir/stdout.log" 2>&1
