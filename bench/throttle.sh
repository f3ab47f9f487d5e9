#!/usr/bin/env bash
# Read limits: the rate an unload achieves under --max-rows-per-second and
# --max-bytes-per-second against the limit, and the CPU time Cassandra spends meanwhile
# (utime+stime of its JVM from /proc), against an unlimited run of the same table. The
# goal: achieved rate within 10% of the limit, and Cassandra's CPU rate falling with it.
#
#   bash bench/throttle.sh [TABLE]      # default cqlbulk_demo.readings
#
# The table must exist (bash scripts/demo.sh makes cqlbulk_demo.readings, 200k rows).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
table="${1:-readings}"
python3 harness/cluster.py start >/dev/null
cargo build --release --locked --bin cqlbulk 2>/dev/null
bin="$CARGO_TARGET_DIR/release/cqlbulk"
pid=$(pgrep -f 'org.apache.cassandra.service.CassandraDaemon' | head -1)
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$pid/stat"; }
logs=$(mktemp -d)
rows=$("$bin" count -k cqlbulk_demo -t "$table" -q)
echo "table cqlbulk_demo.$table: $rows rows"
printf '%-34s %8s %12s %10s %14s\n' limit wall_s rows_per_s vs_limit cassandra_cpu%
run() {
  local label="$1" limit="$2"; shift 2
  local c0 c1 t0 t1
  c0=$(cpu); t0=$(date +%s.%N)
  "$bin" unload -k cqlbulk_demo -t "$table" --format null --log-dir "$logs" -q "$@"
  t1=$(date +%s.%N); c1=$(cpu)
  python3 - "$label" "$limit" "$rows" "$t0" "$t1" "$c0" "$c1" <<'PY'
import sys
label, limit, rows, t0, t1, c0, c1 = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
wall = t1 - t0
rate = rows / wall
vs = f"{rate / limit:.3f}" if limit else "-"
print(f"{label:<34} {wall:8.2f} {rate:12.0f} {vs:>10} {100 * (c1 - c0) / wall:14.1f}")
PY
}
run "unlimited" 0
for limit in 100000 50000 25000; do
  run "--max-rows-per-second $limit" "$limit" --max-rows-per-second "$limit"
done
# Bytes: the limit against the rows' size as Cassandra sends them (the bench prints rows/s;
# bytes/s is rows/s times the mean row size, measured by the unlimited run's summary).
bytes=$(python3 -c "import json,glob; s=json.load(open(sorted(glob.glob('$logs/*/summary.json'))[0])); print(s['metrics']['bytes_read'])")
echo "bytes read per run: $bytes"
for limit in 4000000 2000000; do
  python3 - "$limit" "$bytes" "$rows" <<'PY'
import sys
limit, total, rows = map(int, sys.argv[1:])
print(f"  --max-bytes-per-second {limit}: expect {total / limit:.1f}s, {rows * limit / total:.0f} rows/s")
PY
  run "--max-bytes-per-second $limit" "$(python3 -c "print($rows * $limit / $bytes)")" --max-bytes-per-second "$limit"
done
rm -rf "$logs"
