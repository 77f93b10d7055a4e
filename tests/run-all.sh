#!/usr/bin/env bash
# Every test, on both engines:
#   1. the whole workspace against one Redis ($JOB_TEST_REDIS_URL, default redis://127.0.0.1:6379);
#   2. the integration suites again against a local Redis Cluster of three masters, started here
#      on free ports (redis-server --cluster-enabled yes, then redis-cli --cluster create) and
#      stopped at the end.
# Usage: bash tests/run-all.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features --locked "$@"

REDIS_SERVER=${REDIS_SERVER:-redis-server}
DIR=$(mktemp -d /tmp/job-cluster.XXXXXX)
PIDS=()
stop_cluster() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap stop_cluster EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cluster_port() { # a port nothing listens on now, nor on its cluster bus port (port + 10000);
  # both below Linux's ephemeral range (32768-), so no client socket takes them meanwhile
  local port
  while :; do
    port=$((20000 + RANDOM % 2768))
    if ! listening "$port" && ! listening $((port + 10000)) && [[ " ${NODES[*]} " != *":$port "* ]]; then
      echo "$port"
      return
    fi
  done
}

NODES=()
for _ in 1 2 3; do
  port=$(cluster_port)
  mkdir -p "$DIR/$port"
  "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file nodes.conf --dir "$DIR/$port" --save '' --appendonly no \
    --logfile "$DIR/$port/redis.log" &
  PIDS+=($!)
  NODES+=("127.0.0.1:$port")
done
for node in "${NODES[@]}"; do
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "${node#*:}" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
done
if ! redis-cli --cluster create "${NODES[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1; then
  echo "redis-cli --cluster create failed:"; cat "$DIR/create.log"
  for node in "${NODES[@]}"; do echo "== $node"; tail -20 "$DIR/${node#*:}/redis.log"; done
  exit 1
fi
for node in "${NODES[@]}"; do
  for _ in $(seq 1 200); do
    redis-cli -p "${node#*:}" cluster info | grep -q cluster_state:ok && break
    sleep 0.05
  done
done

URL="redis://$(IFS=,; echo "${NODES[*]}")"
echo "# the integration suites again, on a Redis Cluster at $URL"
JOB_TEST_REDIS_URL="$URL" cargo test --all-features --locked \
  --test operations --test worker --test resources --test schedules --test admin "$@"
