"""Checks the cqlbulk Python package (python/) against a real cluster, with the Python driver
and pyarrow as oracles. Run by tests/node1_python.rs after it made the tables:
all_types (every CQL type) and rows100k (100,000 rows), plus an empty rows100k_copy.

    check_package.py --hosts H --keyspace KS --dir SCRATCH

Exits non-zero with a message on the first difference.
"""

import argparse
import glob
import multiprocessing
import os
import pickle
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cassandra.cluster import Cluster

import cqlbulk


def check(condition, message):
    if not condition:
        sys.exit(f"check_package: {message}")


def sorted_table(table, keys):
    return table.sort_by([(k, "ascending") for k in keys])


def same_column(a, b):
    """Arrow equality, except that NaN equals NaN (floats and anything nesting them, via
    Python values, whose repr of NaN is the same)."""
    if a.equals(b):
        return True
    if pa.types.is_floating(a.type):
        nan_a, nan_b = pc.is_nan(a), pc.is_nan(b)
        return nan_a.equals(nan_b) and pc.if_else(nan_a, 0.0, a).equals(pc.if_else(nan_b, 0.0, b))
    try:
        return repr(a.to_pylist()) == repr(b.to_pylist())
    except (OverflowError, ValueError):
        return False


def read_in_worker(payload):
    """What an engine's worker does: unpickle a split, read it alone."""
    split = pickle.loads(payload)
    return cqlbulk.read_split(split).read_all()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    hosts, ks, scratch = args.hosts, args.keyspace, args.dir
    session = Cluster(hosts.split(","), connect_timeout=30).connect(ks)
    driver_rows = session.execute("SELECT count(*) FROM rows100k").one()[0]

    # Jobs: the summaries are the program's.
    counted = cqlbulk.count(hosts, ks, "rows100k", splits=13)
    check(counted["rows"] == driver_rows == 100_000, f"count {counted['rows']} vs driver {driver_rows}")

    # scan: the whole table as Arrow, exactly what unload writes to Parquet (whose values
    # the integration tests check against the driver), every row once.
    parquet_dir = os.path.join(scratch, "parquet")
    unloaded = cqlbulk.unload(hosts, ks, "all_types", format="parquet", url=parquet_dir, log_dir=os.path.join(scratch, "logs"))
    check(unloaded["status"] == "complete", f"unload: {unloaded}")
    reader = cqlbulk.scan(hosts, ks, "all_types")
    check(isinstance(reader, pa.RecordBatchReader), f"scan returned {type(reader)}")
    scanned = reader.read_all()
    files = pq.read_table(sorted(glob.glob(os.path.join(parquet_dir, "*.parquet"))))
    keys = ["id", "ck"]
    check(scanned.schema.equals(files.schema, check_metadata=False), f"schemas differ:\n{scanned.schema}\n{files.schema}")
    left, right = sorted_table(scanned, keys), sorted_table(files, keys)
    differing = [n for n in left.column_names if not same_column(left.column(n), right.column(n))]
    check(not differing, f"scan of all_types differs from its Parquet unload in columns {differing}")
    driver_all = session.execute("SELECT count(*) FROM all_types").one()[0]
    check(scanned.num_rows == driver_all, f"scan read {scanned.num_rows} rows, the driver counts {driver_all}")
    uuid_field = scanned.schema.field("u")
    check(str(uuid_field.type) == "extension<arrow.uuid>", f"uuid crosses as {uuid_field.type}")

    # plan + read_split: picklable splits read in other processes cover the table once.
    splits = cqlbulk.plan(hosts, ks, "rows100k", columns=["id", "c"], splits=24)
    check(len(splits) >= 24, f"{len(splits)} splits for splits=24")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(read_in_worker, [pickle.dumps(s) for s in splits])
    union = pa.concat_tables(parts)
    check(union.num_rows == 100_000, f"splits read {union.num_rows} rows")
    pairs = set(zip(union.column("id").to_pylist(), union.column("c").to_pylist()))
    check(len(pairs) == 100_000, f"{100_000 - len(pairs)} keys read twice")
    check(union.column_names == ["id", "c"], f"columns {union.column_names}")
    several = cqlbulk.read_split(splits[:3]).read_all().num_rows
    check(several == sum(p.num_rows for p in parts[:3]), "reading three splits at once differs")

    # A reader dropped after one batch stops the scan (bounded memory; nothing hangs).
    partial = cqlbulk.scan(hosts, ks, "rows100k", concurrency=2)
    first = partial.read_next_batch()
    check(first.num_rows > 0, "the first batch is empty")
    del partial

    # Errors: the program's one-line messages and kinds.
    try:
        cqlbulk.count(hosts, ks, "no_such_table")
        check(False, "count of a missing table did not raise")
    except cqlbulk.CqlbulkError as err:
        check(err.kind == "schema" and err.exit_code == 3, f"missing table: {err.kind} {err.exit_code} {err}")
        check("no_such_table" in str(err) and "\n" not in str(err), f"message: {err}")
    try:
        cqlbulk.unload(hosts, ks, "rows100k", format="parquet", no_such_option=1)
        check(False, "an unknown option did not raise")
    except cqlbulk.CqlbulkError as err:
        check(err.kind == "bad_input" and "--no-such-option" in str(err), f"unknown option: {err.kind} {err}")

    # load + verify through the package: a Parquet copy of rows100k loaded into an empty
    # table holds the same rows.
    copy_dir = os.path.join(scratch, "rows100k")
    cqlbulk.unload(hosts, ks, "rows100k", format="parquet", url=copy_dir, log_dir=os.path.join(scratch, "logs"))
    loaded = cqlbulk.load(hosts, ks, "rows100k_copy", format="parquet", url=copy_dir, log_dir=os.path.join(scratch, "logs"))
    check(loaded["written"] == 100_000, f"load: {loaded}")
    verified = cqlbulk.verify(hosts, ks, "rows100k_copy", format="parquet", url=copy_dir)
    check(verified["status"] == "same", f"verify: {verified}")

    # Shards and one commit, as an engine's tasks and driver do: two shard tasks in other
    # processes, the second run twice (a retried task), then the commit, twice.
    warehouse = os.path.join(scratch, "lake")
    job = os.path.join(scratch, "job")
    shard_args = [(hosts, ks, "0/2", warehouse, job), (hosts, ks, "1/2", warehouse, job), (hosts, ks, "1/2", warehouse, job)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        summaries = pool.starmap(run_shard, shard_args[:2])
    summaries.append(run_shard(*shard_args[2]))
    check(all(s["status"] == "complete" and s["snapshot_id"] is None for s in summaries), f"shards: {summaries}")
    committed = cqlbulk.iceberg_commit(job, warehouse=warehouse)
    check(committed["rows"] == 100_000 and committed["shards"] == 2, f"commit: {committed}")
    again = cqlbulk.iceberg_commit(job, warehouse=warehouse)
    check(again["already_committed"] and again["snapshot_id"] == committed["snapshot_id"], f"second commit: {again}")
    exported = cqlbulk.verify(hosts, ks, "rows100k", format="iceberg", warehouse=warehouse)
    check(exported["status"] == "same", f"the sharded export differs from the table: {exported}")

    # The command the package installs is the program.
    program = os.path.join(os.path.dirname(sys.executable), "cqlbulk")
    out = subprocess.run([program, "count", "-h", hosts, "-k", ks, "-t", "rows100k", "-q"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.strip() == "100000", f"cqlbulk command: {out.returncode} {out.stdout} {out.stderr}")
    out = subprocess.run([program, "count", "-k", ks], capture_output=True, text=True)
    check(out.returncode == 3, f"cqlbulk command with a bad command line exits {out.returncode}")
    print("check_package: every check passed")


def run_shard(hosts, ks, shard, warehouse, job):
    return cqlbulk.unload(hosts, ks, "rows100k", format="iceberg", warehouse=warehouse, shard=shard, log_dir=job)


if __name__ == "__main__":
    main()
