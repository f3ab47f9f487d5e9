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

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError
VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION = "v1.8.0"  # the version the Go module proxy lists on 2026-11-30; pinned
INSTALL_DIR = CACHE_DIR / f"versitygw-{VERSITYGW_VERSION}"
BINARY = INSTALL_DIR / "bin" / "versitygw"
GO_CACHE = CACHE_DIR / "go"
STATE_DIR = CACHE_DIR / "s3"
DEFAULT_PORT = 7070
ACCESS_KEY = "cqlbulk-test"
SECRET_KEY = "cqlbulk-test-secret"
REGION = "us-east-1"


def log(msg: str) -> None:
    print(f"s3: {msg}", file=sys.stderr, flush=True)


def install() -> None:
    """Build versitygw from the Go module proxy into the cache (once, ~2 min)."""
    if BINARY.exists():
        return
    go = shutil.which("go")
    if not go:
        raise HarnessError("the Go toolchain is needed to build versitygw: install golang (e.g. apt-get install golang)")
    log(f"building versitygw {VERSITYGW_VERSION} from the Go module proxy")
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
        [go, "install", f"{VERSITYGW_MODULE}@{VERSITYGW_VERSION}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or not BINARY.exists():
        raise HarnessError(f"go install {VERSITYGW_MODULE}@{VERSITYGW_VERSION} failed:\n{result.stdout[-4000:]}")
    log(f"versitygw built in {time.monotonic() - started:.0f}s: {BINARY}")


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


MARKER = b"versitygw"


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    return services.process_alive(pid, MARKER)


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def launch(data: Path, port: int, timeout: float) -> dict:
    if services.port_open(port):
        raise HarnessError(f"port {port} is already in use by a process this harness did not start")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({"ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY})
    with open(log_path(), "a") as out:
        proc = subprocess.Popen(
            [str(BINARY), "--port", f"127.0.0.1:{port}", "--quiet", "posix", str(data)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
    state = {"pid": proc.pid, "port": port, "data": str(data), "version": VERSITYGW_VERSION,
             "endpoint": endpoint(port)}
    write_state(state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(f"versitygw exited with code {proc.returncode} while starting; see {log_path()}")
        if services.port_open(port):
            log(f"versitygw serves {endpoint(port)} after {time.monotonic() - started:.1f}s (data {data})")
            return state
        time.sleep(0.1)
    stop_pid(proc.pid, kill=True)
    raise HarnessError(f"versitygw did not listen on port {port} within {timeout:.0f}s; see {log_path()}")


def stop_pid(pid: int, kill: bool = False) -> None:
    services.stop_group(pid, MARKER, kill=kill, grace=10)


def cmd_start(args: argparse.Namespace) -> None:
    install()
    data = Path(args.data).expanduser().resolve() if args.data else STATE_DIR / "data"
    state = read_state()
    if state and pid_alive(state.get("pid")):
        if state.get("port") == args.port and state.get("data") == str(data):
            log(f"versitygw already running: {state['endpoint']}, data {state['data']}, pid {state['pid']}")
            print(state["endpoint"])
            return
        log(f"replacing the running versitygw (pid {state['pid']})")
        stop_pid(state["pid"])
    print(launch(data, args.port, args.timeout)["endpoint"])


def cmd_stop(args: argparse.Namespace) -> None:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        log("no versitygw running")
        return
    stop_pid(state["pid"], kill=args.kill)
    log(f"versitygw {'killed' if args.kill else 'stopped'} (pid {state['pid']})")


def cmd_status(_: argparse.Namespace) -> int:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        print("not running")
        return 3
    print(f"running: {state['endpoint']}, data {state['data']}, pid {state['pid']}, versitygw {state['version']}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="build versitygw from the Go module proxy into the cache")
    start = sub.add_parser("start", help="start (or reuse) the S3 server; prints its endpoint")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--data", help="directory holding the buckets (default: in the cache)")
    start.add_argument("--timeout", type=float, default=30)
    stop = sub.add_parser("stop", help="stop the S3 server")
    stop.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
    sub.add_parser("status", help="print whether the S3 server runs (exit status 3 if not)")
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
        print(f"s3: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
