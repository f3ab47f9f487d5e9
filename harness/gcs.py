#!/usr/bin/env python3
"""Local Google Cloud Storage emulator for cqlbulk's object-storage tests.

The server is fake-gcs-server (github.com/fsouza/fake-gcs-server, BSD-2-Clause), built from
the Go module proxy into a cache outside the repository and run as one background process
over its filesystem backend: buckets are directories under a data directory, objects are
files. It serves the GCS JSON API (/storage/v1/..., media uploads under
/upload/storage/v1/...) over plain HTTP without authentication; its XML API is partial (no
XML multipart uploads).

    harness/gcs.py install
    harness/gcs.py start [--port 4443] [--data DIR]   # prints the endpoint URL
    harness/gcs.py status
    harness/gcs.py stop [--kill]

Clients skip signing (OpenDAL gcs: endpoint, bucket, skip_signature / allow_anonymous).
Tests create and delete their own buckets through the JSON API (POST /storage/v1/b with
{"name": ...}). `start` reuses a server already running on the same port and data
directory. State (pid, port, data directory) is kept in $CQLBULK_CACHE/gcs/state.json, the
server log next to it.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

import services
from jvm_tools import CACHE_DIR

FAKE_GCS_MODULE = "github.com/fsouza/fake-gcs-server"
FAKE_GCS_VERSION = "v1.56.1"  # the newest version the Go module proxy lists; pinned
INSTALL_DIR = CACHE_DIR / f"fake-gcs-server-{FAKE_GCS_VERSION}"
BINARY = INSTALL_DIR / "bin" / "fake-gcs-server"
GO_CACHE = CACHE_DIR / "go"


def install() -> None:
    """Build fake-gcs-server from the Go module proxy into the cache (once, ~1-2 min)."""
    services.go_install(FAKE_GCS_MODULE, FAKE_GCS_VERSION, BINARY, GO_CACHE, SERVER.log)


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def api_ready(port: int) -> bool:
    """True once the JSON API answers: listing the buckets returns 200."""
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/storage/v1/b", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


SERVER = services.DataServer(
    name="fake-gcs-server",
    version=FAKE_GCS_VERSION,
    state_dir=CACHE_DIR / "gcs",
    default_port=4443,
    marker=b"fake-gcs-server",
    install=install,
    command=lambda data, port: [
        str(BINARY), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-external-url", endpoint(port), "-public-host", f"127.0.0.1:{port}",
        "-backend", "filesystem", "-filesystem-root", str(data), "-log-level", "warn",
    ],
    endpoint=endpoint,
    ready=api_ready,
)

if __name__ == "__main__":
    sys.exit(SERVER.main(__doc__, "the GCS server"))
