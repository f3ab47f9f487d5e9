//! `unload` → `load` → `verify` on one node: every CQL type through every format comes
//! back identical, as the Python driver reads it.

mod common;

use std::path::Path;

use common::scenarios::create_all_types;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// Creates `{ks}.{to}` with the schema of `{ks}.{from}`, as the Python driver describes it.
async fn copy_schema(ks: &TestKeyspace, from: &str, to: &str) {
    let code = "import sys\nfrom cassandra.cluster import Cluster\n\
        c = Cluster(sys.argv[1].split(','))\nc.connect()\n\
        print(c.metadata.keyspaces[sys.argv[2]].tables[sys.argv[3]].as_cql_query())";
    let cql = python_snippet(code, &[hosts(), &ks.name, from]);
    let cql = cql.replacen(&format!("{}.{from} (", ks.name), &format!("{}.{to} (", ks.name), 1);
    ks.session.query_unpaged(cql.clone(), ()).await.unwrap_or_else(|e| panic!("{cql}: {e}"));
}

/// Fails unless the Python driver reads the same rows, value for value, from both tables.
/// Timestamps are read as their milliseconds: the driver's datetime stops at year 9999.
fn assert_same_rows(ks: &str, a: &str, b: &str) -> usize {
    let code = "import sys\nfrom cassandra.cluster import Cluster\n\
        c = Cluster(sys.argv[1].split(','))\ns = c.connect(sys.argv[2])\n\
        def rows(t):\n\
        \x20   cols = c.metadata.keyspaces[sys.argv[2]].tables[t].columns.values()\n\
        \x20   sel = ', '.join('blobAsBigint(timestampAsBlob(%s))' % x.name if x.cql_type == 'timestamp' else x.name for x in cols)\n\
        \x20   return sorted(repr(tuple(r)) for r in s.execute('SELECT ' + sel + ' FROM ' + t))\n\
        a, b = rows(sys.argv[3]), rows(sys.argv[4])\n\
        diff = sorted(set(a) ^ set(b))\n\
        print(len(a) if a == b else 'DIFFERENT ' + str(len(a)) + ' vs ' + str(len(b)) + '\\n' + '\\n'.join(diff[:6]))";
    let out = python_snippet(code, &[hosts(), ks, a, b]);
    out.trim().parse().unwrap_or_else(|_| panic!("{a} and {b} differ:\n{out}"))
}

fn load(ks: &str, table: &str, log_dir: &Path, source: &[&str]) -> String {
    let log_dir = log_dir.to_str().unwrap();
    let mut args = vec!["load", "-h", hosts(), "-k", ks, "-t", table, "--log-dir", log_dir];
    args.extend_from_slice(source);
    expect_success(&cqlbulk(&args))
}

fn verify(ks: &str, table: &str, source: &[&str]) -> std::process::Output {
    let mut args = vec!["verify", "-h", hosts(), "-k", ks, "-t", table, "-q"];
    args.extend_from_slice(source);
    cqlbulk(&args)
}

/// What: the all-types table (every CQL type, extremes, NaN, empty versus null, nested UDTs,
/// vectors, a static-only partition) unloaded to CSV, JSON, Parquet and Iceberg, each loaded
/// into an empty table of the same schema: `verify` passes against the dataset, and the
/// Python driver reads identical values from both tables. A counter table too. Why:
/// "unload then load gives the same table" is the promise of the tool; the Python driver
/// is an independent reader of both sides.
#[tokio::test(flavor = "multi_thread")]
async fn all_types_survive_every_format() {
    let ks = TestKeyspace::connect(hosts(), "roundtrip", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    copy_schema(&ks, "all_types", "copy_types").await;
    copy_schema(&ks, "counters", "copy_counters").await;
    let dir = scratch_dir("roundtrip");
    let logs = dir.join("logs");
    for format in ["csv", "json", "parquet", "iceberg"] {
        let out = dir.join(format);
        let out_text = out.to_str().unwrap();
        let target: Vec<&str> = if format == "iceberg" {
            vec!["--format", "iceberg", "--warehouse", out_text, "--iceberg-table", "all_types"]
        } else {
            vec!["--format", format, "--url", out_text]
        };
        let mut unload = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "-q"];
        unload.extend_from_slice(&["--log-dir", logs.to_str().unwrap()]);
        unload.extend_from_slice(&target);
        expect_success(&cqlbulk(&unload));

        ks.execute("TRUNCATE {ks}.copy_types").await;
        load(&ks.name, "copy_types", &logs, &target);
        let checked = verify(&ks.name, "copy_types", &target);
        assert_eq!(
            checked.status.code(),
            Some(0),
            "{format}: verify: {}{}",
            stdout(&checked),
            stderr(&checked)
        );
        assert_eq!(assert_same_rows(&ks.name, "all_types", "copy_types"), 7, "{format}");
    }

    // Counters: loading adds to the (empty) counters, and says that a second load adds again.
    let out = dir.join("counters");
    let target = ["--format", "csv", "--url", out.to_str().unwrap()];
    let mut unload = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "counters", "-q"];
    unload.extend_from_slice(&["--log-dir", logs.to_str().unwrap()]);
    unload.extend_from_slice(&target);
    expect_success(&cqlbulk(&unload));
    let mut args = vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "copy_counters"];
    args.extend_from_slice(&["--log-dir", logs.to_str().unwrap()]);
    args.extend_from_slice(&target);
    let loaded = cqlbulk(&args);
    assert_eq!(loaded.status.code(), Some(0), "{}", stderr(&loaded));
    assert!(stderr(&loaded).contains("loading the same rows again adds them again"), "{}", stderr(&loaded));
    assert_eq!(assert_same_rows(&ks.name, "counters", "copy_counters"), 2);
    let checked = verify(&ks.name, "copy_counters", &target);
    assert_eq!(checked.status.code(), Some(0), "counters: verify: {}", stdout(&checked));
}

/// What: `verify` finds a deleted row, an extra row and a changed value, exits 1, and names
/// each key. Why: a check that cannot fail proves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_differences() {
    let ks = TestKeyspace::connect(hosts(), "verify_diff", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int, ck text, v bigint, PRIMARY KEY (id, ck))").await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id, ck, v) VALUES (?, ?, ?)").await;
    insert_all(&ks.session, &insert, (0..2000).map(|i| (i % 200, format!("c{i}"), i64::from(i)))).await;
    let dir = scratch_dir("verify_diff");
    let url = dir.join("csv");
    let target = ["--format", "csv", "--url", url.to_str().unwrap()];
    let mut unload = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "-q", "--log-dir"];
    unload.push(dir.to_str().unwrap());
    unload.extend_from_slice(&target);
    expect_success(&cqlbulk(&unload));
    assert_eq!(verify(&ks.name, "t", &target).status.code(), Some(0));

    ks.execute("DELETE FROM {ks}.t WHERE id = 7 AND ck = 'c7'").await;
    ks.execute("UPDATE {ks}.t SET v = -1 WHERE id = 8 AND ck = 'c8'").await;
    ks.execute("INSERT INTO {ks}.t (id, ck, v) VALUES (9999, 'extra', 1)").await;
    let checked = verify(&ks.name, "t", &target);
    let text = stdout(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(text.contains("only in the dataset: id=7, ck=c7"), "{text}");
    assert!(text.contains("values differ:       id=8, ck=c8"), "{text}");
    assert!(text.contains("only in the table:   id=9999, ck=extra"), "{text}");
    assert!(text.contains("table 2000 rows, dataset 2000 rows"), "{text}");
}

/// What: an Iceberg table exported twice loads as of its first snapshot (by id and by
/// time) with exactly the first export's rows, `verify` agrees with that snapshot, and a
/// `--where` filter plus `--mapping` projection loads only the matching rows and columns.
/// Why: loading "any snapshot" is how a lakehouse copy restores a table as it was.
#[tokio::test(flavor = "multi_thread")]
async fn iceberg_time_travel_and_filter() {
    let ks = TestKeyspace::connect(hosts(), "load_snapshots", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text, w int)").await;
    ks.execute("CREATE TABLE {ks}.copy (id int PRIMARY KEY, v text, w int)").await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id, v, w) VALUES (?, ?, ?)").await;
    insert_all(&ks.session, &insert, (0..50).map(|i| (i, format!("first {i}"), i))).await;
    let dir = scratch_dir("load_snapshots");
    let lake = dir.join("lake");
    let lake = lake.to_str().unwrap();
    let logs = dir.join("logs");
    let export = || {
        let args = ["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "-q", "--format", "iceberg"];
        let mut args = args.to_vec();
        args.extend_from_slice(&["--warehouse", lake, "--log-dir", logs.to_str().unwrap()]);
        expect_success(&cqlbulk(&args));
    };
    export();
    insert_all(&ks.session, &insert, (50..80).map(|i| (i, format!("second {i}"), i))).await;
    ks.execute("UPDATE {ks}.t SET v = 'changed' WHERE id = 0").await;
    export();

    let listed = expect_success(&cqlbulk(&[
        "iceberg",
        "snapshots",
        "--warehouse",
        lake,
        "--namespace",
        &ks.name,
        "--table",
        "t",
        "--json",
    ]));
    let snapshots: Vec<serde_json::Value> =
        listed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = snapshots[0]["snapshot_id"].as_i64().unwrap().to_string();
    // --as-of takes ISO-8601 or epoch milliseconds: the first snapshot's own time.
    let first_time = snapshots[0]["timestamp_ms"].as_i64().unwrap().to_string();

    for choice in [["--snapshot-id", first.as_str()], ["--as-of", first_time.as_str()]] {
        ks.execute("TRUNCATE {ks}.copy").await;
        let source =
            ["--format", "iceberg", "--warehouse", lake, "--iceberg-table", "t", choice[0], choice[1]];
        load(&ks.name, "copy", &logs, &source);
        assert_eq!(count_rows(hosts(), &ks.name, "copy", &[]), 50, "{choice:?}");
        let checked = verify(&ks.name, "copy", &source);
        assert_eq!(checked.status.code(), Some(0), "{choice:?}: {}", stdout(&checked));
        // The current snapshot (the second export, 80 rows, one value changed) differs.
        let current = verify(&ks.name, "copy", &source[..6]);
        assert_eq!(current.status.code(), Some(1), "{}", stdout(&current));
    }
    let row =
        ks.session.query_unpaged(format!("SELECT v FROM {}.copy WHERE id = 0", ks.name), ()).await.unwrap();
    let (v,): (String,) = row.into_rows_result().unwrap().single_row().unwrap();
    assert_eq!(v, "first 0");

    ks.execute("TRUNCATE {ks}.copy").await;
    let source = [
        "--format",
        "iceberg",
        "--warehouse",
        lake,
        "--iceberg-table",
        "t",
        "--where",
        "id >= 70 AND w < 75",
        "--mapping",
        "id,v",
    ];
    load(&ks.name, "copy", &logs, &source);
    let rows = ks.session.query_unpaged(format!("SELECT id, v, w FROM {}.copy", ks.name), ()).await.unwrap();
    let mut rows: Vec<(i32, String, Option<i32>)> =
        rows.into_rows_result().unwrap().rows().unwrap().map(|r| r.unwrap()).collect();
    rows.sort();
    let expected: Vec<(i32, String, Option<i32>)> =
        (70..75).map(|i| (i, format!("second {i}"), None)).collect();
    assert_eq!(rows, expected);
}
