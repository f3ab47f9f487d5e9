"""cqlbulk: move whole Apache Cassandra tables in and out, exactly once.

The jobs take the command line's options as keyword arguments (``max_rows_per_second=50000``
is ``--max-rows-per-second 50000``; ``True`` is a bare flag; a list is comma-separated) and
return the job's summary as a dict, the same as its ``summary.json``::

    import cqlbulk
    cqlbulk.count("127.0.0.1", "shop", "orders")["rows"]
    cqlbulk.unload("127.0.0.1", "shop", "orders", format="iceberg", warehouse="/data/lake")

A failure raises :class:`CqlbulkError` with the program's one-line message, its ``kind``
(``bad_input``, ``connection``, ``incomplete_scan``, ...) and ``exit_code``.

Rows come straight into Python as Arrow: :func:`scan` streams a whole table as a
``pyarrow.RecordBatchReader`` (no copy, bounded memory); :func:`plan` cuts it into
picklable :class:`Split` objects and :func:`read_split` reads any of them anywhere, so an
engine (Spark, Ray, a process pool) can spread the reading over its workers.

The password is never an argument: ``username=...`` with ``password_file=...`` or the
``CQLBULK_PASSWORD`` environment variable, as for the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import CqlbulkError

__all__ = [
    "COMMIT_OPTIONS",
    "CqlbulkError",
    "Split",
    "commit_options",
    "count",
    "iceberg_commit",
    "load",
    "plan",
    "read_split",
    "scan",
    "unload",
    "verify",
]

Hosts = Union[str, Sequence[str]]


def _flags(options: dict[str, Any]) -> list[str]:
    """Keyword arguments as command-line flags."""
    argv: list[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _table(hosts: Hosts, keyspace: str, table: Optional[str]) -> list[str]:
    argv = ["-h", hosts if isinstance(hosts, str) else ",".join(hosts), "-k", keyspace]
    if table is not None:
        argv += ["-t", table]
    return argv


def _run(argv: list[str]) -> dict:
    return json.loads(_native.run(argv))


def _complete(what: str, summary: dict) -> dict:
    """The summary of a scan that read every token range; else the program's error."""
    failed = summary.get("splits_failed") or 0
    if summary.get("status") == "failed" or failed:
        errors = summary.get("errors") or []
        error = CqlbulkError(
            f"{what}: {failed} of {summary.get('splits')} token ranges failed"
            + (f" (first: {errors[0]})" if errors else "")
            + (
                f"; after fixing the cause, resume with resume={summary['operation']!r}"
                if what == "unload" and summary.get("operation")
                else ""
            )
        )
        error.kind = "incomplete_scan"
        error.exit_code = 1
        error.summary = summary
        raise error
    return summary


def count(hosts: Hosts, keyspace: str, table: str, **options: Any) -> dict:
    """Counts the table's rows exactly (``cqlbulk count``): ``summary["rows"]``."""
    return _complete("count", _run(["count"] + _table(hosts, keyspace, table) + _flags(options)))


def unload(hosts: Hosts, keyspace: str, table: Optional[str] = None, **options: Any) -> dict:
    """Unloads the table (every table of the keyspace without ``table``) as ``cqlbulk
    unload`` does: ``format=`` csv, json, parquet or iceberg, ``url=`` or ``warehouse=``,
    ``shard="I/N"``, ``resume=``..."""
    summary = _run(["unload"] + _table(hosts, keyspace, table) + _flags(options))
    return _complete("unload", summary) if table is not None else summary


def load(hosts: Hosts, keyspace: str, table: Optional[str] = None, **options: Any) -> dict:
    """Loads files or an Iceberg table into the table (``cqlbulk load``)."""
    return _run(["load"] + _table(hosts, keyspace, table) + _flags(options))


def verify(hosts: Hosts, keyspace: str, table: str, **options: Any) -> dict:
    """Compares the table with a dataset (``cqlbulk verify``): ``summary["status"]`` is
    ``"same"`` when they hold the same rows."""
    return _run(["verify"] + _table(hosts, keyspace, table) + _flags(options))


def iceberg_commit(operation: str, **options: Any) -> dict:
    """Commits every shard of a sharded Iceberg export in one snapshot, once (``cqlbulk
    iceberg commit``); ``operation`` is the location the shards shared as ``log_dir``."""
    return _run(["iceberg", "commit", "--operation", operation] + _flags(options))


#: Options `iceberg commit` shares with `unload`: the catalog's and the storage's.
COMMIT_OPTIONS = frozenset(
    {
        "warehouse",
        "catalog_db",
        "catalog_uri",
        "catalog_token",
        "catalog_credential",
        "catalog_name",
        "s3_endpoint",
        "s3_region",
        "s3_virtual_host_style",
        "azure_endpoint",
        "gcs_endpoint",
        "gcs_anonymous",
    }
)


def commit_options(unload_options: dict) -> dict:
    """The options of a sharded export's commit, taken from its shards' unload options."""
    return {k: v for k, v in unload_options.items() if k in COMMIT_OPTIONS}


@dataclass(frozen=True)
class Split:
    """One token range of a table's scan, with what reading it needs but the password:
    picklable, so an engine can ship it to any worker for :func:`read_split`."""

    index: int
    start: int
    end: int
    #: The replicas' addresses, preferred first: where an engine may place the task.
    replicas: tuple[str, ...]
    #: The scan's command-line flags (hosts, table, columns, options).
    args: tuple[str, ...]


def _scan_args(hosts: Hosts, keyspace: str, table: str, columns: Optional[Iterable[str]], options: dict) -> list[str]:
    if columns is not None:
        options = dict(options, columns=list(columns))
    return _table(hosts, keyspace, table) + _flags(options)


def scan(hosts: Hosts, keyspace: str, table: str, columns: Optional[Iterable[str]] = None, **options: Any) -> pa.RecordBatchReader:
    """The whole table as a stream of Arrow batches (the documented CQL -> Arrow types),
    read by token range, ``concurrency`` ranges at once, memory bounded."""
    args = _scan_args(hosts, keyspace, table, columns, options)
    return _native.open_scan(["unload"] + args).read()


def plan(hosts: Hosts, keyspace: str, table: str, columns: Optional[Iterable[str]] = None, **options: Any) -> list[Split]:
    """The table's scan cut into splits (``splits=N`` of them, or cqlbulk's default) that
    together cover the ring once; read each with :func:`read_split`."""
    args = _scan_args(hosts, keyspace, table, columns, options)
    opened = _native.open_scan(["unload"] + args)
    return [
        Split(s["index"], s["start"], s["end"], tuple(s["replicas"]), tuple(args))
        for s in json.loads(opened.splits())
    ]


def read_split(split: Union[Split, Sequence[Split]], **options: Any) -> pa.RecordBatchReader:
    """The rows of one split (or of several splits of one scan) as Arrow batches; ``options``
    add flags, e.g. ``username`` and ``password_file`` on a worker."""
    splits = [split] if isinstance(split, Split) else list(split)
    if not splits:
        raise CqlbulkError("read_split: no split given")
    args = list(splits[0].args) + _flags(options)
    opened = _native.open_scan(["unload"] + args)
    specs = [{"index": s.index, "start": s.start, "end": s.end, "replicas": list(s.replicas)} for s in splits]
    return opened.read(json.dumps(specs))
