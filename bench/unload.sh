#!/usr/bin/env bash
# Unload speed and memory on the local node: each format in turn, wall time, client CPU
# (user+sys), peak RSS and output size, with Cassandra's CPU over the same interval.
#
#   bash bench/unload.sh [ROWS]        # default 1000000; 10000000 for the memory goal
#
# Fills cqlbulk_demo.bench_<ROWS> once (uuid key, timestamp, double, text, map) with the
# demo generator, then unloads it with the release binary at default settings.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
rows="${1:-1000000}"
table="${BENCH_TABLE:-bench_${rows}}"
python3 harness/cluster.py start >/dev/null
cargo build --release --locked --bin cqlbulk --example demo_table 2>/dev/null
bin="$CARGO_TARGET_DIR/release"
have=$("$bin/cqlbulk" count -k cqlbulk_demo -t "$table" -q 2>/dev/null || echo 0)
if [ "$have" != "$rows" ]; then
  "$bin/examples/demo_table" --rows "$rows" --sensors "$rows" --table "$table"
fi
cassandra_pid=$(python3 -c "import json,os; print(json.load(open(os.path.expanduser('~/.cache/cqlbulk/cluster/cluster.json')))['pids']['1'])")
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
out=$(mktemp -d)
printf '| format | wall s | rows/s | client CPU s | peak RSS MiB | Cassandra CPU s | output MiB |\n|---|---|---|---|---|---|---|\n'
for format in null csv json parquet; do
  rm -rf "$out/$format" "$out/logs"
  before=$(cpu_ticks "$cassandra_pid")
  /usr/bin/time -f '%e %U %S %M' -o "$out/time" "$bin/cqlbulk" unload -k cqlbulk_demo -t "$table" \
    --format "$format" --url "$out/$format" --log-dir "$out/logs" -q
  after=$(cpu_ticks "$cassandra_pid")
  read -r wall user sys rss < "$out/time"
  size=$(du -sm "$out/$format" 2>/dev/null | cut -f1 || echo 0)
  awk -v f="$format" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v c="$((after - before))" -v n="$rows" -v o="${size:-0}" \
    'BEGIN { printf "| %s | %.1f | %.0f | %.1f | %.0f | %.1f | %s |\n", f, w, n / w, u + s, r / 1024, c / 100, o }'
done
rm -rf "$out"
