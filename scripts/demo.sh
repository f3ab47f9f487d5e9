#!/usr/bin/env bash
# The main job on an embedded default: start a local Cassandra 5.0 node, create and fill a
# demo table, count it and export it to an Iceberg table in a local warehouse
# (./cqlbulk-demo/lake, embedded SQLite catalog). The node keeps running afterwards; stop it
# with `python3 harness/cluster.py stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh

python3 harness/cluster.py start
cargo build --release --locked --bin cqlbulk --example demo_table
cqlbulk="$CARGO_TARGET_DIR/release/cqlbulk"
"$CARGO_TARGET_DIR/release/examples/demo_table" --rows "${DEMO_ROWS:-200000}"
echo "--- cqlbulk count -k cqlbulk_demo -t readings --by host"
"$cqlbulk" count -k cqlbulk_demo -t readings --by host
# A fresh warehouse each time: a second export would append a second copy of the rows.
rm -rf cqlbulk-demo/lake
echo "--- cqlbulk unload -k cqlbulk_demo -t readings --format iceberg --warehouse cqlbulk-demo/lake"
"$cqlbulk" unload -k cqlbulk_demo -t readings --format iceberg --warehouse cqlbulk-demo/lake --log-dir cqlbulk-demo/logs
echo "--- cqlbulk iceberg snapshots --warehouse cqlbulk-demo/lake --namespace cqlbulk_demo --table readings"
"$cqlbulk" iceberg snapshots --warehouse cqlbulk-demo/lake --namespace cqlbulk_demo --table readings
