//! Object storage: `unload`, `load` and `verify` with `s3://`, `az://` and `gs://` URLs
//! against real servers the harness builds and starts (versitygw for S3, Azurite for Azure,
//! fake-gcs-server for GCS; see common/stores.rs). What was written is read back by
//! pyarrow's own client of each store, never by cqlbulk's.

// Each test holds the servers' lock for its whole run (see `Store::shared`): every test has
// its own thread and runtime, so waiting for the lock blocks only the test that waits.
#![allow(clippy::await_holding_lock)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::scenarios::*;
use common::stores::{Bucket, Store};
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

const S3: Store = Store::S3;

/// What: the all-types table unloaded to the store as CSV, JSON and Parquet (two rows per
/// object, so many objects and splits) holds every value, as pyarrow's client of the store
/// reads the objects and the Python driver reads the table; the bucket holds exactly the
/// objects the summary reports; one object named by its URL is read alone; then the table,
/// emptied, is loaded back from the Parquet objects and `verify` finds it equal to the JSON
/// objects. Why: object storage is where lakehouses keep data; a lost, repeated or
/// half-written object there is silent data loss.
async fn every_format_round_trips(store: Store) {
    let _server = store.shared();
    let name = format!("{}_types", store.scheme());
    let ks = TestKeyspace::connect(hosts(), &name, SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let bucket = Bucket::create(store, "types");
    let root = scratch_dir(&name);
    for format in ["csv", "json", "parquet"] {
        let logs = root.join(format!("{format}-logs"));
        let url = bucket.url(format);
        expect_success(&store.cqlbulk(&[
            "unload",
            "-h",
            hosts(),
            "-k",
            &ks.name,
            "-t",
            "all_types",
            "--format",
            format,
            "--url",
            &url,
            "--max-rows-per-file",
            "2",
            "--log-dir",
            logs.to_str().unwrap(),
            "-q",
        ]));
        let summary = read_summary(&logs);
        let objects = bucket.objects(format);
        assert_eq!(summary["files"].as_u64(), Some(objects.len() as u64), "{format}: {objects:?}\n{summary}");
        assert_eq!(summary["output"].as_str(), Some(url.as_str()), "{summary}");
        let local = root.join(format);
        bucket.download(format, &local);
        check_unload(hosts(), &ks.name, "all_types", format, &local);
    }

    // One object named by its full URL is read alone.
    let (first, _) = bucket.objects("parquet").into_iter().next().unwrap();
    let code = "import pyarrow.parquet as pq\nprint(pq.read_metadata(sys.argv[2], filesystem=fs).num_rows)";
    let rows: u64 = bucket.python(code, &[&first]).trim().parse().unwrap();
    let one_logs = root.join("one-object-logs");
    expect_success(&store.cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "all_types",
        "--format",
        "parquet",
        "--dry-run",
        "--url",
        &format!("{}://{first}", store.scheme()),
        "--log-dir",
        one_logs.to_str().unwrap(),
        "-q",
    ]));
    assert_eq!(read_summary(&one_logs)["read"].as_u64(), Some(rows), "one object: {first}");

    ks.execute("TRUNCATE {ks}.all_types").await;
    let loaded = store.cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "all_types",
        "--format",
        "parquet",
        "--url",
        &bucket.url("parquet"),
        "--log-dir",
        root.join("load-logs").to_str().unwrap(),
        "-q",
    ]);
    expect_success(&loaded);
    let verified = store.cqlbulk(&[
        "verify",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "all_types",
        "--format",
        "json",
        "--url",
        &bucket.url("json"),
        "-q",
    ]);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_round_trips_through_s3() {
    every_format_round_trips(Store::S3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_round_trips_through_azure() {
    every_format_round_trips(Store::Azure).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_round_trips_through_gcs() {
    every_format_round_trips(Store::Gcs).await;
}

/// What: objects larger than an upload part (8 MiB; S3 multipart, Azure staged blocks: 1,200 rows of 100 KB random blobs in
/// 16 splits) go up as multipart uploads and read back whole: every row once, the blob
/// bytes intact (pyarrow sums their lengths and a checksum). Why: a multipart upload that
/// is not completed, or completed with parts missing, is a file that looks fine and is not.
/// GCS is left out: fake-gcs-server has no XML multipart API, which OpenDAL's GCS writer uses
/// for objects of more than one part.
async fn large_objects_are_uploaded_in_parts(store: Store) {
    let _server = store.shared();
    let name = format!("{}_large", store.scheme());
    let ks = TestKeyspace::connect(hosts(), &name, SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.blobs (id int PRIMARY KEY, b blob)").await;
    let insert = ks.prepare("INSERT INTO {ks}.blobs (id, b) VALUES (?, ?)").await;
    let rows = 1200;
    let blob = |id: i32| -> Vec<u8> {
        // Incompressible but reproducible: a xorshift stream seeded by the id.
        let mut state = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    let expected_sum: u64 = (0..rows).map(|id| blob(id).iter().map(|b| *b as u64).sum::<u64>()).sum();
    insert_all(&ks.session, &insert, (0..rows).map(|id| (id, blob(id)))).await;
    let bucket = Bucket::create(store, "large");
    let root = scratch_dir(&name);
    expect_success(&store.cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "blobs",
        "--format",
        "parquet",
        "--compression",
        "none",
        "--url",
        &bucket.url("blobs"),
        "--log-dir",
        root.join("logs").to_str().unwrap(),
        "-q",
    ]));
    let objects = bucket.objects("blobs");
    let largest = objects.iter().map(|(_, size)| *size).max().unwrap();
    assert!(largest > 8 << 20, "no object needed a multipart upload: {objects:?}");
    let code = "import pyarrow.parquet as pq, pyarrow.compute as pc\n\
         t = pq.read_table(sys.argv[2], filesystem=fs)\n\
         ids = t.column('id').to_pylist()\n\
         total = sum(sum(b) for b in t.column('b').to_pylist())\n\
         print(len(ids), len(set(ids)), total)";
    let out = bucket.python(code, &[&format!("{}/blobs", bucket.name)]);
    assert_eq!(out.trim(), format!("{rows} {rows} {expected_sum}"), "rows, distinct ids, byte sum");
}

#[tokio::test(flavor = "multi_thread")]
async fn large_objects_are_uploaded_in_parts_to_s3() {
    large_objects_are_uploaded_in_parts(Store::S3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn large_objects_are_uploaded_in_parts_to_azure() {
    large_objects_are_uploaded_in_parts(Store::Azure).await;
}

/// What: the S3 server SIGKILLed in the middle of an unload to it: the unload stops with
/// one clear error naming the object store and the resume command (exit 3, not a hang
/// retrying every split), and once the server is back, `--resume` finishes the run: the
/// objects hold every row exactly once. Why: storage fails in production; a crash must
/// neither lose nor duplicate rows, and must not leave a run retrying for hours.
#[tokio::test(flavor = "multi_thread")]
async fn storage_killed_mid_unload_then_resume_is_exactly_once() {
    // It kills the server: no other test may be using it.
    let _server = S3.exclusive();
    let ks = TestKeyspace::connect(hosts(), "s3_kill", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let bucket = Bucket::create(S3, "kill");
    let root = scratch_dir("s3-kill");
    let logs = root.join("logs");
    let url = bucket.url("rows");
    let child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "parquet", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200", "--max-rows-per-file", "150"])
        .args(["--url", &url, "--s3-endpoint", S3.endpoint(), "--log-dir", logs.to_str().unwrap()])
        .envs(S3.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let operation = wait_for_checkpoint(&logs, 5);
    S3.harness_run(&["stop", "--kill"]);
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    let waited = started.elapsed();
    S3.harness_run(&["start"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains(&url) && err.contains("--resume"), "{err}");
    assert!(waited.as_secs() < 120, "the unload took {waited:?} to give up");

    let resumed = S3.cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "rows100k",
        "--format",
        "parquet",
        "--url",
        &url,
        "--resume",
        operation.to_str().unwrap(),
        "-q",
    ]);
    expect_success(&resumed);
    let local = root.join("rows");
    bucket.download("rows", &local);
    check_unload(hosts(), &ks.name, "rows100k", "parquet", &local);
}

/// Runs tests/python/check_unload.py on an Iceberg table whose warehouse is in S3:
/// PyIceberg reads it through its own S3 FileIO and compares with the Python driver.
fn check_iceberg_in(store: Store, keyspace: &str, table: &str, warehouse: &str, catalog_db: &Path) {
    let endpoint_flag = match store {
        Store::Gcs => "--gcs-endpoint",
        _ => "--s3-endpoint",
    };
    let output = Command::new(python())
        .arg(crate_dir().join("tests/python/check_unload.py"))
        .args(["--hosts", hosts(), "--keyspace", keyspace, "--table", table, "--format", "iceberg"])
        .args([
            "--warehouse",
            warehouse,
            "--catalog-db",
            catalog_db.to_str().unwrap(),
            endpoint_flag,
            store.endpoint(),
        ])
        .envs(store.env())
        .output()
        .expect("run check_unload.py");
    assert!(
        output.status.success(),
        "the Iceberg table in {warehouse} differs from {keyspace}.{table}:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// What: the all-types table exported as an Iceberg table whose warehouse is in the store
/// (the SQL catalog in a local SQLite file): PyIceberg, through its own client of the store,
/// reads the same rows as the Python driver; the table, emptied, is loaded back from the
/// Iceberg table and `verify` finds the two equal. Then a 100k-row export SIGKILLed mid-run
/// and resumed holds every row once (the killed run's data files that no finished range
/// recorded are deleted before the commit), and `iceberg expire` leaves it readable. Why:
/// lakehouses keep their tables in object storage; the exactly-once commit must hold there.
async fn iceberg_warehouse_in(store: Store) {
    let _server = store.shared();
    let name = format!("{}_iceberg", store.scheme());
    let ks = TestKeyspace::connect(hosts(), &name, SIMPLE_RF1).await;
    create_all_types(&ks).await;
    fill_100k(&ks).await;
    let bucket = Bucket::create(store, "iceberg");
    let root = scratch_dir(&name);
    let warehouse = bucket.url("warehouse");
    let db = root.join("catalog.db");
    let catalog = ["--warehouse", &warehouse, "--catalog-db", db.to_str().unwrap()];
    let logs = root.join("logs");
    let mut unload =
        vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    unload.extend(catalog);
    let unload_logs = root.join("unload-logs");
    unload.extend(["--log-dir", unload_logs.to_str().unwrap()]);
    expect_success(&store.cqlbulk(&unload));
    check_iceberg_in(store, &ks.name, "all_types", &warehouse, &db);

    ks.execute("TRUNCATE {ks}.all_types").await;
    let mut load =
        vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    load.extend(catalog);
    load.extend(["--log-dir", logs.to_str().unwrap()]);
    expect_success(&store.cqlbulk(&load));
    let mut verify =
        vec!["verify", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    verify.extend(catalog);
    let verified = store.cqlbulk(&verify);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));

    let kill_logs = root.join("kill-logs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "iceberg", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200"])
        .args(catalog)
        .args(store.flags())
        .args(["--log-dir", kill_logs.to_str().unwrap()])
        .envs(store.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let operation = wait_for_checkpoint(&kill_logs, 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut resume =
        vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "iceberg", "-q"];
    resume.extend(catalog);
    resume.extend(["--resume", operation.to_str().unwrap()]);
    expect_success(&store.cqlbulk(&resume));
    check_iceberg_in(store, &ks.name, "rows100k", &warehouse, &db);

    // A second export, then everything but the current snapshot expired: files are deleted
    // through the store, and what is left reads the same.
    let mut again =
        vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    again.extend(catalog);
    again.extend(["--log-dir", logs.to_str().unwrap()]);
    expect_success(&store.cqlbulk(&again));
    let mut expire = vec!["iceberg", "expire", "--namespace", &ks.name, "--table", "all_types"];
    expire.extend(catalog);
    expire.extend(["--older-than", "0s", "--retain-last", "1", "--json"]);
    let expired: serde_json::Value =
        serde_json::from_str(expect_success(&store.cqlbulk(&expire)).trim()).unwrap();
    assert_eq!(expired["expired_snapshots"].as_array().unwrap().len(), 1, "{expired}");
    assert_eq!(expired["deleted_manifest_lists"], 1, "{expired}");
    assert_eq!(expired["deleted_data_files"], 0, "appends keep every data file live: {expired}");
    // Every file the current snapshot needs is still there: a dry-run load reads both exports.
    let exported = read_summary(&unload_logs)["rows"].as_u64().unwrap();
    let dry_logs = root.join("dry-logs");
    let mut dry = vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    dry.extend(catalog);
    dry.extend(["--dry-run", "--log-dir", dry_logs.to_str().unwrap()]);
    expect_success(&store.cqlbulk(&dry));
    assert_eq!(read_summary(&dry_logs)["read"].as_u64(), Some(2 * exported));
}

#[tokio::test(flavor = "multi_thread")]
async fn iceberg_warehouse_in_s3() {
    iceberg_warehouse_in(Store::S3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn iceberg_warehouse_in_gcs() {
    iceberg_warehouse_in(Store::Gcs).await;
}

/// What: Apache Iceberg's own REST catalog server keeping its tables in S3 (its S3FileIO, the
/// AWS SDK, against the test S3 server): the all-types table exported through it is read back by PyIceberg's RestCatalog with its own S3 client equal to what the Python driver
/// reads; a second export is a second snapshot. Why: a REST catalog over object storage is the production
/// lakehouse; cqlbulk must write where the server says, through the storage flags.
#[tokio::test(flavor = "multi_thread")]
async fn iceberg_through_rest_catalog_in_s3() {
    let _server = S3.shared();
    let ks = TestKeyspace::connect(hosts(), "s3_rest", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let bucket = Bucket::create(S3, "rest");
    let root = scratch_dir("s3-rest");
    let catalog_dir = root.join("catalog");
    let (_server, uri) = RestServer::start(&[
        "--port",
        "18183",
        "--warehouse",
        catalog_dir.to_str().unwrap(),
        "--s3-warehouse",
        &bucket.url("warehouse"),
        "--s3-endpoint",
        S3.endpoint(),
    ]);
    let export = || {
        expect_success(&S3.cqlbulk(&[
            "unload",
            "-h",
            hosts(),
            "-k",
            &ks.name,
            "-t",
            "all_types",
            "--format",
            "iceberg",
            "-q",
            "--catalog-uri",
            &uri,
            "--log-dir",
            root.join("logs").to_str().unwrap(),
        ]))
    };
    export();
    let output = Command::new(python())
        .arg(crate_dir().join("tests/python/check_unload.py"))
        .args(["--hosts", hosts(), "--keyspace", &ks.name, "--table", "all_types", "--format", "iceberg"])
        .args(["--catalog-uri", &uri, "--s3-endpoint", S3.endpoint()])
        .envs(S3.env())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the REST catalog's table in S3 differs:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    export();
    let listed = expect_success(&S3.cqlbulk(&[
        "iceberg",
        "snapshots",
        "--catalog-uri",
        &uri,
        "--namespace",
        &ks.name,
        "--table",
        "all_types",
        "--json",
    ]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let objects = bucket.objects("warehouse");
    assert!(objects.iter().any(|(name, _)| name.ends_with(".parquet")), "data files are in S3: {objects:?}");
}

/// An unload of rows100k with its operation in object storage (`--log-dir logs_url`) and
/// its local working copy in `work_dir`: SIGKILLed once 5 splits are recorded, then
/// `--resume`d from the operation's URL with an empty working directory, as on another
/// machine. Returns the resumed run's stdout, stderr and the operation's URL.
fn kill_then_resume_elsewhere(
    store: Store,
    keyspace: &str,
    target: &[&str],
    logs_url: &str,
    work_dir: &Path,
) -> (std::process::Output, String) {
    let unload = ["unload", "-h", hosts(), "-k", keyspace, "-t", "rows100k", "-q"];
    let machine_a = work_dir.join("machine-a");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(unload)
        .args(target)
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200", "--log-dir", logs_url])
        .args(store.flags())
        .envs(store.env())
        .env("CQLBULK_WORK_DIR", &machine_a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let local = wait_for_checkpoint(&machine_a, 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let operation = format!("{logs_url}/{}", local.file_name().unwrap().to_str().unwrap());
    let machine_b = work_dir.join("machine-b");
    let mut args: Vec<&str> = unload.to_vec();
    args.extend(target);
    args.extend(["--resume", &operation]);
    args.extend(store.flags());
    let mut env: Vec<(&str, &str)> = store.env();
    env.push(("CQLBULK_WORK_DIR", machine_b.to_str().unwrap()));
    (cqlbulk_with_env(&args, &env), operation)
}

/// What: an unload whose operation directory is in S3 (`--log-dir s3://…`), SIGKILLed, then
/// resumed from the operation's URL on "another machine" (an empty local working directory):
/// Parquet files and an Iceberg table (whose finished splits' spill files stayed on the
/// first machine, so the resume reads them again) each hold every row exactly once, and the
/// bucket holds the operation: operation.json, a record per finished split, the log and
/// summary.json. A load with its operation in S3 uploads its summary too. Why: shards and
/// retried jobs on machines that share no disk can only resume from shared storage.
#[tokio::test(flavor = "multi_thread")]
async fn operation_in_object_storage_resumes_on_another_machine() {
    let _server = S3.shared();
    let ks = TestKeyspace::connect(hosts(), "s3_oplog", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let bucket = Bucket::create(S3, "oplog");
    let root = scratch_dir("s3-oplog");

    let rows_url = bucket.url("rows");
    let parquet = ["--format", "parquet", "--url", &rows_url, "--max-rows-per-file", "1000"];
    let (resumed, operation) =
        kill_then_resume_elsewhere(S3, &ks.name, &parquet, &bucket.url("logs"), &root.join("parquet"));
    expect_success(&resumed);
    let local = root.join("rows");
    bucket.download("rows", &local);
    check_unload(hosts(), &ks.name, "rows100k", "parquet", &local);
    let op_prefix = operation.strip_prefix(&bucket.url("")).unwrap();
    let objects: Vec<String> = bucket.objects(op_prefix).into_iter().map(|(name, _)| name).collect();
    for name in ["operation.json", "operation.log", "summary.json"] {
        assert!(objects.iter().any(|o| o.ends_with(&format!("/{name}"))), "{name} missing: {objects:?}");
    }
    let records = objects.iter().filter(|o| o.contains("/checkpoint/")).count();
    assert!(records >= 300, "every split is recorded in S3: {records} records");
    let summary: serde_json::Value = serde_json::from_str(&bucket.python(
        "print(fs.open_input_stream(sys.argv[2]).read().decode())",
        &[&format!("{}/{op_prefix}/summary.json", bucket.name)],
    ))
    .unwrap();
    assert_eq!(summary["rows"], 100_000, "{summary}");
    assert_eq!(summary["status"], "complete", "{summary}");

    let warehouse = bucket.url("warehouse");
    let db = root.join("catalog.db");
    let iceberg = ["--format", "iceberg", "--warehouse", &warehouse, "--catalog-db", db.to_str().unwrap()];
    let (resumed, operation) = kill_then_resume_elsewhere(
        S3,
        &ks.name,
        &iceberg,
        &bucket.url("iceberg-logs"),
        &root.join("iceberg"),
    );
    expect_success(&resumed);
    check_iceberg_in(S3, &ks.name, "rows100k", &warehouse, &db);
    let log_object =
        format!("{}/{}/operation.log", bucket.name, operation.strip_prefix(&bucket.url("")).unwrap());
    let log = bucket.python("print(fs.open_input_stream(sys.argv[2]).read().decode())", &[&log_object]);
    assert!(log.contains("are read again: their spill files are not on this machine"), "{log}");

    ks.execute("CREATE TABLE {ks}.copy (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    let load_logs = bucket.url("load-logs");
    let loaded = S3.cqlbulk(&[
        "load",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "copy",
        "--format",
        "parquet",
        "--url",
        &rows_url,
        "--log-dir",
        &load_logs,
        "-q",
    ]);
    expect_success(&loaded);
    let summaries: Vec<_> =
        bucket.objects("load-logs").into_iter().filter(|(name, _)| name.ends_with("/summary.json")).collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let counted = expect_success(&cqlbulk(&["count", "-h", hosts(), "-k", &ks.name, "-t", "copy", "-q"]));
    assert_eq!(counted.trim(), "100000");
}

fn read_summary(log_dir: &Path) -> serde_json::Value {
    let operation = std::fs::read_dir(log_dir).unwrap().next().unwrap().unwrap().path();
    serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap()
}
