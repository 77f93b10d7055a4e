#!/usr/bin/env bash
# Ours before and after a change, the Rust port of BullMQ and Node BullMQ, interleaved per
# scenario on one private Redis, 3 rounds; prints medians per scenario and system.
#
#   BEFORE=/path/to/old/bench AFTER=target/release/examples/bench bash bench/fourway.sh
#
# Build BEFORE from an old commit in a worktree with its own target directory:
#   git worktree add /tmp/wt-base <rev> && (cd /tmp/wt-base && cargo build --release --example bench)
# Needs ../shared/bench (bullmq-rs builds itself on first use; bullmq installs with npm).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
BEFORE=${BEFORE:?the old bench binary}
AFTER=${AFTER:-$ROOT/target/release/examples/bench}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/tmp/job-fourway.log}
: > "$OUT"
for round in $(seq "$ROUNDS"); do
  for sc in "process 20000 1" "process 20000 10" "process 50000 100" "latency 1000 2 1" "enqueue-add 50000 50"; do
    echo "before $round $sc | $(timeout 300 "$BEFORE" $sc 2>/dev/null | grep '^{' | tail -1)" >> "$OUT"
    echo "after $round $sc | $(timeout 300 "$AFTER" $sc 2>/dev/null | grep '^{' | tail -1)" >> "$OUT"
    echo "bullmq-rs $round $sc | $(cd "$SHARED" && timeout 300 bash bullmq-rs/run.sh $sc 2>/dev/null | tail -1)" >> "$OUT"
    echo "bullmq $round $sc | $(cd "$SHARED" && timeout 300 bash bullmq/run.sh $sc 2>/dev/null | tail -1)" >> "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    head, _, body = line.partition('|')
    who, _, *scenario = head.split()
    try:
        runs[(' '.join(scenario), who)].append(json.loads(body))
    except ValueError:
        pass
for scenario in dict.fromkeys(s for s, _ in runs):
    for who in ['before', 'after', 'bullmq-rs', 'bullmq']:
        rs = runs[(scenario, who)]
        if not rs:
            continue
        if 'p50_ms' in rs[0]:
            p50 = statistics.median(r['p50_ms'] for r in rs)
            p99 = statistics.median(r['p99_ms'] for r in rs)
            print(f'{scenario:22} {who:10} p50 {p50:.3f} ms  p99 {p99:.3f} ms')
        else:
            rate = statistics.median(r['jobs_per_s'] for r in rs)
            cpu = statistics.median(r.get('redis_cpu_us_per_job', 0) for r in rs)
            print(f'{scenario:22} {who:10} {rate:8.0f} jobs/s  {cpu:6.1f} us Redis CPU/job')
PY
