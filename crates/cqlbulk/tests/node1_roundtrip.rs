//! `unload` → `load` → `verify` on one node: every CQL type through every format comes
//! back identical, as the Python driver reads it.

mod common;

use std::path::Path;

use common::scenarios::create_all_types;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

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

/// `from` unloaded to `format` under `dir` with default flags, `to` emptied and loaded from
/// it, then `verify` of `to` against the dataset must pass.
async fn unload_load_verify(ks: &TestKeyspace, from: &str, to: &str, format: &str, dir: &Path) {
    let out = dir.join(format);
    let out_text = out.to_str().unwrap();
    let target: Vec<&str> = if format == "iceberg" {
        vec!["--format", "iceberg", "--warehouse", out_text, "--iceberg-table", from]
    } else {
        vec!["--format", format, "--url", out_text]
    };
    let logs = dir.join("logs");
    let mut unload = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", from, "-q"];
    unload.extend_from_slice(&["--log-dir", logs.to_str().unwrap()]);
    unload.extend_from_slice(&target);
    expect_success(&cqlbulk(&unload));

    ks.execute(&format!("TRUNCATE {{ks}}.{}", quote(to))).await;
    load(&ks.name, to, &logs, &target);
    let checked = verify(&ks.name, to, &target);
    assert_eq!(checked.status.code(), Some(0), "{format}: verify: {}{}", stdout(&checked), stderr(&checked));
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
        unload_load_verify(&ks, "all_types", "copy_types", format, &dir).await;
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

/// What: `verify` calls a table and a JSON file equal although the file lists nested sets
/// and a map in other orders than Cassandra keeps, spells a frozen UDT value written before
/// `ALTER TYPE … ADD` with the new field null, and gives an all-null non-frozen UDT where
/// the table has none; one changed element of a nested set is still a difference. Why: a
/// dataset from another tool says these things its own way, and a verify that calls equal
/// data different is as useless as one that misses a difference.
#[tokio::test(flavor = "multi_thread")]
async fn verify_compares_nested_values_as_cassandra_keeps_them() {
    let ks = TestKeyspace::connect(hosts(), "verify_nested", SIMPLE_RF1).await;
    ks.execute("CREATE TYPE {ks}.u (a int)").await;
    ks.execute(
        "CREATE TABLE {ks}.t (id int PRIMARY KEY, s frozen<list<frozen<set<int>>>>, \
         m map<text, frozen<set<text>>>, v frozen<u>, w u)",
    )
    .await;
    ks.execute("INSERT INTO {ks}.t (id, s, m, v, w) VALUES (1, [{1, 2, 3}, {4, 5}], {'x': {'a', 'b'}, 'y': {'c'}}, {a: 1}, {a: 2})").await;
    // Old frozen values keep one field; the new field is null for them.
    ks.execute("ALTER TYPE {ks}.u ADD b int").await;
    ks.execute("INSERT INTO {ks}.t (id, v, w) VALUES (2, {a: 3, b: 4}, {a: null, b: null})").await;
    let dir = scratch_dir("verify_nested");
    let file = dir.join("rows.json");
    let rows = |changed: i32| {
        format!(
            "{{\"id\":1,\"s\":[[3,2,1],[{changed},4]],\"m\":{{\"y\":[\"c\"],\"x\":[\"b\",\"a\"]}},\
             \"v\":{{\"a\":1,\"b\":null}},\"w\":{{\"b\":null,\"a\":2}}}}\n\
             {{\"id\":2,\"v\":{{\"a\":3,\"b\":4}},\"w\":{{\"a\":null,\"b\":null}}}}\n"
        )
    };
    let source = ["--format", "json", "--url", file.to_str().unwrap()];
    std::fs::write(&file, rows(5)).unwrap();
    let equal = verify(&ks.name, "t", &source);
    assert_eq!(equal.status.code(), Some(0), "{}{}", stdout(&equal), stderr(&equal));
    std::fs::write(&file, rows(6)).unwrap();
    let differ = verify(&ks.name, "t", &source);
    let text = stdout(&differ);
    assert_eq!(differ.status.code(), Some(1), "{text}{}", stderr(&differ));
    assert!(text.contains("values differ:       id=1"), "{text}");
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

/// One row's values with the write time and TTL of each cell, as `timing_rows` reads them.
type TimingRow = (
    i32,
    Option<i32>,
    Option<String>,
    Option<i32>,
    Option<Vec<i32>>,
    Option<String>,
    Option<Vec<i32>>,
    [Option<i64>; 5],
    [Option<i32>; 4],
);

/// Every row of `table` (see `write_times_and_ttls_are_preserved`) with its cells' write
/// times (v, w, fl, st, and the latest of s) and TTLs (v, w, fl, st).
async fn timing_rows(ks: &TestKeyspace, table: &str) -> Vec<TimingRow> {
    let cql = format!(
        "SELECT id, ck, v, w, fl, st, s, writetime(v), writetime(w), writetime(fl), writetime(st), \
         maxwritetime(s), ttl(v), ttl(w), ttl(fl), ttl(st) FROM {}.{table}",
        ks.name
    );
    type Raw = (
        i32,
        Option<i32>,
        Option<String>,
        Option<i32>,
        Option<Vec<i32>>,
        Option<String>,
        Option<Vec<i32>>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
    );
    let result = ks.session.query_unpaged(cql, ()).await.unwrap().into_rows_result().unwrap();
    let mut rows: Vec<TimingRow> = result
        .rows::<Raw>()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.0, r.1, r.2, r.3, r.4, r.5, r.6, [r.7, r.8, r.9, r.10, r.11], [r.12, r.13, r.14, r.15])
        })
        .collect();
    rows.sort();
    rows
}

/// What: cells written at their own times and with their own TTLs (two columns of one row
/// written apart, a set whose elements came at different times, a static column, a
/// static-only partition, a row of keys only) are unloaded with `--writetime --ttl` to CSV,
/// JSON, Parquet and Iceberg, and loaded with `--preserve-writetime --preserve-ttl` into
/// an empty copy: every cell keeps its write time exactly (a set: its latest element's),
/// and its TTL counts on from what was left at unload time. Loading without the flags
/// ignores the timing fields (cells are written now); asking for them when the source has
/// none, or mapping one without its flag, is refused before any write. Why: Cassandra
/// resolves conflicts by write time, so a migration that rewrites every cell "now" lets
/// stale copies win over newer writes, and one that drops TTLs keeps data that should expire.
#[tokio::test(flavor = "multi_thread")]
async fn write_times_and_ttls_are_preserved() {
    let ks = TestKeyspace::connect(hosts(), "preserve_timing", SIMPLE_RF1).await;
    let schema = "(id int, ck int, v text, w int, s set<int>, fl frozen<list<int>>, st text static, \
                  PRIMARY KEY (id, ck))";
    ks.execute(&format!("CREATE TABLE {{ks}}.src {schema}")).await;
    ks.execute(&format!("CREATE TABLE {{ks}}.copy {schema}")).await;
    for cql in [
        "INSERT INTO {ks}.src (id, ck, v, w, fl) VALUES (1, 1, 'a', 1, [1, 2]) USING TIMESTAMP 1000 AND TTL 86400",
        "UPDATE {ks}.src USING TIMESTAMP 2000 SET w = 2 WHERE id = 1 AND ck = 1",
        "UPDATE {ks}.src USING TIMESTAMP 3000 SET s = s + {7} WHERE id = 1 AND ck = 2",
        "UPDATE {ks}.src USING TIMESTAMP 4000 AND TTL 90000 SET s = s + {8} WHERE id = 1 AND ck = 2",
        "UPDATE {ks}.src USING TIMESTAMP 5000 SET st = 'shared' WHERE id = 1",
        "INSERT INTO {ks}.src (id, ck) VALUES (2, 1) USING TIMESTAMP 6000",
        "INSERT INTO {ks}.src (id, st) VALUES (3, 'static only') USING TIMESTAMP 7000 AND TTL 80000",
    ] {
        ks.execute(cql).await;
    }
    let source = timing_rows(&ks, "src").await;
    assert_eq!(source.len(), 4, "{source:?}");

    let dir = scratch_dir("preserve_timing");
    let logs = dir.join("logs");
    let logs_text = logs.to_str().unwrap();
    for format in ["csv", "json", "parquet", "iceberg"] {
        let out = dir.join(format);
        let out_text = out.to_str().unwrap();
        let target: Vec<&str> = if format == "iceberg" {
            vec!["--format", "iceberg", "--warehouse", out_text, "--iceberg-table", "src"]
        } else {
            vec!["--format", format, "--url", out_text]
        };
        let mut unload =
            vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "src", "-q", "--log-dir", logs_text];
        unload.extend_from_slice(&["--writetime", "--ttl"]);
        unload.extend_from_slice(&target);
        expect_success(&cqlbulk(&unload));

        ks.execute("TRUNCATE {ks}.copy").await;
        let mut preserving = target.clone();
        preserving.extend_from_slice(&["--preserve-writetime", "--preserve-ttl"]);
        load(&ks.name, "copy", &logs, &preserving);
        let copy = timing_rows(&ks, "copy").await;
        // The source's TTLs now, read after the copy's: time has passed since `source`.
        let source_now = timing_rows(&ks, "src").await;
        assert_eq!(copy.len(), source.len(), "{format}: {copy:?}");
        for ((loaded, original), now) in copy.iter().zip(&source).zip(&source_now) {
            let values = |r: &TimingRow| (r.0, r.1, r.2.clone(), r.3, r.4.clone(), r.5.clone(), r.6.clone());
            assert_eq!(values(loaded), values(original), "{format}");
            assert_eq!(loaded.7, original.7, "{format}: write times of {:?}", values(original));
            for (after, before) in loaded.8.iter().zip(&now.8) {
                // The copy's TTL started again at load time from what was left at unload,
                // so it ends at most the unload-to-load time later (TTLs are whole seconds).
                let close = match (after, before) {
                    (Some(after), Some(before)) => (-1..=120).contains(&(after - before)),
                    (None, None) => true,
                    _ => false,
                };
                assert!(close, "{format}: TTLs {:?} in the source now, {:?} in the copy", now.8, loaded.8);
            }
        }
        // The set's elements had no TTL and one of 90000 s: none expires before it did.
        let set_ttl = ks
            .session
            .query_unpaged(
                format!("SELECT maxwritetime(s), writetime(s) FROM {}.copy WHERE id = 1 AND ck = 2", ks.name),
                (),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row::<(Option<i64>, Option<Vec<i64>>)>()
            .unwrap();
        assert_eq!(set_ttl, (Some(4000), Some(vec![4000, 4000])), "{format}");
    }

    // Without the flags the timing fields are not loaded: cells are written now, no TTL.
    let csv = dir.join("csv");
    let csv_text = csv.to_str().unwrap();
    ks.execute("TRUNCATE {ks}.copy").await;
    load(&ks.name, "copy", &logs, &["--format", "csv", "--url", csv_text]);
    let plain = timing_rows(&ks, "copy").await;
    let row = plain.iter().find(|r| r.0 == 1 && r.1 == Some(1)).unwrap();
    assert!(row.7[0].unwrap() > 1_000_000_000_000_000, "written now: {row:?}");
    assert_eq!(row.8[0], None, "no TTL: {row:?}");

    // Refusals, before any write: a mapped timing field without its flag, and a flag
    // without timing fields in the source.
    let refused = cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "copy",
        "--log-dir",
        logs_text,
        "--format",
        "csv",
        "--url",
        csv_text,
        "--mapping",
        "id,ck,v,writetime(v)",
    ]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("add --preserve-writetime"), "{}", stderr(&refused));
    let bare = dir.join("bare");
    let mut unload = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "src", "-q", "--log-dir", logs_text];
    unload.extend_from_slice(&["--format", "csv", "--url", bare.to_str().unwrap()]);
    expect_success(&cqlbulk(&unload));
    let refused = cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "copy",
        "--log-dir",
        logs_text,
        "--format",
        "csv",
        "--url",
        bare.to_str().unwrap(),
        "--preserve-ttl",
    ]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("unload with --ttl"), "{}", stderr(&refused));
}

/// A table nobody here designed for: quoted mixed-case keyspace, table, column and user
/// type names, a reserved word and unicode among them, user types frozen and not, a DESC
/// clustering order, a blob in a composite partition key, a frozen tuple holding a map as a
/// clustering column, a vector of text, a static column.
const ANY_SCHEMA_TYPE: &str = "CREATE TYPE {ks}.\"Addr\" (\"Street\" text, \"zip code\" int, \
     \"select\" frozen<list<text>>, \"ünï\" frozen<map<int, text>>)";
const ANY_SCHEMA_COLUMNS: &str = "(\"Part\" blob, \"part two\" text, \"Ck\" int, \
     \"Key Tuple\" frozen<tuple<frozen<map<int, text>>, int>>, \"select\" text, \"Static Col\" text static, \
     \"Frozen Addr\" frozen<\"Addr\">, \"Live Addr\" \"Addr\", vec vector<text, 2>, \
     \"ünï ✓\" map<text, frozen<list<int>>>, \"L\" list<text>, \"S\" set<frozen<tuple<int, text>>>, \
     tup frozen<tuple<frozen<map<int, text>>, text>>, \
     PRIMARY KEY ((\"Part\", \"part two\"), \"Ck\", \"Key Tuple\")) \
     WITH CLUSTERING ORDER BY (\"Ck\" DESC, \"Key Tuple\" ASC)";

/// Text that breaks naive CSV and JSON code, as CQL literals (a quote doubled).
const AWKWARD_TEXT: &[&str] = &[
    "plain",
    "",
    "quote \"inside\"",
    "back\\slash",
    "both \\\"",
    "ends in \\",
    "comma, and; semicolon",
    "line\nbreak",
    "crlf\r\nline",
    "tab\there",
    "null",
    "NULL",
    "\\N",
    "{\"0\":0}",
    "[\"x\"]",
    " padded ",
    "it''s",
    "\u{feff}bom",
    "😀 𝄞 漢字",
    "-1",
];

/// One row's CQL literals for the any-schema table; `i` picks the values.
fn any_schema_row(i: usize) -> String {
    let text = |k: usize| format!("'{}'", AWKWARD_TEXT[k % AWKWARD_TEXT.len()]);
    // Blobs whose base64 starts with "0x" (d3 10 = "0xA=", d3 1d 76 = "0x12"), which a
    // reader taking "0x" for hex would misread, and ordinary ones.
    let part = ["0xd310", "0xd31d76", "0x", "0x00ff", "0xcafebabe"][i % 5];
    // Map keys whose text order differs from their int order, inside a key: a reader that
    // sorts JSON object keys as strings would make it another key.
    let map = format!("{{10: {}, 9: {}, -1: {}, 1: 'one'}}", text(i), text(i + 1), text(i + 2));
    format!(
        "(\"Part\", \"part two\", \"Ck\", \"Key Tuple\", \"select\", \"Static Col\", \"Frozen Addr\", \"Live Addr\", \
         vec, \"ünï ✓\", \"L\", \"S\", tup) VALUES ({part}, {}, {}, ({map}, {i}), {}, {}, \
         {{\"Street\": {}, \"zip code\": {}, \"select\": [{}, {}], \"ünï\": {map}}}, \
         {{\"Street\": {}, \"zip code\": null}}, [{}, {}], {{{}: [1, -1], {}: []}}, [{}, {}, {}], \
         {{(1, {}), (-2, {})}}, ({map}, {}))",
        text(i / 5),
        i as i64 * 7919 % 1000 - 500,
        text(i + 3),
        text(i + 4),
        text(i + 5),
        i32::MIN + i as i32,
        text(i + 6),
        text(i + 7),
        text(i + 8),
        text(i + 9),
        text(i + 10),
        text(i + 11),
        text(i + 12),
        text(i + 13),
        text(i + 14),
        text(i + 15),
        text(i + 16),
        text(i + 17),
        text(i + 18),
    )
}

/// Every row of `"ks"."table"` as the Python driver reads it (its own repr, sorted), one
/// line each.
fn python_rows(ks: &str, table: &str) -> Vec<String> {
    let code = "import sys\nfrom cassandra.cluster import Cluster\n\
        s = Cluster(sys.argv[1].split(',')).connect()\n\
        q = 'SELECT * FROM \"%s\".\"%s\"' % (sys.argv[2].replace('\"', '\"\"'), sys.argv[3].replace('\"', '\"\"'))\n\
        for line in sorted(repr(tuple(r)) for r in s.execute(q)): print(line.encode('unicode_escape').decode())";
    python_snippet(code, &[hosts(), ks, table]).lines().map(str::to_string).collect()
}

/// What: the any-schema table (see ANY_SCHEMA_COLUMNS: quoted and mixed-case names
/// everywhere, a reserved-word column, quoted user types frozen and not, DESC clustering,
/// a blob in a composite partition key, a frozen tuple with a map as a key, `vector<text,
/// 2>`, a static column and a static-only partition, text full of quotes, backslashes,
/// delimiters and line breaks) is counted, unloaded to CSV, JSON, Parquet and Iceberg, each
/// loaded into an empty copy and verified, all with default flags: the Python driver reads
/// the same rows from both tables. Meanwhile a plain table in another keyspace still counts.
/// Why: users' tables are not ours; a quoted type name once made every command fail on every
/// keyspace, cqlbulk's CSV did not read back, and JSON reordered maps inside keys.
#[tokio::test(flavor = "multi_thread")]
async fn any_schema_survives_every_format_with_default_flags() {
    let session = shared_session(hosts()).await;
    let ks = TestKeyspace::create_named(session.clone(), "cqlbulk_AnySchema", SIMPLE_RF1).await;
    ks.execute(ANY_SCHEMA_TYPE).await;
    ks.execute(&format!("CREATE TABLE {{ks}}.\"Mixed_Table\" {ANY_SCHEMA_COLUMNS}")).await;
    ks.execute(&format!("CREATE TABLE {{ks}}.\"Mixed_Copy\" {ANY_SCHEMA_COLUMNS}")).await;
    let rows = 60;
    for i in 0..rows {
        ks.execute(&format!("INSERT INTO {{ks}}.\"Mixed_Table\" {}", any_schema_row(i))).await;
    }
    // A partition with only its static column.
    ks.execute("INSERT INTO {ks}.\"Mixed_Table\" (\"Part\", \"part two\", \"Static Col\") VALUES (0xbeef, 'static only', 'S')")
        .await;
    let original = python_rows(&ks.name, "Mixed_Table");
    assert_eq!(original.len(), rows + 1);

    // Another keyspace's plain table is not stopped by this one's schema.
    let neighbour = TestKeyspace::create(session, "any_schema_neighbour", SIMPLE_RF1).await;
    neighbour.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY)").await;
    neighbour.execute("INSERT INTO {ks}.t (id) VALUES (1)").await;
    assert_eq!(count_rows(hosts(), &neighbour.name, "t", &[]), 1);
    assert_eq!(count_rows(hosts(), &ks.name, "Mixed_Table", &[]), rows as u64 + 1);

    let dir = scratch_dir("any-schema");
    for format in ["csv", "json", "parquet", "iceberg"] {
        unload_load_verify(&ks, "Mixed_Table", "Mixed_Copy", format, &dir).await;
        let copy = python_rows(&ks.name, "Mixed_Copy");
        if copy != original {
            let only_original: Vec<_> = original.iter().filter(|r| !copy.contains(r)).collect();
            let only_copy: Vec<_> = copy.iter().filter(|r| !original.contains(r)).collect();
            panic!(
                "{format}: the copy differs\nonly in the original:\n{only_original:#?}\nonly in the copy:\n{only_copy:#?}"
            );
        }
    }
}
