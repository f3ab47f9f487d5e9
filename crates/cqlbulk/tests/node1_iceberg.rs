//! `cqlbulk unload --format iceberg` on one node, read back by PyIceberg from the embedded
//! SQL catalog and from a real REST catalog server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::scenarios::{create_all_types, fill_100k};
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// `cqlbulk unload … --format iceberg` with the given catalog and extra flags.
fn export(ks: &str, table: &str, log_dir: &Path, extra: &[&str]) -> std::process::Output {
    let log_dir = log_dir.to_str().unwrap();
    let mut args = vec!["unload", "-h", hosts(), "-k", ks, "-t", table, "--format", "iceberg", "-q"];
    args.extend_from_slice(&["--log-dir", log_dir]);
    args.extend_from_slice(extra);
    cqlbulk(&args)
}

/// The table's snapshots as `cqlbulk iceberg snapshots --json` lists them.
fn snapshots(catalog: &[&str], namespace: &str, table: &str) -> Vec<serde_json::Value> {
    let mut args = vec!["iceberg", "snapshots", "--namespace", namespace, "--table", table, "--json"];
    args.extend_from_slice(catalog);
    expect_success(&cqlbulk(&args)).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Parquet data files under an Iceberg table directory.
fn data_files(table_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![table_dir.join("data")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found
}

/// What: the all-types table (every CQL type, extremes, nulls, a static-only partition) and
/// a counter table exported to the embedded SQL catalog; PyIceberg's SqlCatalog reads every
/// value equal to what the Python driver reads from Cassandra, the schema follows the
/// documented mapping (CQL type in each field doc, key columns required), and the one
/// snapshot records where the data came from. Why: Iceberg is the headline format, and it
/// must lose nothing and be readable by an engine other than ours.
#[tokio::test(flavor = "multi_thread")]
async fn all_types_read_back_by_pyiceberg_from_sql_catalog() {
    let ks = TestKeyspace::connect(hosts(), "ice_types", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let root = scratch_dir("ice-types");
    let warehouse = root.join("lake");
    let catalog = ["--warehouse", warehouse.to_str().unwrap()];
    for table in ["all_types", "counters"] {
        expect_success(&export(&ks.name, table, &root.join("logs"), &catalog));
        check_iceberg(hosts(), &ks.name, table, &catalog);
    }
    let list = snapshots(&catalog, &ks.name, "all_types");
    assert_eq!(list.len(), 1, "one snapshot per run: {list:?}");
    assert_eq!(list[0]["operation"], "append");
    assert_eq!(list[0]["added_records"], 7);
    assert_eq!(list[0]["source_table"], format!("{}.all_types", ks.name));
    assert!(list[0]["run_id"].as_str().is_some_and(|r| !r.is_empty()));

    // Identifier fields are the primary key when Iceberg allows it (no static columns).
    let identifiers = python_snippet(
        "import sys\nfrom pyiceberg.catalog.sql import SqlCatalog\n\
         w = sys.argv[1]\nc = SqlCatalog('cqlbulk', uri=f'sqlite:///{w}/catalog.db', warehouse=f'file://{w}')\n\
         for t in sys.argv[2:]:\n    s = c.load_table(t).schema()\n    \
         print(t.split('.')[1], sorted(s.find_column_name(i) for i in s.identifier_field_ids))",
        &[warehouse.to_str().unwrap(), &format!("{}.all_types", ks.name), &format!("{}.counters", ks.name)],
    );
    assert!(
        identifiers.contains("all_types []"),
        "a table with static columns has no identifier: {identifiers}"
    );
    assert!(identifiers.contains("counters ['id']"), "{identifiers}");
}

/// What: the all-types table exported through a real Iceberg REST catalog server (Apache
/// Iceberg's RESTCatalogServer from Maven Central, started by the harness) and read back by
/// PyIceberg's RestCatalog. Why: production lakehouses sit behind REST catalogs; the
/// export must work with the reference server, whose field ids and paths differ from ours.
#[tokio::test(flavor = "multi_thread")]
async fn all_types_through_rest_catalog() {
    let ks = TestKeyspace::connect(hosts(), "ice_rest", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let root = scratch_dir("ice-rest");
    let warehouse = root.join("rest-lake");
    let (_server, uri) = RestServer::start(&["--port", "18181", "--warehouse", warehouse.to_str().unwrap()]);
    let catalog = ["--catalog-uri", &uri];
    expect_success(&export(&ks.name, "all_types", &root.join("logs"), &catalog));
    check_iceberg(hosts(), &ks.name, "all_types", &catalog);
    assert_eq!(snapshots(&catalog, &ks.name, "all_types").len(), 1);
    let files = data_files(&warehouse.join(&ks.name).join("all_types"));
    assert!(!files.is_empty(), "data files are written under the REST catalog's warehouse");
}

/// What: a table partitioned by `day(ts), bucket(4, id)`: PyIceberg reads every row, a
/// filter on the partition column plans only the files of that day, every file's rows
/// belong to its partition, there is exactly one file per partition (whatever the number of
/// splits), each sorted by the primary key (id, ts), the table's recorded sort order. Why:
/// partitioning is what makes the export fast to query, routing must be right however rows
/// arrive in token order, and engines plan a task per file and skip by sorted statistics.
#[tokio::test(flavor = "multi_thread")]
async fn partitioned_export_prunes_files() {
    let ks = TestKeyspace::connect(hosts(), "ice_part", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.events (id int, ts timestamp, v text, PRIMARY KEY (id, ts))").await;
    let insert = ks.prepare("INSERT INTO {ks}.events (id, ts, v) VALUES (?, ?, ?)").await;
    let day_ms = 86_400_000i64;
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let rows: Vec<(i32, scylla::value::CqlTimestamp, String)> = (0..2000)
        .map(|i| {
            (
                i % 200,
                scylla::value::CqlTimestamp(start + (i as i64 % 5) * day_ms + i as i64),
                format!("v{i}"),
            )
        })
        .collect();
    insert_all(&ks.session, &insert, rows).await;
    let root = scratch_dir("ice-part");
    let warehouse = root.join("lake");
    let catalog = ["--warehouse", warehouse.to_str().unwrap()];
    let mut extra = catalog.to_vec();
    extra.extend_from_slice(&["--partition-by", "day(ts), bucket(4, id)", "--splits", "24"]);
    expect_success(&export(&ks.name, "events", &root.join("logs"), &extra));
    check_iceberg(hosts(), &ks.name, "events", &catalog);

    let out = python_snippet(
        r#"
import sys, datetime
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan
w, name = sys.argv[1], sys.argv[2]
t = SqlCatalog("cqlbulk", uri=f"sqlite:///{w}/catalog.db", warehouse=f"file://{w}").load_table(name)
print("spec", t.spec())
print("sort order", [(t.schema().find_column_name(f.source_id), str(f.direction), str(f.null_order)) for f in t.sort_order().fields])
all_files = list(t.scan().plan_files())
day = datetime.datetime(2026, 1, 3, tzinfo=datetime.timezone.utc)
flt = And(GreaterThanOrEqual("ts", day.isoformat()), LessThan("ts", (day + datetime.timedelta(days=1)).isoformat()))
scan = t.scan(row_filter=flt)
some = list(scan.plan_files())
rows = scan.to_arrow()
days = {r.date() for r in rows.column("ts").to_pylist()}
print("files", len(all_files), "planned", len(some), "rows", rows.num_rows, "days", sorted(str(d) for d in days))
for task in all_files:
    f = task.file
    part = f.partition
    import pyarrow.parquet as pq
    tbl = pq.read_table(f.file_path.replace("file://", ""))
    got = {(r.date() - datetime.date(1970, 1, 1)).days for r in tbl.column("ts").to_pylist()}
    assert got == {part[0]}, f"{f.file_path}: days {got} in partition {part}"
    keys = list(zip(tbl.column("id").to_pylist(), tbl.column("ts").to_pylist()))
    assert keys == sorted(keys), f"{f.file_path} is not sorted by (id, ts)"
print("partitions ok", len({tuple(t.file.partition) for t in all_files}))
"#,
        &[warehouse.to_str().unwrap(), &format!("{}.events", ks.name)],
    );
    let numbers: Vec<&str> =
        out.lines().find(|l| l.starts_with("files")).unwrap().split_whitespace().collect();
    let (files, planned, rows): (usize, usize, usize) =
        (numbers[1].parse().unwrap(), numbers[3].parse().unwrap(), numbers[5].parse().unwrap());
    assert_eq!(files, 20, "5 days × 4 buckets: one file per partition from 24 splits: {out}");
    assert!(out.contains("sort order [('id', 'ASC', 'NULLS FIRST'), ('ts', 'ASC', 'NULLS FIRST')]"), "{out}");
    assert!(planned * 4 <= files, "the day filter prunes to about a fifth of the files: {out}");
    assert_eq!(rows, 400, "{out}");
    assert!(out.contains("days ['2026-01-03']"), "{out}");
    assert!(out.contains("partitions ok 20"), "{out}");
}

/// What: export, then `ALTER TABLE … ADD c` and `DROP b` in Cassandra, more rows, export
/// again: PyIceberg sees column c (null in the first export's rows), b stays (null in the
/// second export's rows), old data files are not rewritten, and there are two snapshots.
/// Why: tables change; re-exports must follow without breaking readers of older data.
#[tokio::test(flavor = "multi_thread")]
async fn schema_evolution_adds_and_keeps_columns() {
    let ks = TestKeyspace::connect(hosts(), "ice_evolve", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, a text, b int)").await;
    for i in 0..50 {
        ks.execute(&format!("INSERT INTO {{ks}}.t (id, a, b) VALUES ({i}, 'a{i}', {i})")).await;
    }
    let root = scratch_dir("ice-evolve");
    let warehouse = root.join("lake");
    let catalog = ["--warehouse", warehouse.to_str().unwrap()];
    expect_success(&export(&ks.name, "t", &root.join("logs"), &catalog));
    let table_dir = warehouse.join(&ks.name).join("t");
    let first_files = data_files(&table_dir);
    let modified: Vec<_> =
        first_files.iter().map(|f| std::fs::metadata(f).unwrap().modified().unwrap()).collect();

    ks.execute("ALTER TABLE {ks}.t ADD c list<text>").await;
    ks.execute("ALTER TABLE {ks}.t DROP b").await;
    for i in 50..80 {
        ks.execute(&format!("INSERT INTO {{ks}}.t (id, a, c) VALUES ({i}, 'a{i}', ['c{i}'])")).await;
    }
    expect_success(&export(&ks.name, "t", &root.join("logs"), &catalog));
    for (file, before) in first_files.iter().zip(&modified) {
        assert_eq!(
            std::fs::metadata(file).unwrap().modified().unwrap(),
            *before,
            "{} was rewritten",
            file.display()
        );
    }
    assert_eq!(snapshots(&catalog, &ks.name, "t").len(), 2);

    let out = python_snippet(
        r#"
import sys
from pyiceberg.catalog.sql import SqlCatalog
w, name = sys.argv[1], sys.argv[2]
t = SqlCatalog("cqlbulk", uri=f"sqlite:///{w}/catalog.db", warehouse=f"file://{w}").load_table(name)
print("columns", [f.name for f in t.schema().fields])
print("c type", t.schema().find_field("c").field_type, t.schema().find_field("c").doc)
first, second = sorted(t.snapshots(), key=lambda s: s.timestamp_ms)
old = t.scan(snapshot_id=first.snapshot_id).to_arrow()
print("old", old.num_rows, "columns", old.column_names)
new = t.scan().to_arrow().to_pylist()
from_first = [r for r in new if r["b"] is not None]
print("all", len(new), "first export", len(from_first), "c set there", sum(r["c"] is not None for r in from_first),
      "c set", sum(r["c"] is not None for r in new))
"#,
        &[warehouse.to_str().unwrap(), &format!("{}.t", ks.name)],
    );
    assert!(out.contains("columns ['id', 'a', 'b', 'c']"), "{out}");
    assert!(out.contains("c type list<string> list<text>"), "{out}");
    // Time travel to the first snapshot reads it with the schema it was written with.
    assert!(out.contains("old 50 columns ['id', 'a', 'b']"), "{out}");
    // Now: 50 rows of the first export (b set, c null) + 80 of the second (b dropped, so
    // null; c set on the 30 new rows).
    assert!(out.contains("all 130 first export 50 c set there 0 c set 30"), "{out}");
}

/// What: typed options — `--decimal-as decimal(10,2)`, `--varint-as decimal(38,0)`,
/// `--time-as time`, `--timestamp-as long` — give those Iceberg types with exact values;
/// a value that does not fit stops the run with a message naming the column and the row's
/// key, and commits nothing. Why: analytics want native types, but never at the price of
/// silently rounded or truncated data.
#[tokio::test(flavor = "multi_thread")]
async fn typed_options_convert_exactly_or_fail_loudly() {
    let ks = TestKeyspace::connect(hosts(), "ice_typed", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, dec decimal, vi varint, tm time, ts timestamp)")
        .await;
    ks.execute(
        "INSERT INTO {ks}.t (id, dec, vi, tm, ts) VALUES (1, 12345678.90, 99999999999999999999999999999999999999, \
         '23:59:59.999999', '2024-05-01T10:11:12.345Z')",
    )
    .await;
    ks.execute(
        "INSERT INTO {ks}.t (id, dec, vi, tm, ts) VALUES (2, -0.05, -7, '00:00:00', -8000000000000000)",
    )
    .await;
    ks.execute("INSERT INTO {ks}.t (id) VALUES (3)").await;
    let root = scratch_dir("ice-typed");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    let typed = [
        "--warehouse",
        w,
        "--decimal-as",
        "decimal(10,2)",
        "--varint-as",
        "decimal(38,0)",
        "--time-as",
        "time",
        "--timestamp-as",
        "long",
    ];
    expect_success(&export(&ks.name, "t", &root.join("logs"), &typed));
    check_iceberg(
        hosts(),
        &ks.name,
        "t",
        &[
            "--warehouse",
            w,
            "--expect-type",
            "dec=decimal(10, 2)",
            "--expect-type",
            "vi=decimal(38, 0)",
            "--expect-type",
            "tm=time",
            "--expect-type",
            "ts=long",
        ],
    );

    // One value too many digits after the point: the run stops, naming column and key.
    ks.execute("INSERT INTO {ks}.t (id, dec) VALUES (4, 1.234)").await;
    let out = export(
        &ks.name,
        "t",
        &root.join("logs"),
        &["--warehouse", w, "--decimal-as", "decimal(10,2)", "--iceberg-table", "t2"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("column dec, key (id=4)") && message.contains("1.234 does not fit decimal(10,2)"),
        "{message}"
    );
    assert!(snapshots(&["--warehouse", w], &ks.name, "t2").is_empty(), "a failed run commits nothing");
    assert!(message.contains("--resume"), "the finished ranges' files are kept for a resume: {message}");

    // Sub-microsecond time under --time-as time, and a timestamp beyond timestamptz.
    ks.execute("INSERT INTO {ks}.t (id, tm) VALUES (5, '01:02:03.000000001')").await;
    let out = export(
        &ks.name,
        "t",
        &root.join("logs"),
        &["--warehouse", w, "--time-as", "time", "--iceberg-table", "t3"],
    );
    assert!(stderr(&out).contains("column tm, key (id=5)"), "{}", stderr(&out));
    ks.execute("DELETE FROM {ks}.t WHERE id IN (4, 5)").await;
    ks.execute("INSERT INTO {ks}.t (id, ts) VALUES (6, 9223372036854775807)").await;
    let out = export(&ks.name, "t", &root.join("logs"), &["--warehouse", w, "--iceberg-table", "t4"]);
    assert!(
        stderr(&out).contains("column ts, key (id=6)") && stderr(&out).contains("--timestamp-as long"),
        "{}",
        stderr(&out)
    );
}

/// Starts a slow Iceberg export (many small splits, one at a time) to stop in the middle.
fn start_slow_export(ks: &str, warehouse: &Path, log_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", ks, "-t", "rows100k", "--format", "iceberg", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200"])
        .arg("--warehouse")
        .arg(warehouse)
        .arg("--log-dir")
        .arg(log_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What: an Iceberg export SIGKILLed mid-run shows no snapshot (nothing visible); resume
/// reuses the finished splits' data files, deletes the unrecorded ones, and commits one
/// snapshot holding every row exactly once; resuming again after the commit finds the run
/// id in the table and does not commit twice. Why: a crash must never expose partial data,
/// lose rows or duplicate them.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_then_resume_commits_exactly_once() {
    let ks = TestKeyspace::connect(hosts(), "ice_resume", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let root = scratch_dir("ice-resume");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    let log_dir = root.join("logs");
    let mut child = start_slow_export(&ks.name, &warehouse, &log_dir);
    let operation = wait_for_checkpoint(&log_dir, 5);
    child.kill().unwrap();
    assert!(child.wait().unwrap().code().is_none(), "the export finished before it could be killed");
    assert!(
        snapshots(&["--warehouse", w], &ks.name, "rows100k").is_empty(),
        "nothing is visible before the commit"
    );

    let resume = |op: &Path| {
        expect_success(&cqlbulk(&[
            "unload",
            "-h",
            hosts(),
            "-k",
            &ks.name,
            "-t",
            "rows100k",
            "--format",
            "iceberg",
            "-q",
            "--warehouse",
            w,
            "--resume",
            op.to_str().unwrap(),
        ]))
    };
    resume(&operation);
    check_iceberg(hosts(), &ks.name, "rows100k", &["--warehouse", w]);
    let list = snapshots(&["--warehouse", w], &ks.name, "rows100k");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["added_records"], 100_000);
    // Every data file on disk is in the snapshot: the killed attempt's leftovers are gone.
    let on_disk = data_files(&warehouse.join(&ks.name).join("rows100k")).len();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["files"], on_disk, "{summary}");

    // As if the commit landed but the run died before recording it: resume commits nothing.
    resume(&operation);
    assert_eq!(snapshots(&["--warehouse", w], &ks.name, "rows100k").len(), 1);
}

/// What: three exports of the same table into the same Iceberg table at once: all three
/// commit (conflicting commits are retried on fresh metadata), giving three snapshots with
/// their own run ids and three copies of every row. Why: a scheduled export may overlap
/// with another writer; a commit conflict must not fail a finished export.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_exports_all_commit() {
    let ks = TestKeyspace::connect(hosts(), "ice_conc", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    for i in 0..100 {
        ks.execute(&format!("INSERT INTO {{ks}}.t (id, v) VALUES ({i}, 'v{i}')")).await;
    }
    let root = scratch_dir("ice-conc");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    // Create the table first, so that the three runs race on commits, not on creation.
    expect_success(&export(&ks.name, "t", &root.join("logs"), &["--warehouse", w]));
    let children: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
                .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "--format", "iceberg", "-q"])
                .args(["--warehouse", w, "--log-dir"])
                .arg(root.join("logs"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        expect_success(&child.wait_with_output().unwrap());
    }
    let list = snapshots(&["--warehouse", w], &ks.name, "t");
    assert_eq!(list.len(), 4);
    let runs: std::collections::HashSet<_> =
        list.iter().map(|s| s["run_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(runs.len(), 4, "every run has its own id: {list:?}");
    assert_eq!(list.last().unwrap()["total_records"], 400);
}

/// The test PostgreSQL server (harness/postgres.py), started once; its connection URL.
fn postgres_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let started = Command::new("python3")
            .arg(repo_root().join("harness/postgres.py"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        String::from_utf8(started.stdout).unwrap().trim().to_string()
    })
}

/// Runs SQL statements on the test server's database `database` (pg8000, autocommit).
fn postgres_sql(database: &str, statements: &[&str]) {
    python_snippet(
        r#"
import sys, urllib.parse, pg8000.native
u = urllib.parse.urlparse(sys.argv[1])
c = pg8000.native.Connection(u.username, host=u.hostname, port=u.port, password=u.password, database=sys.argv[2])
for statement in sys.argv[3:]:
    c.run(statement)
"#,
        &[&[postgres_url(), database][..], statements].concat(),
    );
}

/// What: the SQL catalog in a real PostgreSQL server (harness/postgres.py, zonky's
/// PostgreSQL binaries from Maven Central): the all-types table exported there is read back
/// by PyIceberg's SqlCatalog (SQLAlchemy + pg8000) equal to what the Python driver reads;
/// three exports into one table at once all commit once (PostgreSQL's compare-and-swap on
/// the metadata location makes the losers retry); the password, given once in the URL and
/// once as PGPASSWORD, is in no file of the operation directories.
/// Why: teams share a catalog database; a commit lost or doubled under concurrency, or a
/// password left in a log, is a production incident.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_catalog_commits_once_under_concurrency() {
    let ks = TestKeyspace::connect(hosts(), "ice_pg", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    for i in 0..100 {
        ks.execute(&format!("INSERT INTO {{ks}}.t (id, v) VALUES ({i}, 'v{i}')")).await;
    }
    // A database of its own, dropped at the end, pass or fail.
    let database = ks.name.clone();
    postgres_sql(
        "cqlbulk_test",
        &[
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            &format!("CREATE DATABASE {database}"),
        ],
    );
    let _drop = PostgresDatabase(database.clone());
    let url = postgres_url().replace("/cqlbulk_test", &format!("/{database}"));
    let (without_password, password) = {
        let (user_part, host_part) = url.split_once('@').unwrap();
        let (user, password) = user_part.rsplit_once(':').unwrap();
        (format!("{user}@{host_part}"), password.to_string())
    };
    let root = scratch_dir("ice-pg");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    let catalog = ["--catalog-uri", url.as_str(), "--warehouse", w];
    expect_success(&export(&ks.name, "all_types", &root.join("logs"), &catalog));
    check_iceberg(hosts(), &ks.name, "all_types", &catalog);

    // The table exists first, so the three runs race on commits, not on creation.
    expect_success(&export(&ks.name, "t", &root.join("logs"), &catalog));
    let children: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
                .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "--format", "iceberg", "-q"])
                .args(["--catalog-uri", &without_password, "--warehouse", w, "--log-dir"])
                .arg(root.join("logs"))
                .env("PGPASSWORD", &password)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        expect_success(&child.wait_with_output().unwrap());
    }
    let list = snapshots(&catalog, &ks.name, "t");
    assert_eq!(list.len(), 4, "{list:?}");
    let runs: std::collections::HashSet<_> =
        list.iter().map(|s| s["run_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(runs.len(), 4, "every run has its own id: {list:?}");
    assert_eq!(list.last().unwrap()["total_records"], 400);
    check_iceberg(hosts(), &ks.name, "all_types", &catalog);

    for entry in walk(&root.join("logs")) {
        // The scratch directory's own name holds the test password's words: left out.
        let text =
            String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).replace(root.to_str().unwrap(), "");
        assert!(!text.contains(&password), "{} holds the catalog password", entry.display());
    }
}

/// Drops a test database of the PostgreSQL server when the test ends.
struct PostgresDatabase(String);

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        postgres_sql("cqlbulk_test", &[&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0)]);
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() { pending.push(path) } else { found.push(path) }
        }
    }
    found
}

/// The replace scenario against one catalog (`catalog`: its flags): `t` and `t_before` hold
/// the same 100 rows; `t` is exported (append), then changed in Cassandra (30 rows deleted,
/// 10 updated, 50 added) and exported with `--mode replace`. The current snapshot must hold
/// exactly `t`'s rows now, the one before exactly the original rows (time travel, read by
/// PyIceberg against `t_before`), and three replaces at once must each commit (conflicts
/// retried on the new current snapshot), leaving exactly `t`'s rows.
async fn replace_scenario(ks: &TestKeyspace, root: &Path, catalog: &[&str]) {
    for table in ["t", "t_before"] {
        ks.execute(&format!("CREATE TABLE {{ks}}.{table} (id int PRIMARY KEY, v text)")).await;
        for i in 0..100 {
            ks.execute(&format!("INSERT INTO {{ks}}.{table} (id, v) VALUES ({i}, 'v{i}, \"quoted\"')")).await;
        }
    }
    let logs = root.join("logs");
    expect_success(&export(&ks.name, "t", &logs, catalog));
    for i in 0..30 {
        ks.execute(&format!("DELETE FROM {{ks}}.t WHERE id = {i}")).await;
    }
    for i in 30..40 {
        ks.execute(&format!("UPDATE {{ks}}.t SET v = 'new\n{i}' WHERE id = {i}")).await;
    }
    for i in 100..150 {
        ks.execute(&format!("INSERT INTO {{ks}}.t (id, v) VALUES ({i}, 'added {i}')")).await;
    }
    let replace = [catalog, &["--mode", "replace"][..]].concat();
    expect_success(&export(&ks.name, "t", &logs, &replace));
    check_iceberg(hosts(), &ks.name, "t", catalog);
    let list = snapshots(catalog, &ks.name, "t");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[1]["operation"], "overwrite", "{list:?}");
    assert_eq!(list[1]["total_records"], 120, "{list:?}");
    assert_eq!(list[1]["parent_id"], list[0]["snapshot_id"], "{list:?}");
    assert_eq!(list[1]["current"], true, "{list:?}");
    let first = list[0]["snapshot_id"].as_i64().unwrap().to_string();
    let time_travel = [catalog, &["--iceberg-table", "t", "--snapshot-id", &first][..]].concat();
    check_iceberg(hosts(), &ks.name, "t_before", &time_travel);

    let children: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
                .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "--format", "iceberg", "-q"])
                .args(&replace)
                .arg("--log-dir")
                .arg(&logs)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        expect_success(&child.wait_with_output().unwrap());
    }
    let list = snapshots(catalog, &ks.name, "t");
    assert_eq!(list.len(), 5, "{list:?}");
    let runs: std::collections::HashSet<_> =
        list.iter().map(|s| s["run_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(runs.len(), 5, "every run has its own id: {list:?}");
    assert!(list[2..].iter().all(|s| s["operation"] == "overwrite" && s["total_records"] == 120), "{list:?}");
    check_iceberg(hosts(), &ks.name, "t", catalog);
}

/// What: `--mode replace` into the embedded SQLite catalog: the table then holds exactly
/// Cassandra's current rows, the snapshot before still holds the old ones (time travel),
/// concurrent replaces all commit; a replace SIGKILLed mid-run shows nothing, and its resume
/// commits once (a second resume adds nothing); `--mode replace` without Iceberg is refused.
/// Why: a nightly full export must mirror the table, not grow it by a copy a night, and a
/// crash must never leave the table empty, doubled or half replaced.
#[tokio::test(flavor = "multi_thread")]
async fn replace_mirrors_the_table_in_sql_catalog() {
    let ks = TestKeyspace::connect(hosts(), "ice_replace", SIMPLE_RF1).await;
    let root = scratch_dir("ice-replace");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    replace_scenario(&ks, &root, &["--warehouse", w]).await;

    fill_100k(&ks).await;
    let catalog = ["--warehouse", w];
    expect_success(&export(&ks.name, "rows100k", &root.join("logs"), &catalog));
    let log_dir = root.join("slow-logs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "iceberg", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200", "--mode", "replace"])
        .args(["--warehouse", w, "--log-dir"])
        .arg(&log_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let operation = wait_for_checkpoint(&log_dir, 5);
    child.kill().unwrap();
    assert!(child.wait().unwrap().code().is_none(), "the export finished before it could be killed");
    assert_eq!(snapshots(&catalog, &ks.name, "rows100k").len(), 1, "nothing is visible before the commit");
    let resume = || {
        let op = operation.to_str().unwrap();
        let args = ["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "iceberg", "-q"];
        expect_success(&cqlbulk(
            &[&args[..], &["--mode", "replace", "--warehouse", w, "--resume", op]].concat(),
        ))
    };
    resume();
    let list = snapshots(&catalog, &ks.name, "rows100k");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[1]["total_records"], 100_000, "the replace holds the table once, not twice: {list:?}");
    check_iceberg(hosts(), &ks.name, "rows100k", &catalog);
    resume();
    assert_eq!(snapshots(&catalog, &ks.name, "rows100k").len(), 2, "a second resume commits nothing");

    let refused = cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "t",
        "--format",
        "csv",
        "--mode",
        "replace",
    ]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--mode replace") && stderr(&refused).lines().count() == 1,
        "{}",
        stderr(&refused)
    );
}

/// What: the replace scenario through Apache Iceberg's REST catalog server (the commit
/// endpoint with requirements) and through the SQL catalog in PostgreSQL (the metadata
/// location's compare-and-swap). Why: replace commits through each catalog's own protocol;
/// each must give the same mirror, time travel and conflict retries as the embedded one.
#[tokio::test(flavor = "multi_thread")]
async fn replace_mirrors_the_table_in_rest_and_postgres_catalogs() {
    let ks = TestKeyspace::connect(hosts(), "ice_replace_rest", SIMPLE_RF1).await;
    let root = scratch_dir("ice-replace-rest");
    let lake = root.join("rest-lake");
    let (_server, uri) = RestServer::start(&["--port", "18184", "--warehouse", lake.to_str().unwrap()]);
    replace_scenario(&ks, &root, &["--catalog-uri", &uri]).await;

    let ks = TestKeyspace::connect(hosts(), "ice_replace_pg", SIMPLE_RF1).await;
    let database = ks.name.clone();
    postgres_sql(
        "cqlbulk_test",
        &[
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            &format!("CREATE DATABASE {database}"),
        ],
    );
    let _drop = PostgresDatabase(database.clone());
    let url = postgres_url().replace("/cqlbulk_test", &format!("/{database}"));
    let root = scratch_dir("ice-replace-pg");
    let warehouse = root.join("lake");
    replace_scenario(&ks, &root, &["--catalog-uri", &url, "--warehouse", warehouse.to_str().unwrap()]).await;
}

/// `cqlbulk unload` of rows100k as shard `shard` into the job location `job`, with `extra`
/// flags (the shards' split counts differ, as on workers with other core counts).
fn shard_command(ks: &str, job: &Path, shard: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cqlbulk"));
    command
        .args(["unload", "-h", hosts(), "-k", ks, "-t", "rows100k", "-q", "--shard", shard, "--log-dir"])
        .arg(job)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// What: rows100k exported to Iceberg by three shards (`--shard I/3`) planning different
/// split counts; shard 1 is SIGKILLed mid-run, `iceberg commit` then refuses (shard 1 has
/// not finished), shard 1 run again resumes and finishes, shard 2 run again does nothing;
/// the commit makes one snapshot holding every row exactly once (PyIceberg against the
/// driver), with no data file on disk outside it, and a second commit commits nothing.
/// The same three shards to Parquet files: pyarrow reads every row once. Why: distributed
/// engines retry killed tasks and rerun finished ones; the export must still hold each row
/// once, in one snapshot, or fail loudly before committing.
#[tokio::test(flavor = "multi_thread")]
async fn shards_commit_every_row_once() {
    let ks = TestKeyspace::connect(hosts(), "ice_shards", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let root = scratch_dir("ice-shards");
    let warehouse = root.join("lake");
    let w = warehouse.to_str().unwrap();
    let job = root.join("job");
    let iceberg = ["--format", "iceberg", "--warehouse", w];

    let first =
        shard_command(&ks.name, &job, "0/3", &[&iceberg[..], &["--splits", "7"]].concat()).spawn().unwrap();
    let mut killed = shard_command(
        &ks.name,
        &job,
        "1/3",
        &[&iceberg[..], &["--splits", "300", "--concurrency", "1", "--page-size", "200"]].concat(),
    )
    .spawn()
    .unwrap();
    let shard1 = job.join("shard-0001-of-0003");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(shard1.join("checkpoint.jsonl")).map_or(0, |t| t.lines().count()) < 5 {
        assert!(std::time::Instant::now() < deadline, "shard 1 never finished 5 splits");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    killed.kill().unwrap();
    assert!(killed.wait().unwrap().code().is_none(), "shard 1 finished before it could be killed");
    expect_success(&first.wait_with_output().unwrap());
    expect_success(&shard_command(&ks.name, &job, "2/3", &iceberg).output().unwrap());

    let commit =
        || cqlbulk(&["iceberg", "commit", "--operation", job.to_str().unwrap(), "--warehouse", w, "--json"]);
    let refused = commit();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("shard 1/3 has not finished"), "{}", stderr(&refused));
    assert!(
        snapshots(&["--warehouse", w], &ks.name, "rows100k").is_empty(),
        "nothing is visible before the commit"
    );

    // The retried task: the same command resumes shard 1's operation.
    let retried =
        shard_command(&ks.name, &job, "1/3", &[&iceberg[..], &["--splits", "40"]].concat()).output().unwrap();
    expect_success(&retried);
    let record = std::fs::read(job.join("shard-0002-of-0003/data-files.json")).unwrap();
    let again = shard_command(&ks.name, &job, "2/3", &iceberg).output().unwrap();
    expect_success(&again);
    assert_eq!(
        std::fs::read(job.join("shard-0002-of-0003/data-files.json")).unwrap(),
        record,
        "a finished shard does nothing"
    );

    let committed: serde_json::Value = serde_json::from_str(&expect_success(&commit())).unwrap();
    assert_eq!(committed["rows"], 100_000, "{committed}");
    assert_eq!(committed["shards"], 3, "{committed}");
    assert_eq!(committed["already_committed"], false, "{committed}");
    check_iceberg(hosts(), &ks.name, "rows100k", &["--warehouse", w]);
    let list = snapshots(&["--warehouse", w], &ks.name, "rows100k");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["total_records"], 100_000, "{list:?}");
    let on_disk = data_files(&warehouse.join(&ks.name).join("rows100k")).len();
    assert_eq!(committed["data_files"], on_disk, "the killed attempt's unrecorded data files are gone");

    let twice: serde_json::Value = serde_json::from_str(&expect_success(&commit())).unwrap();
    assert_eq!(twice["already_committed"], true, "{twice}");
    assert_eq!(snapshots(&["--warehouse", w], &ks.name, "rows100k").len(), 1);

    let files = root.join("parquet");
    let parquet_job = root.join("parquet-job");
    let parquet = ["--format", "parquet", "--url", files.to_str().unwrap()];
    let children: Vec<Child> = ["0/3", "1/3", "2/3"]
        .iter()
        .zip(["5", "64", "11"])
        .map(|(shard, splits)| {
            shard_command(&ks.name, &parquet_job, shard, &[&parquet[..], &["--splits", splits]].concat())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        expect_success(&child.wait_with_output().unwrap());
    }
    check_unload(hosts(), &ks.name, "rows100k", "parquet", &files);
}
