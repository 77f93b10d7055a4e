#!/usr/bin/env bash
# Our benchmark and BullMQ's, side by side on one private Redis, alternating A B A B.
#
#   bash bench/compare.sh              3 rounds of every scenario; medians and ratios at the end
#   ROUNDS=5 bash bench/compare.sh
#
# Needs ../shared/bench (the BullMQ harness; it installs bullmq with npm on first use) and
# redis-server. Uses port 6390 (BENCH_REDIS_PORT), never the shared 6379. Writes JSON lines to
# $OUT/results.jsonl and the summary table to $OUT/summary.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/tmp/job-compare}
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
source "$SHARED/lib/redis.sh"
start_bench_redis
trap stop_bench_redis EXIT
export BENCH_REDIS_URL="redis://127.0.0.1:$BENCH_REDIS_PORT"
(cd "$ROOT" && cargo build --release --example bench --quiet)
BENCH="$ROOT/target/release/examples/bench"

SCENARIOS=(
  "enqueue-add 50000 50"
  "enqueue-bulk 50000 1000"
  "process 50000 1"
  "process 50000 10"
  "process 50000 100"
  "latency 1000 2 1"
  "latency 1000 2 10"
  "memory 50000"
)

record() { # impl round scenario json; a failed run (no JSON) is reported and skipped
  case "$4" in
    "{"*) ;;
    *) echo "round $2: $1 $3 printed no result; skipped" >&2; return 0 ;;
  esac
  python3 -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(impl=sys.argv[1], run=int(sys.argv[2]), scenario=sys.argv[3]); print(json.dumps(d))' \
    "$1" "$2" "$3" "$4" >> "$OUT/results.jsonl"
}

for round in $(seq 1 "$ROUNDS"); do
  for scenario in "${SCENARIOS[@]}"; do
    # shellcheck disable=SC2086
    ours=$("$BENCH" $scenario 2>/dev/null | tail -1) || true
    record job "$round" "$scenario" "$ours"
    # shellcheck disable=SC2086
    theirs=$(bash "$SHARED/bullmq/run.sh" $scenario 2>/dev/null | tail -1) || true
    record bullmq "$round" "$scenario" "$theirs"
    echo "round $round: $scenario done" >&2
  done
done

python3 - "$OUT/results.jsonl" > "$OUT/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
metrics = ["jobs_per_s", "redis_cpu_us_per_job", "p50_ms", "p95_ms", "p99_ms", "bytes_per_job"]
better_low = {"redis_cpu_us_per_job", "p50_ms", "p95_ms", "p99_ms", "bytes_per_job"}
scenarios = []
for r in rows:
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])
print("| scenario | metric | job (median) | BullMQ (median) | job vs BullMQ | runs |")
print("|---|---|---|---|---|---|")
for s in scenarios:
    for m in metrics:
        ours = [r[m] for r in rows if r["scenario"] == s and r["impl"] == "job" and m in r]
        theirs = [r[m] for r in rows if r["scenario"] == s and r["impl"] == "bullmq" and m in r]
        if not ours or not theirs:
            continue
        a, b = statistics.median(ours), statistics.median(theirs)
        ratio = (b / a) if m in better_low else (a / b)
        word = "x better" if ratio >= 1 else "x (worse)"
        print(f"| {s} | {m} | {a:,.2f} | {b:,.2f} | {ratio:.2f}{word} | {len(ours)} |")
PY
cat "$OUT/summary.md"
