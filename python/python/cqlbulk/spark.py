"""cqlbulk on Spark: a DataFrame of a table read through cqlbulk's splits (one Spark task per
split, `mapInArrow`), and an Iceberg export whose shards are Spark tasks and whose driver
commits once.

    from pyspark.sql import SparkSession
    import cqlbulk.spark
    spark = SparkSession.builder.master("local[2]").getOrCreate()
    df = cqlbulk.spark.read_table(spark, "10.0.0.1", "shop", "orders")
    cqlbulk.spark.export_iceberg(spark, "10.0.0.1", "shop", "orders", shards=8,
                                 log_dir="s3://bucket/ops/orders-1", warehouse="s3://bucket/lake")

Spark has no uuid, time or fixed-size list types and takes timestamps in microseconds: in
the DataFrame a uuid is its canonical text, a `time` its nanoseconds since midnight (as in
cqlbulk's Iceberg tables), a vector a list, a timestamp microseconds; everything else keeps
cqlbulk's Arrow type (docs/types.md).
"""

from __future__ import annotations

import pickle
import uuid
from typing import Any, Iterable, Iterator, Optional

import pyarrow as pa

import cqlbulk



def _spark_type(typ: pa.DataType) -> pa.DataType:
    if isinstance(typ, pa.BaseExtensionType) and typ.extension_name == "arrow.uuid":
        return pa.string()
    if pa.types.is_time(typ):
        return pa.int64()
    if pa.types.is_timestamp(typ):
        return pa.timestamp("us", typ.tz)
    if pa.types.is_fixed_size_list(typ):
        return pa.list_(pa.field(typ.value_field.name, _spark_type(typ.value_type), typ.value_field.nullable))
    if pa.types.is_list(typ):
        return pa.list_(pa.field(typ.value_field.name, _spark_type(typ.value_type), typ.value_field.nullable))
    if pa.types.is_map(typ):
        return pa.map_(
            pa.field(typ.key_field.name, _spark_type(typ.key_type), False),
            pa.field(typ.item_field.name, _spark_type(typ.item_type), typ.item_field.nullable),
        )
    if pa.types.is_struct(typ):
        return pa.struct([pa.field(f.name, _spark_type(f.type), f.nullable, f.metadata) for f in typ])
    return typ


def spark_schema(schema: pa.Schema) -> pa.Schema:
    """The Arrow schema of the batches :func:`read_table` hands Spark."""
    return pa.schema([pa.field(f.name, _spark_type(f.type), f.nullable, f.metadata) for f in schema])


def _spark_array(array: pa.Array) -> pa.Array:
    typ = array.type
    if isinstance(typ, pa.BaseExtensionType) and typ.extension_name == "arrow.uuid":
        return pa.array([None if b is None else str(uuid.UUID(bytes=b)) for b in array.storage.to_pylist()], pa.string())
    if pa.types.is_time(typ) or pa.types.is_timestamp(typ):
        return array.cast(_spark_type(typ))
    if pa.types.is_fixed_size_list(typ):
        size, start = typ.list_size, array.offset
        offsets = pa.array(range(start * size, (start + len(array) + 1) * size, size), pa.int32())
        return pa.ListArray.from_arrays(offsets, _spark_array(array.values), _spark_type(typ), mask=array.is_null())
    if pa.types.is_list(typ):
        return pa.ListArray.from_arrays(array.offsets, _spark_array(array.values), _spark_type(typ), mask=array.is_null())
    if pa.types.is_map(typ):
        return pa.MapArray.from_arrays(
            array.offsets,
            _spark_array(array.keys),
            _spark_array(array.items),
            type=_spark_type(typ),
            mask=array.is_null(),
        )
    if pa.types.is_struct(typ):
        children = [_spark_array(child) for child in array.flatten()]
        return pa.StructArray.from_arrays(children, fields=list(_spark_type(typ)), mask=array.is_null())
    return array


def spark_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch as Spark takes it (see the module's doc)."""
    columns = [_spark_array(column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=spark_schema(batch.schema))


def read_table(spark, hosts, keyspace: str, table: str, columns: Optional[Iterable[str]] = None, **options: Any):
    """The table as a Spark DataFrame: one task per cqlbulk split (`splits=N` sets how many),
    each reading its token range from a replica with :func:`cqlbulk.read_split`."""
    from pyspark.sql.pandas.types import from_arrow_schema

    splits = cqlbulk.plan(hosts, keyspace, table, columns, **options)
    schema = spark_schema(cqlbulk.read_split(splits[0]).schema)
    payloads = [(pickle.dumps(split),) for split in splits]
    tasks = spark.sparkContext.parallelize(payloads, len(payloads)).toDF("split binary")

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import cqlbulk as worker_cqlbulk
        from cqlbulk.spark import spark_batch as convert

        for batch in batches:
            for payload in batch.column(0).to_pylist():
                for rows in worker_cqlbulk.read_split(pickle.loads(payload)):
                    yield convert(rows)

    return tasks.mapInArrow(read, from_arrow_schema(schema))


def export_iceberg(spark, hosts, keyspace: str, table: str, *, shards: int, log_dir: str, **options: Any) -> dict:
    """Exports the table to Iceberg with `shards` Spark tasks (each `unload --shard I/N`; a
    task Spark retries resumes its shard), then commits every shard's data files in one
    snapshot from the driver. `log_dir` is the job's location, shared by every executor, new
    for every export. Returns the commit's summary."""
    options = dict(options, log_dir=log_dir)

    def run(indexes: Iterable[int]) -> Iterator[str]:
        import json

        import cqlbulk as worker_cqlbulk

        for index in indexes:
            summary = worker_cqlbulk.unload(hosts, keyspace, table, format="iceberg", shard=f"{index}/{shards}", **options)
            yield json.dumps(summary)

    spark.sparkContext.parallelize(range(shards), shards).mapPartitions(run).collect()
    return cqlbulk.iceberg_commit(log_dir, **cqlbulk.commit_options(options))
