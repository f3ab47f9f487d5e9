#!/usr/bin/env python3
"""Local S3-compatible object store for cqlbulk's object-storage tests.

The server is versitygw (Versity's S3 gateway, Apache-2.0), built from the Go module proxy
into a cache outside the repository and run as one background process over its POSIX
backend: buckets are directories under a data directory, objects are files, multipart
uploads are real (parts kept until completion). Not MinIO (AGPL).

    harness/s3.py install
    harness/s3.py start [--port 7070] [--data DIR]   # prints the endpoint URL
    harness/s3.py status
    harness/s3.py stop [--kill]

Clients use the fixed test credentials below (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY);
tests create and delete their own buckets through the S3 API. `start` reuses a server
already running on the same port and data directory. State (pid, port, data directory) is
kept in $CQLBULK_CACHE/s3/state.json, the server log next to it.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import sys

import services
from jvm_tools import CACHE_DIR

VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION = "v1.8.0"  # the version the Go module proxy lists on 2026-11-30; pinned
INSTALL_DIR = CACHE_DIR / f"versitygw-{VERSITYGW_VERSION}"
BINARY = INSTALL_DIR / "bin" / "versitygw"
GO_CACHE = CACHE_DIR / "go"
ACCESS_KEY = "cqlbulk-test"
SECRET_KEY = "cqlbulk-test-secret"
REGION = "us-east-1"


def install() -> None:
    """Build versitygw from the Go module proxy into the cache (once, ~1-2 min)."""
    services.go_install(VERSITYGW_MODULE, VERSITYGW_VERSION, BINARY, GO_CACHE, SERVER.log)


SERVER = services.DataServer(
    name="versitygw",
    version=VERSITYGW_VERSION,
    state_dir=CACHE_DIR / "s3",
    default_port=7070,
    marker=b"versitygw",
    install=install,
    command=lambda data, port: [str(BINARY), "--port", f"127.0.0.1:{port}", "--quiet", "posix", str(data)],
    endpoint=lambda port: f"http://127.0.0.1:{port}",
    env={"ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY},
)

if __name__ == "__main__":
    sys.exit(SERVER.main(__doc__, "the S3 server"))
