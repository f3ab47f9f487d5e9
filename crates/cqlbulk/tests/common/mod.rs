//! Shared support for integration tests: a real Cassandra cluster of the shape a test binary
//! needs (started by `harness/cluster.py`), throw-away keyspaces, bulk inserts, and running
//! the `cqlbulk` binary.
//!
//! Each test binary uses one cluster shape, so binaries can run one after another and reuse
//! a running cluster when the shape matches.
#![allow(dead_code)]

pub mod scenarios;
pub mod stores;
pub mod values;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;

pub use cqlbulk::cluster::quote_identifier as quote;

/// A cluster layout: node count and vnodes per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub nodes: usize,
    pub num_tokens: usize,
    pub auth: bool,
    /// TLS-only client port with client certificates required (see `tls_files`).
    pub tls: bool,
}

/// This crate's directory in the checkout under test. Read at run time: the shared
/// CARGO_TARGET_DIR lets a clone reuse binaries built for another checkout, so a path
/// compiled in (`env!`) may name a different (or deleted) tree.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn repo_root() -> PathBuf {
    crate_dir().join("../..").canonicalize().expect("the checkout under test exists")
}

/// Starts (or reuses) the cluster of `shape` and returns its contact points, once per
/// test binary.
pub fn cluster(shape: Shape) -> &'static str {
    static HOSTS: OnceLock<String> = OnceLock::new();
    HOSTS.get_or_init(|| {
        let heap = if shape.nodes > 1 { "768M" } else { "1G" };
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("harness/cluster.py"))
            .args([
                "start",
                "--nodes",
                &shape.nodes.to_string(),
                "--num-tokens",
                &shape.num_tokens.to_string(),
            ])
            .args(["--heap", heap]);
        if shape.auth {
            cmd.arg("--auth");
        }
        if shape.tls {
            cmd.arg("--tls");
        }
        let output = cmd.output().expect("python3 runs harness/cluster.py");
        assert!(
            output.status.success(),
            "the Cassandra harness failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

pub async fn connect(hosts: &str) -> Session {
    connect_as(hosts, None).await
}

/// Connects a session to share between a test and its keyspace.
pub async fn shared_session(hosts: &str) -> Arc<Session> {
    Arc::new(connect(hosts).await)
}

pub async fn connect_as(hosts: &str, credentials: Option<(&str, &str)>) -> Session {
    // Keyspace replication only, as cqlbulk reads it: the driver's full schema read fails
    // on a quoted user type name in any keyspace (see src/schema.rs).
    let mut builder = SessionBuilder::new()
        .known_nodes(hosts.split(',').map(|h| format!("{h}:9042")))
        .fetch_full_schema_metadata(false);
    if let Some((user, password)) = credentials {
        builder = builder.user(user, password);
    }
    builder.build().await.expect("connect to the test cluster")
}

/// A keyspace that exists for one test and is dropped when the test ends, pass or fail.
pub struct TestKeyspace {
    pub name: String,
    pub session: Arc<Session>,
}

/// Replication of most test keyspaces: one copy, SimpleStrategy.
pub const SIMPLE_RF1: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

impl TestKeyspace {
    /// Connects to `hosts` and creates the keyspace `cqlbulk_<test>` with `replication`.
    pub async fn connect(hosts: &str, test: &str, replication: &str) -> TestKeyspace {
        TestKeyspace::create(shared_session(hosts).await, test, replication).await
    }

    /// Creates `cqlbulk_<test>` with the given replication map, e.g.
    /// `{'class': 'SimpleStrategy', 'replication_factor': 1}`.
    pub async fn create(session: Arc<Session>, test: &str, replication: &str) -> TestKeyspace {
        TestKeyspace::create_named(session, &format!("cqlbulk_{test}"), replication).await
    }

    /// Creates the keyspace `name`, exactly as written (case and all: it is quoted).
    pub async fn create_named(session: Arc<Session>, name: &str, replication: &str) -> TestKeyspace {
        let quoted = quote(name);
        session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {quoted}"), ()).await.unwrap();
        session
            .query_unpaged(format!("CREATE KEYSPACE {quoted} WITH replication = {replication}"), ())
            .await
            .unwrap();
        TestKeyspace { name: name.to_string(), session }
    }

    /// Runs `cql` with `{ks}` standing for the keyspace's (quoted) name.
    pub async fn execute(&self, cql: &str) {
        let cql = cql.replace("{ks}", &quote(&self.name));
        self.session.query_unpaged(cql.as_str(), ()).await.unwrap_or_else(|e| panic!("{cql}: {e}"));
    }

    pub async fn prepare(&self, cql: &str) -> PreparedStatement {
        let cql = cql.replace("{ks}", &quote(&self.name));
        self.session.prepare(cql.as_str()).await.unwrap_or_else(|e| panic!("{cql}: {e}"))
    }
}

impl Drop for TestKeyspace {
    fn drop(&mut self) {
        let session = self.session.clone();
        let cql = format!("DROP KEYSPACE IF EXISTS {}", quote(&self.name));
        // Async work in Drop: the tests run on a multi-threaded runtime, so this thread may
        // block while the driver's tasks go on elsewhere.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let _ = session.query_unpaged(cql, ()).await;
            })
        });
    }
}

/// Inserts every row of `rows` with `statement`, many at a time. An insert is idempotent,
/// so one that timed out or found too few replicas is sent again after a pause, as
/// cqlbulk's own writer does: on a busy 2-core host a LOCAL_QUORUM write to 3 nodes can
/// time out without anything being wrong.
pub async fn insert_all<R: SerializeRow + Send + Sync + 'static>(
    session: &Session,
    statement: &PreparedStatement,
    rows: impl IntoIterator<Item = R>,
) {
    futures::stream::iter(rows)
        .map(|row| async move { execute_with_retries(session, statement, &row).await })
        .buffer_unordered(128)
        .for_each(|result| async move {
            result.expect("insert");
        })
        .await;
}

/// Runs an idempotent statement, retrying timeouts and unavailable replicas up to 8 times
/// with a pause that doubles from 100 ms (and says so on stderr, so a slow host shows).
pub async fn execute_with_retries(
    session: &Session,
    statement: &PreparedStatement,
    row: &(impl SerializeRow + Sync),
) -> Result<(), scylla::errors::ExecutionError> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    let mut pause = Duration::from_millis(100);
    for attempt in 1.. {
        match session.execute_unpaged(statement, row).await {
            Ok(_) => return Ok(()),
            Err(err) if attempt < 8 => {
                let transient = match &err {
                    ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
                        db,
                        DbError::WriteTimeout { .. }
                            | DbError::ReadTimeout { .. }
                            | DbError::Unavailable { .. }
                            | DbError::Overloaded
                    ),
                    ExecutionError::RequestTimeout(_) | ExecutionError::ConnectionPoolError(_) => true,
                    _ => false,
                };
                if !transient {
                    return Err(err);
                }
                eprintln!("test insert: attempt {attempt} failed ({err}); retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(err) => return Err(err),
        }
    }
    unreachable!("the loop returns")
}

/// Runs the `cqlbulk` binary with `args`.
pub fn cqlbulk(args: &[&str]) -> Output {
    cqlbulk_with_env(args, &[])
}

pub fn cqlbulk_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cqlbulk"));
    cmd.args(args).env_remove("CQLBULK_PASSWORD").env_remove("CQLBULK_USERNAME");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("run cqlbulk")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that `cqlbulk` succeeded and returns its stdout.
pub fn expect_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "cqlbulk failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// `cqlbulk count` on `keyspace.table` with extra args; returns the total it printed.
pub fn count_rows(hosts: &str, keyspace: &str, table: &str, extra: &[&str]) -> u64 {
    let mut args = vec!["count", "-h", hosts, "-k", keyspace, "-t", table, "--quiet"];
    args.extend_from_slice(extra);
    let out = expect_success(&cqlbulk(&args));
    out.trim().parse().unwrap_or_else(|_| panic!("count printed {out:?}"))
}

/// Parses the `--by range` / `--by host` output: the part lines and the `total` line.
pub fn breakdown(out: &str) -> (Vec<Vec<String>>, u64) {
    let mut parts = Vec::new();
    let mut total = None;
    for line in out.lines() {
        let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if fields.first().map(String::as_str) == Some("total") {
            total = Some(fields[1].parse().unwrap());
        } else {
            parts.push(fields);
        }
    }
    (parts, total.expect("a total line"))
}

/// Keys whose Murmur3 token lies within `distance` of the minimum or the maximum token,
/// found by hashing candidates with the driver's partitioner through `insert`'s partition key.
pub fn keys_near_ring_ends(
    insert: &PreparedStatement,
    distance: u64,
    per_end: usize,
) -> (Vec<i64>, Vec<i64>) {
    let (mut low, mut high) = (Vec::new(), Vec::new());
    let mut candidate: i64 = 1_000_000_000;
    while low.len() < per_end || high.len() < per_end {
        candidate += 1;
        let token = insert.calculate_token(&(candidate, 0i64)).unwrap().unwrap().value();
        let from_min = (i128::from(token) - i128::from(i64::MIN)) as u128;
        let to_max = (i128::from(i64::MAX) - i128::from(token)) as u128;
        if from_min <= u128::from(distance) && low.len() < per_end {
            low.push(candidate);
        } else if to_max <= u128::from(distance) && high.len() < per_end {
            high.push(candidate);
        }
    }
    (low, high)
}

/// The virtualenv python with the test oracles (pyarrow, cassandra-driver), created once.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .arg(repo_root().join("harness/venv.py"))
            .output()
            .expect("run harness/venv.py");
        assert!(output.status.success(), "venv setup failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

/// Runs the independent Python check of unloaded files (tests/python/check_unload.py):
/// the table read by the Python driver against the files read by pyarrow / csv / json.
pub fn check_unload(hosts: &str, keyspace: &str, table: &str, format: &str, dir: &Path) {
    let script = crate_dir().join("tests/python/check_unload.py");
    let output = Command::new(python())
        .arg(script)
        .args(["--hosts", hosts, "--keyspace", keyspace, "--table", table, "--format", format])
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run check_unload.py");
    assert!(
        output.status.success(),
        "{format} output differs from the table:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cqlbulk-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the independent Python check of an Iceberg export (tests/python/check_unload.py
/// with PyIceberg): the table read by the Python driver against the Iceberg table read by
/// PyIceberg, plus the schema mapping. `catalog` is e.g. `["--warehouse", dir]`.
pub fn check_iceberg(hosts: &str, keyspace: &str, table: &str, catalog: &[&str]) {
    let script = crate_dir().join("tests/python/check_unload.py");
    let output = Command::new(python())
        .arg(script)
        .args(["--hosts", hosts, "--keyspace", keyspace, "--table", table, "--format", "iceberg"])
        .args(catalog)
        .output()
        .expect("run check_unload.py");
    assert!(
        output.status.success(),
        "the Iceberg table differs from {keyspace}.{table}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a Python snippet in the oracle virtualenv (PyIceberg, pyarrow, the driver) with
/// `args` as `sys.argv[1:]`; returns its stdout, failing the test if it fails.
pub fn python_snippet(code: &str, args: &[&str]) -> String {
    let output = Command::new(python()).arg("-c").arg(code).args(args).output().expect("run python");
    assert!(
        output.status.success(),
        "python failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The one operation directory under `log_dir`, once its checkpoint has `lines` entries.
pub fn wait_for_checkpoint(log_dir: &Path, lines: usize) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(op) =
            std::fs::read_dir(log_dir).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path())
        {
            let done = std::fs::read_to_string(op.join("checkpoint.jsonl")).map_or(0, |t| t.lines().count());
            if done >= lines {
                return op;
            }
        }
        assert!(Instant::now() < deadline, "the run never reached {lines} finished splits");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Apache Iceberg's REST catalog server (harness/rest_catalog.py), stopped when the test
/// ends, pass or fail. The harness runs one at a time (a start with other flags replaces
/// it), so tests of one binary that need it take turns.
pub struct RestServer {
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl RestServer {
    /// Starts the server with `args` (after `start`); returns it and the catalog's URI.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (RestServer, String) {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let started = Command::new("python3")
            .arg(repo_root().join("harness/rest_catalog.py"))
            .arg("start")
            .args(args)
            .output()
            .unwrap();
        let server = RestServer { _turn: turn };
        assert!(
            started.status.success(),
            "REST catalog did not start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        (server, String::from_utf8(started.stdout).unwrap().trim().to_string())
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = Command::new("python3").arg(repo_root().join("harness/rest_catalog.py")).arg("stop").status();
    }
}

/// Runs `harness/cluster.py` with `args` (e.g. `stop --node 3 --kill`, `start-node 3`).
pub fn harness(args: &[&str]) {
    let status = Command::new("python3")
        .arg(repo_root().join("harness/cluster.py"))
        .args(args)
        .status()
        .expect("run the harness");
    assert!(status.success(), "harness {args:?} failed");
}

/// Writes a CSV with a header and `rows` rows `id,value id` for a table
/// `(id int PRIMARY KEY, v text)`.
pub fn write_id_value_csv(path: &Path, rows: i32) {
    let mut text = String::from("id,v\n");
    for id in 0..rows {
        text.push_str(&format!("{id},value {id}\n"));
    }
    std::fs::write(path, text).unwrap();
}
