"""What the harness's background servers share: a JSON state file, whether a process it
started still runs, whether a port listens, and stopping a process group.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path


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
