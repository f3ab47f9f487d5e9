#!/usr/bin/env bash
# Checks the tools cqlbulk's scripts need and installs the ones Debian packages provide.
# Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail

missing_debian=()
# A JDK, not a JRE: the harness runs single-file Java programs (harness/ExportKey.java) and the
# benchmark compiles its data generator (bench/BenchData.java), both need the compiler.
command -v javac >/dev/null 2>&1 || missing_debian+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing_debian+=(maven)
command -v python3 >/dev/null 2>&1 || missing_debian+=(python3)
command -v cc >/dev/null 2>&1 || missing_debian+=(gcc)
# Go builds the S3 and GCS test servers (versitygw, fake-gcs-server) from the Go module proxy.
command -v go >/dev/null 2>&1 || missing_debian+=(golang-go)
# npm installs Azure's storage emulator (Azurite) from the npm registry.
command -v npm >/dev/null 2>&1 || missing_debian+=(npm)
# Standard tools the tests decompress unloaded files with.
for tool in gzip bzip2 xz zstd lz4; do
  command -v "$tool" >/dev/null 2>&1 || missing_debian+=("$([ "$tool" = xz ] && echo xz-utils || echo "$tool")")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing_debian+=(python3-venv)
if ((${#missing_debian[@]})); then
  echo "prerequisites: installing ${missing_debian[*]} from Debian" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "prerequisites: run as root or install: ${missing_debian[*]}" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debian[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "prerequisites: Rust (cargo, 1.94 or newer, the workspace rust-version) is required: https://rustup.rs" >&2
  exit 1
fi
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "prerequisites: Cassandra 5.0 needs Java 17 or newer; found ${java_major:-none}" >&2
  exit 1
fi

# Build outputs and the Cassandra install live outside the clone, so a fresh clone reuses them.
export CQLBULK_CACHE="${CQLBULK_CACHE:-$HOME/.cache/cqlbulk}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CQLBULK_CACHE/target}"
