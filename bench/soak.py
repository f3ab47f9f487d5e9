#!/usr/bin/env python3
"""Crash soak: SIGKILL cqlbulk at a random moment, resume, and check exactly-once.

For each workload (unload to CSV, JSON, Parquet, Iceberg; load from CSV) and each trial:
start the run, kill it with SIGKILL after a random delay within its measured duration,
run the same command again with `--resume <operation dir>` (or from scratch if it died
before creating one), and check the result with `cqlbulk verify` (per token range: row
count and checksum of every row, so a lost row, a repeated row or a changed value all
fail it), plus an exact row count for loads. One node, started by the harness.

    python3 bench/soak.py                          # 20 trials per workload, 50,000 rows
    python3 bench/soak.py --trials 2 --rows 5000   # the short version CI runs
    python3 bench/soak.py --binary target/release/cqlbulk --workloads load

Standard library only. Exits 1 if any trial failed; the failed trials' directories are
kept under --work for inspection.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CQLBULK_CACHE", Path.home() / ".cache" / "cqlbulk"))
WORKLOADS = ["unload-csv", "unload-json", "unload-parquet", "unload-iceberg", "load"]
KEYSPACE = "cqlbulk_soak"


def log(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.binary = args.binary
        self.host = args.host
        self.rows = args.rows
        self.work = args.work
        self.rng = random.Random(args.seed)

    def cqlbulk(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"cqlbulk {' '.join(args[:1])} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def cql(self, statement: str) -> None:
        """Runs one CQL statement through the repository's Python driver venv."""
        python = CACHE / "venv" / "bin" / "python"
        code = (
            "import sys\nfrom cassandra.cluster import Cluster\n"
            "s = Cluster([sys.argv[1]]).connect()\ns.default_timeout = 60\ns.execute(sys.argv[2])"
        )
        subprocess.run([str(python), "-c", code, self.host, statement], check=True)

    def prepare(self) -> None:
        """The source table (filled by a load of a generated CSV) and the load's copy."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.source_csv = self.work / "source.csv"
        with open(self.source_csv, "w") as out:
            out.write("id,ck,v,n\n")
            for i in range(self.rows):
                out.write(f"{i % (self.rows // 10 + 1)},{i},text {i},{i * 7}\n")
        self.cql(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
        self.cql(f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
        for table in ("source", "copy"):
            self.cql(f"CREATE TABLE {KEYSPACE}.{table} (id int, ck int, v text, n bigint, PRIMARY KEY (id, ck))")
        self.cqlbulk("load", "-h", self.host, "-k", KEYSPACE, "-t", "source", "-q", "--url", str(self.source_csv),
                     "--log-dir", str(self.work / "fill-logs"))

    def command(self, workload: str, out: Path, logs: Path) -> tuple[list[str], list[str]]:
        """The run's arguments, and the source arguments verify compares with."""
        base = ["-h", self.host, "-k", KEYSPACE, "-q", "--log-dir", str(logs)]
        if workload == "load":
            source = ["--format", "csv", "--url", str(self.source_csv)]
            # Paced so that a kill lands in the middle of a run of a second or more.
            pace = ["--max-rows-per-second", str(max(self.rows // 2, 1000))]
            return ["load", "-t", "copy", *base, *source, *pace], ["-t", "copy", *source]
        fmt = workload.removeprefix("unload-")
        if fmt == "iceberg":
            target = ["--format", "iceberg", "--warehouse", str(out), "--iceberg-table", "source"]
            files = []
        else:
            target = ["--format", fmt, "--url", str(out)]
            files = ["--max-rows-per-file", str(max(self.rows // 20, 100))]
        slow = ["--splits", "64", "--concurrency", "1", "--page-size", "500"]
        return ["unload", "-t", "source", *base, *target, *files, *slow], ["-t", "source", *target]

    def trial(self, workload: str, number: int, duration: float) -> tuple[bool, str]:
        trial_dir = self.work / f"{workload}-{number}"
        shutil.rmtree(trial_dir, ignore_errors=True)
        out, logs = trial_dir / "out", trial_dir / "logs"
        args, verify_source = self.command(workload, out, logs)
        if workload == "load":
            self.cql(f"TRUNCATE {KEYSPACE}.copy")
        delay = self.rng.uniform(0.0, duration)
        child = subprocess.Popen([self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        killed = child.poll() is None
        if killed:
            child.send_signal(signal.SIGKILL)
        child.wait()
        operations = sorted(logs.glob(f"{args[0]}-*")) if logs.exists() else []
        resume = ["--resume", str(operations[0])] if operations else []
        finished = self.cqlbulk(*args, *resume, check=False)
        if finished.returncode != 0:
            return False, f"the resumed run exited {finished.returncode}: {finished.stderr.strip()}"
        verified = self.cqlbulk("verify", "-h", self.host, "-k", KEYSPACE, "-q", *verify_source, check=False)
        if verified.returncode != 0:
            return False, f"verify exited {verified.returncode}: {verified.stdout.strip()} {verified.stderr.strip()}"
        if workload == "load":
            counted = self.cqlbulk("count", "-h", self.host, "-k", KEYSPACE, "-t", "copy", "-q").stdout.strip()
            if counted != str(self.rows):
                return False, f"the copy has {counted} rows, not {self.rows}"
        shutil.rmtree(trial_dir, ignore_errors=True)
        what = f"killed after {delay:.2f}s" if killed else f"finished before the kill at {delay:.2f}s"
        return True, what + (", resumed" if resume else ", run again from scratch")

    def calibrate(self, workload: str) -> float:
        """The duration of one run without a kill: the window kills are drawn from."""
        trial_dir = self.work / f"{workload}-calibration"
        shutil.rmtree(trial_dir, ignore_errors=True)
        args, _ = self.command(workload, trial_dir / "out", trial_dir / "logs")
        if workload == "load":
            self.cql(f"TRUNCATE {KEYSPACE}.copy")
        started = time.monotonic()
        self.cqlbulk(*args)
        shutil.rmtree(trial_dir, ignore_errors=True)
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--binary", type=Path,
                        default=Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "release" / "cqlbulk")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument("--work", type=Path, default=CACHE / "soak")
    parser.add_argument("--no-cluster", action="store_true", help="use the running node as it is")
    args = parser.parse_args()
    args.binary = str(args.binary.resolve())
    if args.seed is None:
        args.seed = int(time.time())
    if not args.no_cluster:
        subprocess.run(["python3", str(ROOT / "harness/cluster.py"), "start"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["python3", str(ROOT / "harness/venv.py")], check=True, stdout=subprocess.DEVNULL)
    soak = Soak(args)
    log(f"seed {args.seed}, {args.rows} rows, {args.trials} trials per workload")
    soak.prepare()
    failures = 0
    for workload in args.workloads.split(","):
        duration = soak.calibrate(workload)
        log(f"{workload}: one run takes {duration:.2f}s")
        for number in range(1, args.trials + 1):
            ok, what = soak.trial(workload, number, duration)
            failures += not ok
            log(f"{workload} trial {number}: {'ok' if ok else 'FAILED'}: {what}")
    soak.cql(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
    log(f"{failures} failed trials" if failures else "every trial exactly once")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
