//! `cqlbulk unload` stopped by SIGKILL or Ctrl-C, then finished with `--resume`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// Starts a slow unload (many small splits, one at a time, small pages) so that it can be
/// stopped in the middle.
fn start_slow_unload(ks: &str, format: &str, dir: &Path, log_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args(["unload", "-h", hosts(), "-k", ks, "-t", "rows100k", "--format", format, "-q"])
        .args(["--splits", "300", "--concurrency", "1", "--page-size", "200", "--max-rows-per-file", "150"])
        .arg("--url")
        .arg(dir)
        .arg("--log-dir")
        .arg(log_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn resume(ks: &str, format: &str, dir: &Path, operation: &Path) {
    expect_success(
        &Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
            .args(["unload", "-h", hosts(), "-k", ks, "-t", "rows100k", "--format", format, "-q"])
            .arg("--url")
            .arg(dir)
            .arg("--resume")
            .arg(operation)
            .output()
            .unwrap(),
    );
}

/// What: an unload SIGKILLed mid-run (files half written, splits unrecorded) and resumed
/// holds every row exactly once, for CSV and Parquet. Why: a crash must never lose or
/// duplicate data, and resume must not redo finished work.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_then_resume_is_exactly_once() {
    let ks = TestKeyspace::connect(hosts(), "resume_kill", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let root = scratch_dir("resume-kill");
    for format in ["csv", "parquet"] {
        let dir = root.join(format);
        let log_dir = root.join(format!("{format}-logs"));
        let mut child = start_slow_unload(&ks.name, format, &dir, &log_dir);
        let operation = wait_for_checkpoint(&log_dir, 5);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "the unload finished before it could be killed");
        let finished_before =
            std::fs::read_to_string(operation.join("checkpoint.jsonl")).unwrap().lines().count();
        assert!(finished_before < 300, "all splits finished before the kill");

        resume(&ks.name, format, &dir, &operation);
        check_unload(hosts(), &ks.name, "rows100k", format, &dir);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["status"], "complete");
        assert_eq!(summary["rows"], 100_000);
        assert_eq!(summary["splits_done"], summary["splits"]);
    }
}

/// What: Ctrl-C (SIGINT) stops an unload with exit code 4 and a flushed checkpoint, and
/// resume finishes it exactly once. Why: an operator stopping a long export must be able to
/// go on later without starting over.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_then_resume_is_exactly_once() {
    let ks = TestKeyspace::connect(hosts(), "resume_int", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    let root = scratch_dir("resume-int");
    let dir = root.join("json");
    let log_dir = root.join("json-logs");
    let child = start_slow_unload(&ks.name, "json", &dir, &log_dir);
    let operation = wait_for_checkpoint(&log_dir, 5);
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"), "the message says how to resume");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "Ctrl-C left temporary files: {leftovers:?}");

    resume(&ks.name, "json", &dir, &operation);
    check_unload(hosts(), &ks.name, "rows100k", "json", &dir);
}
