#!/usr/bin/env bash
# A partitioned Iceberg export against the same export unpartitioned, paired run by run
# with farm-bench (A = partitioned, B = unpartitioned; the ratio A/B is wall time, so the
# goal "a partitioned export at least 0.8x as fast" is a median ratio of 1.25 or less).
# Both spill each split's sorted rows and merge them per partition at the end; A writes one
# data file per partition, B one file per --target-file-size.
#
#   bash bench/iceberg.sh [TABLE] [PARTITION-BY]
#       # default cqlbulk_demo.readings, 'day(ts), bucket(8, sensor)'
#
# The table must exist (bash scripts/demo.sh makes cqlbulk_demo.readings, 200k rows;
# examples/demo_table --rows 1000000 --table r1m a larger one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
table="${1:-readings}"
partition_by="${2:-day(ts), bucket(8, sensor)}"
python3 harness/cluster.py start >/dev/null
cargo build --release --locked --bin cqlbulk 2>/dev/null
bin="$CARGO_TARGET_DIR/release/cqlbulk"
out=$(mktemp -d)
# Every run appends a snapshot to its table: the data files written per run stay the same.
farm-bench -n 5 --timeout 1800 \
  --vs "$bin unload -k cqlbulk_demo -t $table --format iceberg --warehouse $out/lake --iceberg-table flat --log-dir $out/logs -q" \
  -- "$bin" unload -k cqlbulk_demo -t "$table" --format iceberg --warehouse "$out/lake" --iceberg-table parted \
  --partition-by "$partition_by" --log-dir "$out/logs" -q
echo "data files per run (count of runs, what the end of each run wrote):"
grep -h "data files:" "$out"/logs/*/operation.log | sed 's/^[^ ]* //' | sort | uniq -c
rm -rf "$out"
