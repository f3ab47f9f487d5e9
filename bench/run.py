#!/usr/bin/env python3
"""cqlbulk against DSBulk and cqlsh COPY, side by side, on the same local Cassandra node.

    bench/run.sh [--rows 1000000] [--fat-rows 100000] [--wide-rows N] [--runs 3]
                 [--datasets narrow,typical,wide,fat] [--workloads count,unload-csv,...]

For every dataset and workload, each tool runs --runs times, tools alternating, and the
medians are reported: wall seconds, rows/s, client CPU seconds (user+sys of the tool and
the children it waits for), Cassandra's CPU seconds over the same interval (from /proc),
peak RSS of the tool's largest process, and output bytes. Every run's output rows are
counted and must equal the table's rows, so a fast wrong answer cannot win.

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
CACHE = Path(os.environ.get("CQLBULK_CACHE", Path.home() / ".cache" / "cqlbulk"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
CQLBULK = TARGET / "release" / "cqlbulk"
BENCH_DATA = TARGET / "release" / "examples" / "bench_data"
DSBULK_LIB = CACHE / "dsbulk-1.10.0" / "lib"
VENV = CACHE / "bench-venv"
KEYSPACE = "cqlbulk_bench"

WORKLOADS = ["count", "unload-csv", "unload-json", "unload-parquet", "unload-iceberg", "unload-null"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def setup():
    run(["python3", str(ROOT / "harness/cluster.py"), "start"], stdout=subprocess.DEVNULL)
    run(["cargo", "build", "--release", "--locked", "--bin", "cqlbulk", "--example", "bench_data"], cwd=ROOT,
        env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    if not (DSBULK_LIB / ".complete").exists():
        log("installing DSBulk 1.10.0 from Maven Central")
        shutil.rmtree(DSBULK_LIB, ignore_errors=True)
        run(["mvn", "-q", "-B", "-f", str(ROOT / "bench/peers/dsbulk-pom.xml"), f"-Dmaven.repo.local={CACHE / 'm2'}",
             "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={DSBULK_LIB}"])
        (DSBULK_LIB / ".complete").write_text("1.10.0\n")
    requirements = ROOT / "bench/requirements.txt"
    marker = VENV / ".requirements"
    if not marker.exists() or marker.read_text() != requirements.read_text():
        log("installing cqlsh, pyarrow and matplotlib into the bench virtualenv")
        run([sys.executable, "-m", "venv", str(VENV)])
        run([str(VENV / "bin/pip"), "install", "-q", "-r", str(requirements)])
        marker.write_text(requirements.read_text())


def cassandra_pid():
    state = json.loads((CACHE / "cluster" / "cluster.json").read_text())
    return state["pids"]["1"]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table_rows(dataset):
    out = subprocess.run([str(CQLBULK), "count", "-k", KEYSPACE, "-t", dataset, "-q"], capture_output=True, text=True)
    return int(out.stdout.strip()) if out.returncode == 0 else -1


def ensure_dataset(dataset, rows):
    if table_rows(dataset) == rows:
        return
    log(f"generating {dataset} ({rows} rows)")
    started = time.monotonic()
    run([str(BENCH_DATA), "--dataset", dataset, "--rows", str(rows)])
    log(f"{dataset}: {rows / (time.monotonic() - started):.0f} rows/s generated")


# ---------------------------------------------------------------------------------------
# One command per tool and workload, and how to count the rows it produced.


def commands(tool, workload, dataset, out):
    """The command line, and a function counting output rows; None if the tool lacks it."""
    table = f"{KEYSPACE}.{dataset}"
    if tool == "cqlbulk":
        base = [str(CQLBULK)]
        if workload == "count":
            return base + ["count", "-k", KEYSPACE, "-t", dataset, "-q"], count_stdout
        fmt = workload.split("-")[1]
        target = ["--warehouse" if fmt == "iceberg" else "--url", str(out / "data")]
        return (base + ["unload", "-k", KEYSPACE, "-t", dataset, "--format", fmt, *target,
                        "--log-dir", str(out / "logs"), "-q"], ROW_COUNTERS[fmt])
    if tool == "dsbulk":
        java = ["java", "-cp", f"{DSBULK_LIB}/*", "com.datastax.oss.dsbulk.runner.DataStaxBulkLoader"]
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


def count_stdout(out, stdout):
    return int(stdout.strip().splitlines()[-1])


def count_csv(out, _stdout):
    rows = 0
    for path in glob.glob(str(out / "data" / "**" / "*.csv"), recursive=True):
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


def measure(cmd, counter, out, expected_rows, pid):
    timing = out / "time"
    before = cpu_seconds(pid)
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(timing)] + cmd,
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    cassandra = cpu_seconds(pid) - before
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    _, user, system, rss_kb = timing.read_text().split()[-4:]
    rows = counter(out, proc.stdout)
    if rows != expected_rows:
        raise RuntimeError(f"{' '.join(cmd[:3])}: {rows} rows in the output, the table has {expected_rows}")
    size = sum(p.stat().st_size for p in (out / "data").rglob("*") if p.is_file()) if (out / "data").exists() else 0
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
]


def report(results, args, stamp):
    lines = [f"# cqlbulk vs DSBulk 1.10.0 vs cqlsh COPY — {stamp}", "",
             f"1 local Cassandra 5.0.9 node, {args.rows} rows per dataset ({args.wide_rows or args.rows} for wide, "
             f"{args.fat_rows} for fat), "
             f"median of {args.runs} runs, tools alternating. Client CPU = user+sys of the tool; "
             "Cassandra CPU over the same interval.", ""]
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
        tools = workloads.get("unload-parquet", {}), workloads.get("unload-null", {})
        if "cqlbulk" in tools[0] and "cqlbulk" in tools[1]:
            ratio = tools[0]["cqlbulk"]["rows_per_s"] / tools[1]["cqlbulk"]["rows_per_s"]
            goal_lines.append(f"| unload Parquet ≥ 0.9× null sink | {ratio:.2f}× | {'met' if ratio >= 0.9 else 'MISSED'} |")
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
    args = parser.parse_args()

    if Path(sys.prefix).resolve() != VENV.resolve():
        setup()
        # The rest needs pyarrow and matplotlib: go on inside the bench virtualenv.
        os.execv(str(VENV / "bin/python"), [str(VENV / "bin/python"), __file__, *sys.argv[1:]])
    pid = cassandra_pid()
    results = {}
    for dataset in args.datasets.split(","):
        rows = {"fat": args.fat_rows, "wide": args.wide_rows or args.rows}.get(dataset, args.rows)
        ensure_dataset(dataset, rows)
        results[dataset] = {}
        for workload in args.workloads.split(","):
            samples = {}
            for run_index in range(args.runs):
                tools = args.tools.split(",")
                # Alternate the order so no tool always runs on a warmer cache.
                tools = tools if run_index % 2 == 0 else tools[::-1]
                for tool in tools:
                    work = Path(tempfile.mkdtemp(prefix="cqlbulk-bench-"))
                    try:
                        spec = commands(tool, workload, dataset, work)
                        if spec is None:
                            continue
                        cmd, counter = spec
                        samples.setdefault(tool, []).append(measure(cmd, counter, work, rows, pid))
                        log(f"{dataset} {workload} {tool} run {run_index + 1}: "
                            f"{samples[tool][-1]['rows_per_s']:,.0f} rows/s")
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
            results[dataset][workload] = {tool: median_of(s) for tool, s in samples.items()}

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{stamp}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    (out / f"{stamp}.md").write_text(report(results, args, stamp))
    chart(results, out / f"{stamp}.png")
    print((out / f"{stamp}.md").read_text())
    log(f"wrote bench/results/{stamp}.md, .json and .png")


if __name__ == "__main__":
    sys.exit(main())
