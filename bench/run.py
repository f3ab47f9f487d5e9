#!/usr/bin/env python3
"""cqlbulk against DSBulk and cqlsh COPY, side by side, on the same local Cassandra node.

    bench/run.sh [--rows 1000000] [--fat-rows 100000] [--wide-rows N] [--runs 3]
                 [--datasets narrow,typical,wide,fat] [--workloads count,unload-csv,...]
                 [--tools cqlbulk,dsbulk,cqlsh] [--no-build]

For every dataset and workload, each tool runs --runs times, tools alternating, and the
medians are reported: wall seconds, rows/s, client CPU seconds (user+sys of the tool and
the children it waits for), Cassandra's CPU seconds over the same interval (from /proc),
peak RSS of the tool's largest process, and output bytes. Every run's output rows are
counted and must equal the table's rows, so a fast wrong answer cannot win.

Load workloads read a CSV export of the dataset made once (cached in
$CQLBULK_CACHE/bench-inputs and reused while the table's row count matches) into an empty
copy table DATASET_load, truncated before every run (not measured); the copy's rows must
equal the source's.

Writes bench/results/<stamp>.md, .json and .png. Not a test: run it by hand.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "harness"))
import cluster  # noqa: E402  (harness/cluster.py: the local Cassandra node)
import dsbulk  # noqa: E402  (harness/dsbulk.py: DSBulk from Maven Central)

CACHE = Path(os.environ.get("CQLBULK_CACHE", Path.home() / ".cache" / "cqlbulk"))
CLUSTER_DIR = Path(os.environ.get("CQLBULK_CLUSTER_DIR", CACHE / "cluster"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
CQLBULK = TARGET / "release" / "cqlbulk"
# The data set generator (bench/BenchData.java, compiled once against Cassandra's jars) and
# the directory its SSTables are written to before `nodetool import` moves them in.
BENCH_DATA_SOURCE = ROOT / "bench" / "BenchData.java"
BENCH_DATA_CLASSES = CACHE / "bench-data-classes"
BENCH_SSTABLES = CACHE / "bench-sstables"
VENV = CACHE / "bench-venv"
# The load workloads' input files, made once per dataset (see ensure_input).
INPUTS = CACHE / "bench-inputs"
KEYSPACE = "cqlbulk_bench"

WORKLOADS = ["count", "unload-csv", "unload-json", "unload-parquet", "unload-iceberg", "unload-null", "load-csv"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def setup(build):
    run(["python3", str(ROOT / "harness/cluster.py"), "start"], stdout=subprocess.DEVNULL)
    if build:
        run(["cargo", "build", "--release", "--locked", "--bin", "cqlbulk"], cwd=ROOT,
            env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    elif not CQLBULK.exists():
        sys.exit(f"bench: --no-build, but {CQLBULK} is not built")
    else:
        log(f"--no-build: using {CQLBULK} as it is")
    try:
        dsbulk.install()
    except dsbulk.HarnessError as err:
        sys.exit(f"bench: {err}")
    requirements = ROOT / "bench/requirements.txt"
    marker = VENV / ".requirements"
    if not marker.exists() or marker.read_text() != requirements.read_text():
        log("installing cqlsh, pyarrow and matplotlib into the bench virtualenv")
        run([sys.executable, "-m", "venv", str(VENV)])
        run([str(VENV / "bin/pip"), "install", "-q", "-r", str(requirements)])
        marker.write_text(requirements.read_text())


def cassandra_pid():
    state = json.loads((CLUSTER_DIR / "cluster.json").read_text())
    return state["pids"]["1"]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table_rows(dataset):
    out = subprocess.run([str(CQLBULK), "count", "-k", KEYSPACE, "-t", dataset, "-q"], capture_output=True, text=True)
    return int(out.stdout.strip()) if out.returncode == 0 else -1


def ensure_dataset(dataset, rows):
    """Fills cqlbulk_bench.DATASET with `rows` rows unless it holds them already. The rows are
    written as SSTables by bench/BenchData.java (Cassandra's CQLSSTableWriter, no node work)
    and moved into the node by `nodetool import`: inserting them through CQL runs the node's
    write path, which gave 55k narrow and 10k wide rows/s here. Returns the timings, or None
    when the table was kept."""
    if table_rows(dataset) == rows:
        return None
    log(f"generating {dataset} ({rows} rows)")
    started = time.monotonic()
    schema = bench_data(dataset, "--schema", capture_output=True, text=True).stdout.strip()
    session().execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} "
                      "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    session().execute(f"DROP TABLE IF EXISTS {KEYSPACE}.{dataset}")
    session().execute(schema)
    # The importer takes the keyspace and table from the directory names (KEYSPACE/DATASET);
    # other names (a hyphen, say) make it find "no new SSTables".
    directory = BENCH_SSTABLES / KEYSPACE / dataset
    shutil.rmtree(directory, ignore_errors=True)
    # It clears the keyspace's snapshots (DROP TABLE keeps the old rows in one), writes the
    # SSTables and imports them; its last line on stderr times the SSTables alone.
    written = time.monotonic()
    out = bench_data(dataset, str(rows), str(directory), str(cluster.JMX_BASE_PORT), stderr=subprocess.PIPE, text=True)
    done = time.monotonic()
    sys.stderr.write(out.stderr)
    found = table_rows(dataset)
    if found != rows:
        sys.exit(f"bench: {KEYSPACE}.{dataset} holds {found} rows after the import, expected {rows}")
    timing = {"rows": rows, "sstables_s": sstable_seconds(out.stderr), "java_s": done - written, "total_s": done - started}
    log(f"{dataset}: {rows / timing['total_s']:,.0f} rows/s generated in {timing['total_s']:.1f} s "
        f"(SSTables {timing['sstables_s']:.1f} s at {rows / timing['sstables_s']:,.0f} rows/s)")
    return timing


def sstable_seconds(stderr):
    """The seconds BenchData took for the SSTables alone, from its line "... SSTables in 1.7s (...)"."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("BenchData:") and " in " in line:
            return float(line.split(" in ")[1].split("s")[0])
    sys.exit(f"bench: BenchData did not report its time:\n{stderr}")


def bench_data(*args, **kw):
    """Runs bench/BenchData.java, compiled on first use and after every change of the source."""
    lib = f"{cluster.lib_dir()}/*"
    stamp = BENCH_DATA_CLASSES / ".source"
    source = BENCH_DATA_SOURCE.read_text()
    if not stamp.exists() or stamp.read_text() != source:
        shutil.rmtree(BENCH_DATA_CLASSES, ignore_errors=True)
        run(["javac", "-nowarn", "-cp", lib, "-d", str(BENCH_DATA_CLASSES), str(BENCH_DATA_SOURCE)])
        stamp.write_text(source)
    # Tool initialization reads the node's own cassandra.yaml, so the SSTables get the version
    # the node writes (see BenchData.java).
    node_config = cluster.node_dir(1) / "conf" / "cassandra.yaml"
    return run(["java", *cluster.JVM17_FLAGS, f"-Dcassandra.config=file://{node_config}",
                f"-Dlogback.configurationFile={ROOT / 'bench' / 'BenchData-logback.xml'}",
                "-cp", f"{BENCH_DATA_CLASSES}:{lib}", "BenchData", *args], **kw)


# ---------------------------------------------------------------------------------------
# Load workloads: their input files and the copy table they load into.


def copy_table(dataset):
    return f"{dataset}_load"


_session = None


def session():
    """A driver session on the local node (the bench virtualenv has the Python driver)."""
    global _session
    if _session is None:
        from cassandra.cluster import Cluster
        _session = Cluster(["127.0.0.1"]).connect()
        _session.default_timeout = 300  # TRUNCATE and DROP wait for a flush
    return _session


def tree_bytes(directory):
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def ensure_input(dataset, rows, producer):
    """The directory of CSV files holding the whole dataset, as `producer` writes them:
    "cqlbulk" (`cqlbulk unload --format csv`: what cqlbulk and DSBulk load) or "cqlsh"
    (`COPY TO`: the only CSV cqlsh's COPY FROM reads back; it cannot parse cqlbulk's base64
    blobs, ISO-8601 timestamps with a `T` or JSON collections). Made once, reused while the
    table's row count matches (a marker next to the directory holds it)."""
    directory = INPUTS / f"{dataset}-{producer}"
    marker = INPUTS / f"{dataset}-{producer}.json"
    try:
        if json.loads(marker.read_text())["rows"] == rows and directory.is_dir():
            return directory
    except (FileNotFoundError, ValueError, KeyError):
        pass
    log(f"writing the load input of {dataset} with {producer}")
    marker.unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
    partial = INPUTS / f".{dataset}-{producer}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if producer == "cqlbulk":
        with tempfile.TemporaryDirectory(prefix="cqlbulk-bench-logs-") as logs:
            run([str(CQLBULK), "unload", "-k", KEYSPACE, "-t", dataset, "--format", "csv", "--url", str(partial),
                 "--log-dir", logs, "-q"])
    else:
        # cqlsh writes doubles with 12 digits by default: ask for enough to read back the same value.
        run([str(VENV / "bin/cqlsh"), "127.0.0.1", "-e",
             f"COPY {KEYSPACE}.{dataset} TO '{partial / (dataset + '.csv')}' "
             "WITH HEADER=true AND DOUBLEPRECISION=17 AND FLOATPRECISION=9"], cwd=partial.parent,
            stdout=subprocess.DEVNULL)
    written = count_csv_files(partial)
    if written != rows:  # cqlsh exits 0 even when COPY fails
        raise RuntimeError(f"{producer} wrote {written} rows of {dataset} into {partial}, the table has {rows}")
    partial.rename(directory)
    marker.write_text(json.dumps({"rows": rows, "bytes": tree_bytes(directory)}) + "\n")
    return directory


def create_copy_table(dataset):
    """(Re)creates the empty copy table with the source's exact definition."""
    meta = session().cluster.metadata
    session().cluster.refresh_table_metadata(KEYSPACE, dataset)
    cql = meta.keyspaces[KEYSPACE].tables[dataset].as_cql_query()
    prefix = f"CREATE TABLE {KEYSPACE}.{dataset} ("
    if not cql.startswith(prefix):
        raise RuntimeError(f"unexpected table definition: {cql[:200]}")
    session().execute(f"DROP TABLE IF EXISTS {KEYSPACE}.{copy_table(dataset)}")
    session().execute(f"CREATE TABLE {KEYSPACE}.{copy_table(dataset)} (" + cql[len(prefix):])
    clear_snapshots(copy_table(dataset))


def truncate_copy_table(dataset):
    session().execute(f"TRUNCATE {KEYSPACE}.{copy_table(dataset)}")
    clear_snapshots(copy_table(dataset))


def clear_snapshots(table):
    """TRUNCATE and DROP snapshot the table first (auto_snapshot): without this every run
    would keep a full copy of what it loaded on disk."""
    for snapshots in glob.glob(str(CLUSTER_DIR / "node1" / "data" / KEYSPACE / f"{table}-*" / "snapshots")):
        shutil.rmtree(snapshots, ignore_errors=True)


def prepare_load(dataset, rows, tools):
    """Input directory per tool, and the empty copy table."""
    inputs = {}
    for tool in tools:
        inputs[tool] = ensure_input(dataset, rows, "cqlsh" if tool == "cqlsh" else "cqlbulk")
    create_copy_table(dataset)
    return inputs


def cqlsh_batch_rows(directory, rows):
    """COPY FROM sends up to 20 rows per batch, and Cassandra refuses batches over 50 KiB
    (batch_size_fail_threshold): wide and fat rows need smaller batches."""
    row_bytes = tree_bytes(directory) / max(rows, 1)
    return max(1, min(20, int(16384 // max(row_bytes, 1))))


# ---------------------------------------------------------------------------------------
# One command per tool and workload, and how to count the rows it produced.


def commands(tool, workload, dataset, out, source=None, rows=0):
    """The command line, and a function counting output rows; None if the tool lacks it.
    `source` is the input directory of a load workload."""
    table = f"{KEYSPACE}.{dataset}"
    if workload == "load-csv":
        return load_command(tool, dataset, out, source, rows), count_copy_table(dataset)
    if tool == "cqlbulk":
        base = [str(CQLBULK)]
        if workload == "count":
            return base + ["count", "-k", KEYSPACE, "-t", dataset, "-q"], count_stdout
        fmt = workload.split("-")[1]
        target = ["--warehouse" if fmt == "iceberg" else "--url", str(out / "data")]
        return (base + ["unload", "-k", KEYSPACE, "-t", dataset, "--format", fmt, *target,
                        "--log-dir", str(out / "logs"), "-q"], ROW_COUNTERS[fmt])
    if tool == "dsbulk":
        java = dsbulk.dsbulk_command()
        common = ["-k", KEYSPACE, "-t", dataset, "--log.directory", str(out / "logs")]
        if workload == "unload-csv":
            return java + ["unload", "-url", str(out / "data")] + common, ROW_COUNTERS["csv"]
        if workload == "unload-json":
            return java + ["unload", "-c", "json", "-url", str(out / "data")] + common, ROW_COUNTERS["json"]
        return None  # count: dsbulk-workflow-count is not on Maven Central; no Parquet/null
    if tool == "cqlsh":
        if workload == "unload-csv":
            (out / "data").mkdir(parents=True)
            return ([str(VENV / "bin/cqlsh"), "127.0.0.1", "-e",
                     f"COPY {table} TO '{out / 'data' / 'out.csv'}' WITH HEADER=true"], ROW_COUNTERS["csv"])
        return None
    raise ValueError(tool)


def load_command(tool, dataset, out, source, rows):
    copy = copy_table(dataset)
    if tool == "cqlbulk":
        return [str(CQLBULK), "load", "-k", KEYSPACE, "-t", copy, "--format", "csv", "--url", str(source),
                "--log-dir", str(out / "logs"), "-q"]
    if tool == "dsbulk":
        # cqlbulk's CSV is DSBulk's default dialect; DSBulk's default 4096 characters per
        # field is less than a fat row's base64 blob.
        return dsbulk.dsbulk_command() + [
            "load", "-k", KEYSPACE, "-t", copy, "-url", str(source), "-header", "true",
            "--connector.csv.maxCharsPerColumn", "-1", "--log.directory", str(out / "logs")]
    if tool == "cqlsh":
        batch = cqlsh_batch_rows(source, rows)
        return [str(VENV / "bin/cqlsh"), "127.0.0.1", "-e",
                f"COPY {KEYSPACE}.{copy} FROM '{source}/*.csv' WITH HEADER=true "
                f"AND MAXBATCHSIZE={batch} AND MINBATCHSIZE={min(batch, 10)}"]
    raise ValueError(tool)


def count_copy_table(dataset):
    return lambda _out, _stdout: table_rows(copy_table(dataset))


def count_stdout(out, stdout):
    return int(stdout.strip().splitlines()[-1])


def count_csv(out, _stdout):
    return count_csv_files(out / "data")


def count_csv_files(directory):
    rows = 0
    for path in glob.glob(str(directory / "**" / "*.csv"), recursive=True):
        with open(path, "rb") as f:
            rows += sum(1 for _ in f) - 1  # minus the header; the datasets have no line breaks in values
    return rows


def count_json(out, _stdout):
    rows = 0
    for path in glob.glob(str(out / "data" / "**" / "*.json"), recursive=True):
        with open(path, "rb") as f:
            rows += sum(1 for line in f if line.strip())
    return rows


def count_parquet(out, _stdout):
    code = ("import pyarrow.parquet as pq, glob, sys; "
            "print(sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(sys.argv[1] + '/*.parquet')))")
    return int(subprocess.run([str(VENV / "bin/python"), "-c", code, str(out / "data")], check=True,
                              capture_output=True, text=True).stdout)


def count_iceberg(out, _stdout):
    """Rows in the table's Parquet data files (one snapshot per run, so all of them)."""
    code = ("import pyarrow.parquet as pq, glob, sys; "
            "print(sum(pq.ParquetFile(p).metadata.num_rows "
            "for p in glob.glob(sys.argv[1] + '/**/data/**/*.parquet', recursive=True)))")
    return int(subprocess.run([str(VENV / "bin/python"), "-c", code, str(out / "data")], check=True,
                              capture_output=True, text=True).stdout)


def count_null(out, _stdout):
    summary = glob.glob(str(out / "logs" / "*" / "summary.json"))
    return json.loads(Path(summary[0]).read_text())["rows"]


ROW_COUNTERS = {"csv": count_csv, "json": count_json, "parquet": count_parquet, "iceberg": count_iceberg,
                "null": count_null}


def measure(cmd, counter, out, expected_rows, pid, input_dir=None):
    """Runs `cmd` once in `out` (where cqlsh drops its error files). Loads report their
    input's bytes as output bytes."""
    timing = out / "time"
    before = cpu_seconds(pid)
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(timing)] + cmd,
                          capture_output=True, text=True, cwd=out)
    wall = time.monotonic() - started
    cassandra = cpu_seconds(pid) - before
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    _, user, system, rss_kb = timing.read_text().split()[-4:]
    rows = counter(out, proc.stdout)
    if rows != expected_rows:
        raise RuntimeError(f"{' '.join(cmd[:3])}: {rows} rows in the output, the table has {expected_rows}")
    if input_dir is not None:
        size = tree_bytes(input_dir)
    else:
        size = tree_bytes(out / "data") if (out / "data").exists() else 0
    return {"wall": wall, "rows_per_s": expected_rows / wall, "client_cpu": float(user) + float(system),
            "rss_mib": int(rss_kb) / 1024, "cassandra_cpu": cassandra, "bytes": size}


def median_of(samples):
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


# ---------------------------------------------------------------------------------------
# Reports


GOALS = [
    ("unload-csv rows/s ≥ 2× DSBulk", "unload-csv", "rows_per_s", "dsbulk", 2.0, "ge"),
    ("unload-csv client CPU per row ≤ 0.25× DSBulk", "unload-csv", "client_cpu", "dsbulk", 0.25, "le"),
    ("unload-csv peak RSS ≤ 0.2× DSBulk", "unload-csv", "rss_mib", "dsbulk", 0.2, "le"),
    ("unload-csv rows/s ≥ 5× cqlsh COPY", "unload-csv", "rows_per_s", "cqlsh", 5.0, "ge"),
    ("load-csv rows/s ≥ 1.5× DSBulk", "load-csv", "rows_per_s", "dsbulk", 1.5, "ge"),
    ("load-csv rows/s ≥ 5× cqlsh COPY", "load-csv", "rows_per_s", "cqlsh", 5.0, "ge"),
]


def report(results, generated, args, stamp):
    lines = [f"# cqlbulk vs DSBulk {dsbulk.DSBULK_VERSION} vs cqlsh COPY — {stamp}", "",
             f"1 local Cassandra 5.0.9 node, {args.rows} rows per dataset ({args.wide_rows or args.rows} for wide, "
             f"{args.fat_rows} for fat), "
             f"median of {args.runs} runs, tools alternating. Client CPU = user+sys of the tool; "
             "Cassandra CPU over the same interval. For load workloads, output MiB is the input's size "
             "(cqlbulk and DSBulk load cqlbulk's CSV, cqlsh the CSV of its own COPY TO).", ""]
    timings = {dataset: t for dataset, t in generated.items() if t}
    if timings:
        lines += ["## data generation (goal ≥ 50,000 rows/s)", "",
                  "| dataset | rows | SSTables s | SSTables rows/s | all s | all rows/s | |", "|---|---|---|---|---|---|---|"]
        for dataset, t in timings.items():
            rate = t["rows"] / t["sstables_s"]
            lines.append(f"| {dataset} | {t['rows']} | {t['sstables_s']:.1f} | {rate:,.0f} | "
                         f"{t['total_s']:.1f} | {t['rows'] / t['total_s']:,.0f} | {'met' if rate >= 50_000 else 'MISSED'} |")
        lines += ["", "The goal is judged on the generation itself (SSTables). All = the whole step: table creation, "
                  "the generator's JVM start (about 1 s), SSTables and import; the row count check after it is not "
                  "timed.", ""]
    else:
        lines += ["Data sets: kept from an earlier run (their row counts matched), so no generation timings.", ""]
    for dataset, workloads in results.items():
        lines += [f"## {dataset}", "", "| workload | tool | wall s | rows/s | client CPU s | peak RSS MiB | Cassandra CPU s | output MiB |",
                  "|---|---|---|---|---|---|---|---|"]
        for workload, tools in workloads.items():
            for tool, m in tools.items():
                lines.append(f"| {workload} | {tool} | {m['wall']:.2f} | {m['rows_per_s']:,.0f} | {m['client_cpu']:.2f} | "
                             f"{m['rss_mib']:.0f} | {m['cassandra_cpu']:.2f} | {m['bytes'] / 2**20:.1f} |")
        lines.append("")
        goal_lines = []
        for name, workload, key, peer, factor, sense in GOALS:
            tools = workloads.get(workload, {})
            if "cqlbulk" in tools and peer in tools:
                ratio = tools["cqlbulk"][key] / tools[peer][key] if tools[peer][key] else float("inf")
                met = ratio >= factor if sense == "ge" else ratio <= factor
                goal_lines.append(f"| {name} | {ratio:.2f}× | {'met' if met else 'MISSED'} |")
        if "cqlbulk" in workloads.get("count", {}):
            # The table names this goal even though DSBulk cannot run it here (no dsbulk-workflow-count on Maven Central).
            goal_lines.append("| count rows/s ≥ 1.5× DSBulk | – | not measurable: no DSBulk count workflow on the registry |")
        null = workloads.get("unload-null", {}).get("cqlbulk")
        for workload, goal in (("unload-parquet", 0.9), ("unload-iceberg", None)):
            sink = workloads.get(workload, {}).get("cqlbulk")
            if sink and null:
                ratio = sink["rows_per_s"] / null["rows_per_s"]
                if goal is None:
                    goal_lines.append(f"| {workload} vs null sink (no goal) | {ratio:.2f}× | |")
                else:
                    goal_lines.append(f"| {workload} ≥ {goal}× null sink | {ratio:.2f}× | {'met' if ratio >= goal else 'MISSED'} |")
        if goal_lines:
            lines += ["| goal | cqlbulk / peer | |", "|---|---|---|"] + goal_lines + [""]
    return "\n".join(lines) + "\n"


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    datasets = list(results)
    fig, axes = plt.subplots(len(datasets), 1, figsize=(10, 3.2 * len(datasets)), squeeze=False)
    colors = {"cqlbulk": "#2a7ab9", "dsbulk": "#e08a2c", "cqlsh": "#7a7a7a"}
    for ax, dataset in zip(axes[:, 0], datasets):
        workloads = list(results[dataset])
        tools = ["cqlbulk", "dsbulk", "cqlsh"]
        width = 0.27
        for i, tool in enumerate(tools):
            values = [results[dataset][w].get(tool, {}).get("rows_per_s", 0) / 1000 for w in workloads]
            bars = ax.bar([x + (i - 1) * width for x in range(len(workloads))], values, width, label=tool, color=colors[tool])
            for bar, value in zip(bars, values):
                if value:
                    ax.annotate(f"{value:.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(workloads)), workloads)
        ax.set_ylabel("thousand rows/s")
        ax.set_title(f"{dataset}: rows per second (higher is better; missing bar = tool lacks it)")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fat-rows", type=int, default=100_000)
    parser.add_argument("--wide-rows", type=int, help="rows of the wide dataset (default: --rows)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--datasets", default="narrow,typical,wide,fat")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--tools", default="cqlbulk,dsbulk,cqlsh")
    parser.add_argument("--no-build", action="store_true",
                        help="use the cqlbulk binary already built in CARGO_TARGET_DIR/release "
                             "instead of running cargo build --release")
    args = parser.parse_args()

    if Path(sys.prefix).resolve() != VENV.resolve():
        setup(build=not args.no_build)
        # The rest needs pyarrow and matplotlib: go on inside the bench virtualenv.
        os.execv(str(VENV / "bin/python"), [str(VENV / "bin/python"), __file__, *sys.argv[1:]])
    pid = cassandra_pid()
    results = {}
    generated = {}
    for dataset in args.datasets.split(","):
        rows = {"fat": args.fat_rows, "wide": args.wide_rows or args.rows}.get(dataset, args.rows)
        generated[dataset] = ensure_dataset(dataset, rows)
        results[dataset] = {}
        for workload in args.workloads.split(","):
            samples = {}
            inputs = prepare_load(dataset, rows, args.tools.split(",")) if workload.startswith("load-") else {}
            for run_index in range(args.runs):
                tools = args.tools.split(",")
                # Alternate the order so no tool always runs on a warmer cache.
                tools = tools if run_index % 2 == 0 else tools[::-1]
                for tool in tools:
                    work = Path(tempfile.mkdtemp(prefix="cqlbulk-bench-"))
                    try:
                        spec = commands(tool, workload, dataset, work, inputs.get(tool), rows)
                        if spec is None:
                            continue
                        cmd, counter = spec
                        if inputs:
                            truncate_copy_table(dataset)  # not measured
                        samples.setdefault(tool, []).append(
                            measure(cmd, counter, work, rows, pid, input_dir=inputs.get(tool)))
                        log(f"{dataset} {workload} {tool} run {run_index + 1}: "
                            f"{samples[tool][-1]['rows_per_s']:,.0f} rows/s")
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
            results[dataset][workload] = {tool: median_of(s) for tool, s in samples.items()}

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{stamp}.json").write_text(json.dumps({"args": vars(args), "generated": generated, "results": results}, indent=2) + "\n")
    (out / f"{stamp}.md").write_text(report(results, generated, args, stamp))
    chart(results, out / f"{stamp}.png")
    print((out / f"{stamp}.md").read_text())
    log(f"wrote bench/results/{stamp}.md, .json and .png")


if __name__ == "__main__":
    sys.exit(main())
