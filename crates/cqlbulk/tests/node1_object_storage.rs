//! Object storage: `unload`, `load` and `verify` with `s3://` URLs against a real
//! S3-compatible server (versitygw, built from the Go module proxy and started by
//! harness/s3.py). What was written is read back by pyarrow's own S3 client, never by
//! cqlbulk's.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// The test credentials harness/s3.py starts the server with.
const S3_ENV: [(&str, &str); 2] =
    [("AWS_ACCESS_KEY_ID", "cqlbulk-test"), ("AWS_SECRET_ACCESS_KEY", "cqlbulk-test-secret")];

fn s3_harness(args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg(repo_root().join("harness/s3.py"))
        .args(args)
        .output()
        .expect("python3 runs harness/s3.py");
    assert!(output.status.success(), "harness/s3.py {args:?} failed:\n{}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The S3 endpoint, started once per test binary.
fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| s3_harness(&["start"]))
}

/// pyarrow's S3 client on the test server, as Python source (`fs`).
const PY_FS: &str = "import sys, pyarrow.fs as pafs\n\
    fs = pafs.S3FileSystem(access_key='cqlbulk-test', secret_key='cqlbulk-test-secret', \
    endpoint_override=sys.argv[1], scheme='http', region='us-east-1', \
    allow_bucket_creation=True, allow_bucket_deletion=True)\n";

/// A bucket of one test, created through the S3 API and deleted with its objects at the end.
struct Bucket(String);

impl Bucket {
    fn create(test: &str) -> Bucket {
        let name = format!("cqlbulk-{test}-{}", std::process::id());
        python_snippet(&format!("{PY_FS}fs.create_dir(sys.argv[2])"), &[endpoint(), &name]);
        Bucket(name)
    }

    fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.0)
    }

    /// (name, size) of every object under `prefix`, as pyarrow lists them.
    fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        let code = format!(
            "{PY_FS}sel = pafs.FileSelector(sys.argv[2], recursive=True, allow_not_found=True)\n\
             for f in fs.get_file_info(sel):\n    \
                 if f.type == pafs.FileType.File: print(f.path, f.size)"
        );
        python_snippet(&code, &[endpoint(), &format!("{}/{prefix}", self.0)])
            .lines()
            .map(|line| {
                let (path, size) = line.rsplit_once(' ').unwrap();
                (path.to_string(), size.parse().unwrap())
            })
            .collect()
    }

    /// Copies the objects under `prefix` into `dir` with pyarrow, for the local oracles.
    fn download(&self, prefix: &str, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let code = format!(
            "{PY_FS}pafs.copy_files(sys.argv[2], sys.argv[3], source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())"
        );
        python_snippet(&code, &[endpoint(), &format!("{}/{prefix}", self.0), dir.to_str().unwrap()]);
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Objects first, then the directory markers deepest first (the POSIX backend keeps
        // `dir/` objects, which a one-call delete_dir finds not empty), then the bucket.
        let code = format!(
            "{PY_FS}b = sys.argv[2]\n\
             infos = fs.get_file_info(pafs.FileSelector(b, recursive=True))\n\
             for i in infos:\n    if i.type == pafs.FileType.File: fs.delete_file(i.path)\n\
             for i in sorted((i for i in infos if i.type == pafs.FileType.Directory), key=lambda i: -i.path.count('/')):\n    \
                 fs.delete_dir(i.path)\n\
             fs.delete_dir(b)"
        );
        let output = Command::new(python()).arg("-c").arg(code).args([endpoint(), &self.0]).output();
        if let Ok(output) = output
            && !output.status.success()
        {
            eprintln!("bucket {} was not deleted: {}", self.0, stderr(&output));
        }
    }
}

/// `cqlbulk` with the test credentials and endpoint.
fn cqlbulk_s3(args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--s3-endpoint", endpoint()]);
    cqlbulk_with_env(&all, &S3_ENV)
}

/// What: the all-types table unloaded to S3 as CSV, JSON and Parquet (two rows per object,
/// so many objects and splits) holds every value, as pyarrow's S3 client reads the objects
/// and the Python driver reads the table; the bucket holds exactly the objects the summary
/// reports; one object named by its URL is read alone; then the table, emptied, is loaded
/// back from the Parquet objects and `verify` finds it equal to the JSON objects. Why: object storage is where lakehouses keep data;
/// a lost, repeated or half-written object there is silent data loss.
#[tokio::test(flavor = "multi_thread")]
async fn every_format_round_trips_through_s3() {
    let ks = TestKeyspace::connect(hosts(), "s3_types", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    let bucket = Bucket::create("types");
    let root = scratch_dir("s3-types");
    for format in ["csv", "json", "parquet"] {
        let logs = root.join(format!("{format}-logs"));
        let url = bucket.url(format);
        expect_success(&cqlbulk_s3(&[
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
    let code = format!(
        "{PY_FS}import pyarrow.parquet as pq\nprint(pq.read_metadata(sys.argv[2], filesystem=fs).num_rows)"
    );
    let rows: u64 = python_snippet(&code, &[endpoint(), &first]).trim().parse().unwrap();
    let one_logs = root.join("one-object-logs");
    expect_success(&cqlbulk_s3(&[
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
        &format!("s3://{first}"),
        "--log-dir",
        one_logs.to_str().unwrap(),
        "-q",
    ]));
    assert_eq!(read_summary(&one_logs)["read"].as_u64(), Some(rows), "one object: {first}");

    ks.execute("TRUNCATE {ks}.all_types").await;
    let loaded = cqlbulk_s3(&[
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
    let verified = cqlbulk_s3(&[
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

/// What: objects larger than an upload part (8 MiB: 1,200 rows of 100 KB random blobs in
/// 16 splits) go up as multipart uploads and read back whole: every row once, the blob
/// bytes intact (pyarrow sums their lengths and a checksum). Why: a multipart upload that
/// is not completed, or completed with parts missing, is a file that looks fine and is not.
#[tokio::test(flavor = "multi_thread")]
async fn large_objects_are_uploaded_in_parts() {
    let ks = TestKeyspace::connect(hosts(), "s3_large", SIMPLE_RF1).await;
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
    let bucket = Bucket::create("large");
    let root = scratch_dir("s3-large");
    expect_success(&cqlbulk_s3(&[
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
    let code = format!(
        "{PY_FS}import pyarrow.parquet as pq, pyarrow.compute as pc\n\
         t = pq.read_table(sys.argv[2], filesystem=fs)\n\
         ids = t.column('id').to_pylist()\n\
         total = sum(sum(b) for b in t.column('b').to_pylist())\n\
         print(len(ids), len(set(ids)), total)"
    );
    let out = python_snippet(&code, &[endpoint(), &format!("{}/blobs", bucket.0)]);
    assert_eq!(out.trim(), format!("{rows} {rows} {expected_sum}"), "rows, distinct ids, byte sum");
}

/// What: the S3 server SIGKILLed in the middle of an unload to it: the unload stops with
/// one clear error naming the object store and the resume command (exit 3, not a hang
/// retrying every split), and once the server is back, `--resume` finishes the run: the
/// objects hold every row exactly once. Why: storage fails in production; a crash must
/// neither lose nor duplicate rows, and must not leave a run retrying for hours.
#[tokio::test(flavor = "multi_thread")]
async fn storage_killed_mid_unload_then_resume_is_exactly_once() {
    let ks = TestKeyspace::connect(hosts(), "s3_kill", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let bucket = Bucket::create("kill");
    let root = scratch_dir("s3-kill");
    let logs = root.join("logs");
    let url = bucket.url("rows");
    let child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "parquet", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200", "--max-rows-per-file", "150"])
        .args(["--url", &url, "--s3-endpoint", endpoint(), "--log-dir", logs.to_str().unwrap()])
        .envs(S3_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let operation = wait_for_checkpoint(&logs, 5);
    s3_harness(&["stop", "--kill"]);
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    let waited = started.elapsed();
    s3_harness(&["start"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains(&url) && err.contains("--resume"), "{err}");
    assert!(waited.as_secs() < 120, "the unload took {waited:?} to give up");

    let resumed = cqlbulk_s3(&[
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
fn check_iceberg_in_s3(keyspace: &str, table: &str, warehouse: &str, catalog_db: &Path) {
    let output = Command::new(python())
        .arg(crate_dir().join("tests/python/check_unload.py"))
        .args(["--hosts", hosts(), "--keyspace", keyspace, "--table", table, "--format", "iceberg"])
        .args([
            "--warehouse",
            warehouse,
            "--catalog-db",
            catalog_db.to_str().unwrap(),
            "--s3-endpoint",
            endpoint(),
        ])
        .envs(S3_ENV)
        .output()
        .expect("run check_unload.py");
    assert!(
        output.status.success(),
        "the Iceberg table in S3 differs from {keyspace}.{table}:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// What: the all-types table exported as an Iceberg table whose warehouse is in S3 (the SQL
/// catalog in a local SQLite file): PyIceberg, through its own S3 client, reads the same
/// rows as the Python driver; the table, emptied, is loaded back from the Iceberg table and
/// `verify` finds the two equal. Then a 100k-row export SIGKILLed mid-run and resumed holds
/// every row once (the killed run's data files in S3 that no finished range recorded are
/// deleted before the commit). Why: lakehouses keep their tables in object storage; the
/// exactly-once commit must hold there too.
#[tokio::test(flavor = "multi_thread")]
async fn iceberg_warehouse_in_s3() {
    let ks = TestKeyspace::connect(hosts(), "s3_iceberg", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    fill_100k(&ks).await;
    let bucket = Bucket::create("iceberg");
    let root = scratch_dir("s3-iceberg");
    let warehouse = bucket.url("warehouse");
    let db = root.join("catalog.db");
    let catalog = ["--warehouse", &warehouse, "--catalog-db", db.to_str().unwrap()];
    let logs = root.join("logs");
    let mut unload =
        vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    unload.extend(catalog);
    unload.extend(["--log-dir", logs.to_str().unwrap()]);
    expect_success(&cqlbulk_s3(&unload));
    check_iceberg_in_s3(&ks.name, "all_types", &warehouse, &db);

    ks.execute("TRUNCATE {ks}.all_types").await;
    let mut load =
        vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    load.extend(catalog);
    load.extend(["--log-dir", logs.to_str().unwrap()]);
    expect_success(&cqlbulk_s3(&load));
    let mut verify =
        vec!["verify", "-h", hosts(), "-k", &ks.name, "-t", "all_types", "--format", "iceberg", "-q"];
    verify.extend(catalog);
    let verified = cqlbulk_s3(&verify);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));

    let kill_logs = root.join("kill-logs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--format", "iceberg", "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200"])
        .args(catalog)
        .args(["--s3-endpoint", endpoint(), "--log-dir", kill_logs.to_str().unwrap()])
        .envs(S3_ENV)
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
    expect_success(&cqlbulk_s3(&resume));
    check_iceberg_in_s3(&ks.name, "rows100k", &warehouse, &db);
}

fn read_summary(log_dir: &Path) -> serde_json::Value {
    let operation = std::fs::read_dir(log_dir).unwrap().next().unwrap().unwrap().path();
    serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap()
}
