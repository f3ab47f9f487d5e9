//! Prometheus metrics of a run: scraped from `--metrics-addr` while it runs and pushed to a
//! real Pushgateway (harness/pushgateway.py) with `--metrics-push`. The text is read by the
//! Prometheus project's own parser (prometheus_client) and by the Pushgateway, which
//! refuses malformed pushes.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

const PUSHGATEWAY: &str = "http://127.0.0.1:9091";

/// Every sample of Prometheus text at `url` (or of `text` on stdin when url is `-`), as
/// prometheus_client parses it: one line `name{labels} value`, labels sorted.
fn samples(url: &str) -> Vec<String> {
    let code = "import sys, urllib.request\n\
                from prometheus_client.parser import text_string_to_metric_families\n\
                text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()\n\
                for family in text_string_to_metric_families(text):\n    \
                    for s in family.samples:\n        \
                        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n        \
                        print(f'{s.name}{{{labels}}} {s.value}')";
    python_snippet(code, &[url]).lines().map(str::to_string).collect()
}

/// The value of the one sample named `name` whose labels include every one of `labels`.
fn value(samples: &[String], name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&String> = samples
        .iter()
        .filter(|s| s.starts_with(&format!("{name}{{")) && labels.iter().all(|l| s.contains(l)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in:\n{}", samples.join("\n"));
    found[0].rsplit_once(' ').unwrap().1.parse().unwrap()
}

/// Stops the Pushgateway when the test ends, pass or fail.
struct Pushgateway;

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = Command::new("python3").arg(repo_root().join("harness/pushgateway.py")).arg("stop").status();
    }
}

/// What: an unload of 100,000 rows, paced to last ~2 s, serves /metrics while it runs
/// (cqlbulk_running 1, rows read so far, requests and their latency histogram, parsed by
/// prometheus_client) and pushes to a real Pushgateway every second and at its end: the
/// group named by command, keyspace and table then holds the final figures (running 0,
/// 100,000 rows read and written, every split done, requests counted), and summary.json
/// records the same figures. A push to a URL where nothing listens warns but leaves the
/// run's result alone; a taken --metrics-addr is refused before the run starts. Why:
/// operators watch bulk jobs from Prometheus; batch jobs end before a scrape, so the push
/// must carry the final state.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_and_pushed() {
    let ks = TestKeyspace::connect(hosts(), "metrics", SIMPLE_RF1).await;
    common::scenarios::fill_100k(&ks).await;
    let _gateway = Pushgateway;
    let started = Command::new("python3")
        .arg(repo_root().join("harness/pushgateway.py"))
        .arg("start")
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", stderr(&started));

    let root = scratch_dir("metrics");
    let logs = root.join("logs");
    let listen = "127.0.0.1:19464";
    let child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args([
            "--log-format",
            "json",
            "unload",
            "-h",
            hosts(),
            "-k",
            &ks.name,
            "-t",
            "rows100k",
            "--format",
            "csv",
        ])
        .arg("-q")
        .args(["--url", root.join("csv").to_str().unwrap(), "--log-dir", logs.to_str().unwrap()])
        .args(["--max-rows-per-second", "40000", "--splits", "32", "--concurrency", "2"])
        .args(["--metrics-addr", listen, "--metrics-push", PUSHGATEWAY, "--metrics-push-interval", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Scrape until rows have been read: the run is paced to ~2.5 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let during = loop {
        std::thread::sleep(Duration::from_millis(300));
        let scraped = samples(&format!("http://{listen}/metrics"));
        if scraped.iter().any(|s| s.starts_with("cqlbulk_rows_read_total{"))
            && value(&scraped, "cqlbulk_rows_read_total", &[]) > 0.0
        {
            break scraped;
        }
        assert!(Instant::now() < deadline, "no rows in the metrics: {scraped:?}");
    };
    let labels = ["command=unload", &format!("keyspace={}", ks.name), "table=rows100k"];
    assert_eq!(value(&during, "cqlbulk_running", &labels), 1.0);
    assert!(value(&during, "cqlbulk_rows_read_total", &labels) < 100_000.0, "scraped mid-run: {during:?}");
    assert!(value(&during, "cqlbulk_requests_total", &["outcome=ok"]) > 0.0);
    assert!(value(&during, "cqlbulk_request_duration_seconds_count", &[]) > 0.0);
    assert!(value(&during, "cqlbulk_splits", &[]) >= 32.0);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let pushed = samples(&format!("{PUSHGATEWAY}/metrics"));
    let group = ["job=cqlbulk", "command=unload", &format!("keyspace={}", ks.name), "table=rows100k"];
    assert_eq!(value(&pushed, "cqlbulk_running", &group), 0.0);
    assert_eq!(value(&pushed, "cqlbulk_rows_read_total", &group), 100_000.0);
    assert_eq!(value(&pushed, "cqlbulk_rows_written_total", &group), 100_000.0);
    let splits = value(&pushed, "cqlbulk_splits", &group);
    assert_eq!(value(&pushed, "cqlbulk_splits_done_total", &group), splits);
    assert_eq!(value(&pushed, "cqlbulk_splits_failed_total", &group), 0.0);
    let requests = value(&pushed, "cqlbulk_requests_total", &["outcome=ok", group[2]]);
    assert!(requests >= splits, "{requests} requests for {splits} splits");
    assert_eq!(value(&pushed, "cqlbulk_request_duration_seconds_count", &group), requests);
    assert!(value(&pushed, "cqlbulk_bytes_written_total", &group) > 0.0);

    let operation = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap().path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(operation.join("summary.json")).unwrap()).unwrap();
    // --log-format json: the operation log is one JSON object per line too.
    let log = std::fs::read_to_string(operation.join("operation.log")).unwrap();
    for line in log.lines() {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["message"].is_string() && parsed["timestamp"].is_string(), "{line}");
    }
    assert!(log.contains("\"message\":\"start: "), "{log}");
    let figures = &summary["metrics"];
    assert_eq!(figures["rows_read"], 100_000, "{summary}");
    assert_eq!(figures["rows_written"], 100_000, "{summary}");
    assert_eq!(figures["requests_ok"].as_f64(), Some(requests), "{summary}");
    assert_eq!(figures["bytes_written"], summary["bytes"], "{summary}");

    // Nobody at the push URL: a warning, and the count's own result.
    let counted = cqlbulk(&[
        "count",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "rows100k",
        "-q",
        "--metrics-push",
        "http://127.0.0.1:9",
    ]);
    assert!(counted.status.success(), "{}", stderr(&counted));
    assert_eq!(stdout(&counted).trim(), "100000");
    assert!(
        stderr(&counted).contains("cannot push to http://127.0.0.1:9/metrics/job/cqlbulk"),
        "{}",
        stderr(&counted)
    );

    // A taken address: refused in one line before anything is read.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let refused =
        cqlbulk(&["count", "-h", hosts(), "-k", &ks.name, "-t", "rows100k", "--metrics-addr", &taken]);
    assert_ne!(refused.status.code(), Some(0));
    let err = stderr(&refused);
    assert!(err.contains(&format!("--metrics-addr {taken}: cannot listen there")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Leave the Pushgateway as found.
    let _ =
        Command::new("curl").args(["-s", "-X", "PUT", &format!("{PUSHGATEWAY}/api/v1/admin/wipe")]).status();
}
