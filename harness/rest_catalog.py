#!/usr/bin/env python3
"""Local Apache Iceberg REST catalog for cqlbulk's Iceberg tests.

The server is Iceberg's own REST catalog test server (`RESTCatalogServer`), resolved with
its runtime classpath from Maven Central into a cache outside the repository (see
harness/rest-catalog-pom.xml), run as one background JVM. Behind the REST API it is a
JdbcCatalog on a sqlite file inside the warehouse, writing metadata through HadoopFileIO,
so tables, their metadata and data files all live under the local warehouse directory; or,
with --s3-warehouse, in the test S3 server (harness/s3.py) through Iceberg's own S3FileIO
(the catalog's sqlite file stays in --warehouse).

    harness/rest_catalog.py install
    harness/rest_catalog.py start --warehouse DIR [--port 8181]   # prints the catalog URI
    harness/rest_catalog.py start --warehouse DIR --s3-warehouse s3://bucket/path --s3-endpoint URL
    harness/rest_catalog.py status
    harness/rest_catalog.py stop

`start` is idempotent: a server already running on the same warehouse and port is reused;
one running with another warehouse or port is stopped and replaced. State (pid, port,
warehouse) is kept in $CQLBULK_CACHE/rest-catalog/state.json, the server log next to it.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError, install_jars, mark_installed, tail

ICEBERG_VERSION = "1.11.0"  # newest iceberg-open-api on Maven Central on 2026-11-24; pinned
MAIN_CLASS = "org.apache.iceberg.rest.RESTCatalogServer"
HARNESS_DIR = Path(__file__).resolve().parent
POM = HARNESS_DIR / "rest-catalog-pom.xml"
# Named after the pom's content too: a dependency added to it means a new install.
INSTALL_DIR = CACHE_DIR / f"iceberg-rest-{ICEBERG_VERSION}-{hashlib.sha256(POM.read_bytes()).hexdigest()[:8]}"
STATE_DIR = CACHE_DIR / "rest-catalog"
DEFAULT_PORT = 8181
# The file name of the catalog's own sqlite database inside the warehouse.
CATALOG_DB = "rest_catalog.db"



def log(msg: str) -> None:
    print(f"rest_catalog: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Install


def lib_dir() -> Path:
    return INSTALL_DIR / "lib"


def install() -> None:
    """Resolve the REST catalog server and its runtime dependencies into the cache (once)."""
    if (INSTALL_DIR / ".complete").exists():
        return
    install_jars(POM, INSTALL_DIR, {"iceberg.version": ICEBERG_VERSION}, f"the Iceberg {ICEBERG_VERSION} REST catalog", log)
    fixtures = lib_dir() / f"iceberg-open-api-{ICEBERG_VERSION}-test-fixtures.jar"
    if not fixtures.exists():
        raise HarnessError(f"{fixtures.name} (the server's classes) is missing from {lib_dir()}")
    mark_installed(INSTALL_DIR, ICEBERG_VERSION)


# ---------------------------------------------------------------------------------------
# State


def state_path() -> Path:
    return STATE_DIR / "state.json"


def log_path() -> Path:
    return STATE_DIR / "server.log"


MARKER = MAIN_CLASS.encode()


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    return services.process_alive(pid, MARKER)


def uri(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def answers_config(port: int) -> bool:
    """True when GET /v1/config returns the catalog's JSON configuration."""
    try:
        with urllib.request.urlopen(f"{uri(port)}/v1/config", timeout=2) as response:
            return response.status == 200 and "defaults" in json.load(response)
    except (OSError, ValueError):
        return False



# ---------------------------------------------------------------------------------------
# Start and stop


def warehouse_dir(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    # The warehouse goes into a file:// URI and a JDBC URI unescaped: Hadoop's Path and the
    # sqlite driver disagree on percent-escapes, so refuse the characters that need them.
    if re.search(r"[\s%#?]", str(path)):
        raise HarnessError(f"warehouse path {path} contains whitespace or one of % # ?: use a plainer path")
    path.mkdir(parents=True, exist_ok=True)
    return path


def server_env(warehouse: Path, port: int, s3: dict | None) -> dict:
    """`warehouse` holds the catalog's database, and the tables unless `s3` gives
    {"warehouse": "s3://bucket/path", "endpoint": URL} (test credentials of harness/s3.py)."""
    # RESTCatalogServer turns every CATALOG_* variable into a catalog property (CATALOG_ cut,
    # "__" -> "-", "_" -> ".", lowercased): drop the caller's, so only these apply.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env.update({
        "CATALOG_CATALOG__IMPL": "org.apache.iceberg.jdbc.JdbcCatalog",
        # A file instead of the default in-memory sqlite: the catalog survives restarts.
        "CATALOG_URI": f"jdbc:sqlite:{warehouse / CATALOG_DB}",
        "CATALOG_JDBC_SCHEMA__VERSION": "V1",
        # file:// so table locations carry a scheme that every client resolves to local disk.
        "CATALOG_WAREHOUSE": f"file://{warehouse}",
        "CATALOG_IO__IMPL": "org.apache.iceberg.hadoop.HadoopFileIO",
        "CATALOG_REST_PORT": str(port),
    })
    if s3:
        # Iceberg's own S3FileIO (AWS SDK v2, iceberg-aws-bundle) against the test S3 server.
        env.update({
            "CATALOG_WAREHOUSE": s3["warehouse"],
            "CATALOG_IO__IMPL": "org.apache.iceberg.aws.s3.S3FileIO",
            "CATALOG_S3_ENDPOINT": s3["endpoint"],
            "CATALOG_S3_PATH__STYLE__ACCESS": "true",
            "CATALOG_S3_ACCESS__KEY__ID": "cqlbulk-test",
            "CATALOG_S3_SECRET__ACCESS__KEY": "cqlbulk-test-secret",
            "CATALOG_CLIENT_REGION": "us-east-1",
        })
    return env


def launch(warehouse: Path, port: int, heap: str, timeout: float, s3: dict | None) -> dict:
    if services.port_open(port):
        raise HarnessError(
            f"port {port} is already in use by a process this harness did not start: stop it "
            "or pass another --port"
        )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    if log_path().exists():
        log_path().replace(log_path().with_suffix(".log.old"))
    cmd = [
        "java", f"-Xmx{heap}", "-XX:+ExitOnOutOfMemoryError",
        "-cp", f"{lib_dir()}/*",
        MAIN_CLASS,
    ]
    with open(log_path(), "w") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=STATE_DIR,
            env=server_env(warehouse, port, s3),
        )
    state = {
        "pid": proc.pid, "port": port, "warehouse": str(warehouse), "s3": s3,
        "version": ICEBERG_VERSION, "uri": uri(port),
    }
    write_state(state)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise HarnessError(
                f"the REST catalog exited with code {proc.returncode} while starting; "
                f"see {log_path()}:\n{tail(log_path())}"
            )
        if answers_config(port):
            log(f"REST catalog serves {uri(port)} after {time.monotonic() - started:.1f}s "
                f"(warehouse {warehouse})")
            return state
        time.sleep(0.3)
    stop_pid(proc.pid)
    raise HarnessError(
        f"the REST catalog did not answer {uri(port)}/v1/config within {timeout:.0f}s; "
        f"see {log_path()}:\n{tail(log_path())}"
    )


def stop_pid(pid: int) -> None:
    services.stop_group(pid, MARKER)


def cmd_start(args: argparse.Namespace) -> None:
    warehouse = warehouse_dir(args.warehouse)
    install()
    state = read_state()
    if state and pid_alive(state.get("pid")):
        same = (
            state.get("warehouse") == str(warehouse)
            and state.get("s3") == s3_options(args)
            and state.get("port") == args.port
            and state.get("version") == ICEBERG_VERSION
        )
        if same:
            deadline = time.monotonic() + args.timeout
            while not answers_config(args.port):
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"the running REST catalog (pid {state['pid']}) does not answer "
                        f"{uri(args.port)}/v1/config; stop it and start again"
                    )
                time.sleep(0.3)
            log(f"REST catalog already running: {describe(state)}")
            print(uri(args.port))
            return
        if state.get("port") != args.port and services.port_open(args.port):
            # Checked before stopping: a failed start must not also take the old server down.
            raise HarnessError(f"port {args.port} is already in use by a process this harness did not start")
        log(f"replacing the running REST catalog ({describe(state)})")
        stop_pid(state["pid"])
    state = launch(warehouse, args.port, args.heap, args.timeout, s3_options(args))
    print(state["uri"])


def s3_options(args: argparse.Namespace) -> dict | None:
    if not args.s3_warehouse:
        return None
    if not args.s3_endpoint:
        raise HarnessError("--s3-warehouse needs --s3-endpoint (harness/s3.py start prints it)")
    return {"warehouse": args.s3_warehouse, "endpoint": args.s3_endpoint}


def cmd_stop(_: argparse.Namespace) -> None:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        log("no REST catalog running")
    else:
        stop_pid(state["pid"])
        log(f"REST catalog stopped (pid {state['pid']})")
    if state:
        state["pid"] = None
        write_state(state)


def describe(state: dict) -> str:
    return f"{state['uri']}, warehouse {state['warehouse']}, pid {state['pid']}, Iceberg {state['version']}"


def cmd_status(_: argparse.Namespace) -> int:
    state = read_state()
    if not state or not pid_alive(state.get("pid")):
        print("not running")
        return 3
    print(f"running: {describe(state)}")
    print(f"log: {log_path()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="resolve the REST catalog server from Maven Central into the cache")
    start = sub.add_parser("start", help="start (or reuse) the REST catalog; prints its URI")
    start.add_argument("--warehouse", required=True, help="local directory holding tables and the catalog")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--s3-warehouse", help="s3://bucket/path: tables in the test S3 server instead of --warehouse")
    start.add_argument("--s3-endpoint", help="the test S3 server (harness/s3.py start prints it)")
    start.add_argument("--heap", default="512m", help="JVM maximum heap")
    start.add_argument("--timeout", type=float, default=60, help="seconds to wait for /v1/config")
    sub.add_parser("stop", help="stop the REST catalog")
    sub.add_parser("status", help="print whether the REST catalog runs (exit status 3 if not)")
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
        print(f"rest_catalog: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
