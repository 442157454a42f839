# Sourced by scripts/test.sh, scripts/faults.sh and benchmarks/run.sh: the local Apache Kafka
# broker and Redis they run against.
# Expects CACHE (the cache directory) to be set.

log() { printf '==> %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_port PORT [TRIES]: waits (TRIES x 0.2 s, default 100) until something listens on PORT.
wait_port() {
  for _ in $(seq 1 "${2:-100}"); do listening "$1" && return 0; sleep 0.2; done
  echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# new_cluster_id: a fresh KRaft cluster id (16 random bytes, base64url without padding).
new_cluster_id() { head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

# start_kafka PORT: a fresh single-node Apache Kafka (KRaft, combined broker + controller, the
# controller on PORT+1) on 127.0.0.1:PORT, its log under $CACHE/kafka-run/PORT (wiped first, so
# every run starts from an empty broker), resolved from Maven Central first if missing
# (scripts/kafka/install.sh). Waits for it and sets KAFKA_PID. KAFKA_HEAP bounds its heap.
start_kafka() {
  local port="$1" dir="$CACHE/kafka-run/$1"
  scripts/kafka/install.sh >/dev/null
  rm -rf "$dir"
  setsid nohup scripts/kafka/node.sh "$dir" 1 "$port" "$((port + 1))" "1@127.0.0.1:$((port + 1))" \
    "$(new_cluster_id)" </dev/null >/dev/null 2>&1 &
  KAFKA_PID=$!
  wait_port "$port" 300 || { tail -20 "$dir/server.log" "$dir/stdout.log" >&2 || true; return 1; }
}

# stop_kafka PID: SIGTERM (a clean shutdown), then SIGKILL after 30 s.
stop_kafka() {
  local pid="$1"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

# start_redis_cluster FIRST_PORT: a fresh Redis Cluster of six Debian `redis-server` processes
# on 127.0.0.1:FIRST_PORT..FIRST_PORT+5 (three masters, a replica each, formed by
# `redis-cli --cluster create`), no persistence, files under $CACHE/redis-cluster/PORT (wiped
# first). Waits until every node says cluster_state:ok; sets REDIS_CLUSTER_PIDS (one per
# port, in port order) and REDIS_CLUSTER_NODES (the seed URLs, comma-separated).
start_redis_cluster() {
  local first="$1" port dir nodes=() pids=()
  command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }
  for port in $(seq "$first" "$((first + 5))"); do
    dir="$CACHE/redis-cluster/$port"
    rm -rf "$dir"; mkdir -p "$dir"
    (cd "$dir" && exec setsid redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 2000 --save "" --appendonly no \
      --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1) &
    pids+=("$!")
    nodes+=("127.0.0.1:$port")
  done
  for port in $(seq "$first" "$((first + 5))"); do wait_port "$port"; done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$CACHE/redis-cluster/create.log" 2>&1 \
    || { cat "$CACHE/redis-cluster/create.log" >&2; return 1; }
  for port in $(seq "$first" "$((first + 5))"); do
    for _ in $(seq 1 150); do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
      sleep 0.2
    done
    redis-cli -p "$port" cluster info | grep -q '^cluster_state:ok' \
      || { echo "Redis Cluster node $port is not ok" >&2; return 1; }
  done
  REDIS_CLUSTER_PIDS="${pids[*]}"
  REDIS_CLUSTER_NODES=$(printf 'redis://%s,' "${nodes[@]}"); REDIS_CLUSTER_NODES=${REDIS_CLUSTER_NODES%,}
}

# stop_redis_cluster: stops the processes start_redis_cluster started.
stop_redis_cluster() {
  local pid
  for pid in ${REDIS_CLUSTER_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  REDIS_CLUSTER_PIDS=""
}

# ensure_redis: Redis on 127.0.0.1:6379, started (or installed from Debian's packages) if absent.
ensure_redis() {
  if ! listening 6379; then
    command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }
    log "starting Redis on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --logfile "$CACHE/redis.log" >/dev/null
    wait_port 6379
  fi
}
