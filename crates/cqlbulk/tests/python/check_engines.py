"""Checks cqlbulk on the distributed engines, Ray (`ray.init` on this machine) and Spark
(pyspark, `local[2]`), against a real cluster with the Python driver as the oracle. Run by
tests/node1_python.rs after it made the tables all_types and rows100k.

    check_engines.py --hosts H --keyspace KS --dir SCRATCH

Exits non-zero with a message on the first difference.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading

from cassandra.cluster import Cluster

import cqlbulk


def check(condition, message):
    if not condition:
        sys.exit(f"check_engines: {message}")


# A shard paced to take seconds, so that the kill lands mid-run.
SLOW = {"splits": 64, "max_rows_per_second": 10_000}


def killed_on_first_attempt(marker, hosts, ks, shard, options):
    """A shard task whose worker process is SIGKILLed 1.5 s into its first attempt (as a
    lost machine would be) when `marker` is given; the engine runs it again, and the retry
    resumes the shard."""
    if marker is not None and not os.path.exists(marker):
        open(marker, "w").close()
        threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    return cqlbulk.unload(hosts, ks, "rows100k", format="iceberg", shard=shard, **options)


def check_with_pyiceberg(hosts, ks, warehouse, engine):
    """PyIceberg reads the exported table and compares it key by key with the driver's rows
    (tests/python/check_unload.py), independently of cqlbulk's own verify."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_unload.py")
    args = ["--hosts", hosts, "--keyspace", ks, "--table", "rows100k", "--format", "iceberg", "--warehouse", warehouse]
    out = subprocess.run([sys.executable, script] + args, capture_output=True, text=True)
    check(out.returncode == 0, f"{engine}: PyIceberg finds the export differs:\n{out.stdout}{out.stderr}")


def check_export(hosts, ks, warehouse, job, engine):
    committed = cqlbulk.iceberg_commit(job, warehouse=warehouse)
    check(committed["already_committed"] or committed["rows"] == 100_000, f"{engine}: commit {committed}")
    again = cqlbulk.iceberg_commit(job, warehouse=warehouse)
    check(again["already_committed"] and again["snapshot_id"] == committed["snapshot_id"], f"{engine}: second commit {again}")
    verified = cqlbulk.verify(hosts, ks, "rows100k", format="iceberg", warehouse=warehouse)
    check(verified["status"] == "same", f"{engine}: the export differs from the table: {verified}")
    check_with_pyiceberg(hosts, ks, warehouse, engine)


def check_ray(hosts, ks, scratch):
    import ray

    import cqlbulk.ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        source = cqlbulk.ray.CassandraDatasource(hosts, ks, "rows100k", columns=["id", "c"], splits=16)
        rows = ray.data.read_datasource(source).take_all()
        keys = {(r["id"], r["c"]) for r in rows}
        check(len(rows) == 100_000 and len(keys) == 100_000, f"ray: read {len(rows)} rows, {len(keys)} keys")

        summary = cqlbulk.ray.export_iceberg(
            hosts, ks, "rows100k", shards=3, log_dir=os.path.join(scratch, "ray-job"), warehouse=os.path.join(scratch, "ray-lake")
        )
        check(summary["shards"] == 3 and summary["rows"] == 100_000, f"ray: export {summary}")
        check_with_pyiceberg(hosts, ks, os.path.join(scratch, "ray-lake"), "ray")

        warehouse, job = os.path.join(scratch, "ray-fault-lake"), os.path.join(scratch, "ray-fault-job")
        options = dict(SLOW, warehouse=warehouse, log_dir=job)
        task = ray.remote(max_retries=3)(killed_on_first_attempt)
        marker = os.path.join(scratch, "ray-killed")
        ray.get([task.remote(marker, hosts, ks, "0/2", options), task.remote(None, hosts, ks, "1/2", options)])
        check(os.path.exists(marker), "ray: the first attempt never ran")
        check_export(hosts, ks, warehouse, job, "ray after a killed worker")
    finally:
        ray.shutdown()


def check_spark(hosts, ks, scratch, session):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    import cqlbulk.spark

    # local[2, 3]: two cores, a failed task tried up to three times (as on a cluster).
    spark = SparkSession.builder.master("local[2,3]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        df = cqlbulk.spark.read_table(spark, hosts, ks, "all_types", splits=8)
        # Python's datetime cannot hold every CQL date (±5.8 million years): the compared
        # columns only are brought to the driver.
        rows = df.select("id", "ck", "u", "t", "i").collect()
        expected = {(r.id, r.ck): r for r in session.execute("SELECT id, ck, u, t, i FROM all_types")}
        check(len(rows) == len(expected), f"spark: {len(rows)} rows of all_types, the driver reads {len(expected)}")
        for row in rows:
            want = expected[(row.id, row.ck)]
            check(row.u == (None if want.u is None else str(want.u)), f"spark: u of {row.id, row.ck}: {row.u} vs {want.u}")
            check(row.t == want.t and row.i == want.i, f"spark: values of {row.id, row.ck} differ")
        counted = cqlbulk.spark.read_table(spark, hosts, ks, "rows100k", columns=["id", "c"], splits=12)
        check(counted.count() == 100_000 and counted.distinct().count() == 100_000, "spark: rows100k is not read once")

        summary = cqlbulk.spark.export_iceberg(
            spark, hosts, ks, "rows100k", shards=2, log_dir=os.path.join(scratch, "spark-job"), warehouse=os.path.join(scratch, "spark-lake")
        )
        check(summary["shards"] == 2 and summary["rows"] == 100_000, f"spark: export {summary}")
        check_with_pyiceberg(hosts, ks, os.path.join(scratch, "spark-lake"), "spark")

        warehouse, job = os.path.join(scratch, "spark-fault-lake"), os.path.join(scratch, "spark-fault-job")
        options = dict(SLOW, warehouse=warehouse, log_dir=job)
        marker = os.path.join(scratch, "spark-killed")

        def run(indexes):
            for index in indexes:
                yield str(killed_on_first_attempt(marker if index == 0 else None, hosts, ks, f"{index}/2", options))

        spark.sparkContext.parallelize(range(2), 2).mapPartitions(run).collect()
        check(os.path.exists(marker), "spark: the first attempt never ran")
        check_export(hosts, ks, warehouse, job, "spark after a killed worker")
    finally:
        spark.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    session = Cluster(args.hosts.split(","), connect_timeout=30).connect(args.keyspace)
    check_ray(args.hosts, args.keyspace, args.dir)
    check_spark(args.hosts, args.keyspace, args.dir, session)
    print("check_engines: every check passed")


if __name__ == "__main__":
    main()
