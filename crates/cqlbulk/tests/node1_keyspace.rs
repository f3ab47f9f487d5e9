//! Whole keyspaces: `unload -k KS` and `load -k KS` without `-t` move every table, each
//! in its own directory or Iceberg table, under one operation that resumes as one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// The tables of the test keyspace: every CQL type, a quoted mixed-case name with awkward
/// text, and 100,000 rows; plus a materialized view that must be skipped.
async fn fill(ks: &TestKeyspace) {
    create_all_types(ks).await;
    fill_100k(ks).await;
    ks.execute("CREATE TABLE {ks}.\"MixedCase\" (id int PRIMARY KEY, v text)").await;
    let insert = ks.prepare("INSERT INTO {ks}.\"MixedCase\" (id, v) VALUES (?, ?)").await;
    insert_all(&ks.session, &insert, (0..500).map(|i| (i, format!("a \"quoted\", comma\nnewline \\ {i}"))))
        .await;
    ks.execute("CREATE MATERIALIZED VIEW {ks}.by_v AS SELECT * FROM {ks}.\"MixedCase\" WHERE v IS NOT NULL AND id IS NOT NULL PRIMARY KEY (v, id)").await;
}

/// Sorted as Cassandra's names sort (create_all_types also makes a counter table).
const TABLES: [&str; 4] = ["MixedCase", "all_types", "counters", "rows100k"];

/// The one entry of `dir` whose name starts with `prefix`, once it exists.
fn wait_for_entry(dir: &Path, prefix: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(entry) = std::fs::read_dir(dir).ok().and_then(|entries| {
            entries.filter_map(Result::ok).find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        }) {
            return entry.path();
        }
        assert!(Instant::now() < deadline, "no {prefix}* in {}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What: `unload -k KS` without `-t` writes every table to `<url>/<table>` (each checked
/// value by value against the Python driver), skips the materialized view with a line
/// saying so, and records one keyspace operation; `load -k COPY` reads that export back
/// into a keyspace of the same tables (a table the export lacks is skipped with a line) and
/// `verify` finds each table equal; `count` without `-t` is refused in one line. Then a
/// whole-keyspace Iceberg export SIGKILLed in its last table and resumed from the keyspace
/// operation holds every table exactly once (the tables done before the kill are not
/// exported again). Why: operators move whole keyspaces (migrations, backups to a
/// lakehouse); one command and one resume must cover every table, exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn whole_keyspaces_move_and_resume_as_one() {
    let ks = TestKeyspace::connect(hosts(), "whole_ks", SIMPLE_RF1).await;
    fill(&ks).await;
    let root = scratch_dir("whole-ks");
    let out = root.join("parquet");
    let logs = root.join("logs");
    let unloaded = cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "--format",
        "parquet",
        "--url",
        out.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    let err = expect_success(&unloaded);
    let err = format!("{err}{}", stderr(&unloaded));
    assert!(err.contains(&format!("skipped {}.by_v: a materialized view", ks.name)), "{err}");
    for table in TABLES {
        check_unload(hosts(), &ks.name, table, "parquet", &out.join(table));
    }
    assert!(!out.join("by_v").exists());
    let operation = wait_for_entry(&logs, &format!("keyspace-{}-", ks.name));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap();
    let tables: Vec<&str> =
        summary["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(tables, TABLES, "{summary}");
    assert!(summary["tables"].as_array().unwrap().iter().all(|t| t["status"] == "complete"), "{summary}");

    let refused = cqlbulk(&["count", "-h", hosts(), "-k", &ks.name]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(stderr(&refused).contains("count works on one table: give -t TABLE"), "{}", stderr(&refused));

    // Load the export into a keyspace with the same tables and one the export lacks.
    let copy = TestKeyspace::connect(hosts(), "whole_ks_copy", SIMPLE_RF1).await;
    create_all_types(&copy).await;
    copy.execute("TRUNCATE {ks}.all_types").await;
    copy.execute("TRUNCATE {ks}.counters").await;
    copy.execute("CREATE TABLE {ks}.rows100k (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    copy.execute("CREATE TABLE {ks}.\"MixedCase\" (id int PRIMARY KEY, v text)").await;
    copy.execute("CREATE TABLE {ks}.extra (id int PRIMARY KEY)").await;
    let loaded = cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &copy.name,
        "--format",
        "parquet",
        "--url",
        out.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    expect_success(&loaded);
    assert!(
        stderr(&loaded).contains(&format!("skipped {}.extra: nothing for it in the source", copy.name)),
        "{}",
        stderr(&loaded)
    );
    for table in TABLES {
        let verified = cqlbulk(&[
            "verify",
            "-h",
            hosts(),
            "-k",
            &copy.name,
            "-t",
            table,
            "--format",
            "parquet",
            "--url",
            out.join(table).to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(verified.status.code(), Some(0), "{table}: {}{}", stdout(&verified), stderr(&verified));
    }

    // A whole-keyspace Iceberg export killed in its last table, then resumed.
    let warehouse = root.join("warehouse");
    let catalog = ["--warehouse", warehouse.to_str().unwrap()];
    let kill_logs = root.join("kill-logs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "--format", "iceberg", "-q"])
        .args(catalog)
        .args([
            "--splits",
            "300",
            "--concurrency",
            "1",
            "--page-size",
            "200",
            "--log-dir",
            kill_logs.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let keyspace_operation = wait_for_entry(&kill_logs, "keyspace-");
    let last = wait_for_entry(&keyspace_operation, &format!("unload-{}.rows100k-", ks.name));
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(last.join("checkpoint.jsonl")).map_or(0, |t| t.lines().count()) < 5 {
        assert!(Instant::now() < deadline, "the last table never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "--format",
        "iceberg",
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--resume",
        keyspace_operation.to_str().unwrap(),
    ]);
    expect_success(&resumed);
    for table in TABLES {
        check_iceberg(hosts(), &ks.name, table, &catalog);
    }
    let log = std::fs::read_to_string(keyspace_operation.join("operation.log")).unwrap();
    assert_eq!(log.matches("MixedCase: start").count(), 1, "a finished table is not exported again:\n{log}");
    assert!(log.contains("rows100k: resume"), "{log}");
}
