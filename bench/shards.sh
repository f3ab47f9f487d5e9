#!/usr/bin/env bash
# Sharded unload: one worker against two (`--shard I/N`, run at once) on a 3-node cluster,
# to Parquet; each run's wall time, rows/s, the workers' CPU (user+sys of the cqlbulk
# processes) and the 3 nodes' CPU (utime+stime of their JVMs from /proc). Runs alternate,
# three of each. On a 2-core machine the workers and the nodes share the cores, so this
# measures the cost of sharding (two plans, two sessions, the commit-free shard runs) more
# than its speed-up; docs/throughput.md models a real cluster.
#
#   bash bench/shards.sh [ROWS]        # default 500000 rows of cqlbulk_demo.shards
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
rows="${1:-500000}"
python3 harness/cluster.py start --nodes 3 >/dev/null
cargo build --release --locked --bin cqlbulk --example demo_table 2>/dev/null
bin="$CARGO_TARGET_DIR/release/cqlbulk"
"$CARGO_TARGET_DIR/release/examples/demo_table" --rows "$rows" --table shards >/dev/null
ticks=$(getconf CLK_TCK)
nodes_cpu() {
  local total=0 pid
  for pid in $(pgrep -f 'org.apache.cassandra.service.CassandraDaemon'); do
    total=$(awk -v t="$ticks" -v s="$total" '{ print s + ($14 + $15) / t }' "/proc/$pid/stat")
  done
  echo "$total"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-10s %8s %12s %14s %14s\n' workers wall_s rows_per_s workers_cpu_s nodes_cpu_s
run() {
  local n="$1" i c0 c1 t0 t1 job="$work/job-$RANDOM"
  c0=$(nodes_cpu); t0=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    /usr/bin/time -f "%U %S" -o "$job.cpu$i" \
      "$bin" unload -k cqlbulk_demo -t shards --format parquet --url "$job.out" \
      --shard "$i/$n" --log-dir "$job" -q &
  done
  wait
  t1=$(date +%s.%N); c1=$(nodes_cpu)
  python3 - "$n" "$rows" "$t0" "$t1" "$c0" "$c1" "$job" <<'PY'
import glob, sys
n, rows = int(sys.argv[1]), int(sys.argv[2])
t0, t1, c0, c1 = map(float, sys.argv[3:7])
workers = sum(sum(map(float, open(f).read().split()[-2:])) for f in glob.glob(sys.argv[7] + ".cpu*"))
wall = t1 - t0
print(f"{n:<10} {wall:8.2f} {rows / wall:12.0f} {workers:14.2f} {c1 - c0:14.2f}")
PY
  rm -rf "$job" "$job".*
}
for round in 1 2 3; do
  run 1
  run 2
done
