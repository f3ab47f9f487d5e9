"""cqlbulk on Ray: a Ray Data datasource that reads a table through cqlbulk's splits, and an
Iceberg export whose shards are Ray tasks and whose driver commits once.

    import ray, cqlbulk.ray
    ds = ray.data.read_datasource(cqlbulk.ray.CassandraDatasource("10.0.0.1", "shop", "orders"))
    cqlbulk.ray.export_iceberg("10.0.0.1", "shop", "orders", shards=8,
                               log_dir="s3://bucket/ops/orders-1", warehouse="s3://bucket/lake", ...)

Ray retries a task whose worker died; a retried shard resumes its own operation, so each row
still lands once (see the shards section of the README).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import pyarrow as pa
import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

import cqlbulk

class CassandraDatasource(Datasource):
    """A Cassandra table as a Ray Dataset: the table's splits (cqlbulk's plan) are grouped
    into `parallelism` read tasks, each reading its splits with :func:`cqlbulk.read_split`."""

    def __init__(self, hosts, keyspace: str, table: str, columns: Optional[Iterable[str]] = None, **options: Any):
        self._splits = cqlbulk.plan(hosts, keyspace, table, columns, **options)
        self._schema = cqlbulk.read_split(self._splits[0]).schema

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None) -> list[ReadTask]:
        groups = max(1, min(parallelism, len(self._splits)))
        tasks = []
        for g in range(groups):
            splits = self._splits[g::groups]

            def read(splits=splits) -> Iterable[pa.Table]:
                reader = cqlbulk.read_split(splits)
                for batch in reader:
                    yield pa.Table.from_batches([batch])

            # Rows and bytes are unknown until read (the splits' shares of the ring say little
            # about a skewed table).
            metadata = BlockMetadata(None, None, None, None)
            tasks.append(ReadTask(read, metadata, schema=self._schema))
        return tasks


@ray.remote(max_retries=3)
def _shard(hosts, keyspace: str, table: str, shard: str, options: dict) -> dict:
    return cqlbulk.unload(hosts, keyspace, table, format="iceberg", shard=shard, **options)


def export_iceberg(hosts, keyspace: str, table: str, *, shards: int, log_dir: str, **options: Any) -> dict:
    """Exports the table to Iceberg with `shards` Ray tasks (each `unload --shard I/N`, retried
    by Ray if its worker dies), then commits all shards' data files in one snapshot from the
    driver. `log_dir` is the job's location, shared by every worker (a shared directory or an
    object-store prefix), new for every export. Returns the commit's summary."""
    options = dict(options, log_dir=log_dir)
    ray.get([_shard.remote(hosts, keyspace, table, f"{i}/{shards}", options) for i in range(shards)])
    return cqlbulk.iceberg_commit(log_dir, **cqlbulk.commit_options(options))
