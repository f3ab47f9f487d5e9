#!/usr/bin/env bash
# The whole test suite: unit and property tests of the ring, and integration tests of every
# command against real Cassandra 5.0 clusters (1 and 3 nodes) that the harness starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh

python3 harness/cluster.py install
python3 harness/rest_catalog.py install
python3 harness/s3.py install
python3 harness/postgres.py install
python3 harness/azurite.py install
python3 harness/gcs.py install
python3 harness/pushgateway.py install
python3 harness/dsbulk.py install >/dev/null
oracle_python=$(python3 harness/venv.py)
# Leave no JVM behind, pass or fail.
trap 'python3 harness/cluster.py stop; python3 harness/rest_catalog.py stop; python3 harness/s3.py stop; python3 harness/postgres.py stop; python3 harness/azurite.py stop; python3 harness/gcs.py stop; python3 harness/pushgateway.py stop' EXIT

# The release profile, as scripts/demo.sh and bench/ build: one build of the dependencies
# serves the demo, the tests and the benchmarks (a second profile cost ~20 minutes more
# on a fresh 2-core machine).
cargo build --release --tests --locked
# The Python package (python/, maturin + pyo3) into the oracle virtualenv, for
# tests/node1_python.rs: the same target directory and profile, so only the module itself
# is compiled here.
PATH="$(dirname "$oracle_python"):$PATH" "$oracle_python" -m pip install -q --no-build-isolation ./python
cargo test --release --locked --no-fail-fast -- --test-threads 2
# The short crash soak: SIGKILL each workload at a random moment, resume, verify exactly-once
# (bench/soak.py runs the full 20 trials a workload by hand).
python3 bench/soak.py --trials 2 --rows 5000 --binary "$CARGO_TARGET_DIR/release/cqlbulk"
