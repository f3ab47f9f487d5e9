//! `cqlbulk unload` on one node: every CQL type through every format, compression, files.

mod common;

use std::path::Path;

use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// The all-types table, filled with CQL literals (so the values are what Cassandra itself
/// parsed, not what cqlbulk thinks they are): extremes, NaN and infinities, -0.0, huge
/// varint, decimals with large and negative scales, negative durations, far dates and
/// timestamps, 4-byte UTF-8, empty versus null, nested frozen UDTs, tuples and maps,
/// vectors, a static column and a static-only partition.
async fn create_all_types(ks: &TestKeyspace) {
    for cql in [
        "CREATE TYPE {ks}.address (street text, zip int, tags frozen<set<text>>)",
        "CREATE TYPE {ks}.person (name text, home frozen<address>, points frozen<list<frozen<tuple<int, text>>>>)",
        "CREATE TABLE {ks}.all_types (id int, ck int, s text static, a ascii, t text, ti tinyint, si smallint, \
         i int, bi bigint, vi varint, f float, d double, dec decimal, b boolean, bl blob, u uuid, tu timeuuid, \
         ip inet, dt date, tm time, ts timestamp, du duration, l list<int>, st set<text>, m map<text, int>, \
         fl frozen<list<int>>, tup frozen<tuple<int, text, frozen<map<int, text>>>>, who frozen<person>, \
         nest map<int, frozen<map<text, frozen<list<bigint>>>>>, vec vector<float, 3>, PRIMARY KEY (id, ck))",
        "INSERT INTO {ks}.all_types (id, ck, s, a, t, ti, si, i, bi, vi, f, d, dec, b, bl, u, tu, ip, dt, tm, ts, du, \
         l, st, m, fl, tup, who, nest, vec) VALUES (1, 1, 'static one', 'plain ascii', 'héllo, \"world\"\nnew line', \
         1, 2, 3, 4, 5, 1.5, 2.25, 3.14159, true, 0xcafe, 3f1f3c2c-1d4a-4a8e-9a3a-2b3c4d5e6f70, \
         50554d6e-29bb-11e5-b345-feff819cdc9f, '192.168.0.1', '2024-02-29', '12:34:56.789', '2024-05-01T10:11:12.345Z', \
         1y2mo3d4h5m6s7ms8us9ns, [1, 2, 2, 3], {'a', 'b'}, {'k1': 1, 'k2': 2}, [7, 8], (1, 'one', {1: 'x'}), \
         {name: 'Ada', home: {street: 'Main', zip: 12345, tags: {'home', 'work'}}, points: [(1, 'p'), (2, 'q')]}, \
         {1: {'a': [1, 2]}, 2: {}}, [0.5, -1.25, 3.0])",
        "INSERT INTO {ks}.all_types (id, ck, a, t, ti, si, i, bi, vi, f, d, dec, b, bl, ip, dt, tm, ts, du, fl, tup, vec) \
         VALUES (2, 1, '', '', -128, -32768, -2147483648, -9223372036854775808, \
         -123456789012345678901234567890123456789012345678901234567890, NaN, -0.0, 1.2E+3, false, 0x, '::1', \
         0, '23:59:59.999999999', -8000000000000000, -1mo2d3ns, [], (1, null, null), [-0.0, 3.4028235E38, 1.0E-45])",
        "INSERT INTO {ks}.all_types (id, ck, ti, si, i, bi, vi, f, d, dec, dt, tm, ts, du, t) VALUES (3, 1, 127, 32767, \
         2147483647, 9223372036854775807, 98765432109876543210987654321098765432109876543210, Infinity, -Infinity, \
         -0.000000000000000000000000000001230, 4294967295, '00:00:00', 8000000000000000, 0s, '😀 𝄞 漢字')",
        "INSERT INTO {ks}.all_types (id, ck) VALUES (4, 1)",
        "INSERT INTO {ks}.all_types (id, ck, dec, d, f, vi) VALUES (4, 2, 12345678901234567890.123456789012345678901234567890, \
         1.7976931348623157E308, 1.4E-45, 0)",
        "INSERT INTO {ks}.all_types (id, s) VALUES (5, 'static only')",
        "INSERT INTO {ks}.all_types (id, ck, dt, ts, dec) VALUES (6, 1, '-0001-01-01', '1969-12-31T23:59:59.999Z', 1E-7)",
        "CREATE TABLE {ks}.counters (id int PRIMARY KEY, hits counter, misses counter)",
        "UPDATE {ks}.counters SET hits = hits + 9223372036854775807, misses = misses - 5 WHERE id = 1",
        "UPDATE {ks}.counters SET hits = hits + 1 WHERE id = 2",
    ] {
        ks.execute(cql).await;
    }
}

fn unload(ks: &TestKeyspace, table: &str, format: &str, dir: &Path, extra: &[&str]) -> String {
    let dir = dir.to_str().unwrap();
    let log_dir = format!("{dir}-logs");
    let mut args = vec![
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        table,
        "--format",
        format,
        "--url",
        dir,
        "--log-dir",
        &log_dir,
        "-q",
    ];
    args.extend_from_slice(extra);
    expect_success(&cqlbulk(&args));
    log_dir
}

/// What: the all-types table and a counter table through CSV, JSON and Parquet, read back
/// by independent readers (Python csv/json, pyarrow) and compared value by value with what
/// the Python cassandra-driver reads. Why: lossless types are the promise of every format.
#[tokio::test(flavor = "multi_thread")]
async fn every_type_survives_every_format() {
    let ks = TestKeyspace::connect(hosts(), "all_types", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let root = scratch_dir("all-types");
    for format in ["csv", "json", "parquet"] {
        for table in ["all_types", "counters"] {
            let dir = root.join(format!("{table}-{format}"));
            unload(&ks, table, format, &dir, &[]);
            check_unload(hosts(), &ks.name, table, format, &dir);
        }
    }
    // JSON arrays and a CSV with another delimiter and null text read back the same.
    let dir = root.join("array-json");
    unload(&ks, "all_types", "json", &dir, &["--json-mode", "array"]);
    check_unload(hosts(), &ks.name, "all_types", "json", &dir);
}

/// What: every CSV/JSON compression codec writes files the standard tool decompresses to
/// exactly the uncompressed output, and the Parquet codecs all read back. Why: users pipe
/// these files into gzip, zstd, lz4, bzip2 and xz, not into cqlbulk.
#[tokio::test(flavor = "multi_thread")]
async fn compressed_output_reads_with_standard_tools() {
    let ks = TestKeyspace::connect(hosts(), "compression", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let root = scratch_dir("compression");
    let plain = root.join("plain");
    unload(&ks, "all_types", "csv", &plain, &["--splits", "1"]);
    let plain_text = concat_files(&plain);
    for (codec, tool, suffix) in [
        ("gzip", "gzip", "gz"),
        ("zstd", "zstd", "zst"),
        ("lz4", "lz4", "lz4"),
        ("bzip2", "bzip2", "bz2"),
        ("xz", "xz", "xz"),
    ] {
        let dir = root.join(codec);
        unload(&ks, "all_types", "csv", &dir, &["--splits", "1", "--compression", codec]);
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(!files.is_empty());
        let mut text = String::new();
        for file in &files {
            assert!(file.to_str().unwrap().ends_with(&format!(".csv.{suffix}")), "{file:?}");
            let out = std::process::Command::new(tool).arg("-dc").arg(file).output().unwrap();
            assert!(out.status.success(), "{tool} -dc {file:?}: {}", String::from_utf8_lossy(&out.stderr));
            text.push_str(&String::from_utf8(out.stdout).unwrap());
        }
        assert_eq!(sorted_lines(&text), sorted_lines(&plain_text), "{codec}");
        check_unload(hosts(), &ks.name, "all_types", "csv", &dir);
    }
    for codec in ["snappy", "gzip", "lz4", "none", "zstd"] {
        let dir = root.join(format!("parquet-{codec}"));
        unload(&ks, "all_types", "parquet", &dir, &["--compression", codec]);
        check_unload(hosts(), &ks.name, "all_types", "parquet", &dir);
    }
}

fn concat_files(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

/// What: 100,000 rows, each primary key exactly once in each format. Why: see the scenario.
#[tokio::test(flavor = "multi_thread")]
async fn unload_100k_exactly_once() {
    let ks = TestKeyspace::connect(hosts(), "exactly_once_1", SIMPLE_RF1).await;
    common::scenarios::unload_exactly_once(hosts(), &ks).await;
}

/// What: `--columns`, `--query` with `:start`/`:end`, `--writetime`/`--ttl`, CSV options
/// (no header, another delimiter, a null text) and stdout output. Why: these are the
/// options operators reach for first; each must keep exactly-once and the values.
#[tokio::test(flavor = "multi_thread")]
async fn unload_options() {
    let ks = TestKeyspace::connect(hosts(), "unload_options", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int, c int, v text, w int, PRIMARY KEY (id, c))").await;
    let insert = ks
        .prepare("INSERT INTO {ks}.t (id, c, v, w) VALUES (?, ?, ?, ?) USING TIMESTAMP 1234567 AND TTL 86400")
        .await;
    insert_all(&ks.session, &insert, (0..3000).map(|i| (i / 3, i % 3, format!("v{i}"), i))).await;
    ks.execute("INSERT INTO {ks}.t (id, c, v) VALUES (5000, 0, 'no w')").await;
    let root = scratch_dir("unload-options");
    let run = |extra: &[&str]| {
        let mut args = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "t", "-q"];
        let log_dir = root.join("logs");
        let log_dir = log_dir.to_str().unwrap().to_string();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--log-dir", &log_dir]);
        expect_success(&cqlbulk(&args))
    };

    // Selected columns only, checked by the oracle on those columns.
    let dir = root.join("columns");
    run(&["--columns", "id,c,v", "--format", "json", "--url", dir.to_str().unwrap()]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_unload.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .args([
            "--hosts",
            hosts(),
            "--keyspace",
            &ks.name,
            "--table",
            "t",
            "--format",
            "json",
            "--columns",
            "id,c,v",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A custom query, parallelised over the ring like the default one.
    let query =
        format!("SELECT id, c, v, w FROM {}.t WHERE token(id) > :start AND token(id) <= :end", ks.name);
    let dir = root.join("query");
    run(&["--query", &query, "--format", "csv", "--url", dir.to_str().unwrap()]);
    check_unload(hosts(), &ks.name, "t", "csv", &dir);

    // Write time and TTL of the regular columns, from stdout, without header, `;` and NULL.
    let text = run(&[
        "--writetime",
        "--ttl",
        "--header",
        "false",
        "--delimiter",
        ";",
        "--null-string",
        "NULL",
        "--url",
        "-",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3001, "one line per row, no header");
    // Columns: id;c;v;w;writetime(v);ttl(v);writetime(w);ttl(w)
    for line in &lines {
        let fields: Vec<&str> = line.split(';').collect();
        assert_eq!(fields.len(), 8, "{line}");
        if fields[0] == "5000" {
            assert_eq!(fields[3], "NULL", "null w is the null text: {line}");
            assert_eq!(fields[6], "NULL", "no write time for a null cell: {line}");
        } else {
            assert_eq!(fields[4], "1234567", "{line}");
            let ttl: i64 = fields[5].parse().unwrap();
            assert!((86_000..=86_400).contains(&ttl), "{line}");
        }
    }
}
