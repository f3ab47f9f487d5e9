//! A node SIGKILLed in the middle of an unload or a load on 3 nodes: with RF 3 the run
//! completes exactly once and uses the node again when it comes back; with RF 1 the load
//! fails naming the token ranges it could not write, and `--resume` finishes it.

// Each test holds node 3's turn (a std mutex) across its awaits on purpose: every test
// has a runtime of its own, and the turn must last the whole test.
#![allow(clippy::await_holding_lock)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI32};

use common::*;

const SHAPE: Shape = Shape { nodes: 3, num_tokens: 16, auth: false, tls: false };
const RF3: &str = "{'class': 'SimpleStrategy', 'replication_factor': 3}";

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// Starts node 3 if a test before left it down, and creates `cqlbulk_<test>` with table
/// `t (id int PRIMARY KEY, v text)`.
async fn id_value_table(hosts: &str, test: &str, replication: &str) -> TestKeyspace {
    harness(&["start-node", "3"]);
    let ks = TestKeyspace::connect(hosts, test, replication).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    ks
}

/// Every test here stops and starts node 3: they take turns (the suite runs tests of one
/// binary two at a time). A failed test's poisoned lock still passes the turn on.
fn node3_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cqlbulk")
}

/// What: with RF 3, node 3 is SIGKILLed while an unload to CSV, JSON, Parquet and Iceberg
/// is under way (after its first finished splits); each run exits 0 and its output holds
/// every row exactly once, as the Python driver and pyarrow/PyIceberg read them. Why: nodes
/// die during long exports in production; three replicas must be enough to finish, without
/// a lost or repeated row from the splits that were being read from the dead node.
#[tokio::test(flavor = "multi_thread")]
async fn unload_survives_a_node_killed_mid_run() {
    let _turn = node3_turn();
    let hosts = hosts();
    let ks = id_value_table(hosts, "loss_unload", RF3).await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id, v) VALUES (?, ?)").await;
    insert_all(&ks.session, &insert, (0..40_000).map(|i| (i, format!("value {i}")))).await;
    let dir = scratch_dir("loss-unload");
    for format in ["csv", "json", "parquet", "iceberg"] {
        harness(&["start-node", "3"]);
        let out = dir.join(format);
        let logs = dir.join(format!("logs-{format}"));
        let target = if format == "iceberg" { "--warehouse" } else { "--url" };
        // Small pages, one split at a time: slow enough to kill a node in the middle.
        let mut child = spawn(&[
            "unload",
            "-h",
            hosts,
            "-k",
            &ks.name,
            "-t",
            "t",
            "-q",
            "--format",
            format,
            target,
            out.to_str().unwrap(),
            "--log-dir",
            logs.to_str().unwrap(),
            "--splits",
            "200",
            "--concurrency",
            "1",
            "--page-size",
            "100",
            "--request-timeout",
            "5s",
        ]);
        wait_for_checkpoint(&logs, 3);
        harness(&["stop", "--node", "3", "--kill"]);
        assert!(child.try_wait().unwrap().is_none(), "{format}: the unload ended before node 3 was killed");
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}: {}", stderr(&output));
        let done = std::fs::read_to_string(wait_for_checkpoint(&logs, 1).join("checkpoint.jsonl")).unwrap();
        assert!(done.lines().count() >= 200, "{format}: every split is recorded:\n{done}");
        if format == "iceberg" {
            check_iceberg(hosts, &ks.name, "t", &["--warehouse", out.to_str().unwrap()]);
        } else {
            check_unload(hosts, &ks.name, "t", format, &out);
        }
    }
    harness(&["start-node", "3"]);
}

/// Waits until node 3 has a connection from a driver other than the Python one (cqlbulk's)
/// that has sent requests, polling its `system_views.clients` through the Python driver
/// while `child` runs. True if seen.
/// (A node just restarted on a busy host may refuse connections for a while: the poller
/// tries for a minute before it asks.)
fn node3_serves_cqlbulk(child: &mut Child) -> bool {
    let code = "import sys, time\n\
        from cassandra.cluster import Cluster\n\
        from cassandra.policies import WhiteListRoundRobinPolicy\n\
        c = Cluster(['127.0.0.3'], load_balancing_policy=WhiteListRoundRobinPolicy(['127.0.0.3']))\n\
        for attempt in range(30):\n\
        \x20   try:\n\
        \x20       s = c.connect(); break\n\
        \x20   except Exception:\n\
        \x20       time.sleep(2)\n\
        for _ in range(200):\n\
        \x20   rows = s.execute('SELECT driver_name, request_count FROM system_views.clients')\n\
        \x20   if any(r.request_count and 'Python' not in (r.driver_name or '') for r in rows):\n\
        \x20       print('used'); sys.exit(0)\n\
        \x20   time.sleep(0.1)\n\
        print('unused')";
    let mut poller = Command::new(python()).args(["-c", code]).stdout(Stdio::piped()).spawn().unwrap();
    loop {
        if let Some(status) = poller.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(poller.stdout.as_mut().unwrap(), &mut out).unwrap();
            return status.success() && out.contains("used") && !out.contains("unused");
        }
        if child.try_wait().unwrap().is_some() {
            // The load ended first: its connections, and their counts, are gone.
            let _ = poller.kill();
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What: with RF 3, node 3 is SIGKILLed in the middle of a load of at least 300,000 rows
/// and started again while the load runs: the load exits 0, the restarted node serves
/// cqlbulk's requests again, and `verify` (at LOCAL_QUORUM) finds the table equal to the
/// rows fed. Why: a replica lost at LOCAL_QUORUM must neither fail the load nor lose rows,
/// and a node back from a restart must take its share again instead of leaving the others
/// to carry it.
///
/// The rows come through stdin and keep coming until node 3 has served the load: a busy
/// host can take a minute to restart a node, longer than any fixed-size load would last.
#[tokio::test(flavor = "multi_thread")]
async fn load_survives_a_node_killed_and_restarted_mid_run() {
    let _turn = node3_turn();
    let hosts = hosts();
    let ks = id_value_table(hosts, "loss_load", RF3).await;
    let dir = scratch_dir("loss-load");
    let logs = dir.join("logs");
    let mut args =
        vec!["load", "-h", hosts, "-k", &ks.name, "-t", "t", "-q", "--log-dir", logs.to_str().unwrap()];
    args.extend_from_slice(&["--format", "csv", "--url", "-"]);
    args.extend_from_slice(&["--max-rows-per-second", "10000", "--request-timeout", "5s"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cqlbulk");
    let enough = Arc::new(AtomicBool::new(false));
    let fed = Arc::new(AtomicI32::new(0));
    let feeder = {
        let mut stdin = child.stdin.take().unwrap();
        let (enough, fed) = (enough.clone(), fed.clone());
        // At most 3M rows (5 minutes at the load's 10,000 rows/s), then the load ends anyway.
        std::thread::spawn(move || -> i32 {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(&mut stdin);
            writeln!(out, "id,v").unwrap();
            let mut id = 0;
            while id < 3_000_000 && (id < 300_000 || !enough.load(SeqCst)) {
                if writeln!(out, "{id},value {id}").is_err() {
                    break;
                }
                id += 1;
                fed.store(id, SeqCst);
            }
            id
        })
    };
    // Stdin is not checkpointed (it cannot be read again): wait for rows taken instead.
    while fed.load(SeqCst) < 50_000 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness(&["stop", "--node", "3", "--kill"]);
    if child.try_wait().unwrap().is_some() {
        panic!("the load ended before node 3 was killed: {}", stderr(&child.wait_with_output().unwrap()));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    harness(&["start-node", "3"]);
    let used_again = node3_serves_cqlbulk(&mut child);
    enough.store(true, SeqCst);
    let fed = feeder.join().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(used_again, "the restarted node 3 took no request of the load");
    // Read at LOCAL_QUORUM: node 3 missed the writes made while it was down until hints
    // reach it, so a LOCAL_ONE read served by node 3 may not see them yet (each row was
    // acknowledged by two replicas).
    let quorum = ["--consistency", "LOCAL_QUORUM"];
    assert_eq!(count_rows(hosts, &ks.name, "t", &quorum), fed as u64);
    let file = dir.join("rows.csv");
    write_id_value_csv(&file, fed);
    let mut verify =
        vec!["verify", "-h", hosts, "-k", &ks.name, "-t", "t", "-q", "--consistency", "LOCAL_QUORUM"];
    verify.extend_from_slice(&["--format", "csv", "--url", file.to_str().unwrap()]);
    let verified = cqlbulk(&verify);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));
}

/// What: with RF 1 and node 3 down, a load exits non-zero with one message naming the
/// token ranges whose replica (127.0.0.3) did not take the rows and how to resume; once
/// node 3 is back, `--resume` writes exactly the missing rows, `verify` passes, and the
/// one bad record of the input is in bad.jsonl once although its chunk was read twice.
/// Why: with no other replica, the honest answer is to stop, say which data is missing,
/// and finish later without reloading everything or double-counting what was bad.
#[tokio::test(flavor = "multi_thread")]
async fn load_with_a_lost_only_replica_names_its_ranges_and_resumes() {
    let _turn = node3_turn();
    let hosts = hosts();
    let ks = id_value_table(hosts, "loss_rf1", SIMPLE_RF1).await;
    let dir = scratch_dir("loss-rf1");
    let file = dir.join("rows.csv");
    write_id_value_csv(&file, 30_000);
    // The load reads the same rows with a bad record among them, in a chunk that also holds
    // rows for node 3 (so the chunk is not checkpointed and the resume reads it again).
    let input = dir.join("input.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, tail) = text.split_at(text.find("\n5000,").unwrap() + 1);
    std::fs::write(&input, format!("{head}not-a-number,bad row\n{tail}")).unwrap();
    let logs = dir.join("logs");
    let logs_text = logs.to_str().unwrap();
    let mut args = vec!["load", "-h", hosts, "-k", &ks.name, "-t", "t", "-q", "--log-dir", logs_text];
    args.extend_from_slice(&["--format", "csv", "--url", input.to_str().unwrap()]);
    args.extend_from_slice(&["--max-attempts", "2", "--request-timeout", "5s", "--max-errors", "100%"]);

    harness(&["stop", "--node", "3", "--kill"]);
    let failed = cqlbulk(&args);
    harness(&["start-node", "3"]);
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(err.contains("rows were not written") && err.contains("on 127.0.0.3"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let loaded = count_rows(hosts, &ks.name, "t", &[]);
    assert!(loaded > 0 && loaded < 30_000, "{loaded} rows after the failed load");

    let operation = wait_for_checkpoint(&logs, 0);
    let resume = [args.as_slice(), &["--resume", operation.to_str().unwrap()]].concat();
    let resumed = cqlbulk(&resume);
    // Exit 1: the run completed, with the one bad record.
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    assert_eq!(count_rows(hosts, &ks.name, "t", &[]), 30_000);
    let bad = std::fs::read_to_string(operation.join("bad.jsonl")).unwrap();
    assert_eq!(bad.lines().count(), 1, "{bad}");
    assert!(bad.contains("not-a-number,bad row"), "{bad}");
    let verified = cqlbulk(&[
        "verify",
        "-h",
        hosts,
        "-k",
        &ks.name,
        "-t",
        "t",
        "-q",
        "--format",
        "csv",
        "--url",
        file.to_str().unwrap(),
    ]);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));
}

/// What: with RF 1 and node 3 down, an unload to CSV exits 1 naming the token ranges it
/// could not read (on 127.0.0.3) and how to resume; once node 3 is back, `--resume` reads
/// just those ranges and the files hold every row exactly once. Why: an export must never
/// look complete with a third of the table missing, and finishing it must not start over.
#[tokio::test(flavor = "multi_thread")]
async fn unload_with_a_lost_only_replica_names_its_ranges_and_resumes() {
    let _turn = node3_turn();
    let hosts = hosts();
    let ks = id_value_table(hosts, "loss_unload_rf1", SIMPLE_RF1).await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id, v) VALUES (?, ?)").await;
    insert_all(&ks.session, &insert, (0..20_000).map(|i| (i, format!("value {i}")))).await;
    let dir = scratch_dir("loss-unload-rf1");
    let out = dir.join("csv");
    let logs = dir.join("logs");
    let args = [
        "unload",
        "-h",
        hosts,
        "-k",
        &ks.name,
        "-t",
        "t",
        "-q",
        "--format",
        "csv",
        "--url",
        out.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
        "--request-timeout",
        "5s",
        "--max-attempts",
        "2",
    ];
    harness(&["stop", "--node", "3", "--kill"]);
    let failed = cqlbulk(&args);
    harness(&["start-node", "3"]);
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.3") && err.contains("--resume"), "{err}");
    let operation = wait_for_checkpoint(&logs, 1);
    let resume = [args.as_slice(), &["--resume", operation.to_str().unwrap()]].concat();
    expect_success(&cqlbulk(&resume));
    check_unload(hosts, &ks.name, "t", "csv", &out);
}
