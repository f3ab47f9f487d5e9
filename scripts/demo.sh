#!/usr/bin/env bash
# The main job on an embedded default: start a local Cassandra 5.0 node, create and fill a
# demo table, and run cqlbulk on it. The node keeps running afterwards; stop it with
# `python3 harness/cluster.py stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh

python3 harness/cluster.py start
cargo build --release --locked --bin cqlbulk --example demo_table
"$CARGO_TARGET_DIR/release/examples/demo_table" --rows "${DEMO_ROWS:-200000}"
echo "--- cqlbulk count -k cqlbulk_demo -t readings --by host"
"$CARGO_TARGET_DIR/release/cqlbulk" count -k cqlbulk_demo -t readings --by host
