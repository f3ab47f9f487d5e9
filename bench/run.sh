#!/usr/bin/env bash
# cqlbulk vs DSBulk vs cqlsh COPY on the local node; see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
exec python3 bench/run.py "$@"
