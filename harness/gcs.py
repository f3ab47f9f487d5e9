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

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError
FAKE_GCS_MODULE = "github.com/fsouza/fake-gcs-server"
FAKE_GCS_VERSION = "v1.56.1"  # the newest version the Go module proxy lists; pinned
INSTALL_DIR = CACHE_DIR / f"fake-gcs-server-{FAKE_GCS_VERSION}"
BINARY = INSTALL_DIR / "bin" / "fake-gcs-server"
GO_CACHE = CACHE_DIR / "go"
STATE_DIR = CACHE_DIR / "gcs"
DEFAULT_PORT = 4443


def log(msg: str) -> None:
    print(f"gcs: {msg}", file=sys.stderr, flush=True)


def install() -> None:
    """Build fake-gcs-server from the Go module proxy into the cache (once, a few minutes)."""
    if BINARY.exists():
        return
    go = shutil.which("go")
    if not go:
        raise HarnessError("the Go toolchain is needed to build fake-gcs-server: install golang (e.g. apt-get install golang)")
    log(f"building fake-gcs-server {FAKE_GCS_VERSION} from the Go module proxy")
    env = dict(os.environ)
    env.update({
        "GOBIN": str(BINARY.parent),
        "GOPATH": str(GO_CACHE),
        "GOMODCACHE": str(GO_CACHE / "mod"),
        "GOCACHE": str(GO_CACHE / "build"),
        "CGO_ENABLED": "0",
    })
    started = time.monotonic()
    result = subprocess.run(
        [go, "install", f"{FAKE_GCS_MODULE}@{FAKE_GCS_VERSION}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or not BINARY.exists():
        raise HarnessError(f"go install {FAKE_GCS_MODULE}@{FAKE_GCS_VERSION} failed:\n{result.stdout[-4000:]}")
    log(f"fake-gcs-server built in {time.monotonic() - started:.0f}s: {BINARY}")


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


MARKER = b"fake-gcs-server"


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    return services.process_alive(pid, MARKER)


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def api_ready(port: int) -> bool:
    """True once the JSON API answers: listing the buckets returns 200."""
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/storage/v1/b", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def launch(data: Path, port: int, timeout: float) -> dict:
    if services.port_open(port):
        raise HarnessError(f"port {port} is already in use by a process this harness did not start")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    with open(log_path(), "a") as out:
        proc = subprocess.Popen(
            [str(BINARY), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
             "-external-url", endpoint(port), "-public-host", f"127.0.0.1:{port}",
             "-backend", "filesystem", "-filesystem-root", str(data), "-log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state = {"pid": proc.pid, "port": port, "data": str(data), "version": FAKE_GCS_VERSION,
             "endpoint": endpoint(port)}
    write_state(state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(f"fake-gcs-server exited with code {proc.returncode} while starting; see {log_path()}")
        if api_ready(port):
            log(f"fake-gcs-server serves {endpoint(port)} after {time.monotonic() - started:.1f}s (data {data})")
            return state
        time.sleep(0.1)
    stop_pid(proc.pid, kill=True)
    raise HarnessError(f"fake-gcs-server did not answer on port {port} within {timeout:.0f}s; see {log_path()}")


def stop_pid(pid: int, kill: bool = False) -> None:
    services.stop_group(pid, MARKER, kill=kill, grace=10)


def cmd_start(args: argparse.Namespace) -> None:
    install()
    data = Path(args.data).expanduser().resolve() if args.data else STATE_DIR / "data"
    state = read_state()
    if state and pid_alive(state.get("pid")):
        if state.get("port") == args.port and state.get("data") == str(data):
            log(f"fake-gcs-server already running: {state['endpoint']}, data {state['data']}, pid {state['pid']}")
            print(state["endpoint"])
            return
        log(f"replacing the running fake-gcs-server (pid {state['pid']})")
        stop_pid(state["pid"])
    print(launch(data, args.port, args.timeout)["endpoint"])


def cmd_stop(args: argparse.Namespace) -> None:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        log("no fake-gcs-server running")
        return
    stop_pid(state["pid"], kill=args.kill)
    log(f"fake-gcs-server {'killed' if args.kill else 'stopped'} (pid {state['pid']})")


def cmd_status(_: argparse.Namespace) -> int:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        print("not running")
        return 3
    print(f"running: {state['endpoint']}, data {state['data']}, pid {state['pid']}, fake-gcs-server {state['version']}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="build fake-gcs-server from the Go module proxy into the cache")
    start = sub.add_parser("start", help="start (or reuse) the GCS server; prints its endpoint")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--data", help="directory holding the buckets (default: in the cache)")
    start.add_argument("--timeout", type=float, default=30)
    stop = sub.add_parser("stop", help="stop the GCS server")
    stop.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
    sub.add_parser("status", help="print whether the GCS server runs (exit status 3 if not)")
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
        print(f"gcs: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
