"""What the harness's background servers share: a JSON state file, whether a process it
started still runs, whether a port listens, stopping a process group, building a Go server
from the module proxy, and the whole life of a storage server over a data directory
(`DataServer`: start, reuse, stop, status and the command line of s3.py, gcs.py and
azurite.py).

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jvm_tools import HarnessError


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n")


def process_alive(pid: int | None, marker: bytes) -> bool:
    """True for a live process whose command line holds `marker`: a zombie still answers
    kill(0), and after a reboot the pid may belong to another program."""
    if not pid:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return status != "Z" and marker in command


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def stop_group(pid: int, marker: bytes, kill: bool = False, grace: float = 15) -> None:
    """Stops the process group led by `pid` (SIGTERM, SIGKILL after `grace` seconds, or at
    once with `kill`) and waits until its leader is gone."""
    if not process_alive(pid, marker):
        return
    os.killpg(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while process_alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(pid, marker):
        os.killpg(pid, signal.SIGKILL)
        while process_alive(pid, marker):
            time.sleep(0.05)


def go_install(module: str, version: str, binary: Path, go_cache: Path, log) -> None:
    """Builds `module@version` from the Go module proxy into `binary`'s directory (once)."""
    if binary.exists():
        return
    go = shutil.which("go")
    if not go:
        raise HarnessError(f"the Go toolchain is needed to build {module}: install golang (e.g. apt-get install golang)")
    log(f"building {module}@{version} from the Go module proxy")
    env = dict(os.environ)
    env.update({
        "GOBIN": str(binary.parent),
        "GOPATH": str(go_cache),
        "GOMODCACHE": str(go_cache / "mod"),
        "GOCACHE": str(go_cache / "build"),
        "CGO_ENABLED": "0",
    })
    started = time.monotonic()
    result = subprocess.run(
        [go, "install", f"{module}@{version}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or not binary.exists():
        raise HarnessError(f"go install {module}@{version} failed:\n{result.stdout[-4000:]}")
    log(f"{binary.name} built in {time.monotonic() - started:.0f}s: {binary}")


@dataclass
class DataServer:
    """A storage server the harness runs in the background over a data directory: one
    process group, its state (pid, port, data directory) in `state_dir/state.json`, its
    output in `state_dir/server.log`. `start` reuses a server already running on the same
    port and data directory and replaces one running with others."""

    name: str
    version: str
    state_dir: Path
    default_port: int
    # Bytes of its command line that tell the server's process from any other.
    marker: bytes
    install: Callable[[], None]
    command: Callable[[Path, int], list]
    endpoint: Callable[[int], str]
    ready: Callable[[int], bool] = port_open
    env: dict = field(default_factory=dict)
    # Printed to stderr after a start, e.g. credentials.
    notes: Callable[[dict], list] = lambda state: []

    def log(self, msg: str) -> None:
        print(f"{self.name}: {msg}", file=sys.stderr, flush=True)

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    def running(self) -> dict | None:
        state = read_state(self.state_path)
        return state if state and process_alive(state.get("pid"), self.marker) else None

    def launch(self, data: Path, port: int, timeout: float) -> dict:
        if port_open(port):
            raise HarnessError(f"port {port} is already in use by a process this harness did not start")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as out:
            proc = subprocess.Popen(
                self.command(data, port), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=str(data), env={**os.environ, **self.env},
            )
        state = {"pid": proc.pid, "port": port, "data": str(data), "version": self.version,
                 "endpoint": self.endpoint(port)}
        write_state(self.state_path, state)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                raise HarnessError(f"{self.name} exited with code {proc.returncode} while starting; see {self.log_path}")
            if self.ready(port):
                self.log(f"serves {state['endpoint']} after {time.monotonic() - started:.1f}s (data {data})")
                return state
            time.sleep(0.1)
        stop_group(proc.pid, self.marker, kill=True)
        raise HarnessError(f"{self.name} did not answer on port {port} within {timeout:.0f}s; see {self.log_path}")

    def start(self, data: str | None, port: int, timeout: float) -> dict:
        self.install()
        data_dir = Path(data).expanduser().resolve() if data else self.state_dir / "data"
        state = self.running()
        if state:
            if state.get("port") == port and state.get("data") == str(data_dir):
                self.log(f"already running: {state['endpoint']}, data {state['data']}, pid {state['pid']}")
                return state
            self.log(f"replacing the running server (pid {state['pid']})")
            stop_group(state["pid"], self.marker, grace=10)
        return self.launch(data_dir, port, timeout)

    def stop(self, kill: bool) -> None:
        state = self.running()
        if not state:
            self.log("not running")
            return
        stop_group(state["pid"], self.marker, kill=kill, grace=10)
        self.log(f"{'killed' if kill else 'stopped'} (pid {state['pid']})")

    def status(self) -> int:
        state = self.running()
        if not state:
            print("not running")
            return 3
        print(f"running: {state['endpoint']}, data {state['data']}, pid {state['pid']}, {self.name} {state['version']}")
        print(f"log: {self.log_path}")
        return 0

    def main(self, doc: str, what: str) -> int:
        """The command line: install | start [--port] [--data] [--timeout] | stop [--kill] |
        status (exit status 3 when not running). `what` names the server in the help."""
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("install", help=f"install {what} into the cache")
        start = sub.add_parser("start", help=f"start (or reuse) {what}; prints its endpoint")
        start.add_argument("--port", type=int, default=self.default_port)
        start.add_argument("--data", help="directory holding the buckets (default: in the cache)")
        start.add_argument("--timeout", type=float, default=30)
        stop = sub.add_parser("stop", help=f"stop {what}")
        stop.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
        sub.add_parser("status", help=f"print whether {what} runs (exit status 3 if not)")
        args = parser.parse_args()
        try:
            if args.command == "install":
                self.install()
            elif args.command == "start":
                state = self.start(args.data, args.port, args.timeout)
                print(state["endpoint"])
                for note in self.notes(state):
                    self.log(note)
            elif args.command == "stop":
                self.stop(args.kill)
            else:
                return self.status()
        except HarnessError as err:
            print(f"{self.name}: error: {err}", file=sys.stderr)
            return 1
        return 0
