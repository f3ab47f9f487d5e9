//! `cqlbulk unload` on one node: every CQL type through every format, compression, files.

mod common;

use std::path::Path;

use common::scenarios::create_all_types;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
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
    let script = common::crate_dir().join("tests/python/check_unload.py");
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

/// What: count, unload and verify of 100,000 rows under `--max-rows-per-second 50000` each
/// take at least the 1.9 s the limit allows, and still read every row (unload exactly
/// once, count exact, verify equal); `--max-bytes-per-second` and
/// `--max-concurrent-requests 1` keep the results too, and a rate of 0 is refused in one
/// line. Why: operators throttle bulk reads to protect live traffic; a limit must hold for
/// the whole run (not per split) without costing rows. Only lower bounds are timed here
/// (the achieved rate against the limit is measured in bench/throttle.sh).
#[tokio::test(flavor = "multi_thread")]
async fn read_limits_hold_for_the_whole_run() {
    let ks = TestKeyspace::connect(hosts(), "read_limits", SIMPLE_RF1).await;
    common::scenarios::fill_100k(&ks).await;
    let limited = ["--max-rows-per-second", "50000", "--splits", "32", "--concurrency", "4"];
    let timed = |args: &[&str]| {
        let began = std::time::Instant::now();
        let output = expect_success(&cqlbulk(args));
        (output, began.elapsed().as_secs_f64())
    };
    let mut count = vec!["count", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "-q"];
    count.extend(limited);
    let (counted, took) = timed(&count);
    assert_eq!(counted.trim(), "100000");
    assert!(took >= 1.9, "count at 50,000 rows/s took {took:.2}s for 100,000 rows");

    let dir = scratch_dir("read-limits");
    let began = std::time::Instant::now();
    unload(&ks, "rows100k", "csv", &dir.join("csv"), &limited);
    let took = began.elapsed().as_secs_f64();
    assert!(took >= 1.9, "unload at 50,000 rows/s took {took:.2}s for 100,000 rows");
    check_unload(hosts(), &ks.name, "rows100k", "csv", &dir.join("csv"));

    let csv = dir.join("csv");
    let mut verify = vec!["verify", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "csv", "-q"];
    verify.extend(["--url", csv.to_str().unwrap()]);
    verify.extend(limited);
    let (_, took) = timed(&verify);
    assert!(took >= 1.9, "verify at 50,000 rows/s took {took:.2}s for 100,000 rows");

    let other = ["--max-bytes-per-second", "2M", "--max-concurrent-requests", "1"];
    unload(&ks, "rows100k", "parquet", &dir.join("parquet"), &other);
    check_unload(hosts(), &ks.name, "rows100k", "parquet", &dir.join("parquet"));

    let refused =
        cqlbulk(&["count", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--max-rows-per-second", "0"]);
    assert_eq!(refused.status.code(), Some(3), "a bad command line is a fatal error");
    let err = stderr(&refused);
    assert!(err.contains("'0' is not a rate"), "{err}");
}
