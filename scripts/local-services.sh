# Sourced by scripts/test.sh and benchmarks/run.sh: the local broker and Redis they run against.
# Expects CACHE (the cache directory) to be set.

log() { printf '==> %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.2; done
  echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# start_tansu PORT: starts the patched Tansu (built first if missing) with its in-memory engine
# on 127.0.0.1:PORT, waits for it, and sets TANSU_PID. TANSU_WORKER_THREADS, when set, is the
# broker's number of runtime threads (the benchmarks use 1; see benchmarks/RESULTS.md).
start_tansu() {
  local port="$1" tansu
  tansu="$(scripts/tansu/ensure.sh)"
  setsid nohup env ${TANSU_WORKER_THREADS:+TOKIO_WORKER_THREADS=$TANSU_WORKER_THREADS} \
    "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    >"$CACHE/tansu-$port.log" 2>&1 </dev/null &
  TANSU_PID=$!
  wait_port "$port"
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
