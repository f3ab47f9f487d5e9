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

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError, tail

# 3.37.0 is the newest the npm registry serves (2026-12-01), but 3.36 and 3.37 declare
# engines.node >= 21/22 and the machine's Node.js is 20; 3.35.0 is the newest for Node 20. Pinned.
AZURITE_VERSION = "3.35.0"
INSTALL_DIR = CACHE_DIR / f"azurite-{AZURITE_VERSION}"
BINARY = INSTALL_DIR / "node_modules" / ".bin" / "azurite-blob"
STATE_DIR = CACHE_DIR / "azurite"
DEFAULT_PORT = 10000
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's published development key (not a secret: documented by Microsoft for the emulator).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def log(msg: str) -> None:
    print(f"azurite: {msg}", file=sys.stderr, flush=True)


def install() -> None:
    """Installs Azurite from the npm registry into the cache (once, ~15 s)."""
    marker = INSTALL_DIR / ".complete"
    if marker.exists() and BINARY.exists():
        return
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise HarnessError("Node.js and npm are needed for Azurite: install them (e.g. apt-get install nodejs npm)")
    log(f"installing azurite {AZURITE_VERSION} from the npm registry into {INSTALL_DIR}")
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
    log(f"azurite installed in {time.monotonic() - started:.0f}s: {BINARY}")


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


# The server runs as `node .../azurite/dist/src/blob/main.js ...`; the launcher in .bin is a
# symlink to that script, so the command line names "azurite" either way.
MARKER = b"azurite"


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    return services.process_alive(pid, MARKER)


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}/{ACCOUNT_NAME}"


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={endpoint(port)};")


def launch(data: Path, port: int, timeout: float) -> dict:
    if services.port_open(port):
        raise HarnessError(f"port {port} is already in use by a process this harness did not start")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    command = [
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
    ]
    with open(log_path(), "a") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(data),
        )
    state = {"pid": proc.pid, "port": port, "data": str(data), "version": AZURITE_VERSION,
             "endpoint": endpoint(port), "account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY}
    write_state(state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(f"azurite exited with code {proc.returncode} while starting; "
                               f"log {log_path()}:\n{tail(log_path())}")
        if services.port_open(port):
            log(f"azurite serves {endpoint(port)} after {time.monotonic() - started:.1f}s (data {data})")
            return state
        time.sleep(0.1)
    stop_pid(proc.pid, kill=True)
    raise HarnessError(f"azurite did not listen on port {port} within {timeout:.0f}s; see {log_path()}")


def stop_pid(pid: int, kill: bool = False) -> None:
    services.stop_group(pid, MARKER, kill=kill, grace=10)


def print_endpoint(state: dict) -> None:
    print(state["endpoint"])
    log(f"account {ACCOUNT_NAME}, key {ACCOUNT_KEY}")
    log(f"connection string: {connection_string(state['port'])}")


def cmd_start(args: argparse.Namespace) -> None:
    install()
    data = Path(args.data).expanduser().resolve() if args.data else STATE_DIR / "data"
    state = read_state()
    if state and pid_alive(state.get("pid")):
        if state.get("port") == args.port and state.get("data") == str(data):
            log(f"azurite already running: {state['endpoint']}, data {state['data']}, pid {state['pid']}")
            print_endpoint(state)
            return
        log(f"replacing the running azurite (pid {state['pid']})")
        stop_pid(state["pid"])
    print_endpoint(launch(data, args.port, args.timeout))


def cmd_stop(args: argparse.Namespace) -> None:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        log("no azurite running")
        return
    stop_pid(state["pid"], kill=args.kill)
    log(f"azurite {'killed' if args.kill else 'stopped'} (pid {state['pid']})")


def cmd_status(_: argparse.Namespace) -> int:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        print("not running")
        return 3
    print(f"running: {state['endpoint']}, data {state['data']}, pid {state['pid']}, azurite {state['version']}")
    print(f"account: {ACCOUNT_NAME} key {ACCOUNT_KEY}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Azurite from the npm registry into the cache")
    start = sub.add_parser("start", help="start (or reuse) the blob emulator; prints its endpoint")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--data", help="directory holding the containers (default: in the cache)")
    start.add_argument("--timeout", type=float, default=30)
    stop = sub.add_parser("stop", help="stop the blob emulator")
    stop.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
    sub.add_parser("status", help="print whether the blob emulator runs (exit status 3 if not)")
    args = parser.parse_args()
    try:
        if args.command == "install":
            install()
        elif args.command == "start":
            cmd_start(args)
        elif args.command == "stop":
            cmd_stop(args)
        else:
            return cmd_status(args)
    except HarnessError as err:
        print(f"azurite: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
