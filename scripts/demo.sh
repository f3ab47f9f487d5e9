#!/usr/bin/env bash
# The main job on an embedded default: start a local Cassandra 5.0 node, create and fill a
# demo table, count it and unload it to Parquet under ./cqlbulk-demo/. The node keeps
# running afterwards; stop it with `python3 harness/cluster.py stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh

python3 harness/cluster.py start
cargo build --release --locked --bin cqlbulk --example demo_table
cqlbulk="$CARGO_TARGET_DIR/release/cqlbulk"
"$CARGO_TARGET_DIR/release/examples/demo_table" --rows "${DEMO_ROWS:-200000}"
echo "--- cqlbulk count -k cqlbulk_demo -t readings --by host"
"$cqlbulk" count -k cqlbulk_demo -t readings --by host
echo "--- cqlbulk unload -k cqlbulk_demo -t readings --format parquet --url cqlbulk-demo/readings"
rm -rf cqlbulk-demo/readings
"$cqlbulk" unload -k cqlbulk_demo -t readings --format parquet --url cqlbulk-demo/readings --log-dir cqlbulk-demo/logs
ls -l cqlbulk-demo/readings | head -5
