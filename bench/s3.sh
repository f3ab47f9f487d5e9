#!/usr/bin/env bash
# Unload to the local S3-compatible server (versitygw) against the same unload to local
# disk, paired run by run with farm-bench (A = S3, B = local disk; the ratio A/B is wall
# time, so the goal "S3 at least 0.8x local speed" is a median ratio of 1.25 or less).
#
#   bash bench/s3.sh [FORMAT] [TABLE]      # default parquet, cqlbulk_demo.readings
#
# The table must exist (bash scripts/demo.sh makes cqlbulk_demo.readings, 200k rows).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
format="${1:-parquet}"
table="${2:-readings}"
python3 harness/cluster.py start >/dev/null
endpoint=$(python3 harness/s3.py start)
cargo build --release --locked --bin cqlbulk 2>/dev/null
bin="$CARGO_TARGET_DIR/release/cqlbulk"
venv=$(python3 harness/venv.py)
bucket="cqlbulk-bench-$$"
out=$(mktemp -d)
export AWS_ACCESS_KEY_ID=cqlbulk-test AWS_SECRET_ACCESS_KEY=cqlbulk-test-secret
"$venv" -c "import pyarrow.fs as f; f.S3FileSystem(access_key='$AWS_ACCESS_KEY_ID', secret_key='$AWS_SECRET_ACCESS_KEY', endpoint_override='$endpoint', scheme='http', allow_bucket_creation=True).create_dir('$bucket')"
# Each run writes a new run's objects/files under the same prefix: the old ones stay, which
# costs the store nothing at this size and keeps the runs independent.
farm-bench -n 5 --timeout 1200 \
  --vs "$bin unload -k cqlbulk_demo -t $table --format $format --url $out/local --log-dir $out/logs -q" \
  -- "$bin" unload -k cqlbulk_demo -t "$table" --format "$format" --url "s3://$bucket/$table" \
  --s3-endpoint "$endpoint" --log-dir "$out/logs" -q
"$venv" -c "import pyarrow.fs as f; f.S3FileSystem(access_key='$AWS_ACCESS_KEY_ID', secret_key='$AWS_SECRET_ACCESS_KEY', endpoint_override='$endpoint', scheme='http', allow_bucket_deletion=True).delete_dir('$bucket')"
rm -rf "$out"
