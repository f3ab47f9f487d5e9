#!/usr/bin/env bash
# Fuzzes cqlbulk's readers and converters with cargo-fuzz (libFuzzer, nightly Rust).
#
#   bash fuzz/run.sh                 # every target for 10 minutes
#   bash fuzz/run.sh 60 cql_text     # one target for 60 seconds
#
# The corpus lives in fuzz/corpus/<target> (kept in the repository: each run starts from
# what earlier runs found); a crash lands in fuzz/artifacts/<target>/ and stops the run.
# Turn each crash into a regression test next to the code it broke.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv_records json_records cql_text arrow_to_cql)
fi

tools="$CQLBULK_CACHE/tools"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    cargo install cargo-fuzz --locked --root "$tools"
fi
export PATH="$tools/bin:$PATH"
export CARGO_TARGET_DIR="$CQLBULK_CACHE/fuzz-target"

for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    # No sanitizer: the code is safe Rust, so libFuzzer looks for panics and hangs, and
    # runs faster without ASan's instrumentation.
    cargo +nightly fuzz run --sanitizer none "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1
done
