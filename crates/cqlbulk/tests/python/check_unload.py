#!/usr/bin/env python3
"""Independent check of `cqlbulk unload` output against the table itself.

Reads the table with the Python cassandra-driver, reads the unloaded files with pyarrow
(Parquet), Python's csv / json modules, or PyIceberg (an Iceberg table, whose schema is
checked against the documented mapping too), turns both sides into the same canonical Python
values following docs/types.md, and compares them row by row, keyed by primary key.
Prints the differences and exits 1 if there is any; prints `ok N rows` otherwise.

    check_unload.py --hosts 127.0.0.1 --keyspace ks --table t --format csv --dir DIR \
        [--compression gzip] [--columns a,b]
    check_unload.py --hosts … --keyspace ks --table t --format iceberg --warehouse DIR|s3://… \
        [--catalog-db FILE --s3-endpoint URL] [--catalog-uri URL] [--namespace NS] \
        [--iceberg-table T] [--snapshot-id ID]
"""

import argparse
import base64
import bz2
import csv
import glob
import gzip
import io
import ipaddress
import json
import lzma
import math
import os
import re
import struct
import sys
import uuid
from decimal import Decimal

from cassandra.cluster import Cluster
from cassandra.util import Date, Duration, Time

# ----------------------------------------------------------------------------------------
# CQL types, parsed from the schema's type text (e.g. "frozen<map<text, frozen<list<int>>>>")


def parse_type(text, udts):
    text = text.strip()
    if text.startswith("frozen<"):
        return parse_type(text[len("frozen<"):-1], udts)
    m = re.match(r"^(\w+)<(.*)>$", text, re.S)
    if m:
        name, inner = m.group(1), split_args(m.group(2))
        if name == "vector":
            return ("vector", parse_type(inner[0], udts), int(inner[1]))
        return (name,) + tuple(parse_type(a, udts) for a in inner)
    if text in udts:
        return ("udt", [(n, parse_type(t, udts)) for n, t in udts[text]])
    return (text,)


def split_args(text):
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


# ----------------------------------------------------------------------------------------
# Canonical values: what both sides are turned into before comparing.


def canon_float(value, fmt):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return struct.pack(fmt, value)


def days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400  # floor division already rounds toward minus infinity
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date_text(text):
    m = re.fullmatch(r"([+-]?\d{4,})-(\d{2})-(\d{2})", text)
    assert m, f"not an ISO date: {text!r}"
    return days_from_civil(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def parse_time_text(text):
    m = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?", text)
    assert m, f"not a time: {text!r}"
    frac = (m.group(4) or "").ljust(9, "0")
    return ((int(m.group(1)) * 60 + int(m.group(2))) * 60 + int(m.group(3))) * 10**9 + int(frac or 0)


def parse_timestamp_text(text):
    m = re.fullmatch(r"([+-]?\d{4,}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?Z", text)
    assert m, f"not an ISO-8601 UTC timestamp: {text!r}"
    days = parse_date_text(m.group(1))
    ms = int(m.group(5) or 0)
    return ((days * 24 + int(m.group(2))) * 60 + int(m.group(3))) * 60000 + int(m.group(4)) * 1000 + ms


DURATION_UNITS = {"y": (12, 0, 0), "mo": (1, 0, 0), "w": (0, 7, 0), "d": (0, 1, 0), "h": (0, 0, 3600 * 10**9),
                  "m": (0, 0, 60 * 10**9), "s": (0, 0, 10**9), "ms": (0, 0, 10**6), "us": (0, 0, 10**3),
                  "ns": (0, 0, 1)}


def parse_duration_text(text):
    sign = -1 if text.startswith("-") else 1
    months = days = nanos = 0
    for amount, unit in re.findall(r"(\d+)(mo|ms|us|ns|y|w|d|h|m|s)", text):
        mo, d, n = DURATION_UNITS[unit]
        months += int(amount) * mo
        days += int(amount) * d
        nanos += int(amount) * n
    return (sign * months, sign * days, sign * nanos)


def from_driver(typ, v):
    """A value as the Python cassandra-driver returns it → canonical."""
    if v is None:
        return None
    name = typ[0]
    if name in ("list", "set"):
        return [from_driver(typ[1], x) for x in v]
    if name == "vector":
        return [from_driver(typ[1], x) for x in v]
    if name == "map":
        return [(from_driver(typ[1], k), from_driver(typ[2], x)) for k, x in v.items()]
    if name == "tuple":
        return [from_driver(t, x) for t, x in zip(typ[1:], v)] + [None] * (len(typ) - 1 - len(v))
    if name == "udt":
        return {n: from_driver(t, getattr(v, n, None)) for n, t in typ[1]}
    return scalar_from_driver(name, v)


def scalar_from_driver(name, v):
    if name == "float":
        return canon_float(v, ">f")
    if name == "double":
        return canon_float(v, ">d")
    if name == "decimal":
        return Decimal(v).as_tuple()
    if name == "inet":
        return ipaddress.ip_address(v)
    if name == "date":
        return v.days_from_epoch if isinstance(v, Date) else (v - __import__("datetime").date(1970, 1, 1)).days
    if name == "time":
        return v.nanosecond_time if isinstance(v, Time) else v
    if name == "duration":
        return (v.months, v.days, v.nanoseconds)
    if name in ("uuid", "timeuuid"):
        return uuid.UUID(str(v))
    if name == "blob":
        return bytes(v)
    return v


def from_text(typ, text):
    """A scalar written as text (CSV field, JSON key) → canonical."""
    name = typ[0]
    if name in ("text", "ascii", "varchar"):
        return text
    if name in ("int", "bigint", "smallint", "tinyint", "varint", "counter"):
        return int(text)
    if name == "float":
        return canon_float(float(text), ">f")
    if name == "double":
        return canon_float(float(text), ">d")
    if name == "decimal":
        return Decimal(text).as_tuple()
    if name == "boolean":
        return {"true": True, "false": False}[text]
    if name == "blob":
        return base64.b64decode(text, validate=True)
    if name in ("uuid", "timeuuid"):
        return uuid.UUID(text)
    if name == "inet":
        return ipaddress.ip_address(text)
    if name == "date":
        return parse_date_text(text)
    if name == "time":
        return parse_time_text(text)
    if name == "timestamp":
        return parse_timestamp_text(text)
    if name == "duration":
        return parse_duration_text(text)
    if name in ("list", "set", "map", "tuple", "udt", "vector"):
        return from_json(typ, json.loads(text, parse_float=Decimal))
    raise AssertionError(f"unknown type {typ}")


def from_json(typ, v):
    """A JSON value (parsed with parse_float=Decimal) → canonical."""
    if v is None:
        return None
    name = typ[0]
    if name in ("list", "set", "vector"):
        return [from_json(typ[1], x) for x in v]
    if name == "map":
        return [(from_text(typ[1], k), from_json(typ[2], x)) for k, x in v.items()]
    if name == "tuple":
        return [from_json(t, x) for t, x in zip(typ[1:], v)]
    if name == "udt":
        return {n: from_json(t, v.get(n)) for n, t in typ[1]}
    if name in ("float", "double"):
        if isinstance(v, str):
            return from_text(typ, v)
        return from_text(typ, str(v))
    if name == "decimal":
        return Decimal(str(v)).as_tuple()
    if name in ("int", "bigint", "smallint", "tinyint", "varint", "counter"):
        assert isinstance(v, int), f"{typ}: {v!r} is not a JSON integer"
        return v
    if name == "boolean":
        assert isinstance(v, bool)
        return v
    assert isinstance(v, str), f"{typ}: {v!r} is not a JSON string"
    return from_text(typ, v)


def from_arrow(typ, v):
    """A value as pyarrow's to_pylist returns it → canonical."""
    if v is None:
        return None
    name = typ[0]
    if name in ("list", "set", "vector"):
        return [from_arrow(typ[1], x) for x in v]
    if name == "map":
        return [(from_arrow(typ[1], k), from_arrow(typ[2], x)) for k, x in v]
    if name == "tuple":
        return [from_arrow(t, v[f"f{i}"]) for i, t in enumerate(typ[1:])]
    if name == "udt":
        return {n: from_arrow(t, v[n]) for n, t in typ[1]}
    if name in ("varint",):
        return int(v)
    if name == "decimal":
        return Decimal(v).as_tuple()
    if name == "float":
        return canon_float(v, ">f")
    if name == "double":
        return canon_float(v, ">d")
    if name in ("uuid", "timeuuid"):
        return v if isinstance(v, uuid.UUID) else uuid.UUID(bytes=bytes(v))
    if name == "inet":
        return ipaddress.ip_address(v)
    if name == "duration":
        return (v["months"], v["days"], v["nanoseconds"])
    if name == "blob":
        return bytes(v)
    return v  # ints, text, boolean; date/time/timestamp arrive as raw integers (see read_parquet)


# ----------------------------------------------------------------------------------------
# Reading both sides


def open_text(path):
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    for suffix, fn in opener.items():
        if path.endswith(suffix):
            return fn(path, "rt", encoding="utf-8", newline="")
    if path.endswith(".zst"):
        import subprocess
        data = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        return io.StringIO(data.decode("utf-8"), newline="")
    if path.endswith(".lz4"):
        import subprocess
        data = subprocess.run(["lz4", "-dc", path], check=True, capture_output=True).stdout
        return io.StringIO(data.decode("utf-8"), newline="")
    return open(path, encoding="utf-8", newline="")


def output_files(directory, extension):
    files = sorted(glob.glob(os.path.join(directory, f"*.{extension}*")))
    assert not glob.glob(os.path.join(directory, ".*")), "temporary files left in the output"
    return files


def read_csv(args, types):
    rows = []
    for path in output_files(args.dir, "csv"):
        with open_text(path) as f:
            # cqlbulk's default dialect, DSBulk's: `\"` and `\\` inside quotes.
            reader = csv.reader(f, strict=True, doublequote=False, escapechar="\\")
            header = next(reader)
            # Python's csv module loses the quoted-vs-bare distinction, so nulls (bare empty)
            # and empty strings ("") are told apart from the raw line instead.
            for record, raw in zip(reader, raw_fields(path)):
                row = {}
                for name, text, was_quoted in zip(header, record, raw):
                    row[name] = None if (text == "" and not was_quoted) else from_text(types[name], text)
                rows.append(row)
    return rows


def raw_fields(path):
    """For each data record of a CSV file, whether each field was quoted."""
    with open_text(path) as f:
        data = f.read()
    records, fields, i, quoted, in_quotes, first = [], [], 0, False, False, True
    field_start = True
    while i < len(data):
        c = data[i]
        if in_quotes:
            if c == "\\":
                i += 1  # the escaped character
            elif c == '"':
                in_quotes = False
        elif c == '"' and field_start:
            in_quotes, quoted = True, True
        elif c == ",":
            fields.append(quoted)
            quoted, field_start = False, True
            i += 1
            continue
        elif c == "\n":
            fields.append(quoted)
            if first:
                first = False
            else:
                records.append(fields)
            fields, quoted, field_start = [], False, True
            i += 1
            continue
        field_start = False
        i += 1
    return records


def read_json(args, types):
    rows = []
    for path in output_files(args.dir, "json"):
        with open_text(path) as f:
            text = f.read()
        stripped = text.lstrip()
        objects = json.loads(text, parse_float=Decimal) if stripped.startswith("[") else \
            [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line.strip()]
        for obj in objects:
            rows.append({name: from_json(types[name], value) for name, value in obj.items()})
    return rows


def read_parquet(args, types):
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = []
    for path in output_files(args.dir, "parquet"):
        table = pq.read_table(path)
        # Dates, times and timestamps outside Python's datetime range: compare raw integers.
        columns = {}
        for name in table.column_names:
            col = table.column(name)
            kind = types[name][0]
            if kind == "date":
                col = col.cast(pa.int32())
            elif kind in ("time", "timestamp"):
                col = col.cast(pa.int64())
            columns[name] = col.to_pylist()
        for i in range(table.num_rows):
            rows.append({name: from_arrow(types[name], columns[name][i]) for name in columns})
    return rows


# Iceberg types cqlbulk gives top-level columns by default (docs/types.md); nested types
# follow the same rules.
ICEBERG_DEFAULTS = {
    "ascii": "string", "text": "string", "varchar": "string", "inet": "string",
    "tinyint": "int", "smallint": "int", "int": "int", "bigint": "long", "counter": "long",
    "varint": "string", "decimal": "string", "float": "float", "double": "double",
    "boolean": "boolean", "blob": "binary", "uuid": "uuid", "timeuuid": "uuid",
    "date": "date", "time": "long", "timestamp": "timestamptz",
}


def open_iceberg_table(args):
    if args.catalog_uri and args.catalog_uri.startswith(("postgres://", "postgresql://")):
        # The SQL catalog in PostgreSQL, through SQLAlchemy's pure-Python pg8000 driver.
        from pyiceberg.catalog.sql import SqlCatalog
        rest = args.catalog_uri.split("://", 1)[1]
        catalog = SqlCatalog(args.catalog_name, uri=f"postgresql+pg8000://{rest}", warehouse=f"file://{os.path.abspath(args.warehouse)}")
    elif args.catalog_uri:
        from pyiceberg.catalog.rest import RestCatalog
        s3 = {}
        if args.s3_endpoint:
            # The server keeps the tables in S3: PyIceberg's own S3 FileIO reads them.
            s3 = {
                "s3.endpoint": args.s3_endpoint,
                "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
                "s3.region": "us-east-1",
                "s3.force-virtual-addressing": "false",
            }
        catalog = RestCatalog(args.catalog_name, uri=args.catalog_uri, **s3)
    else:
        from pyiceberg.catalog.sql import SqlCatalog
        if args.warehouse.startswith("gs://"):
            # A warehouse in GCS (the test emulator): PyIceberg's pyarrow GCS client, with a
            # token the emulator does not check.
            catalog = SqlCatalog(
                args.catalog_name,
                uri=f"sqlite:///{os.path.abspath(args.catalog_db)}",
                warehouse=args.warehouse,
                **{
                    "gcs.service.host": args.gcs_endpoint,
                    "gcs.oauth2.token": "unchecked",
                    "gcs.oauth2.token-expires-at": str(4102444800000),
                },
            )
        elif args.warehouse.startswith("s3://"):
            # A warehouse in S3: the catalog's SQLite file is local (--catalog-db); files are
            # read through PyIceberg's own S3 FileIO (pyarrow), credentials from AWS_* variables.
            catalog = SqlCatalog(
                args.catalog_name,
                uri=f"sqlite:///{os.path.abspath(args.catalog_db)}",
                warehouse=args.warehouse,
                **{
                    "s3.endpoint": args.s3_endpoint,
                    "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                    "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
                    "s3.region": "us-east-1",
                    "s3.force-virtual-addressing": "false",
                },
            )
        else:
            warehouse = os.path.abspath(args.warehouse)
            catalog = SqlCatalog(args.catalog_name, uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}")
    return catalog.load_table(f"{args.namespace or args.keyspace}.{args.iceberg_table or args.table}")


def read_iceberg(args, types):
    """The table as PyIceberg scans it (its own Parquet and manifest readers)."""
    import pyarrow as pa
    table = open_iceberg_table(args)
    schema = table.schema()
    problems = []
    key = set(args.key)
    for name, typ in types.items():
        field = schema.find_field(name)
        expected = args.expect_type.get(name, ICEBERG_DEFAULTS.get(typ[0]))
        if expected and str(field.field_type) != expected:
            problems.append(f"{name}: Iceberg type {field.field_type}, expected {expected}")
        if name in args.partition_key and not field.required:
            problems.append(f"{name}: a partition key column must be a required field")
        if name not in key and field.required:
            problems.append(f"{name}: a regular column must be optional")
        if not field.doc:
            problems.append(f"{name}: no CQL type in the field doc")
    if problems:
        raise SystemExit("\n".join(problems))
    scan = table.scan(snapshot_id=args.snapshot_id) if args.snapshot_id else table.scan()
    arrow = scan.to_arrow()
    rows = []
    columns = {}
    for name in arrow.column_names:
        if name not in types:
            continue
        col = arrow.column(name)
        kind = types[name][0]
        if kind == "date":
            col = col.cast(pa.int32())
        elif kind == "time" and pa.types.is_time(col.type):
            columns[name] = [None if m is None else m * 1000 for m in col.cast(pa.int64()).to_pylist()]
            continue
        elif kind == "timestamp" and pa.types.is_timestamp(col.type):
            micros = col.cast(pa.int64()).to_pylist()
            assert all(m is None or m % 1000 == 0 for m in micros), f"{name}: sub-millisecond timestamps"
            columns[name] = [None if m is None else m // 1000 for m in micros]
            continue
        columns[name] = col.to_pylist()
    for i in range(arrow.num_rows):
        rows.append({name: from_arrow(types[name], columns[name][i]) for name in columns})
    return rows


def read_table(args, types, session):
    """The table through the driver, with timestamps as raw milliseconds (any range)."""
    select = []
    for name, typ in types.items():
        quoted = '"' + name.replace('"', '""') + '"'
        select.append(f"blobAsBigint(timestampAsBlob({quoted}))" if typ == ("timestamp",) else quoted)
    names = list(types)
    out = []
    for row in session.execute(f'SELECT {", ".join(select)} FROM "{args.keyspace}"."{args.table}"'):
        out.append({n: (v if types[n] == ("timestamp",) else from_driver(types[n], v)) for n, v in zip(names, row)})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--format", required=True, choices=["csv", "json", "parquet", "iceberg"])
    parser.add_argument("--dir")
    parser.add_argument("--columns")
    # Iceberg: the catalog (embedded SQL in --warehouse, or REST) and table to read.
    parser.add_argument("--warehouse")
    parser.add_argument("--catalog-uri")
    parser.add_argument("--catalog-db", help="the SQLite file of a catalog whose warehouse is in S3")
    parser.add_argument("--s3-endpoint", help="the S3-compatible endpoint of such a warehouse")
    parser.add_argument("--gcs-endpoint", help="the GCS endpoint of a warehouse in gs://")
    parser.add_argument("--catalog-name", default="cqlbulk")
    parser.add_argument("--namespace")
    parser.add_argument("--iceberg-table")
    parser.add_argument("--snapshot-id", type=int)
    # NAME=TYPE: a column exported with a typed option (e.g. dec=decimal(38, 6)).
    parser.add_argument("--expect-type", action="append", default=[])
    args = parser.parse_args()
    args.expect_type = dict(item.split("=", 1) for item in args.expect_type)

    cluster = Cluster(args.hosts.split(","))
    session = cluster.connect()
    meta = cluster.metadata.keyspaces[args.keyspace]
    udts = {f"{args.keyspace}.{n}": list(zip(u.field_names, u.field_types)) for n, u in meta.user_types.items()}
    udts.update({n: list(zip(u.field_names, u.field_types)) for n, u in meta.user_types.items()})
    table = meta.tables[args.table]
    key = [c.name for c in table.primary_key]
    args.key = key
    args.partition_key = [c.name for c in table.partition_key]
    columns = args.columns.split(",") if args.columns else list(table.columns)
    types = {n: parse_type(table.columns[n].cql_type, udts) for n in columns}

    expected = read_table(args, types, session)
    readers = {"csv": read_csv, "json": read_json, "parquet": read_parquet, "iceberg": read_iceberg}
    actual = readers[args.format](args, types)

    def keyed(rows, what):
        out = {}
        for row in rows:
            k = tuple(repr(row.get(c)) for c in key if c in row)
            assert k not in out, f"{what}: key {k} appears twice"
            out[k] = row
        return out

    exp, act = keyed(expected, "table"), keyed(actual, "output")
    problems = []
    for k in sorted(set(exp) | set(act)):
        if k not in act:
            problems.append(f"missing from output: {k}")
        elif k not in exp:
            problems.append(f"not in the table: {k}")
        else:
            for name in columns:
                if exp[k].get(name) != act[k].get(name):
                    problems.append(f"{k} {name}: table {exp[k].get(name)!r} != output {act[k].get(name)!r}")
    if problems:
        print("\n".join(problems[:50]))
        print(f"{len(problems)} differences")
        return 1
    print(f"ok {len(actual)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
