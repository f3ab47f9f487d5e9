#!/usr/bin/env python3
"""Local Prometheus Pushgateway for cqlbulk's metrics tests.

The server is the Prometheus Pushgateway (github.com/prometheus/pushgateway, Apache-2.0),
built from the Go module proxy into a cache outside the repository and run as one
background process on 127.0.0.1. Persistence is off (no --persistence.file): pushed
metrics live in memory only and are gone after a stop. The admin API is on, so a test may
wipe every group with PUT /api/v1/admin/wipe.

    harness/pushgateway.py install
    harness/pushgateway.py start [--port 9091]   # prints the endpoint URL
    harness/pushgateway.py status
    harness/pushgateway.py stop [--kill]

Clients push without authentication to ENDPOINT/metrics/job/JOB[/LABEL/VALUE...] (text
format: POST adds to the group, PUT replaces it, DELETE drops it) and read everything back
from ENDPOINT/metrics (Prometheus text format) or ENDPOINT/api/v1/metrics (JSON). Tests
delete their own groups. `start` reuses a server already running on the same port and
replaces one running on another. State (pid, port) is kept in
$CQLBULK_CACHE/pushgateway/state.json, the server log next to it.

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
from jvm_tools import CACHE_DIR, HarnessError, tail

PUSHGATEWAY_MODULE = "github.com/prometheus/pushgateway"
# v1.11.3 (2026-05-27) is the newest tag (go 1.25); the Go module proxy serves its .info and
# module but answers 403 to @v/list and 404 to @latest for this module: pinned by tag.
PUSHGATEWAY_VERSION = "v1.11.3"
INSTALL_DIR = CACHE_DIR / f"pushgateway-{PUSHGATEWAY_VERSION}"
BINARY = INSTALL_DIR / "bin" / "pushgateway"
GO_CACHE = CACHE_DIR / "go"
STATE_DIR = CACHE_DIR / "pushgateway"
DEFAULT_PORT = 9091
# The end of the server's argv[0] in /proc/PID/cmdline (NUL-terminated): unlike a plain
# b"pushgateway", `python3 harness/pushgateway.py` does not match it.
MARKER = b"/bin/pushgateway\0"


def log(msg: str) -> None:
    print(f"pushgateway: {msg}", file=sys.stderr, flush=True)


def install() -> None:
    """Build the Pushgateway from the Go module proxy into the cache (once, ~1 min).

    Not services.go_install: `go install module@version` fails when it cannot look up the
    module's deprecation, which reads @v/list, and the proxy answers 403 there for this
    module. `go get` in a throwaway module only warns about such lookups; the build list is
    the same (the Pushgateway's own go.mod is the only requirement)."""
    if BINARY.exists():
        return
    go = shutil.which("go")
    if not go:
        raise HarnessError(f"the Go toolchain is needed to build {PUSHGATEWAY_MODULE}: install golang (e.g. apt-get install golang)")
    log(f"building {PUSHGATEWAY_MODULE}@{PUSHGATEWAY_VERSION} from the Go module proxy")
    env = dict(os.environ)
    env.update({
        "GOPATH": str(GO_CACHE),
        "GOMODCACHE": str(GO_CACHE / "mod"),
        "GOCACHE": str(GO_CACHE / "build"),
        "CGO_ENABLED": "0",
        "GOWORK": "off",
    })
    build_dir = INSTALL_DIR / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    partial = BINARY.with_name(BINARY.name + ".partial")
    started = time.monotonic()
    for step in (
        [go, "mod", "init", "cqlbulk.invalid/pushgateway-build"],
        [go, "get", f"{PUSHGATEWAY_MODULE}@{PUSHGATEWAY_VERSION}"],
        [go, "build", "-o", str(partial), PUSHGATEWAY_MODULE],
    ):
        result = subprocess.run(step, cwd=build_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise HarnessError(f"{' '.join(step[1:])} failed (building {PUSHGATEWAY_MODULE}@{PUSHGATEWAY_VERSION}):\n{result.stdout[-4000:]}")
    # Renamed only once complete: an existing binary means an installed one.
    partial.replace(BINARY)
    shutil.rmtree(build_dir, ignore_errors=True)
    log(f"{BINARY.name} built in {time.monotonic() - started:.0f}s: {BINARY}")


# ---------------------------------------------------------------------------------------
# State


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def running() -> dict | None:
    state = services.read_state(state_path())
    return state if state and services.process_alive(state.get("pid"), MARKER) else None


def ready(port: int) -> bool:
    """True once GET /-/ready answers 200."""
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/-/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# ---------------------------------------------------------------------------------------
# Start and stop


def launch(port: int, timeout: float) -> dict:
    if services.port_open(port):
        raise HarnessError(f"port {port} is already in use by a process this harness did not start")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BINARY), f"--web.listen-address=127.0.0.1:{port}", "--web.enable-admin-api",
        "--log.level=warn",
    ]
    with open(log_path(), "a") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(STATE_DIR), env=dict(os.environ),
        )
    state = {"pid": proc.pid, "port": port, "version": PUSHGATEWAY_VERSION, "endpoint": endpoint(port)}
    services.write_state(state_path(), state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(
                f"the pushgateway exited with code {proc.returncode} while starting; "
                f"see {log_path()}:\n{tail(log_path())}"
            )
        if ready(port):
            log(f"serves {state['endpoint']} after {time.monotonic() - started:.1f}s")
            return state
        time.sleep(0.1)
    services.stop_group(proc.pid, MARKER, kill=True)
    raise HarnessError(f"the pushgateway did not answer {endpoint(port)}/-/ready within {timeout:.0f}s; see {log_path()}")


def start(port: int, timeout: float) -> dict:
    install()
    state = running()
    if state:
        if state.get("port") == port and state.get("version") == PUSHGATEWAY_VERSION:
            log(f"already running: {state['endpoint']}, pid {state['pid']}")
            return state
        log(f"replacing the running server (pid {state['pid']})")
        services.stop_group(state["pid"], MARKER, grace=10)
    return launch(port, timeout)


def stop(kill: bool) -> None:
    state = running()
    if not state:
        log("not running")
        return
    services.stop_group(state["pid"], MARKER, kill=kill, grace=10)
    log(f"{'killed' if kill else 'stopped'} (pid {state['pid']})")


def status() -> int:
    state = running()
    if not state:
        print("not running")
        return 3
    print(f"running: {state['endpoint']}, pid {state['pid']}, pushgateway {state['version']}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="build the Pushgateway from the Go module proxy into the cache")
    start_cmd = sub.add_parser("start", help="start (or reuse) the Pushgateway; prints its endpoint")
    start_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    start_cmd.add_argument("--timeout", type=float, default=30, help="seconds to wait for /-/ready")
    stop_cmd = sub.add_parser("stop", help="stop the Pushgateway")
    stop_cmd.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
    sub.add_parser("status", help="print whether the Pushgateway runs (exit status 3 if not)")
    args = parser.parse_args()
    try:
        if args.command == "install":
            install()
        elif args.command == "start":
            print(start(args.port, args.timeout)["endpoint"])
        elif args.command == "stop":
            stop(args.kill)
        else:
            return status()
    except HarnessError as err:
        print(f"pushgateway: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
