#!/usr/bin/env python3
"""Local Apache Cassandra 5.0 cluster for cqlbulk's demo, tests and benchmarks.

Cassandra comes from Maven Central (`cassandra-all` and its runtime classpath, resolved by
Maven into a cache outside the repository); each node is a plain JVM running
`CassandraDaemon` on its own loopback address 127.0.0.N with the same ports, its own data
directory, log and JMX port. No Docker, no tarball.

    harness/cluster.py start [--nodes 3] [--num-tokens 256] [--heap 1G]
    harness/cluster.py status
    harness/cluster.py stop [--node N]
    harness/cluster.py start-node N      # restart one stopped node of the running cluster
    harness/cluster.py start --auth --tls  # PasswordAuthenticator, TLS-only client port
    harness/cluster.py tls-dir           # where the CA, client certificate and key are

`start` is idempotent: a cluster of the same shape is reused with its data (nodes that are
down are started); a cluster of another shape is stopped and replaced by a fresh one (its
data is wiped, its logs are kept next to the new ones as *.old).

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import services
from jvm_tools import CACHE_DIR, HarnessError, install_jars, mark_installed, tail

CASSANDRA_VERSION = "5.0.9"  # newest 5.0 patch on Maven Central on 2026-11-24; pinned
HARNESS_DIR = Path(__file__).resolve().parent
INSTALL_DIR = CACHE_DIR / f"cassandra-{CASSANDRA_VERSION}"
CLUSTER_DIR = Path(os.environ.get("CQLBULK_CLUSTER_DIR", CACHE_DIR / "cluster"))
CQL_PORT = 9042
STORAGE_PORT = 7000
JMX_BASE_PORT = 7199
# A node that is still running is waited for this long: on a busy 2-core host a JVM has
# been seen to pause 77 s while starting (CI on a fresh machine), so 120 s was too short.
# A node that exits fails at once, whatever the timeout.
START_TIMEOUT = 600
# A long wait says so every this many seconds, so a slow host shows in the output.
SLOW_NOTE_SECONDS = 30

# The module flags of Cassandra 5.0's conf/jvm17-server.options (Java 17): without them the
# daemon fails on reflective access to JDK internals.
JVM17_FLAGS = [
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]

GC_FLAGS = [
    "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxGCPauseMillis=300",
    "-XX:+ExitOnOutOfMemoryError",
]



def log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Install


def lib_dir() -> Path:
    return INSTALL_DIR / "lib"


def install() -> None:
    """Resolve cassandra-all and its runtime dependencies into the cache (once)."""
    if (INSTALL_DIR / ".complete").exists():
        return
    install_jars(HARNESS_DIR / "pom.xml", INSTALL_DIR, {"cassandra.version": CASSANDRA_VERSION}, f"Cassandra {CASSANDRA_VERSION}", log)
    jamm = sorted(lib_dir().glob("jamm-*.jar"))
    if not jamm:
        raise HarnessError(f"jamm (the memory-measuring agent) is missing from {lib_dir()}")
    mark_installed(INSTALL_DIR, CASSANDRA_VERSION)


# ---------------------------------------------------------------------------------------
# Node configuration


def node_address(index: int) -> str:
    return f"127.0.0.{index}"


def node_dir(index: int) -> Path:
    return CLUSTER_DIR / f"node{index}"


def shape_tokens(shape: dict, index: int) -> list[int]:
    """The tokens of node `index`: random, distinct across the cluster, fixed in cluster.json."""
    return shape["tokens"][str(index)]


def draw_tokens(nodes: int, num_tokens: int) -> dict:
    rng = random.SystemRandom()
    seen: set[int] = set()
    tokens = {}
    for index in range(1, nodes + 1):
        mine = []
        while len(mine) < num_tokens:
            token = rng.randint(-(2**63) + 1, 2**63 - 1)
            if token not in seen:
                seen.add(token)
                mine.append(token)
        tokens[str(index)] = sorted(mine)
    return tokens


TLS_PASSWORD = "cqlbulk-test"


def tls_dir() -> Path:
    return CLUSTER_DIR / "tls"


def make_tls_material() -> Path:
    """Test certificates made with the JDK's keytool, once per cluster directory: a CA, a
    node keystore signed by it naming 127.0.0.1-9 (the driver checks the IP it connected
    to), a truststore of the CA, a client certificate and key as PEM (for
    require_client_auth), and an unrelated CA as PEM (what a wrong --tls-ca looks like)."""
    out = tls_dir()
    if (out / "done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    store = ["-storetype", "PKCS12", "-storepass", TLS_PASSWORD]

    def keytool(*args: str) -> None:
        result = subprocess.run(["keytool", *args], cwd=out, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"keytool {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def key_pair(keystore: str, alias: str, name: str, *extra: str) -> None:
        keytool("-genkeypair", "-keystore", keystore, *store, "-alias", alias, "-dname", f"CN={name}",
                "-keyalg", "RSA", "-keysize", "2048", "-validity", "3650", *extra)

    for ca in ("ca", "other-ca"):
        key_pair(f"{ca}.p12", ca, f"cqlbulk test {ca}", "-ext", "bc:c")
        keytool("-exportcert", "-rfc", "-keystore", f"{ca}.p12", *store, "-alias", ca, "-file", f"{ca}.pem")
    addresses = ",".join(f"IP:{node_address(i)}" for i in range(1, 10))
    for entity, extensions in (("node", f"SAN={addresses},DNS:localhost"), ("client", "SAN=DNS:cqlbulk-client")):
        key_pair(f"{entity}.p12", entity, f"cqlbulk test {entity}")
        keytool("-certreq", "-keystore", f"{entity}.p12", *store, "-alias", entity, "-file", f"{entity}.csr")
        keytool("-gencert", "-keystore", "ca.p12", *store, "-alias", "ca", "-infile", f"{entity}.csr",
                "-outfile", f"{entity}.pem", "-rfc", "-validity", "3650", "-ext", extensions)
        keytool("-importcert", "-noprompt", "-keystore", f"{entity}.p12", *store, "-alias", "ca", "-file", "ca.pem")
        keytool("-importcert", "-keystore", f"{entity}.p12", *store, "-alias", entity, "-file", f"{entity}.pem")
    keytool("-importcert", "-noprompt", "-keystore", "trust.p12", *store, "-alias", "ca", "-file", "ca.pem")
    exported = subprocess.run(
        ["java", str(HARNESS_DIR / "ExportKey.java"), "client.p12", TLS_PASSWORD, "client", "client.key"],
        cwd=out, capture_output=True, text=True,
    )
    if exported.returncode != 0:
        raise HarnessError(f"cannot export the client key: {exported.stderr.strip()}")
    (out / "done").write_text("")
    return out


def write_node_config(index: int, shape: dict) -> Path:
    home = node_dir(index)
    conf = home / "conf"
    for sub in ("conf", "data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs", "triggers"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    address = node_address(index)
    auth = shape.get("auth", False)
    yaml = f"""\
# Generated by harness/cluster.py for node {index}; rewritten on every start.
cluster_name: cqlbulk-test
num_tokens: {shape['num_tokens']}
# Tokens are drawn by the harness, distinct across nodes: Cassandra's allocator, run on
# nodes that start while gossip is still spreading, can hand two nodes the same tokens.
initial_token: {','.join(str(t) for t in shape_tokens(shape, index))}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{node_address(1)}:{STORAGE_PORT}"
listen_address: {address}
rpc_address: {address}
storage_port: {STORAGE_PORT}
native_transport_port: {CQL_PORT}
start_native_transport: true
auto_bootstrap: false
data_file_directories:
  - {home / 'data'}
commitlog_directory: {home / 'commitlog'}
saved_caches_directory: {home / 'saved_caches'}
hints_directory: {home / 'hints'}
cdc_raw_directory: {home / 'cdc_raw'}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
authenticator: {'PasswordAuthenticator' if auth else 'AllowAllAuthenticator'}
authorizer: {'CassandraAuthorizer' if auth else 'AllowAllAuthorizer'}
materialized_views_enabled: true
{tls_options(shape)}# Test nodes share two cores: keep background work small.
concurrent_compactors: 1
compaction_throughput: 0MiB/s
"""
    (conf / "cassandra.yaml").write_text(yaml)
    logback = f"""\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{home / 'logs' / 'system.log'}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""
    (conf / "logback.xml").write_text(logback)
    return conf


def tls_options(shape: dict) -> str:
    """TLS-only client port (native_transport_port stays 9042), client certificates
    required: the strictest setting, so one cluster tests every part of cqlbulk's TLS."""
    if not shape.get("tls"):
        return ""
    tls = make_tls_material()
    return f"""client_encryption_options:
  enabled: true
  optional: false
  keystore: {tls / 'node.p12'}
  keystore_password: {TLS_PASSWORD}
  store_type: PKCS12
  require_client_auth: true
  truststore: {tls / 'trust.p12'}
  truststore_password: {TLS_PASSWORD}
"""


def java_command(index: int, shape: dict) -> list[str]:
    conf = write_node_config(index, shape)
    home = node_dir(index)
    jamm = sorted(lib_dir().glob("jamm-*.jar"))[-1]
    heap = shape["heap"]
    return [
        "java",
        f"-Xms{heap}", f"-Xmx{heap}", "-Xss256k",
        *GC_FLAGS,
        *JVM17_FLAGS,
        f"-javaagent:{jamm}",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        f"-Dcassandra.logdir={home / 'logs'}",
        f"-Dcassandra.storagedir={home / 'data'}",
        f"-Dcassandra.triggers_dir={home / 'triggers'}",
        f"-Dcassandra.jmx.local.port={JMX_BASE_PORT + index - 1}",
        "-Dcassandra-foreground=yes",
        # A fresh test cluster has no data to wait for: skip the delays meant for
        # production joins (gossip settling, ring delay, superuser setup).
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=1000",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.load_ring_state=false",
        "-cp", f"{conf}:{lib_dir()}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


# ---------------------------------------------------------------------------------------
# State


def state_path() -> Path:
    return CLUSTER_DIR / "cluster.json"


def read_state() -> dict | None:
    return services.read_state(state_path())


def write_state(state: dict) -> None:
    services.write_state(state_path(), state)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0), and after a reboot the pid may belong to another
    # program: only a live CassandraDaemon counts.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        return status != "Z" and b"CassandraDaemon" in command
    except FileNotFoundError:
        return False


def cql_port_open(address: str) -> bool:
    try:
        with socket.create_connection((address, CQL_PORT), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Start and stop



def peers_seen_up(index: int, nodes: int) -> bool:
    """True when node `index` has logged every other node as UP (after any DOWN)."""
    log_text = (node_dir(index) / "logs" / "system.log").read_text(errors="replace")
    for other in range(1, nodes + 1):
        if other == index:
            continue
        marker = f"/{node_address(other)}:{STORAGE_PORT}"
        up = log_text.rfind(f"{marker} is now UP")
        down = log_text.rfind(f"{marker} is now DOWN")
        if up < 0 or down > up:
            return False
    return True


def launch_node(index: int, shape: dict, timeout: float) -> int:
    address = node_address(index)
    if cql_port_open(address):
        raise HarnessError(
            f"{address}:{CQL_PORT} is already in use by a process this harness did not start: "
            "stop it first"
        )
    logs = node_dir(index) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("system.log", "stdout.log"):
        if (logs / name).exists():
            (logs / name).replace(logs / f"{name}.old")
    with open(logs / "stdout.log", "w") as out:
        proc = subprocess.Popen(
            java_command(index, shape),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=node_dir(index),
        )
    started = time.monotonic()
    next_note = started + SLOW_NOTE_SECONDS
    while time.monotonic() - started < timeout:
        if time.monotonic() > next_note:
            next_note += SLOW_NOTE_SECONDS
            log(
                f"node{index} ({address}) still starting after {time.monotonic() - started:.0f}s "
                f"(a busy host pauses the JVM; waiting up to {timeout:.0f}s); last log line: "
                f"{tail(logs / 'system.log', 1).strip()[:200]}"
            )
        if proc.poll() is not None:
            raise HarnessError(
                f"node{index} ({address}) exited with code {proc.returncode} while starting; "
                f"see {logs / 'system.log'} and {logs / 'stdout.log'}:\n"
                f"{tail(logs / 'system.log')}\n{tail(logs / 'stdout.log', 5)}"
            )
        if cql_port_open(address):
            log(f"node{index} ({address}) serves CQL after {time.monotonic() - started:.0f}s")
            return proc.pid
        time.sleep(0.5)
    proc.kill()
    raise HarnessError(
        f"node{index} ({address}) did not serve CQL within {timeout:.0f}s; "
        f"see {logs / 'system.log'}:\n{tail(logs / 'system.log')}"
    )


def wait_all_up(state: dict, timeout: float, up_to: int | None = None) -> None:
    """Waits until each started node among the first `up_to` logs the others as UP."""
    nodes = up_to or state["shape"]["nodes"]
    started = time.monotonic()
    deadline = started + timeout
    next_note = started + SLOW_NOTE_SECONDS
    while True:
        waiting = [
            i for i in range(1, nodes + 1)
            if state["pids"].get(str(i)) and not peers_seen_up(i, nodes)
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise HarnessError(
                "nodes "
                + ", ".join(f"node{i}" for i in waiting)
                + f" do not see all peers as UP after {timeout:.0f}s; see their system.log in {CLUSTER_DIR}"
            )
        if time.monotonic() > next_note:
            next_note += SLOW_NOTE_SECONDS
            log(
                f"waiting {time.monotonic() - started:.0f}s for "
                + ", ".join(f"node{i}" for i in waiting)
                + f" to see every peer UP (up to {timeout:.0f}s)"
            )
        time.sleep(0.5)


def running_nodes(state: dict) -> list[int]:
    return [int(i) for i, pid in state.get("pids", {}).items() if pid_alive(pid)]


def stop_node(index: int, state: dict) -> None:
    pid = state["pids"].get(str(index))
    if pid_alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        log(f"node{index} stopped")
    state["pids"][str(index)] = None


def cmd_start(args: argparse.Namespace) -> None:
    shape = {"nodes": args.nodes, "num_tokens": args.num_tokens, "heap": args.heap, "auth": args.auth, "tls": args.tls}
    if not 1 <= args.nodes <= 9:
        raise HarnessError("--nodes must be between 1 and 9")
    install()
    state = read_state()
    running = sorted(running_nodes(state)) if state else []
    if state and "tokens" in state["shape"] and {k: v for k, v in state["shape"].items() if k != "tokens"} == shape:
        if running == list(range(1, args.nodes + 1)):
            log(f"cluster already running: {describe(state)}")
        else:
            # Same shape: keep its data and start the nodes that are down.
            for index in range(1, args.nodes + 1):
                if index not in running:
                    state["pids"][str(index)] = launch_node(index, state["shape"], args.timeout)
                    write_state(state)
            wait_all_up(state, args.timeout)
            log(f"cluster ready: {describe(state)}")
        print(contact_points(state))
        return
    if state:
        for index in running:
            stop_node(index, state)
    # A new shape needs fresh data: tokens and peers of the old cluster must not leak in.
    if CLUSTER_DIR.exists():
        for child in CLUSTER_DIR.iterdir():
            if child.is_dir():
                for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw"):
                    shutil.rmtree(child / sub, ignore_errors=True)
    shape["tokens"] = draw_tokens(args.nodes, args.num_tokens)
    state = {"shape": shape, "pids": {}}
    write_state(state)
    started = time.monotonic()
    # One after another, each joining a cluster whose nodes all see each other already.
    try:
        for index in range(1, args.nodes + 1):
            state["pids"][str(index)] = launch_node(index, shape, args.timeout)
            write_state(state)
            wait_all_up(state, args.timeout, up_to=index)
    except HarnessError:
        # A half-born cluster is not one to reuse: the next start begins from scratch.
        for index in running_nodes(state):
            stop_node(index, state)
        state_path().unlink(missing_ok=True)
        raise
    log(f"cluster ready in {time.monotonic() - started:.0f}s: {describe(state)}")
    print(contact_points(state))


def cmd_start_node(args: argparse.Namespace) -> None:
    state = read_state()
    if not state:
        raise HarnessError("no cluster has been started: run 'cluster.py start' first")
    index = args.index
    if not 1 <= index <= state["shape"]["nodes"]:
        raise HarnessError(f"node{index} is not part of the {state['shape']['nodes']}-node cluster")
    if pid_alive(state["pids"].get(str(index))):
        log(f"node{index} is already running")
        return
    state["pids"][str(index)] = launch_node(index, state["shape"], args.timeout)
    write_state(state)
    wait_all_up(state, args.timeout)


def cmd_stop(args: argparse.Namespace) -> None:
    state = read_state()
    if not state:
        log("no cluster to stop")
        return
    targets = [args.node] if args.node else list(range(1, state["shape"]["nodes"] + 1))
    for index in targets:
        if args.kill:
            pid = state["pids"].get(str(index))
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
                while pid_alive(pid):
                    time.sleep(0.1)
                log(f"node{index} killed")
            state["pids"][str(index)] = None
        else:
            stop_node(index, state)
    write_state(state)


def describe(state: dict) -> str:
    shape = state["shape"]
    up = running_nodes(state)
    return (
        f"{shape['nodes']} node(s), num_tokens {shape['num_tokens']}, heap {shape['heap']}, "
        f"running: {', '.join(node_address(i) for i in sorted(up)) or 'none'}"
    )


def contact_points(state: dict) -> str:
    return ",".join(node_address(i) for i in range(1, state["shape"]["nodes"] + 1))


def cmd_status(_: argparse.Namespace) -> None:
    state = read_state()
    if not state:
        print("no cluster")
        return
    print(describe(state))
    print(f"logs: {CLUSTER_DIR}/node*/logs/system.log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="resolve Cassandra from Maven Central into the cache")
    start = sub.add_parser("start", help="start (or reuse) a cluster of the given shape")
    start.add_argument("--nodes", type=int, default=1)
    start.add_argument("--num-tokens", type=int, default=16, help="vnodes per node (16 as in 5.0)")
    start.add_argument("--heap", default="1G", help="JVM heap per node (keep it <= 1G here)")
    start.add_argument("--auth", action="store_true", help="PasswordAuthenticator (cassandra/cassandra)")
    start.add_argument("--tls", action="store_true", help="TLS-only client port, client certificates required (see tls-dir)")
    start.add_argument(
        "--timeout", type=float, default=START_TIMEOUT, help="seconds per node to serve CQL"
    )
    start_node = sub.add_parser("start-node", help="restart one node of the running cluster")
    start_node.add_argument("index", type=int)
    start_node.add_argument("--timeout", type=float, default=START_TIMEOUT)
    stop = sub.add_parser("stop", help="stop the cluster, or one node of it")
    stop.add_argument("--node", type=int)
    stop.add_argument("--kill", action="store_true", help="SIGKILL instead of a clean shutdown")
    sub.add_parser("status", help="print the cluster's shape and running nodes")
    sub.add_parser("tls-dir", help="make the test certificates if needed and print their directory")
    args = parser.parse_args()
    try:
        {
            "install": lambda _: install(),
            "start": cmd_start,
            "start-node": cmd_start_node,
            "stop": cmd_stop,
            "status": cmd_status,
            "tls-dir": lambda _: print(make_tls_material()),
        }[args.command](args)
    except HarnessError as err:
        print(f"cluster: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
