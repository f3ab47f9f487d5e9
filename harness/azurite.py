#!/usr/bin/env python3
"""Local Azure Blob Storage emulator for cqlbulk's object-storage tests.

The server is Azurite (Microsoft's Azure Storage emulator, MIT), installed from the npm
registry into a cache outside the repository and run as one background process serving the
blob service only (azurite-blob): containers and blobs are kept in a data directory (its
metadata in a LokiJS file, blob contents in extent files), block blobs are real (staged
blocks kept until the block list is committed). Azurite saves its metadata every 5 s and on
a clean stop: after `stop --kill` the changes of the last seconds before the kill are gone
(their blob data stays in the extent files, unreferenced).

    harness/azurite.py install
    harness/azurite.py start [--port 10000] [--data DIR]   # prints the blob endpoint URL
    harness/azurite.py status
    harness/azurite.py stop [--kill]

Clients use Azurite's well-known development account, the same on every machine:

    account name  devstoreaccount1
    account key   Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
    endpoint      http://127.0.0.1:PORT/devstoreaccount1   (path-style: the account is the first segment)

(OpenDAL azblob: endpoint, account_name, account_key, container; pyarrow.fs.AzureFileSystem:
account_name, account_key, blob_storage_authority="127.0.0.1:PORT", blob_storage_scheme="http";
azure-storage-blob: the connection string `connection_string()` returns.)
Tests create and delete their own containers through the Blob API. `start` reuses a server
already running on the same port and data directory. State (pid, port, data directory) is
kept in $CQLBULK_CACHE/azurite/state.json, the server log next to it.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import services
from jvm_tools import CACHE_DIR, HarnessError

# 3.37.0 is the newest the npm registry serves (2026-12-01), but 3.36 and 3.37 declare
# engines.node >= 21/22 and the machine's Node.js is 20; 3.35.0 is the newest for Node 20. Pinned.
AZURITE_VERSION = "3.35.0"
INSTALL_DIR = CACHE_DIR / f"azurite-{AZURITE_VERSION}"
BINARY = INSTALL_DIR / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's published development key (not a secret: documented by Microsoft for the emulator).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def install() -> None:
    """Installs Azurite from the npm registry into the cache (once, ~15 s)."""
    marker = INSTALL_DIR / ".complete"
    if marker.exists() and BINARY.exists():
        return
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise HarnessError("Node.js and npm are needed for Azurite: install them (e.g. apt-get install nodejs npm)")
    SERVER.log(f"installing azurite {AZURITE_VERSION} from the npm registry into {INSTALL_DIR}")
    started = time.monotonic()
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--prefix", str(INSTALL_DIR), "--no-audit", "--no-fund", "--loglevel=error",
         f"azurite@{AZURITE_VERSION}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or not BINARY.exists():
        raise HarnessError(f"npm install azurite@{AZURITE_VERSION} failed:\n{result.stdout[-4000:]}")
    marker.write_text(AZURITE_VERSION + "\n")
    SERVER.log(f"installed in {time.monotonic() - started:.0f}s: {BINARY}")


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}/{ACCOUNT_NAME}"


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={endpoint(port)};")


SERVER = services.DataServer(
    name="azurite",
    version=AZURITE_VERSION,
    state_dir=CACHE_DIR / "azurite",
    default_port=10000,
    # The server runs as `node .../azurite/dist/src/blob/main.js ...`; the launcher in .bin
    # is a symlink to that script, so the command line names "azurite" either way.
    marker=b"azurite",
    install=install,
    command=lambda data, port: [
        str(BINARY),
        "--blobHost", "127.0.0.1", "--blobPort", str(port),
        "--location", str(data),
        # No telemetry (the machine has no route to it anyway), accept any x-ms-version the
        # client sends (OpenDAL and the SDKs may be newer than the emulator), and ignore
        # headers and parameters Azurite does not implement instead of failing the request.
        "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        # The account is always the first path segment, whatever the Host header says.
        "--disableProductStyleUrl",
        "--silent",
    ],
    endpoint=endpoint,
    notes=lambda state: [f"account {ACCOUNT_NAME}, key {ACCOUNT_KEY}", f"connection string: {connection_string(state['port'])}"],
)

if __name__ == "__main__":
    sys.exit(SERVER.main(__doc__, "the blob emulator"))
